"""Entry point of ``migdoc`` and ``python -m migdoc``: signals first, then everything else."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from migdoc import interrupts  # standard library only: installed before any heavy import

    interrupts.install()
    try:
        from migdoc.cli import main as run
    except KeyboardInterrupt as exc:  # a signal while click and migdoc load
        sys.exit(interrupts.report(exc))
    run(argv)


if __name__ == "__main__":
    main()
