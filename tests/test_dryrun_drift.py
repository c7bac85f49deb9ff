"""MD020 compares the models with the schema as ``alembic check`` would for this project:
with env.py's own comparison settings (include_object, include_name, include_schemas,
compare_type, compare_server_default), which the dry-run takes from env.py's
``context.configure``."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from migdoc.cli import cli
from migdoc.dryrun.model_drift import compare_models, comparison_options, describe

pytestmark = pytest.mark.postgres


def _models():
    import sqlalchemy as sa

    metadata = sa.MetaData()
    sa.Table("products", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(120)))
    sa.Table("archived_products", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


def _schema(url: str):
    """What the migrations made: products.name 100 long, a search_cache table the models lack."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE products (id integer PRIMARY KEY, name varchar(100))"))
        connection.execute(sa.text("CREATE TABLE search_cache (id integer PRIMARY KEY)"))
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
    return engine


ENV_SETTINGS = {
    "include_object": lambda obj, name, type_, reflected, compare_to: (
        not (type_ == "table" and name == "archived_products")
    ),
    "include_name": lambda name, type_, parent_names: not (type_ == "table" and name == "search_cache"),
    "compare_type": False,
}


def _drift(engine, options) -> list[str]:
    with engine.connect() as connection:
        return sorted(line for diff in compare_models(connection, _models(), options) for line in describe(diff))


def test_env_py_settings_decide_what_is_compared(pg_database):
    engine = _schema(pg_database)
    try:
        bare = _drift(engine, {})
        assert len(bare) == 3, bare  # each of the three settings below removes one
        assert any("archived_products is in the models" in line for line in bare)
        assert any("search_cache is made by the migrations" in line for line in bare)
        assert any(line.startswith("column products.name: type is VARCHAR(length=100)") for line in bare)
        assert _drift(engine, ENV_SETTINGS) == []
        for key in ENV_SETTINGS:  # each setting alone hides exactly its own difference
            assert len(_drift(engine, {key: ENV_SETTINGS[key]})) == 2, key
        # the version table is never a difference, under whatever name env.py gives it
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE alembic_version RENAME TO schema_history")
        renamed = _drift(engine, {**ENV_SETTINGS, "version_table": "schema_history"})
        assert renamed == []
        assert any("schema_history" in line for line in _drift(engine, ENV_SETTINGS))
    finally:
        engine.dispose()


def test_only_the_comparison_settings_are_taken():
    configured = {
        "connection": object(),
        "target_metadata": object(),
        "render_as_batch": True,
        "literal_binds": True,
        "process_revision_directives": print,
        "compare_server_default": True,
        "include_schemas": True,
    }
    assert comparison_options(configured) == {"compare_server_default": True, "include_schemas": True}


def _dryrun_json(name: str):
    result = CliRunner().invoke(
        cli, ["dryrun", name, "--format", "json"], env={"MIGDOC_DRYRUN_SERVER": ""}, catch_exceptions=False
    )
    return result.exit_code, json.loads(result.output)


def test_a_project_whose_env_py_filters_gets_no_md020(copy_fixture):
    root = copy_fixture("dryrun_model_filters")
    code, payload = _dryrun_json("dryrun_model_filters")
    assert code == 0, payload
    assert payload["model_drift"] == [] and payload["failure"] is None
    # the same project with env.py's settings taken out: the three differences they hide
    env_py = root / "migrations" / "env.py"
    bare = re.sub(r"\n            (include_object|include_name|compare_type)=[^\n]*", "", env_py.read_text())
    assert bare != env_py.read_text()
    env_py.write_text(bare)
    code, payload = _dryrun_json("dryrun_model_filters")
    assert code == 1
    assert len(payload["model_drift"]) == 3, payload["model_drift"]
