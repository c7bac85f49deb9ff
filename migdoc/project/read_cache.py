"""The read cache: what the reader made of each version file, by content hash. Reads and writes disk.

Kept in the user's cache folder (``MIGDOC_CACHE_DIR``, else
``$XDG_CACHE_HOME/migdoc``), one file per project, never in the project. CI
systems restore such folders from other branches and other people, so the
cache is untrusted input:

- its format cannot run code: JSON text, decoded field by field into the
  frozen records of ``migdoc.model`` with every type checked (no pickle);
- every entry carries a digest of its own bytes, the file's content hash and
  the reader's fingerprint (migdoc's version and the hash of the reader's own
  code), so a flipped byte, an entry of another reader or another file is a miss;
- anything unreadable, mismatching, oversized or not a regular file (a FIFO
  would block the open) is treated as absent and silently rebuilt;
- it is capped: files unused for ``MAX_AGE_DAYS`` and, oldest first, whatever
  exceeds ``MAX_TOTAL_BYTES`` are removed when a cache is written, with the
  pickles of earlier versions and temporary files of dead writers.

Format (``reads-<key>.jsonl``): a header line ``{"format": ..., "migdoc": ...,
"reader": ...}``, then one line per file: ``<content sha256> <digest> <record>``,
the record a JSON array of the record's fields in declaration order. Entries are
decoded lazily, on a hit: a warm run pays only for the files it has.

Over ~400 lines for a reason: the decoder checks every field of every record type
against its declared type, because the file is untrusted; splitting the checks from the
format they check would put one invariant in two rooms.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from migdoc.cache.files import TEMP_PREFIX as _TEMP_PREFIX
from migdoc.cache.files import cache_folder
from migdoc.cache.files import read_capped as _read_regular
from migdoc.model import Assignment, FunctionBody, Header, Operation, RevisionFile

FORMAT = "migdoc-read-cache-4"
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 128 * 1024 * 1024
MAX_AGE_DAYS = 30
_TOUCH_AFTER_SECONDS = 24 * 3600  # a cache in use is kept fresh for the age cap, once a day at most
_TEMP_AGE_SECONDS = 3600  # writing a cache takes seconds; a temporary file an hour old is a dead writer's
_NAME = re.compile(r"reads-[0-9a-f]{20}\.(jsonl|pickle)")


class _Bad(ValueError):
    """A cached value does not have the type its field declares."""


# -- the codec: field types of migdoc.model, checked exactly ---------------------------
#
# The decoders are generated from the records' field annotations (by this module, from
# migdoc's own classes: nothing from the cache is ever compiled), one straight-line function
# per record type with every check inlined: a warm run decodes thousands of records, and a
# generic decoder calling a function per field made it three times slower than pickle.
# An annotation the generator does not know fails at import, so a new field type in
# ``migdoc.model`` cannot be cached wrongly.


def _strings(value: object) -> tuple[str, ...]:
    if type(value) is not list:
        raise _Bad
    for item in value:
        if type(item) is not str:
            raise _Bad
    return tuple(value)


def _numbers(value: object) -> tuple[int, ...]:
    if type(value) is not list:
        raise _Bad
    for item in value:
        if type(item) is not int:
            raise _Bad
    return tuple(value)


def _string_set(value: object) -> frozenset[str]:
    return frozenset(_strings(value))


_RECORDS = {"Assignment": Assignment, "Header": Header, "FunctionBody": FunctionBody, "Operation": Operation}
_CHECKS = {  # annotation -> (condition on x that must hold, expression for the field's value)
    "str": ("type(x) is str", "x"),
    "int": ("type(x) is int", "x"),
    "bool": ("type(x) is bool", "x"),
    "str | None": ("x is None or type(x) is str", "x"),
    "tuple[str, ...]": ("True", "() if x == [] else _strings(x)"),
    "tuple[int, ...]": ("True", "() if x == [] else _numbers(x)"),
    "tuple[str, ...] | None": ("True", "None if x is None else _strings(x)"),
    "frozenset[str]": ("True", "_EMPTY if x == [] else _string_set(x)"),
    "tuple[Operation, ...]": ("type(x) is list", "tuple([_decode_Operation(i) for i in x])"),
}
for _name in ("Assignment", "Header", "FunctionBody"):
    _CHECKS[_name] = ("True", f"_decode_{_name}(x)")
    _CHECKS[f"{_name} | None"] = ("True", f"None if x is None else _decode_{_name}(x)")
# Files written from one template put ``revision = ...`` and its siblings at the same
# places: equal Assignments (checked first, so of the same types) are one object.
_CHECKS["Assignment | None"] = ("True", "None if x is None else _share(_decode_Assignment(x))")


def _generate(cls, given: tuple[str, ...] = ()) -> str:
    fields = [f for f in dataclasses.fields(cls) if f.name not in given]
    lines = [f"def _decode_{cls.__name__}(v{''.join(', ' + g for g in given)}):"]
    lines.append(f"    if type(v) is not list or len(v) != {len(fields)}:\n        raise _Bad")
    values = []
    for number, field in enumerate(fields):
        if field.type not in _CHECKS:
            raise TypeError(f"the read cache cannot store {cls.__name__}.{field.name}: {field.type}")
        condition, value = _CHECKS[field.type]
        variable = f"x{number}"
        lines.append(f"    {variable} = v[{number}]")
        if condition != "True":
            lines.append(f"    if not ({_rename(condition, variable)}):\n        raise _Bad")
        if field.name in _INTERNED:
            value = _INTERNED[field.name]
        values.append((field.name, _rename(value, variable)))
    values += [(g, g) for g in given]
    lines.append(f"    record = _new(_{cls.__name__})")
    # A frozen dataclass refuses setattr; its slots' own descriptors do not (and cost one C
    # call each): the record is built as pickle builds it, without __init__.
    lines += [f"    _set_{cls.__name__}_{name}(record, {value})" for name, value in values]
    lines.append("    return record")
    return "\n".join(lines)


# Fields whose strings repeat across records (a revision id is also its children's
# ``down_revision``; operation names and tables recur in every file): one string object each.
_INTERNED = {
    "revision": "x if x is None else _intern(x)",
    "revision_id": "x if x is None else _intern(x)",
    "down_revisions": "() if x == [] else _interned(x)",
    "revises": "None if x is None else _interned(x)",
    "depends_on": "() if x == [] else _interned(x)",
    "kind": "_intern(x)",
    "table": "x if x is None else _intern(x)",
    "schema": "x if x is None else _intern(x)",
    "constraint_type": "x if x is None else _intern(x)",
}


_SHARED: dict = {}
"""Equal immutable records decoded once: emptied when a cache is opened, so it holds one project's."""


