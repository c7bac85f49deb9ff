"""Issue 23 item 6: SARIF ``uri`` values are RFC 3986 URI references, whatever the file names."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from hostile import write_project, write_revision

from migdoc.cli import cli

# RFC 3986: unreserved, sub-delims, ":", "@", "/" and percent-encoded octets; nothing else
URI_REFERENCE = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})*")
NAMES = ["with space.py", "#hash.py", "100%.py", "grüße.py", "?query.py"]


def uris(document: dict) -> list[str]:
    locations = [
        location["physicalLocation"]["artifactLocation"]
        for result in document["runs"][0]["results"]
        for location in (*result["locations"], *result.get("relatedLocations", ()))
    ]
    return [location["uri"] for location in locations]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("has_repository", [True, False])
def test_sarif_uris_are_percent_encoded_and_name_the_file(in_tmp, name, has_repository):
    versions = write_project(in_tmp / "p")
    write_revision(versions, "r4", "r3", name=name)  # a name without its id: MD006 names the file
    if has_repository:
        (in_tmp / ".git").mkdir()
    result = CliRunner().invoke(cli, ["check", "p", "--format", "sarif"])
    found = uris(json.loads(result.stdout))
    assert found, result.output
    assert all(URI_REFERENCE.fullmatch(uri) for uri in found), found
    # relative to the repository, else to the project folder
    shown = f"p/migrations/versions/{name}" if has_repository else f"migrations/versions/{name}"
    assert shown in {unquote(uri) for uri in found}
