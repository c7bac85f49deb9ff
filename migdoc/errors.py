"""Errors migdoc raises on purpose. The CLI turns each into one line and exit 2."""

from __future__ import annotations


class MigdocError(Exception):
    """Base class: a problem with the input or the environment, not a bug."""

    exit_code = 2


class ConfigError(MigdocError):
    """The project's configuration cannot be found or read."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UsageError(MigdocError):
    """The command line asks for something that cannot be done."""


class EnvironmentProblem(MigdocError):
    """The machine lacks something migdoc needs (a database, git...)."""


class DatabaseError(MigdocError):
    """A database could not be reached or read. Carries the masked URL."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url
