"""Passwords never reach output: the one place that masks database URLs.

:func:`mask_url` is the only function that turns a URL into something that may
be shown; every command, report, error and journal goes through it (or through
:func:`mask_secrets`, which scrubs any text of every password
:func:`mask_url` has seen). It parses with SQLAlchemy's own URL parser, the
one that decides what the password is when a connection is made, and falls
back to a conservative textual rule for what SQLAlchemy cannot parse (one
slash after the scheme, no scheme, a bad port): everything between the first
``:`` of the user part and the last ``@`` is the password. Masking too much is
harmless; masking too little is not.

Pure: no disk, no database. SQLAlchemy is imported lazily (the core imports no engine).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"

_SECRETS: set[str] = set()
# scheme://user:password@host -> scheme://user:***@host, in any text.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<password>[^\s@'\"]*)(?=@)")
# libpq keyword form and query parameters: password=secret
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<password>'[^']*'|\"[^\"]*\"|[^\s&;,)]+)", re.I)
# a scheme with at least one slash after it: "postgresql+psycopg://", "postgresql+psycopg:/"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:/+")
_MIN_SECRET = 3  # shorter strings are too common in ordinary output to be scrubbed everywhere


def remember_secret(secret: str | None) -> None:
    """Remember ``secret`` (and its URL-decoded form) so later output is scrubbed of it."""
    if secret:
        _SECRETS.add(secret)
        _SECRETS.add(unquote(secret))


def mask_secrets(text: str) -> str:
    """``text`` with every URL password, ``password=...`` and remembered secret masked."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + (MASK if m.group("password") else ""), text)
    text = _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, MASK)
    return text


def mask_url(url: str) -> str:
    """The URL as it may be shown: password replaced by ``***``. Never raises.

    Also remembers the password, so :func:`mask_secrets` scrubs it from any
    later text (a driver's error message, a traceback) that repeats it."""
    parsed = _parse(url)
    if parsed is None:
        return mask_secrets(_mask_unparsed(url))
    remember_secret(parsed.password if isinstance(parsed.password, str) else None)
    for key in ("password", "sslpassword"):
        value = parsed.query.get(key)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, str):
                remember_secret(item)
    try:
        shown = parsed.render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy parsed but cannot render is masked textually
        shown = _mask_unparsed(url)
    return mask_secrets(shown)


def _parse(url: str):
    """SQLAlchemy's reading of ``url``, or None where it fails or is plainly wrong."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - ArgumentError, and ValueError for a port such as "notaport"
        return None
    # An unencoded "@" in the password: SQLAlchemy splits at the first "@" and reads
    # the rest of the password as the host; the textual rule splits at the last one.
    if parsed.host and "@" in parsed.host:
        return None
    return parsed


def _mask_unparsed(url: str) -> str:
    """Mask a URL SQLAlchemy cannot parse: the user part runs from after ``scheme:/``
    (or the start) to the last ``@``; from its first ``:`` on it is the password."""
    at = url.rfind("@")
    if at < 0:
        return url
    scheme = _SCHEME.match(url)
    start = scheme.end() if scheme else 0
    userinfo = url[start:at]
    colon = userinfo.find(":")
    if colon < 0:
        return url
    password = userinfo[colon + 1 :]
    remember_secret(password)
    # A driver that splits such a URL its own way may quote a piece of the password:
    # SQLAlchemy reads what follows the first "@" as the host, and without "//" the
    # user may end at a later ":". Each such piece is scrubbed too.
    for piece in [*password.split("@"), password.rsplit(":", 1)[-1]]:
        remember_secret(piece)
    return url[: start + colon + 1] + MASK + url[at:]
