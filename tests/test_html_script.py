"""Issue 23 item 6: the html graph's script, run by node against a minimal stand-in for the
DOM, with revision ids and URL fragments that are JavaScript's own names or not valid
percent-encoding. (The full page in a real browser: test_graph_formats.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from environment import require_tool

from migdoc.chain.graph import build_graph
from migdoc.model import RevisionFile
from migdoc.output.html import render_graph

NODE = shutil.which("node")

# Just enough DOM for the page's script: nodes with dataset and classList, elements by id,
# event listeners the harness can call. Prints what the script left behind as JSON.
HARNESS = r"""
const [script, revs, hash, search] = JSON.parse(require('fs').readFileSync(0, 'utf8'));
function element(id) {
  return {id, textContent: '', style: {}, dataset: {}, children: [], listeners: {},
    classes: new Set(),
    get classList() { const c = this.classes; return {add: x => c.add(x), remove: x => c.delete(x)}; },
    appendChild(child) { this.children.push(child); return child; },
    addEventListener(kind, fn) { this.listeners[kind] = fn; },
    scrollIntoView() {}, closest() { return null; }};
}
const byId = {};
for (const id of ['details', 'chain', 'search', 'search-result', 'script-errors']) byId[id] = element(id);
const nodes = revs.map(rev => { const g = element(); g.dataset.rev = rev; return g; });
const body = element('body');
global.window = global;
global.location = {hash};
global.document = {
  body,
  getElementById: id => byId[id],
  querySelectorAll: selector => selector === 'g.node' ? nodes : [],
  createElement: () => element(),
  createTextNode: text => ({textContent: text}),
};
let thrown = null;
try { (0, eval)(script); } catch (e) { thrown = String(e); }
if (search !== null) {
  try { byId['search'].listeners.input({target: {value: search}}); } catch (e) { thrown = String(e); }
}
const shown = byId['details'].children.length ? byId['details'].children[0].textContent : null;
console.log(JSON.stringify({thrown, errors: byId['script-errors'].textContent, ready: body.dataset.ready || null,
  shown, found: nodes.filter(g => g.classes.has('found')).map(g => g.dataset.rev),
  result: byId['search-result'].textContent}));
"""


def page_for(revisions: list[str]) -> str:
    files = [
        RevisionFile(f"/p/versions/{n:04d}.py", revision=rev, down_revisions=(revisions[n - 1],) if n else ())
        for n, rev in enumerate(revisions)
    ]
    return render_graph(build_graph(files))


def run_page(revisions: list[str], fragment: str = "", search: str | None = None) -> dict:
    require_tool(NODE, "node")
    page = page_for(revisions)
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.S)
    stdin = json.dumps([script, revisions, f"#{fragment}" if fragment else "", search])
    done = subprocess.run([NODE, "-e", HARNESS], input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


REVISIONS = ["0001", "toString", "constructor", "0004"]


@pytest.mark.parametrize("fragment", ["constructor", "__proto__", "hasOwnProperty", "%E0%A4%A", "%", "%zz"])
def test_a_fragment_that_is_no_revision_or_not_percent_encoding_breaks_nothing(fragment):
    shown = run_page(["0001", "0002"], fragment=fragment)
    assert shown == {"thrown": None, "errors": "", "ready": "yes", "shown": None, "found": [], "result": ""}


@pytest.mark.parametrize("rev", ["toString", "constructor"])
def test_a_revision_named_like_a_javascript_builtin_is_found_by_fragment_and_by_search(rev):
    by_fragment = run_page(REVISIONS, fragment=rev)
    assert (by_fragment["thrown"], by_fragment["shown"], by_fragment["found"]) == (None, rev, [rev])
    by_search = run_page(REVISIONS, search=rev)
    assert (by_search["thrown"], by_search["shown"], by_search["found"]) == (None, rev, [rev])


def test_search_for_a_builtin_name_that_is_no_revision_says_so():
    shown = run_page(["0001", "0002"], search="toString")
    assert (shown["thrown"], shown["found"], shown["result"]) == (None, [], "no revision toString")


def test_a_percent_encoded_fragment_still_opens_its_revision():
    shown = run_page(["0001", "ab c"], fragment="ab%20c")
    assert (shown["thrown"], shown["shown"]) == (None, "ab c")
