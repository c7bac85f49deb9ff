"""A throwaway PostgreSQL: find server binaries, start a private cluster, or borrow a server.

Touches processes and the disk. Two ways to get a database, both context managers
that leave nothing behind (no process, no directory, no database):

* ``PrivateServer``: ``initdb`` once per server version (cached, copied per run),
  ``postgres`` started directly with a unix socket in a short private folder,
  on tmpfs when there is room, killed with the parent (``PR_SET_PDEATHSIG``).
* ``borrowed_database``: a fresh database on a server the user names, created
  from ``template0`` and dropped ``WITH (FORCE)`` afterwards; the project's code runs
  there as a role made for the run, and the server's own state is compared before and after.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from migdoc.dryrun import cache
from migdoc.dryrun.binaries import find_binaries
from migdoc.dryrun.borrowed import borrowed_database, normalise_url
from migdoc.dryrun.cluster import PrivateServer
from migdoc.dryrun.results import Failure
from migdoc.errors import UsageError
from migdoc.util.masking import mask_url


@dataclass(frozen=True)
class Throwaway:
    """The run's database: its URL, how to describe it, and what proves a connection reached it."""

    url: str
    description: str
    name: str
    token: str
    # what changed on the server outside the run's database (a borrowed server; a private
    # one is thrown away whole, so nothing outside it outlives the run)
    outside_changes: Callable[[], list[str]] = field(default=lambda: [])


@contextlib.contextmanager
def throwaway_database(
    server_url: str | None = None,
    pg_bindir: str | None = None,
    use_cache: bool = True,
    *,
    run_as_server_role: bool = False,
) -> Iterator[Throwaway]:
    """A fresh database, first way that applies; clean up after. ``run_as_server_role``: on a
    borrowed server, the project's code runs as the URL's role, not as a role made for the run."""
    if run_as_server_role and not server_url:
        raise UsageError(
            "--run-as-server-role is for a borrowed server (--server URL or MIGDOC_DRYRUN_SERVER); "
            "on migdoc's private server the project's code runs as its superuser already",
            option="--run-as-server-role",
        )
    cache.sweep_stale_staging(cache.cache_root())  # whichever way this run goes, a killed run's leftovers go
    if server_url:
        token = secrets.token_hex(16)
        with borrowed_database(server_url, token, as_server_role=run_as_server_role) as borrowed:
            where = f"database {borrowed.name} on {mask_url(normalise_url(server_url))}"
            yield Throwaway(borrowed.url, where, borrowed.name, token, borrowed.outside_changes)
        return
    binaries = find_binaries(pg_bindir)
    with PrivateServer(binaries, use_cache=use_cache) as server:
        yield Throwaway(server.url, server.description, "postgres", server.run_token)


def outside_failure(changes: list[str], failure: Failure | None) -> Failure:
    """The run's failure when the project's code changed the server outside its database
    (phase ``server``); a step's own failure, if any, is kept in its words."""
    error = "the project's code changed the server outside the throwaway database: " + "; ".join(changes)
    if failure is not None:
        revision = f" of revision {failure.revision}" if failure.revision else ""
        error += f" (and the run failed: phase {failure.phase}{revision}: {failure.error})"
    return Failure(None, None, "server", error)
