"""The database driver a dry-run hands the project: the one its own URL names.

A project whose ``sqlalchemy.url`` says ``postgresql+psycopg2://`` may depend on what
psycopg2 does (a revision that fails only under psycopg 3); one that says
``postgresql+asyncpg://`` may import asyncpg itself. The throwaway database's URL is
given that driver when it is installed here; otherwise psycopg (migdoc's own) and a note
that says so. Pure but for asking Python whether a module can be imported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
from dataclasses import dataclass

DEFAULT_DRIVER = "psycopg"

# SQLAlchemy's name for the driver -> the module that must be importable, and whether the
# driver is asyncio-only (migdoc's own connection then uses psycopg)
_DRIVERS = {
    "psycopg": ("psycopg", False),
    "psycopg2": ("psycopg2", False),
    "psycopg2cffi": ("psycopg2cffi", False),
    "pg8000": ("pg8000", False),
    "asyncpg": ("asyncpg", True),
    "psycopg_async": ("psycopg", True),
}
_SCHEME = re.compile(r"^\s*(postgres(?:ql)?)(?:\+(?P<driver>[A-Za-z0-9_]+))?://")


@dataclass(frozen=True)
class DriverChoice:
    url: str
    """The throwaway database's URL with the chosen driver: what env.py gets."""
    own_url: str
    """The URL of migdoc's own (synchronous) connection, also handed to env.py in
    ``config.attributes["connection"]``."""
    driver: str
    note: str | None = None


def named_driver(url: str | None) -> str | None:
    """The driver a PostgreSQL URL names (``postgresql://`` names SQLAlchemy's default,
    psycopg2); None for no URL, another database or a placeholder."""
    if not url:
        return None
    match = _SCHEME.match(url)
    if match is None:
        return None
    return match.group("driver") or "psycopg2"


def _installed(module: str) -> bool:
    with contextlib.suppress(ImportError, ValueError):
        return importlib.util.find_spec(module) is not None
    return False


def _has_dialect(driver: str) -> bool:
    """This SQLAlchemy knows the driver (1.4 has no ``postgresql+psycopg``)."""
    from sqlalchemy.dialects import registry

    with contextlib.suppress(Exception):
        registry.load(f"postgresql.{driver}")
        return True
    return False


def _usable(driver: str) -> bool:
    known = _DRIVERS.get(driver)
    return known is not None and _installed(known[0]) and _has_dialect(driver)


def fallback_driver() -> str:
    """The driver used when the project names none that can run here: psycopg (migdoc's
    own), else whichever synchronous one this Python has (an older SQLAlchemy, --python)."""
    return next((d for d in (DEFAULT_DRIVER, "psycopg2", "pg8000", "psycopg2cffi") if _usable(d)), DEFAULT_DRIVER)


def with_driver(url: str, driver: str) -> str:
    """``url`` (a throwaway database's, ``postgresql+psycopg://...``) for ``driver``."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername=f"postgresql+{driver}")
    host = parsed.query.get("host")
    if driver == "pg8000" and isinstance(host, str) and host.startswith("/"):
        # pg8000 reaches a unix socket by its file, not by its folder
        port = parsed.port or 5432
        query = {k: v for k, v in parsed.query.items() if k != "host"}
        parsed = parsed.set(query={**query, "unix_sock": os.path.join(host, f".s.PGSQL.{port}")})
    return parsed.render_as_string(hide_password=False)


def choose_driver(throwaway_url: str, project_urls: list[str | None]) -> DriverChoice:
    """The driver of the first of ``project_urls`` that names one (the Alembic config's
    ``sqlalchemy.url``, then the URL variables as set before the run), kept when installed."""
    wanted = next((d for d in map(named_driver, project_urls) if d is not None), None)
    fallback = DEFAULT_DRIVER if wanted in (None, DEFAULT_DRIVER) and _usable(DEFAULT_DRIVER) else fallback_driver()
    fallback_url = throwaway_url if fallback == DEFAULT_DRIVER else with_driver(throwaway_url, fallback)
    if wanted is None:
        return DriverChoice(fallback_url, fallback_url, fallback)
    known = _DRIVERS.get(wanted)
    if known is None:
        note = f"the project's URL names the driver {wanted!r}, which migdoc does not know: ran with {fallback}"
        return DriverChoice(fallback_url, fallback_url, fallback, note)
    module, is_async = known
    if not _usable(wanted):
        missing = f"{module} is not installed" if not _installed(module) else "this SQLAlchemy has no dialect for it"
        note = (
            f"the project's URL names the driver {wanted!r}, which this Python cannot use ({missing}): "
            f"ran with {fallback} instead"
        )
        return DriverChoice(fallback_url, fallback_url, fallback, note)
    url = with_driver(throwaway_url, wanted)
    return DriverChoice(url, fallback_url if is_async else url, wanted)
