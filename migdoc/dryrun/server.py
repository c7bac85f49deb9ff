"""A throwaway PostgreSQL: find server binaries, start a private cluster, or borrow a server.

Touches processes and the disk. Two ways to get a database, both context managers
that leave nothing behind (no process, no directory, no database):

* ``PrivateServer``: ``initdb`` once per server version (cached, copied per run),
  ``postgres`` started directly with a unix socket in a short private folder,
  on tmpfs when there is room, killed with the parent (``PR_SET_PDEATHSIG``).
* ``borrowed_database``: a fresh database on a server the user names, created
  from ``template0`` and dropped ``WITH (FORCE)`` afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from migdoc.dryrun import cache
from migdoc.dryrun.binaries import find_binaries
from migdoc.dryrun.borrowed import borrowed_database, normalise_url
from migdoc.dryrun.cluster import PrivateServer
from migdoc.masking import mask_url


@dataclass(frozen=True)
class Throwaway:
    """The run's database: its URL, how to describe it, and what proves a connection reached it."""

    url: str
    description: str
    name: str
    token: str


@contextlib.contextmanager
def throwaway_database(
    server_url: str | None = None, pg_bindir: str | None = None, use_cache: bool = True
) -> Iterator[Throwaway]:
    """A fresh database, first way that applies; clean up after."""
    cache.sweep_stale_staging(cache.cache_root())  # whichever way this run goes, a killed run's leftovers go
    if server_url:
        token = secrets.token_hex(16)
        with borrowed_database(server_url, token) as url:
            name = url.rsplit("/", 1)[-1].split("?", 1)[0]
            yield Throwaway(url, f"database {name} on {mask_url(normalise_url(server_url))}", name, token)
        return
    binaries = find_binaries(pg_bindir)
    with PrivateServer(binaries, use_cache=use_cache) as server:
        yield Throwaway(server.url, server.description, "postgres", server.run_token)
