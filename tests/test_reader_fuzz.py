"""Issue 23: the reader agrees with Python, or says it cannot know. A seeded differential
fuzz (``tests/assignment_fuzz.py``) executes small modules and compares; bounded for CI
(about a second). ``benchmarks/fuzz_reader.py`` runs a bigger one."""

from __future__ import annotations

import os

from assignment_fuzz import Tally, compare, run

from migdoc.project.reader import read_revision

COUNT = int(3000 * float(os.environ.get("MIGDOC_FUZZ_SCALE", "1")))


def test_the_reader_never_silently_misreads_a_module_python_runs():
    tally = run(COUNT, seed=23, read=read_revision)
    assert tally.compared > COUNT // 3  # most generated modules import: the comparison is not empty
    assert tally.silent_misreads == [], "\n".join(tally.silent_misreads[:5])
    assert tally.false_stray == [], "\n".join(tally.false_stray[:5])


def test_the_comparison_catches_a_reader_that_ignores_tuple_assignment():
    def first_name_only(path: str, data: bytes):
        # the misread issue 23 reported: only `name = value` statements were read
        text = data.decode().replace("revision, down_revision = ", "_ignored = ")
        return read_revision(path, text.encode())

    tally = Tally()
    compare("revision, down_revision = 'b2', 'a1'\n", first_name_only, tally)
    assert len(tally.false_stray) == 1
    compare("revision = 'x'\ndown_revision = None\nrevision, down_revision = 'b2', 'a1'\n", first_name_only, tally)
    assert len(tally.silent_misreads) == 1 and "revision: Python 'b2', the reader 'x'" in tally.silent_misreads[0]


def test_a_module_that_does_not_import_is_not_compared():
    tally = Tally()
    compare("revision = undefined_name\n", read_revision, tally)
    assert (tally.compared, tally.not_importable) == (0, 1)
