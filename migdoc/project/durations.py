"""``[tool.migdoc] lock_timeout``: a duration as PostgreSQL writes one, to milliseconds. Pure."""

from __future__ import annotations

import re

_UNITS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|min|h)?\s*$", re.I)


def lock_timeout_ms(value: object) -> int:
    """``"2s"`` -> 2000, ``"500ms"`` / ``500`` -> 500 (a bare number is milliseconds, as in
    PostgreSQL's ``SET lock_timeout = 500``). Raises ValueError with the reason: the value
    must be a positive whole duration (0 would mean no timeout, the thing to avoid)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f'must be a duration such as "2s" or a number of milliseconds, not {value!r}')
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f'{value!r} is not a duration: write "2s", "500ms", "1min" or milliseconds (2000)')
    milliseconds = int(match.group(1)) * _UNITS[(match.group(2) or "ms").lower()]
    if milliseconds <= 0:
        raise ValueError(f'{value!r} is no timeout at all: give a positive duration such as "2s"')
    if milliseconds > 2_147_483_647:
        raise ValueError(f"{value!r} is more than PostgreSQL's lock_timeout accepts (about 24 days)")
    return milliseconds
