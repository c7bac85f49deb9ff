"""Issue 11, item 15: the read cache is untrusted input. It cannot run code, a corrupt or
foreign entry is a miss (never a wrong record), a FIFO there does not hang, and it is capped."""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES

from migdoc.doctor import check_project, load_project
from migdoc.project import read_cache
from migdoc.project.config import find_layout
from migdoc.project.scan import read_project_files

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def story(tmp_path, monkeypatch):
    """fix_story (errors and warnings of many kinds) with a private cache folder."""
    shutil.copytree(FIXTURES / "fix_story", tmp_path / "fix_story")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIGDOC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MIGDOC_NO_CACHE", raising=False)
    return tmp_path


def cache_file(folder: Path) -> Path:
    (found,) = folder.glob("reads-*.jsonl")
    return found


def outcome(path: str = "fix_story"):
    project = load_project(path)
    return project.files, check_project(project)


def test_item15_cache_is_json_and_round_trips_every_record(story):
    cold_files = read_project_files(find_layout("fix_story"), use_cache=False)
    read_project_files(find_layout("fix_story"))
    data = cache_file(story / "cache").read_bytes()
    assert data.startswith(b'{"format": "migdoc-read-cache-4"') and b"\x80" not in data
    assert read_project_files(find_layout("fix_story")) == cold_files


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {Path.cwd() / 'PWNED'}",))


def test_item15_crafted_pickle_in_the_cache_never_runs(story):
    cold = outcome()
    read_project_files(find_layout("fix_story"))
    path = cache_file(story / "cache")
    payload = pickle.dumps(("migdoc-read-cache-1/(3, 11)", _Boom()))
    path.write_bytes(payload)
    path.with_suffix(".pickle").write_bytes(payload)  # the name earlier versions read
    assert outcome() == cold
    assert not (story / "PWNED").exists()


