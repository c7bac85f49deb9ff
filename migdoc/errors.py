"""Every error class migdoc raises on purpose, each carrying its data.

A :class:`MigdocError` becomes one line and exit 2 in the CLI; :class:`ApplyInterrupted`
is a signal that arrived while a fix was written; :class:`EditError` is the planner's own
(a text that does not hold what an edit expects), turned into a refusal where it is caught."""

from __future__ import annotations


def one_line(value: object) -> str:
    """``value`` as text on one line (any run of whitespace, newlines included, is one space)."""
    return " ".join(str(value).split())


def first_line(exc: BaseException) -> str:
    """The first line of an error (of the driver's own error when SQLAlchemy wraps one),
    or the error's type when it says nothing."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


class MigdocError(Exception):
    """Base class: a problem with the input or the environment, not a bug."""

    exit_code = 2


class ConfigError(MigdocError):
    """The project's configuration cannot be found or read."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UsageError(MigdocError):
    """The command line (or ``[tool.migdoc]``) asks for something that cannot be done.

    ``option``: the option or setting at fault (``--base-ref``, ``--to``, ``[tool.migdoc] severity``);
    ``value``: what was given for it, when the refusal is about a value."""

    def __init__(self, message: str, *, option: str | None = None, value: str | None = None) -> None:
        super().__init__(message)
        self.option = option
        self.value = value


class EnvironmentProblem(MigdocError):
    """The machine lacks something migdoc needs (a database, git, a module...).

    ``needs``: what is missing or failed (``git``, ``initdb``, a module name, a data directory);
    ``remedy``: what makes it available, when migdoc knows (a command or an option)."""

    def __init__(self, message: str, *, needs: str | None = None, remedy: str | None = None) -> None:
        super().__init__(message)
        self.needs = needs
        self.remedy = remedy


class DatabaseError(MigdocError):
    """A database could not be reached or read. Carries the masked URL."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class FixRefused(UsageError):
    """A strategy cannot proceed without a decision only the user can make.

    ``flag``: the option that makes the decision (``--keep``, ``--head``, ``--rev-id``...);
    ``candidates``: the values it could take, where the refusal knows them (file paths for
    ``--keep``, revision ids for ``--head``), in the order the message lists them."""

    def __init__(self, message: str, *, flag: str | None = None, candidates: tuple[str, ...] = ()) -> None:
        super().__init__(message, option=flag)  # the deciding flag is the option a UsageError names
        self.flag = flag
        self.candidates = tuple(candidates)


class LockedError(MigdocError):
    """Another migdoc is writing this project; nothing was changed.

    ``lock``: the lock file; ``holder``: who holds it (pid, host, start), as it wrote itself down."""

    def __init__(self, message: str, lock: str | None = None, holder: dict | None = None) -> None:
        super().__init__(message)
        self.lock = lock
        self.holder = holder


class ApplyError(MigdocError):
    """The plan cannot be applied safely (or could not be, and was rolled back).

    ``path``: the file the refusal is about, when it is about one."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UndoError(MigdocError):
    """The last journal cannot be undone safely.

    ``journal``: the journal file concerned, when there is one."""

    def __init__(self, message: str, journal: str | None = None) -> None:
        super().__init__(message)
        self.journal = journal


class ApplyInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM while the plan was being written; the roll-back has run.

    ``note`` says what the roll-back restored (or that nothing was changed)."""

    def __init__(self, signum: int, note: str) -> None:
        super().__init__(signum)
        self.signum = signum
        self.note = note


class EditError(ValueError):
    """The text does not hold what the edit expects at its position."""


class PlanInvariantError(AssertionError):
    """A plan broke an invariant the planner keeps (two edits of one line): a bug in migdoc,
    reported with its traceback (exit 3), never applied."""