def _share(record: object) -> object:
    return _SHARED.setdefault(record, record)


def _interned(value: object) -> tuple[str, ...]:
    return tuple([sys.intern(item) for item in _strings(value)])


def _rename(expression: str, variable: str) -> str:
    return re.sub(r"\bx\b", variable, expression)


# The records a RevisionFile holds, each coded before the ones that hold it; a RevisionFile's
# path and content hash are not stored in its entry (the entry is found by them).
_NESTED = (Operation, Assignment, Header, FunctionBody)
_NOT_STORED = ("path", "sha256")


def _compile_decoders() -> dict[str, Callable]:
    namespace: dict[str, object] = {
        "_Bad": _Bad,
        "_new": object.__new__,
        "_strings": _strings,
        "_numbers": _numbers,
        "_string_set": _string_set,
        "_EMPTY": frozenset(),
        "_RevisionFile": RevisionFile,
        "_intern": sys.intern,
        "_share": _share,
        "_interned": _interned,
        **{f"_{name}": cls for name, cls in _RECORDS.items()},
    }
    for cls in (*_RECORDS.values(), RevisionFile):
        for field in dataclasses.fields(cls):
            namespace[f"_set_{cls.__name__}_{field.name}"] = cls.__dict__[field.name].__set__
    source = "\n\n".join([*map(_generate, _NESTED), _generate(RevisionFile, given=_NOT_STORED)])
    exec(compile(source, "<migdoc read-cache decoders>", "exec"), namespace)  # noqa: S102 - our own code
    return namespace  # type: ignore[return-value]


_decode_revision_file = _compile_decoders()["_decode_RevisionFile"]


