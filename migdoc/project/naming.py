"""File names of version files: ``file_template`` as a pattern and as a renderer, revision
ids as tokens of a name, Alembic's slug and ``Create Date``. Pure; shared by the rules
(MD006, MD007, MD009) and the planner (merge and renumber name new files with it)."""

from __future__ import annotations

import functools
import re
from datetime import datetime

from migdoc.errors import FixRefused
from migdoc.model import FixOptions

TEMPLATE_TOKEN = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdif]")
_SLUG = re.compile(r"\w+")


@functools.lru_cache(maxsize=32)
def template_regex(template: str) -> re.Pattern[str] | None:
    """A regex for file stems written by ``file_template``; ``rev`` is a group."""
    if "%(rev)" not in template:
        return None
    parts = []
    position = 0
    seen_rev = False
    for match in TEMPLATE_TOKEN.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        name = match.group(1)
        if name == "rev" and not seen_rev:
            parts.append(r"(?P<rev>.+?)")
            seen_rev = True
        elif name == "slug":
            parts.append(r".*?")
        else:
            parts.append(r"\d+")
        position = match.end()
    parts.append(re.escape(template[position:]))
    try:
        return re.compile("^" + "".join(parts) + "$")
    except re.error:
        return None


def carries_revision(stem: str, revision: str) -> bool:
    """True when ``revision`` stands in ``stem`` as a whole token."""
    if not revision:
        return False
    start = stem.find(revision)
    while start != -1:
        end = start + len(revision)
        before_ok = start == 0 or not stem[start - 1].isalnum()
        after_ok = end == len(stem) or not stem[end].isalnum()
        if before_ok and after_ok:
            return True
        start = stem.find(revision, start + 1)
    return False


def starts_at_template_rev(stem: str, template: str | None, revision: str) -> bool:
    """True when the whole ``revision`` stands where ``template`` places the rev, even if the
    template reads only its first word there (``add`` of ``add_task_credentials``)."""
    regex = template_regex(template) if template else None
    match = regex.match(stem) if regex is not None else None
    if match is None:
        return False
    rest = stem[match.start("rev") :]
    return rest.startswith(revision) and (len(rest) == len(revision) or not rest[len(revision)].isalnum())


def filename_revision(stem: str, template: str | None) -> str | None:
    """The revision a file name claims under ``template``, if it follows it."""
    regex = template_regex(template) if template else None
    if regex is None:
        return None
    match = regex.match(stem)
    return match.group("rev") if match else None


def parse_create_date(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.strip()
    for candidate in (text, text.split(".")[0], text[:19]):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return parsed.replace(tzinfo=None)
    return None


def slugify(message: str, truncate: int = 40) -> str:
    """Alembic's slug: the words of the message, joined by ``_``, lower case, truncated."""
    slug = "_".join(_SLUG.findall(message or "")).lower()
    if len(slug) > truncate:
        slug = slug[:truncate].rsplit("_", 1)[0] + "_"
    return slug


def render_file_template(template: str, revision: str, message: str, options: FixOptions, truncate: int = 40) -> str:
    """The file stem Alembic's ``file_template`` gives a new revision at ``options.now``."""
    now = options.now
    values = {
        "rev": revision,
        "slug": slugify(message, truncate),
        "epoch": int(now.timestamp()),
        "year": now.year,
        "month": now.month,
        "day": now.day,
        "hour": now.hour,
        "minute": now.minute,
        "second": now.second,
    }
    try:
        return template % values
    except (KeyError, ValueError, TypeError) as exc:
        raise FixRefused(f"file_template {template!r} cannot be rendered: {exc}", flag="--file-template") from exc


REVISION_ID_ILLEGAL_CHARACTERS = ("@", "-", "+", ":")
"""Alembic's ``_revision_illegal_chars`` (alembic/script/revision.py): ``Revision`` raises
RevisionError for an id holding one, so every command fails while that file is loaded."""
RESERVED_REVISION_IDS = ("base", "head", "heads")
"""Names Alembic resolves as symbols before it looks for a revision of that id."""


def revision_id_problem(revision: str) -> str | None:
    """Why Alembic cannot use ``revision`` as a revision id, or None when it can."""
    illegal = [character for character in REVISION_ID_ILLEGAL_CHARACTERS if character in revision]
    if illegal:
        shown = ", ".join(repr(character) for character in illegal)
        return f"it contains {shown}, which Alembic does not allow in a revision id"
    if revision in RESERVED_REVISION_IDS:
        return f"{revision!r} is a symbol to Alembic (`alembic upgrade {revision}`), never this revision's id"
    return None
