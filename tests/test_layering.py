"""The core never pulls in the CLI, the database driver or an engine."""

from __future__ import annotations

import subprocess
import sys

CORE = ["migdoc.rules", "migdoc.graph", "migdoc.reader", "migdoc.model", "migdoc.replay", "migdoc.bodies"]
CORE += ["migdoc.planner", "migdoc.edits", "migdoc.upgrades"]
OUTPUTS = ["migdoc.output.text", "migdoc.output.json_format", "migdoc.output.sarif", "migdoc.output.github"]
OUTPUTS += ["migdoc.output.dot", "migdoc.output.mermaid", "migdoc.output.fix"]
FORBIDDEN = ("click", "psycopg", "sqlalchemy", "alembic")


def test_core_and_outputs_import_no_cli_driver_or_engine():
    code = (
        "import sys\n"
        f"for name in {CORE + OUTPUTS!r}: __import__(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
