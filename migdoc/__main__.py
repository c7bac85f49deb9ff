"""Entry point of ``migdoc`` and ``python -m migdoc``: signals first, then everything else."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """The whole process: it ends it (the run's exit code, or 130/143 for a signal up to the
    last moment, see ``interrupts.hold_until_exit``). From code, call ``migdoc.cli.main``."""
    from migdoc.util import interrupts  # standard library only: installed before any heavy import

    interrupts.install()
    exit_code = None
    try:
        try:
            from migdoc.cli import main as run

            run(argv)  # always ends by SystemExit
        except SystemExit as exc:
            exit_code = exc.code
            raise
        finally:
            # The handler stays until the process is gone: a signal from here on is
            # reported as the process ends (exit 130/143), never raised into Python's exit.
            interrupts.hold_until_exit(exit_code)
    except KeyboardInterrupt as exc:  # a signal while click and migdoc load, or as the run ends
        sys.exit(interrupts.report(exc))


if __name__ == "__main__":
    main()
