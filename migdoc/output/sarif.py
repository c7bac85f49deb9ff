"""SARIF 2.1.0 for code scanning."""

from __future__ import annotations

import json

from migdoc import __version__
from migdoc.model import CheckResult, Severity
from migdoc.rules import RULES

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def check_to_sarif(result: CheckResult) -> dict:
    codes = sorted(RULES)
    rules = [
        {
            "id": code,
            "name": RULES[code].name,
            "shortDescription": {"text": RULES[code].summary},
            "fullDescription": {"text": RULES[code].why},
            "help": {"text": RULES[code].documentation()},
            "defaultConfiguration": {"level": _LEVEL[RULES[code].severity]},
        }
        for code in codes
    ]
    results = []
    for d in result.diagnostics:
        entry: dict = {
            "ruleId": d.code,
            "ruleIndex": codes.index(d.code) if d.code in codes else 0,
            "level": _LEVEL[d.severity],
            "message": {"text": d.message},
        }
        if d.file:
            entry["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": d.file},
                        "region": {"startLine": max(d.line, 1)},
                    }
                }
            ]
        if d.related:
            entry["relatedLocations"] = [
                {"id": i, "physicalLocation": {"artifactLocation": {"uri": path}}} for i, path in enumerate(d.related)
            ]
        if d.revision:
            entry["properties"] = {"revision": d.revision}
        results.append(entry)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "migdoc",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/migdoc/",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }


def render_check(result: CheckResult) -> str:
    return render_checks([result])


def render_checks(results: list[CheckResult]) -> str:
    """One SARIF log; one run per environment checked (several PATHs in one run)."""
    logs = [check_to_sarif(result) for result in results]
    log = logs[0]
    log["runs"] = [run for each in logs for run in each["runs"]]
    return json.dumps(log, indent=2) + "\n"
