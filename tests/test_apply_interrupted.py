"""Issue 11, items 3, 7, 8, 9, 10: interrupted and concurrent `fix --apply`, full disks, hostile journals.

Every apply is finishable or reversible whatever stops it; one writer per project;
`fix --undo` trusts no journal and never writes outside the project."""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from environment import is_root, require
from fixhelp import NOW, apply_for, plan_for, snapshot

from migdoc.cli import cli
from migdoc.fix import apply as applying

REPO = Path(__file__).resolve().parent.parent


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def project_files(root: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(root).items() if not k.startswith(".migdoc")}


def journals(root: Path) -> list[dict]:
    folder = root / applying.JOURNAL_DIR
    entries = [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(entries, key=lambda j: j.get("sequence", 0))


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# -- item 3: a full disk ----------------------------------------------------------------


def _fill_disk(monkeypatch, *, after_first_edit: bool):
    """From the first edit on (or right after it), every new write fails with ENOSPC (moves
    and unlinks need no room and still work, as on a real full disk). Returns a function
    that makes room again."""
    state = {"full": False}
    real_write, real_carry_out = applying._write_atomic, applying._carry_out

    def write(path, data, *, exclusive):
        if state["full"]:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data, exclusive=exclusive)

    def carry_out(action, step, created_dirs):
        if action.kind == "edit" and not after_first_edit:
            state["full"] = True
        real_carry_out(action, step, created_dirs)
        if action.kind == "edit":
            state["full"] = True

    monkeypatch.setattr(applying, "_write_atomic", write)
    monkeypatch.setattr(applying, "_carry_out", carry_out)

    def make_room():
        monkeypatch.setattr(applying, "_write_atomic", real_write)
        monkeypatch.setattr(applying, "_carry_out", real_carry_out)

    return make_room


def test_item3_full_disk_rollback_then_journal_write_fails_one_line(copy_fixture, monkeypatch):
    root = copy_fixture("fix_story")
    before = project_files(root)
    make_room = _fill_disk(monkeypatch, after_first_edit=False)
    result = run("fix", "--archive", "--apply", "fix_story")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert "No space left on device" in line and "every file was restored" in line
    assert '"applying"' in line and "migdoc fix --undo" in line
    assert project_files(root) == before
    assert [j["status"] for j in journals(root)] == ["applying"]  # could not be updated
    make_room()

    blocked = run("fix", "--archive", "fix_story")
    assert blocked.exit_code == 2 and "migdoc fix --undo" in one_line(blocked.stderr)
    undo = run("fix", "--undo", "fix_story")
    assert undo.exit_code == 0, undo.output
    assert [j["status"] for j in journals(root)] == ["undone"]
    assert project_files(root) == before
    assert run("fix", "--archive", "--apply", "fix_story").exit_code == 0


def test_item3_full_disk_edit_not_restorable_is_named_and_undo_finishes(copy_fixture, monkeypatch):
    root = copy_fixture("fix_story")
    before = project_files(root)
    make_room = _fill_disk(monkeypatch, after_first_edit=True)  # the edit is written, then the disk is full
    result = run("fix", "--archive", "--apply", "fix_story")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert "NOT restored" in line and "migdoc fix --undo" in line
    assert project_files(root) != before  # the first edit could not be written back
    assert [j["status"] for j in journals(root)] == ["applying"]
    make_room()
    undo = run("fix", "--undo", "fix_story")
    assert undo.exit_code == 0, undo.output
    assert project_files(root) == before


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs, where this machine lets us mount one (root in a container); else skip
    (as root under CI, a mount that fails is a failure: see tests/environment.py)."""
    if not is_root():
        pytest.skip("mounting a tmpfs needs root")  # may skip under CI: a hosted runner is not root
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    require(made.returncode == 0, f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_item3_real_full_disk_on_a_tiny_tmpfs(tiny_disk, monkeypatch):
    import shutil

    from conftest import FIXTURES

    root = tiny_disk / "fix_story"
    shutil.copytree(FIXTURES / "fix_story", root)
    monkeypatch.chdir(tiny_disk)
    before = project_files(root)
    real_carry_out = applying._carry_out

    def fill_then_carry_out(action, step, created_dirs):
        if action.kind == "edit":  # the disk fills up just before the edit is written
            with open(tiny_disk / "filler", "ab") as filler:
                with contextlib.suppress(OSError):
                    while True:
                        filler.write(b"x" * 65536)
                        filler.flush()
        real_carry_out(action, step, created_dirs)

    monkeypatch.setattr(applying, "_carry_out", fill_then_carry_out)
    result = run("fix", "--archive", "--apply", "fix_story")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert "No space left on device" in line and "every file was restored" in line
    assert project_files(root) == before
    (status,) = [j["status"] for j in journals(root)]
    assert status in ("rolled back", "applying")
    monkeypatch.setattr(applying, "_carry_out", real_carry_out)
    (tiny_disk / "filler").unlink()
    if status == "applying":
        assert "migdoc fix --undo" in line
        assert run("fix", "--undo", "fix_story").exit_code == 0
    assert project_files(root) == before
    assert run("fix", "--archive", "--apply", "fix_story").exit_code == 0


# -- item 7: interrupted applies --------------------------------------------------------

_KILLER = """
import os, signal, sys
from migdoc.fix import apply as applying
from migdoc.cli import main

