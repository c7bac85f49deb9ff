"""Issue 12, item 3: --renumber learns the project's naming pattern from the names that carry
their ids, changes only the id part, and refuses when the pattern is unclear."""

from __future__ import annotations

from migdoc.fix.planner.renumber import infer_pattern, rename_by_pattern

DATED = [
    ("2022_05_01_101010_a1b2c3d4e5f6_create_users", "a1b2c3d4e5f6"),
    ("2022_05_20_090000_0f0e0d0c0b0a_add_email", "0f0e0d0c0b0a"),
    ("2022_06_01_120000_123456abcdef_add_index", "123456abcdef"),
]
NUMBERED = [
    ("0076_add_templates", "0076_add_templates"),
    ("0077_add_services", "0077_add_services"),
    ("0079_drop_jobs", "0079_drop_jobs"),
]


def test_dated_names_change_only_the_id_after_the_date():
    pattern = infer_pattern(DATED)
    assert pattern == ("at", 4)
    renamed = rename_by_pattern("2022_06_04_133535_d60c18774a5d_add_indexes", "77ebcc9cf355", pattern, set())
    assert renamed == "2022_06_04_133535_77ebcc9cf355_add_indexes"  # the month stays


def test_names_that_are_the_id_are_renamed_to_the_id_not_given_a_second_slug():
    pattern = infer_pattern(NUMBERED)
    assert pattern == ("whole", 0)
    renamed = rename_by_pattern("0078_add_sent_notification_status", "0078_sent_notification_status", pattern, set())
    assert renamed == "0078_sent_notification_status"
    # a different id altogether: which part is the id cannot be told
    assert rename_by_pattern("0102_template_redacted", "db6d9d9f06bc", pattern, set()) is None


def test_no_dominant_pattern_is_unclear():
    assert infer_pattern(DATED[:1] + NUMBERED[:1]) is None
    assert infer_pattern([]) is None


def test_an_unclear_pattern_is_refused_naming_file_template(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from migdoc.cli import cli

    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (tmp_path / "pyproject.toml").write_text('[tool.migdoc]\nseverity = { MD006 = "error" }\n')
    # half the names lead with the id, half put a date first: no pattern dominates
    shapes = [
        ("aaaaaaaaaaa1_create_users", "aaaaaaaaaaa1", None),
        ("2024_01_02_bbbbbbbbbbb2_add_email", "bbbbbbbbbbb2", "aaaaaaaaaaa1"),
        ("renamed_by_hand", "ccccccccccc3", "bbbbbbbbbbb2"),
    ]
    for stem, rev, parent in shapes:
        (versions / f"{stem}.py").write_text(
            f"revision = {rev!r}\ndown_revision = {parent!r}\n\ndef upgrade():\n    pass\n\n"
            "def downgrade():\n    pass\n"
        )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["fix", "--renumber", "."])
    assert "renamed_by_hand.py: --renumber cannot learn where the id sits" in result.output
    assert "--file-template" in result.output and "rename " not in result.output.split("not fixed")[0]
    told = CliRunner().invoke(cli, ["fix", "--renumber", "--file-template", "%(rev)s_%(slug)s", "."])
    assert "renamed_by_hand.py\n          -> migrations/versions/ccccccccccc3_renamed_by_hand.py" in told.output