# The encoders are generated the same way, from the same annotations: a first run writes
# every record, and a generic walk (is_dataclass and fields() on every value) cost a third of
# the time parsing the files did.
_ENCODINGS = {  # annotation -> expression for the field's JSON value (tuples dump as lists)
    "str": "x",
    "int": "x",
    "bool": "x",
    "str | None": "x",
    "tuple[str, ...]": "x",
    "tuple[int, ...]": "x",
    "tuple[str, ...] | None": "x",
    "frozenset[str]": "sorted(x)",
    "tuple[Operation, ...]": "[_encode_Operation(i) for i in x]",
}
for _name in ("Assignment", "Header", "FunctionBody"):
    _ENCODINGS[_name] = f"_encode_{_name}(x)"
    _ENCODINGS[f"{_name} | None"] = f"None if x is None else _encode_{_name}(x)"


def _generate_encoder(cls, skipped: tuple[str, ...] = ()) -> str:
    values = []
    for field in dataclasses.fields(cls):
        if field.name in skipped:
            continue
        if field.type not in _ENCODINGS:
            raise TypeError(f"the read cache cannot store {cls.__name__}.{field.name}: {field.type}")
        values.append(_rename(_ENCODINGS[field.type], f"r.{field.name}"))
    return f"def _encode_{cls.__name__}(r):\n    return [{', '.join(values)}]"


def _compile_encoders() -> dict[str, Callable]:
    namespace: dict[str, object] = {}
    source = "\n\n".join([*map(_generate_encoder, _NESTED), _generate_encoder(RevisionFile, skipped=_NOT_STORED)])
    exec(compile(source, "<migdoc read-cache encoders>", "exec"), namespace)  # noqa: S102 - our own code
    return namespace  # type: ignore[return-value]


_encode_revision_file = _compile_encoders()["_encode_RevisionFile"]
_dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def encode_record(record: RevisionFile) -> bytes:
    return _dump(_encode_revision_file(record)).encode("ascii")


# -- the cache file ----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def reader_fingerprint() -> str:
    """migdoc's version and the hash of the code that makes RevisionFiles (and of this codec)."""
    from migdoc import __version__, model
    from migdoc.project import assignments, body_reader, lock_hints, reader, safe_values

    digest = hashlib.sha256(__version__.encode())
    for file in (
        reader.__file__,
        assignments.__file__,
        body_reader.__file__,
        safe_values.__file__,
        lock_hints.__file__,
        model.__file__,
        __file__,
    ):
        with contextlib.suppress(OSError, TypeError):
            digest.update(Path(file).read_bytes())
    return digest.hexdigest()