where, count, signum = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
calls = []
if where == "step":
    real = applying._carry_out
    def carry_out(action, step, created_dirs):
        if len(calls) == count:
            os.kill(os.getpid(), signum)
        calls.append(action)
        real(action, step, created_dirs)
    applying._carry_out = carry_out
    real_check = applying.is_healthier
    def is_healthier(before, after):  # count == number of steps: during the re-check
        if len(calls) == count:
            os.kill(os.getpid(), signum)
        return real_check(before, after)
    applying.is_healthier = is_healthier
elif where == "link":  # between a move's link and its unlink: the file is at both places
    real_link = os.link
    def link(source, target, **kwargs):
        real_link(source, target, **kwargs)
        calls.append(target)
        if len(calls) == count:
            os.kill(os.getpid(), signum)
    os.link = link
elif where == "hold":  # stop before the first step until the test creates ./release
    real = applying._carry_out
    def carry_out(action, step, created_dirs):
        import time
        deadline = time.monotonic() + 120
        while not os.path.exists("release") and time.monotonic() < deadline:
            time.sleep(0.02)
        real(action, step, created_dirs)
    applying._carry_out = carry_out
main(sys.argv[4:])
"""


def _run_killed(cwd: Path, where: str, count: int, signum: int, *args: str, wait: bool = True):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", _KILLER, where, str(count), str(int(signum)), *args]
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@pytest.mark.parametrize(("where", "count"), [("link", 1), ("step", 1), ("step", 4), ("step", 6), ("link", 2)])
def test_item7_sigkill_midway_is_found_first_and_undone_exactly(copy_fixture, where, count):
    root = copy_fixture("fix_story")
    before = project_files(root)
    code, _out, _err = _run_killed(
        root.parent, where, count, signal.SIGKILL, "fix", "--archive", "--apply", "fix_story"
    )
    assert code == -signal.SIGKILL
    assert [j["status"] for j in journals(root)] == ["applying"]
    if (where, count) != ("link", 1):  # ("link", 1): killed as the journal itself was placed
        assert project_files(root) != before  # half applied

    for args in (["fix", "fix_story"], ["fix", "--archive", "--apply", "fix_story"]):
        blocked = run(*args)
        assert blocked.exit_code == 2, blocked.output
        assert "interrupted" in one_line(blocked.stderr) and "migdoc fix --undo" in blocked.output
    undo = run("fix", "--undo", "fix_story")
    assert undo.exit_code == 0, undo.output
    assert project_files(root) == before
    assert not list(root.rglob("*.migdoc-tmp"))
    assert run("fix", "--archive", "--apply", "fix_story").exit_code == 0


@pytest.mark.usefixtures("sigint_delivered")  # the run it starts sends itself SIGINT
@pytest.mark.parametrize(("signum", "count"), [(signal.SIGINT, 3), (signal.SIGTERM, 3), (signal.SIGTERM, 7)])
def test_item7_sigint_sigterm_midway_roll_back_with_one_line(copy_fixture, signum, count):
    """Count 7: after the last step, while the result is re-read: not yet proved healthier."""
    root = copy_fixture("fix_story")
    before = project_files(root)
    code, _out, err = _run_killed(root.parent, "step", count, signum, "fix", "--archive", "--apply", "fix_story")
    assert code == 128 + signum, err
    line = one_line(err)
    assert signal.Signals(signum).name in line and "every file was restored" in line
    assert project_files(root) == before
    assert [j["status"] for j in journals(root)] == ["rolled back"]
    assert run("fix", "--archive", "--apply", "fix_story").exit_code == 0


def test_item7_undo_never_reverts_an_older_fix_while_a_newer_is_half_done(copy_fixture):
    root = copy_fixture("fix_story")
    assert run("fix", "--archive", "--apply", "fix_story").exit_code == 0
    after_first = project_files(root)
    # A second head appears; `fix --merge --apply` is killed after writing the merge file.
    versions = root / "migrations" / "versions"
    head = next(p for p in versions.glob("0027_*.py"))
    (versions / "0028_side.py").write_text(
        head.read_text().replace("revision: str = '0027'", "revision: str = '0028'"), encoding="utf-8"
    )
    assert run("check", "fix_story").exit_code == 1  # two heads now
    with_side = project_files(root)
    # the first link(2) places the journal, the second the merge file: killed right after it
    # --no-verify: the side head repeats 0027's column, so the upgrade proof would (rightly) refuse the merge
    code, _out, _err = _run_killed(
        root.parent, "link", 2, signal.SIGKILL, "fix", "--merge", "--apply", "--no-verify", "fix_story"
    )
    assert code == -signal.SIGKILL
    assert [j["status"] for j in journals(root)] == ["applied", "applying"]
    assert project_files(root) != with_side  # the merge file is there

    assert run("fix", "--undo", "fix_story").exit_code == 0
    assert project_files(root) == with_side  # only the half-done merge was reverted
    assert not list(root.rglob("*.migdoc-tmp"))  # the killed run's temporary files are gone too
    assert [j["status"] for j in journals(root)] == ["applied", "undone"]
    (versions / "0028_side.py").unlink()
    assert project_files(root) == after_first


# -- item 8: one writer -----------------------------------------------------------------


def test_item8_second_writer_is_refused_and_told_who_holds_the_lock(copy_fixture):
    root = copy_fixture("fix_story")
    before = project_files(root)
    with applying.project_lock(root.resolve()):
        result = run("fix", "--archive", "--apply", "fix_story")
        undo = run("fix", "--undo", "fix_story")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert f"pid {os.getpid()}" in line and f"host {socket.gethostname()}" in line
    assert undo.exit_code == 2 and f"pid {os.getpid()}" in undo.output
    assert project_files(root) == before
    assert not (root / ".migdoc").exists()  # the refused run left nothing


def test_item8_two_real_processes_cannot_interleave(copy_fixture):
    root = copy_fixture("fix_story")
    first = _run_killed(root.parent, "hold", 0, 0, "fix", "--archive", "--apply", "fix_story", wait=False)
    deadline = time.monotonic() + 60
    while not list((root / applying.JOURNAL_DIR).glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(
        [sys.executable, "-m", "migdoc", "fix", "--archive", "--apply", "fix_story"],
        cwd=root.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    (root.parent / "release").touch()
    _out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    assert f"pid {first.pid}" in one_line(second.stderr)
    assert [j["status"] for j in journals(root)] == ["applied"]
    assert run("check", "fix_story").exit_code == 0


def test_item8_lock_of_a_dead_process_does_not_block(copy_fixture):
    root = copy_fixture("fix_story")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = root / applying.LOCK_FILE
    lock.parent.mkdir()
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "1", "since": "then"}))
    assert run("fix", "--archive", "--apply", "fix_story").exit_code == 0


def test_item8_journal_names_are_unique_and_never_overwritten(copy_fixture, monkeypatch):
    root = copy_fixture("fix_story")
    monkeypatch.setattr(applying.secrets, "token_hex", lambda n: "abcdef")
    folder = root / applying.JOURNAL_DIR
    folder.mkdir(parents=True)
    taken = folder / f"{NOW:%Y%m%dT%H%M%S}-{os.getpid()}-abcdef.json"
    taken.write_text(json.dumps({"status": "undone", "created": "x", "steps": []}))
    before = project_files(root)
    with pytest.raises(applying.ApplyError, match="cannot write the journal"):
        apply_for("fix_story", plan_for("fix_story", is_archive=True))
    assert json.loads(taken.read_text())["status"] == "undone"
    assert project_files(root) == before


# -- item 9: the hash of every file right before its own step ---------------------------


def test_item9_file_changed_after_the_check_is_not_moved(copy_fixture, monkeypatch):
    root = copy_fixture("fix_story")
    plan = plan_for("fix_story", is_archive=True)
    moves = [a for a in plan.actions if a.kind == "move"]
    victim = Path(moves[-1].source)
    real_preflight = applying._preflight

    def preflight_then_edit(plan, folders):
        real_preflight(plan, folders)
        victim.write_text(victim.read_text() + "\n# edited while migdoc was applying\n")

    monkeypatch.setattr(applying, "_preflight", preflight_then_edit)
    before = snapshot(root / "migrations")
    with pytest.raises(applying.ApplyError, match="changed on disk during apply"):
        apply_for("fix_story", plan)
    assert victim.exists() and victim.read_text().endswith("# edited while migdoc was applying\n")
    after = snapshot(root / "migrations")
    key = f"versions/{victim.name}"
    assert after.pop(key) != before.pop(key)
    assert after == before  # everything else was put back


# -- item 10: journals are validated in full; nothing is written outside the project ----


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _edit_step(path: str, original: bytes, now: bytes) -> dict:
    return {
        "kind": "edit",
        "path": path,
        "original": base64.b64encode(original).decode(),
        "original_sha256": _sha(original),
        "new_sha256": _sha(now),
        "done": True,
    }


def _bad_journals(root: Path, victim: Path) -> dict[str, object]:
    inside = str(root / "migrations" / "versions" / "x.py")
    good_edit = _edit_step(inside, b"old", b"new")
    return {
        "status only": {"status": "applied"},
        "a list": [],
        "a string": "applied",
        "steps not a list": {"status": "applied", "created": "t", "steps": {}},
        "missing field": {"status": "applied", "created": "t", "steps": [{**good_edit, "original_sha256": None}]},
        "bad base64": {"status": "applied", "created": "t", "steps": [{**good_edit, "original": "!!not base64!!"}]},
        "hash mismatch": {"status": "applied", "created": "t", "steps": [{**good_edit, "original_sha256": "0" * 64}]},
        "unknown kind": {"status": "applied", "created": "t", "steps": [{"kind": "delete", "path": inside}]},
        "relative path": {"status": "applied", "created": "t", "steps": [{**good_edit, "path": "x.py"}]},
        "outside": {
            "status": "applied",
            "created": "t",
            "steps": [_edit_step(str(victim), b"PWNED\n", victim.read_bytes())],
        },
        "outside by ..": {
            "status": "applied",
            "created": "t",
            "steps": [_edit_step(str(root / ".." / victim.name), b"PWNED\n", victim.read_bytes())],
        },
        "move out": {
            "status": "applied",
            "created": "t",
            "steps": [{"kind": "move", "source": str(victim), "target": inside, "sha256": _sha(b"x"), "done": True}],
        },
    }


@pytest.mark.parametrize(
    "case",
    [
        "status only",
        "a list",
        "a string",
        "steps not a list",
        "missing field",
        "bad base64",
        "hash mismatch",
        "unknown kind",
        "relative path",
        "outside",
        "outside by ..",
        "move out",
    ],
)
def test_item10_malformed_or_hostile_journal_is_refused_in_one_line(copy_fixture, case):
    root = copy_fixture("fix_story")
    victim = root.parent / "victim.txt"
    victim.write_text("mine\n")
    folder = root / applying.JOURNAL_DIR
    folder.mkdir(parents=True)
    (folder / "20990101T000000.json").write_text(json.dumps(_bad_journals(root.resolve(), victim.resolve())[case]))
    before = project_files(root)
    for args in (["fix", "--undo", "fix_story"], ["fix", "--archive", "--apply", "fix_story"], ["fix", "fix_story"]):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "journal" in one_line(result.stderr)
    assert victim.read_text() == "mine\n"
    assert project_files(root) == before


def test_item10_journal_that_is_a_fifo_or_not_json_is_refused(copy_fixture):
    root = copy_fixture("fix_story")
    folder = root / applying.JOURNAL_DIR
    folder.mkdir(parents=True)
    os.mkfifo(folder / "fifo.json")
    result = run("fix", "--undo", "fix_story")
    assert result.exit_code == 2 and "not a regular file" in one_line(result.stderr)
    (folder / "fifo.json").unlink()
    (folder / "deep.json").write_text("[" * 100000)
    result = run("fix", "--undo", "fix_story")
    assert result.exit_code == 2 and "cannot be read as a journal" in one_line(result.stderr)


# -- the two bugs found in apply.py ------------------------------------------------------


def test_move_no_clobber_never_replaces_a_target_that_appears_after_the_check(tmp_path, monkeypatch):
    source, target = tmp_path / "a.py", tmp_path / "b.py"
    source.write_text("ours\n")
    real_link = os.link

    def link_after_someone_else(src, dst, **kwargs):
        Path(dst).write_text("theirs\n")  # another writer, between the check and the link
        real_link(src, dst, **kwargs)

    monkeypatch.setattr(applying.os, "link", link_after_someone_else)
    with pytest.raises(FileExistsError):
        applying._move_no_clobber(source, target)
    assert target.read_text() == "theirs\n" and source.read_text() == "ours\n"


def test_move_no_clobber_without_hard_links_still_refuses(tmp_path, monkeypatch):
    source, target = tmp_path / "a.py", tmp_path / "b.py"
    source.write_text("ours\n")

    def no_hard_links(src, dst, **kwargs):
        Path(dst).write_text("theirs\n")
        raise OSError(errno.EPERM, "Operation not permitted", str(dst))

    monkeypatch.setattr(applying.os, "link", no_hard_links)
    with pytest.raises(FileExistsError):
        applying._move_no_clobber(source, target)
    assert target.read_text() == "theirs\n" and source.read_text() == "ours\n"
    target.unlink()
    monkeypatch.undo()
    applying._move_no_clobber(source, target)  # and a free target is still reached
    assert target.read_text() == "ours\n" and not source.exists()


def test_rollback_that_cannot_restore_a_file_says_so(copy_fixture):
    root = copy_fixture("fix_story")
    plan = plan_for("fix_story", is_archive=True)
    moved = Path(next(a for a in plan.actions if a.kind == "move").target)

    from migdoc.doctor import check_project, load_project

    before = check_project(load_project("fix_story"))

    def recheck():
        moved.write_text(moved.read_text() + "\n# touched by someone\n")
        return before

    with pytest.raises(applying.ApplyError, match="NOT restored") as caught:
        applying.apply_plan(plan, root.resolve(), recheck, before, NOW)
    assert moved.name in str(caught.value)
    assert [j["status"] for j in journals(root)] == ["rollback incomplete"]
    blocked = run("fix", "--archive", "fix_story")
    assert blocked.exit_code == 2 and "rollback incomplete" in blocked.output


def test_item10_apply_refuses_to_write_outside_the_project(copy_fixture, tmp_path):
    root = copy_fixture("fix_story")
    before = project_files(root)
    outside = tmp_path / "elsewhere"
    result = run("fix", "--archive", "--archive-dir", str(outside), "--apply", "fix_story")
    assert result.exit_code == 2, result.output
    assert "outside the project" in one_line(result.stderr)
    assert not outside.exists() and project_files(root) == before


def test_item10_journal_fuzz_never_crashes_and_never_writes_outside(copy_fixture, tmp_path):
    """Random mutations of a real journal (bytes and JSON values, paths pointed outside):
    `fix --undo` exits 0, 1 or 2 with no traceback, and nothing outside the project changes."""
    import random
    import shutil

    root = copy_fixture("fix_story")
    assert run("fix", "--archive", "--apply", "fix_story").exit_code == 0
    applied = tmp_path / "applied"
    shutil.copytree(root, applied)
    (journal_path,) = (applied / applying.JOURNAL_DIR).glob("*.json")
    pristine = journal_path.read_bytes()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.py").write_text("mine\n")
    rng = random.Random(10)
    started = time.monotonic()
    for _ in range(150):
        shutil.rmtree(root)
        shutil.copytree(applied, root)
        data = json.loads(pristine)
        kind = rng.randrange(4)
        if kind == 0:  # bytes: flip, cut
            raw = bytearray(pristine)
            at = rng.randrange(len(raw))
            raw[at] ^= 1 << rng.randrange(8)
            text = bytes(raw[: rng.randrange(at, len(raw) + 1)])
        else:
            step = rng.choice(data["steps"])
            key = rng.choice(sorted(step))
            if kind == 1:  # a value of the wrong type
                step[key] = rng.choice([None, 5, True, [], {}, "", "!!", "0" * 64])
            elif kind == 2:  # a path outside the project, plainly or by .. or a symlink
                link = root / "migrations" / "sneaky"
                with contextlib.suppress(FileExistsError):
                    link.symlink_to(outside)
                step[key] = rng.choice(
                    [str(outside / "victim.py"), f"{root}/../outside/victim.py", str(link / "victim.py")]
                )
            else:  # a field dropped, or the whole journal's shape changed
                if rng.random() < 0.5:
                    del step[key]
                else:
                    data = rng.choice([[], "applied", {"status": "applied"}, {**data, "steps": None}])
            text = json.dumps(data).encode()
        (root / applying.JOURNAL_DIR / journal_path.name).write_bytes(text)
        result = run("fix", "--undo", "fix_story")
        assert result.exit_code in (0, 1, 2), result.output
        assert (
            "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
        ), result.output
        assert sorted(p.name for p in outside.iterdir()) == ["victim.py"]
        assert (outside / "victim.py").read_text() == "mine\n"
        if time.monotonic() - started > 60:
            break