def test_item15_fifo_or_device_as_cache_is_absent_not_a_hang(story):
    read_project_files(find_layout("fix_story"))
    path = cache_file(story / "cache")
    cold = subprocess.run(
        [sys.executable, "-m", "migdoc", "check", "--format", "json", "fix_story"],
        env={**os.environ, "MIGDOC_NO_CACHE": "1", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    for make in (lambda p: os.mkfifo(p), lambda p: os.symlink("/dev/zero", p)):
        path.unlink()
        make(path)
        warm = subprocess.run(
            [sys.executable, "-m", "migdoc", "check", "--format", "json", "fix_story"],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_item15_entry_edited_in_place_is_a_miss_not_a_wrong_record(story):
    cold = outcome()
    read_project_files(find_layout("fix_story"))
    path = cache_file(story / "cache")
    # A change that keeps the JSON valid and well typed: a revision id and a line number.
    text = path.read_text()
    assert '"0027"' in text
    path.write_text(text.replace('"0027"', '"0099"').replace("[15,", "[16,"))
    assert outcome() == cold
    # Two entries swapped between files: each is the other file's record.
    header, *lines = path.read_text().splitlines()
    first, second = lines[0].split(" ", 1), lines[1].split(" ", 1)
    lines[0], lines[1] = f"{first[0]} {second[1]}", f"{second[0]} {first[1]}"
    path.write_text("\n".join([header, *lines]) + "\n")
    assert outcome() == cold


def _corrupt(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(9)
    at = rng.randrange(len(data))
    if kind == 0:  # one flipped bit
        return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
    if kind == 1:  # one byte replaced
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    if kind == 2:  # truncated
        return data[:at]
    if kind == 3:  # a range deleted
        return data[:at] + data[at + rng.randrange(1, 200) :]
    if kind == 4:  # a range repeated
        end = min(len(data), at + rng.randrange(1, 200))
        return data[:end] + data[at:end] + data[end:]
    if kind == 5:  # random bytes inserted
        return data[:at] + rng.randbytes(rng.randrange(1, 40)) + data[at:]
    if kind == 6:  # a digit changed (a line number, a flag) keeping the JSON valid
        digits = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
        i = rng.choice(digits)
        return data[:i] + bytes([0x30 + (data[i] - 0x30 + rng.randrange(1, 10)) % 10]) + data[i + 1 :]
    if kind == 7:  # two lines swapped
        lines = data.split(b"\n")
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    return rng.choice([b"", b"[" * 100000, b"\x00" * 1000, rng.randbytes(5000), b'{"format": 5}\n'])


def test_item15_corrupt_cache_fuzz_always_gives_the_cold_result(story):
    """A few hundred random corruptions of a real cache file: each run gives exactly what a
    run without cache gives, and raises nothing. Bounded: about two seconds."""
    os.environ["MIGDOC_NO_CACHE"] = "1"
    try:
        cold = outcome()
    finally:
        del os.environ["MIGDOC_NO_CACHE"]
    outcome()  # fills the cache
    path = cache_file(story / "cache")
    pristine = path.read_bytes()
    rng = random.Random(11)
    started = time.monotonic()
    for _ in range(300):
        path.write_bytes(_corrupt(pristine, rng))
        assert outcome() == cold
        if time.monotonic() - started > 60:
            break


def test_item15_cache_folder_is_capped_and_cleans_up(story, monkeypatch):
    folder = story / "cache"
    folder.mkdir()
    old = time.time() - (read_cache.MAX_AGE_DAYS + 1) * 86400
    stale = folder / f"reads-{'a' * 20}.jsonl"
    stale.write_text("x")
    os.utime(stale, (old, old))
    legacy = folder / f"reads-{'b' * 20}.pickle"
    legacy.write_bytes(b"old format")
    dead_temp = folder / ".reads-999999-0000.tmp"
    dead_temp.write_text("half written")
    os.utime(dead_temp, (old, old))
    fresh_temp = folder / ".reads-1-0000.tmp"
    fresh_temp.write_text("being written now")
    others = [folder / "pgdata-15-abc", folder / "notes.txt"]
    others[0].mkdir()
    others[1].write_text("not ours")
    monkeypatch.setattr(read_cache, "MAX_TOTAL_BYTES", 3000)
    big = []
    for n in range(3):
        path = folder / f"reads-{str(n) * 20}.jsonl"
        path.write_bytes(b"y" * 1200)
        os.utime(path, (time.time() - 100 + n, time.time() - 100 + n))
        big.append(path)

    read_project_files(find_layout("fix_story"))  # writes this project's cache, then prunes

    assert not stale.exists() and not legacy.exists() and not dead_temp.exists()
    assert fresh_temp.exists() and all(p.exists() for p in others)
    kept = cache_file(folder)
    assert kept.exists()
    assert not big[0].exists()  # least recently used goes first
    total = sum(p.stat().st_size for p in folder.glob("reads-*"))
    assert total <= read_cache.MAX_TOTAL_BYTES or list(folder.glob("reads-*")) == [kept]


def _rewrite(path: Path, edit) -> None:
    """Apply ``edit`` to every entry's JSON and re-sign the file as migdoc would (a crafted cache)."""
    cache = read_cache.ReadCache(path)
    header, *lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    signed = []
    for line in lines:
        key, _digest, payload = line.split(b" ", 2)
        new = json.dumps(edit(json.loads(payload))).encode()
        signed.append(key + b" " + cache._digest(key, new) + b" " + new)
    body = b"\n".join(signed)
    meta = json.loads(header)
    meta["digest"] = cache._body_digest(body)
    path.write_bytes(json.dumps(meta).encode() + b"\n" + body + b"\n")


def test_item15_crafted_entries_of_the_wrong_type_are_misses_not_crashes(story):
    """Someone who can write the cache folder can sign entries: each field given a value of
    the wrong type (top level and nested) must be a miss, never a crash or a half-typed record."""
    cold = outcome()
    read_project_files(find_layout("fix_story"))
    path = cache_file(story / "cache")
    pristine = path.read_bytes()
    wrong = {str: 5, int: "5", bool: 1, list: "x", type(None): [1]}
    width = len(json.loads(pristine.split(b"\n")[1].split(b" ", 2)[2]))
    _rewrite(path, lambda fields: fields)
    signed = read_cache.ReadCache.open(find_layout("fix_story").root)
    assert signed.is_verified and len(signed.offsets) > 5  # signed as migdoc signs: believed as it stands

    def at(position, inner=None):
        def edit(fields):
            target = fields[position]
            if inner is not None and isinstance(target, list) and len(target) > inner:
                target[inner] = wrong.get(type(target[inner]), None)
            else:
                fields[position] = wrong.get(type(target), None)
            return fields

        return edit

    for position in range(width):
        for inner in (None, 0, 1, 4):
            path.write_bytes(pristine)
            _rewrite(path, at(position, inner))
            assert outcome() == cold, (position, inner)
