"""SARIF 2.1.0 for code scanning."""

from __future__ import annotations

import json
import posixpath
from pathlib import PurePath
from urllib.parse import quote

from migdoc import __version__
from migdoc.model import CheckResult, Severity
from migdoc.rules import RULES
from migdoc.util.filesystem import display_path, display_text

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


BASE_ID = "SRCROOT"
"""The ``uriBaseId`` of every location: the repository root, given in ``originalUriBaseIds``."""


def _artifact(path: str, root: PurePath | None, cwd: PurePath | None) -> dict:
    """A location relative to the repository root (code scanning places it the same from
    any folder migdoc ran in); a file outside the root keeps its absolute URI. Without a
    root, the path as the other formats show it."""
    if root is None or cwd is None:
        return {"uri": _uri_reference(display_path(path, cwd))}
    absolute = posixpath.normpath(posixpath.join(cwd.as_posix(), path))
    relative = posixpath.relpath(absolute, root.as_posix())
    if relative == ".." or relative.startswith("../"):
        return {"uri": PurePath(absolute).as_uri()}
    return {"uri": _uri_reference(relative), "uriBaseId": BASE_ID}


def _uri_reference(path: str) -> str:
    """A relative path as SARIF's ``uri`` must hold it (an RFC 3986 URI reference): a space,
    ``#``, ``%``, ``?`` or a non-ASCII letter in a file name percent-encoded, as UTF-8;
    ``/`` kept. (An absolute path goes through ``as_uri``, which does the same.)"""
    return quote(path, safe="/")


def check_to_sarif(result: CheckResult, root: PurePath | None = None, cwd: PurePath | None = None) -> dict:
    """``root``: the repository root (absolute); ``cwd``: the folder paths are shown from
    (in messages, and in locations without a root; the findings hold absolute paths)."""
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
            "message": {"text": display_text(d.message, cwd)},
        }
        if d.file:
            entry["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(d.file, root, cwd),
                        "region": {"startLine": max(d.line, 1)},
                    }
                }
            ]
        if d.related:
            entry["relatedLocations"] = [
                {"id": i, "physicalLocation": {"artifactLocation": _artifact(path, root, cwd)}}
                for i, path in enumerate(d.related)
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
                **({"originalUriBaseIds": {BASE_ID: {"uri": root.as_uri() + "/"}}} if root is not None else {}),
            }
        ],
    }


def render_check(result: CheckResult, root: PurePath | None = None, cwd: PurePath | None = None) -> str:
    return render_checks([result], [root], cwd)


def render_checks(results: list[CheckResult], roots: list[PurePath | None], cwd: PurePath | None = None) -> str:
    """One SARIF log; one run per environment checked (several PATHs in one run)."""
    logs = [check_to_sarif(result, root, cwd) for result, root in zip(results, roots, strict=True)]
    log = logs[0]
    log["runs"] = [run for each in logs for run in each["runs"]]
    return json.dumps(log, indent=2) + "\n"