class ReadCache:
    """Content hash -> RevisionFile for one project.

    Any problem with the cache (unwritable folder, a corrupt, foreign or
    hostile file) means a miss, never an error and never a wrong record: it
    only ever saves time.

    Memory: the file's bytes are kept once, with the offset of each entry's line
    (not a copy of every line, nor every entry decoded up front: at 50,000
    revisions those copies were the peak of a warm run); an entry is decoded on
    its hit. When the digest of the whole body (in the header) holds, every entry
    is known good; otherwise each is checked against its own digest on its hit."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data = b""
        self.offsets: dict[bytes, int] = {}  # key -> where its line "key digest payload" starts in data
        self.is_verified = False  # the whole body's digest held: no entry needs its own check
        self.good: set[bytes] = set()
        self._salt = reader_fingerprint().encode("ascii")

    @classmethod
    def open(cls, project_root: Path) -> ReadCache | None:
        if os.environ.get("MIGDOC_NO_CACHE"):
            return None
        key = hashlib.sha256(f"{project_root}|{reader_fingerprint()}".encode()).hexdigest()[:20]
        _SHARED.clear()
        cache = cls(cache_folder() / f"reads-{key}.jsonl")
        cache._load()
        return cache

    def _load(self) -> None:
        assert self.path is not None
        data = _read_regular(self.path, MAX_FILE_BYTES)
        if not data:
            return
        newline = data.find(b"\n")
        if newline < 0:
            return
        try:
            meta = json.loads(data[:newline])
        except (ValueError, RecursionError):
            return
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("reader") != reader_fingerprint():
            return
        end = len(data) - 1 if data.endswith(b"\n") else len(data)
        with memoryview(data) as view:
            self.is_verified = meta.get("digest") == self._body_digest(view[newline + 1 : end])
        offsets = self.offsets
        find = data.find
        position = newline + 1
        while position < len(data):
            stop = find(b"\n", position)
            stop = len(data) if stop < 0 else stop
            space = find(b" ", position, stop)
            if space > 0 and find(b" ", space + 1, stop) > 0:  # three parts, as written
                offsets[data[position:space]] = position
            position = stop + 1
        self.data = data
        with contextlib.suppress(OSError):
            if time.time() - os.stat(self.path).st_mtime > _TOUCH_AFTER_SECONDS:
                os.utime(self.path)  # in use: not to be removed by the age cap

    def _line(self, key: bytes) -> bytes | None:
        start = self.offsets.get(key)
        if start is None:
            return None
        stop = self.data.find(b"\n", start)
        return self.data[start : len(self.data) if stop < 0 else stop]

    def _digest(self, key: bytes, payload: bytes) -> bytes:
        return hashlib.sha256(self._salt + b" " + key + b" " + payload).hexdigest()[:32].encode("ascii")

    def _body_digest(self, body: bytes | memoryview) -> str:
        digest = hashlib.sha256(self._salt + b"\n")
        digest.update(body)
        return digest.hexdigest()

    def get(self, data: bytes, display: str) -> RevisionFile | None:
        sha = hashlib.sha256(data).hexdigest()
        key = sha.encode("ascii")
        line = self._line(key)
        if line is None:
            return None
        _, digest, payload = line.split(b" ", 2)
        if not self.is_verified and digest != self._digest(key, payload):
            return None
        try:
            record = _decode_revision_file(json.loads(payload), display, sha)
        except (ValueError, TypeError, RecursionError):
            return None
        self.good.add(key)
        return record

    def save(self, records: list[RevisionFile]) -> None:
        """Write the cache for ``records`` (atomically), then enforce the caps on the folder.

        Written line by line as each record is encoded, the body's digest computed on the
        way and put in the header last (a fixed-width field, rewritten in place): at 50,000
        revisions a list of the lines, the joined body and the whole content were three
        copies of a 30 MB file, the peak of a first run."""
        if self.path is None:
            return
        header = {"format": FORMAT, "migdoc": _version(), "reader": reader_fingerprint(), "digest": "0" * 64}
        digest = hashlib.sha256(self._salt + b"\n")
        folder = self.path.parent
        temporary = folder / f"{_TEMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(handle, "wb") as out:
                out.write(json.dumps(header).encode("ascii") + b"\n")
                for number, line in enumerate(self._lines(records)):
                    if number:
                        digest.update(b"\n")
                    digest.update(line)
                    out.write(line + b"\n")
                header["digest"] = digest.hexdigest()  # as long as the zeros it replaces
                out.seek(0)
                out.write(json.dumps(header).encode("ascii") + b"\n")
            os.replace(temporary, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return
        prune(folder, keep=self.path)

    def _lines(self, records: list[RevisionFile]) -> Iterator[bytes]:
        """Each record's line ``key digest payload``, once per content hash."""
        written: set[bytes] = set()
        for record in records:
            key = record.sha256.encode("ascii")
            if not record.sha256 or key in written:
                continue  # files with the same bytes share one entry
            written.add(key)
            line = self._line(key) if key in self.good else None
            if line is None:
                try:
                    payload = encode_record(record)
                except (TypeError, ValueError):
                    continue
                line = key + b" " + self._digest(key, payload) + b" " + payload
            yield line


def _version() -> str:
    from migdoc import __version__

    return __version__


def prune(folder: Path, keep: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove read caches unused for ``MAX_AGE_DAYS``, then the least recently used until the
    rest fits in ``MAX_TOTAL_BYTES``; pickles of earlier versions; temporary files of dead
    writers. Only names this module writes are considered. Returns what was removed."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    caches: list[tuple[float, int, Path]] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        path = folder / name
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if name.startswith(_TEMP_PREFIX) and name.endswith(".tmp"):
            if now - info.st_mtime > _TEMP_AGE_SECONDS and _remove(path):
                removed.append(path)
            continue
        if not _NAME.fullmatch(name) or path == keep:
            continue
        if name.endswith(".pickle") or now - info.st_mtime > MAX_AGE_DAYS * 86400:
            if _remove(path):  # an earlier version's pickle is never read again: it only takes room
                removed.append(path)
            continue
        caches.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in caches)
    if keep is not None:
        with contextlib.suppress(OSError):
            total += os.stat(keep).st_size
    for _, size, path in sorted(caches):
        if total <= MAX_TOTAL_BYTES:
            break
        if _remove(path):
            removed.append(path)
            total -= size
    return removed


def _remove(path: Path) -> bool:
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        os.unlink(path)
        return True
    except OSError:
        return False
