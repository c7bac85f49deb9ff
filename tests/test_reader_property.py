"""``read_revision`` is total: no input makes it raise."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migdoc.model import RevisionFile
from migdoc.project.reader import read_revision

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = sorted(p.read_bytes() for p in FIXTURES.glob("md0*/migrations/versions/*.py"))[:40]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_total(data: bytes) -> None:
    record = read_revision("versions/x.py", data)
    assert isinstance(record, RevisionFile)
    assert record.read_error is not None or record.revision is None or isinstance(record.revision, str)
    assert record.line >= 1


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes(data):
    assert_total(data)


@FAST
@given(st.text(max_size=2000))
def test_random_text(text):
    assert_total(text.encode("utf-8", "surrogatepass"))


@st.composite
def mutated_fixture(draw):
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["delete", "insert", "flip"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "delete" and data:
            del data[at : at + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif data:
            data[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@FAST
@given(mutated_fixture())
def test_mutated_fixture_files(data):
    assert_total(data)
