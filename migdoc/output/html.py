"""One self-contained html page: the chain drawn as SVG in lanes (as the text tree, newest
at the top), heads, bases, merges and problem nodes marked, each revision's file, message,
date and findings on hover (the SVG title) and on click (the details panel), and a search
box for a revision id. No network, no external script: it opens from a file, offline.

The SVG is drawn here, not by the page's script, so every revision is in the document even
where scripts are off; the script only adds the panel, the search and its own self-check
(``data-ready`` / ``#script-errors``) that the browser test reads."""

from __future__ import annotations

import html
import json

from migdoc.chain.graph import RevisionGraph
from migdoc.output.text import lane_columns, printable
from migdoc.util.filesystem import display_path, display_text

ROW, LANE, RADIUS = 22, 16, 5

_STYLE = """
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fff}
header{position:sticky;top:0;background:#f6f8fa;border-bottom:1px solid #ccd;padding:6px 10px;z-index:2;
display:flex;gap:14px;align-items:center;flex-wrap:wrap}
header h1{font-size:15px;margin:0}
#search{width:16em}
.legend span{margin-right:10px}
#details{position:fixed;right:10px;top:48px;width:380px;max-height:80vh;overflow:auto;background:#fff;
border:1px solid #ccd;border-radius:6px;padding:8px 10px;box-shadow:0 2px 8px #0002;display:none;z-index:3}
#details h2{font-size:14px;margin:0 0 4px}
#details .finding{margin:4px 0;padding-left:6px;border-left:3px solid #d73a49}
#details .finding.warning{border-color:#e3a008}
svg text{font:12px ui-monospace,monospace;dominant-baseline:middle}
.edge{fill:none;stroke:#888;stroke-width:1.5}
.edge.depends{stroke-dasharray:4 3}
.node circle{fill:#fff;stroke:#555;stroke-width:2}
.node.base circle{fill:#555}
.node.merge circle{fill:#6f42c1;stroke:#6f42c1}
.node.problem circle{fill:#d73a49;stroke:#d73a49}
.node.head circle{stroke:#22863a;stroke-width:3.5}
.node.missing circle{fill:#fff;stroke:#d73a49;stroke-dasharray:2 2}
.node.problem .rev,.node.missing .rev{fill:#d73a49;font-weight:bold}
.node .msg{fill:#444}.node .codes{fill:#d73a49}.node .tags{fill:#22863a}
.node{cursor:pointer}.node:hover .rev{text-decoration:underline}
.node.found .rev{fill:#fff;stroke:#0366d6;stroke-width:6px;paint-order:stroke}
#script-errors:empty{display:none}#script-errors{color:#d73a49;white-space:pre-wrap}
"""

# The page's own check of itself: every revision drawn, how many are marked, and any script
# error (window.onerror) written into the document, where a headless browser's --dump-dom
# shows it. Search: an exact id, else the first id starting with the text.
_SCRIPT = """
window.onerror=function(message,source,line){document.getElementById('script-errors').textContent+=
'error: '+message+' (line '+line+')\\n';};
(function(){
// a Map, not an object: a revision may be named toString or constructor, a fragment __proto__
var nodes=document.querySelectorAll('g.node'),byRev=new Map(),panel=document.getElementById('details');
nodes.forEach(function(g){if(!byRev.has(g.dataset.rev))byRev.set(g.dataset.rev,g);});
function show(g){
  var d=g.dataset,findings=JSON.parse(d.findings||'[]');
  panel.textContent='';
  var h=document.createElement('h2');h.textContent=d.rev+(d.tags?' ('+d.tags+')':'');panel.appendChild(h);
  [['file',d.file],['message',d.message],['date',d.date],['revises',d.parents]].forEach(function(p){
    if(!p[1])return;var div=document.createElement('div');var b=document.createElement('b');
    b.textContent=p[0]+': ';div.appendChild(b);div.appendChild(document.createTextNode(p[1]));panel.appendChild(div);});
  findings.forEach(function(f){var div=document.createElement('div');div.className='finding '+f[1];
    div.textContent=f[0]+' '+f[1]+': '+f[2];panel.appendChild(div);});
  panel.style.display='block';
}
document.getElementById('chain').addEventListener('click',function(e){
  var g=e.target.closest('g.node');if(g)show(g);});
var found=null;
document.getElementById('search').addEventListener('input',function(e){
  var text=e.target.value.trim(),g=byRev.get(text);
  if(!g&&text){for(var i=0;i<nodes.length;i++){if(nodes[i].dataset.rev.indexOf(text)===0){g=nodes[i];break;}}}
  if(found)found.classList.remove('found');found=g||null;
  document.getElementById('search-result').textContent=text?(g?'':'no revision '+text):'';
  if(g){g.classList.add('found');g.scrollIntoView({block:'center'});show(g);}
});
// a link to one revision: page.html#<revision> opens its details
// (a fragment typed or pasted by hand may be no valid percent-encoding: then it names no revision)
var wanted;try{wanted=decodeURIComponent(location.hash.slice(1));}catch(error){wanted='';}
if(wanted&&byRev.has(wanted)){found=byRev.get(wanted);found.classList.add('found');show(found);}
var body=document.body;
body.dataset.drawn=nodes.length;
body.dataset.problems=document.querySelectorAll('g.node.problem').length;
body.dataset.ready='yes';
})();
"""


def _attr(text: object) -> str:
    return html.escape(printable(text), quote=True)


def render_graph(
    graph: RevisionGraph,
    problems: dict[str, list[str]] | None = None,
    findings: dict[str, list[tuple[str, str, str]]] | None = None,
    title: str = "migdoc graph",
) -> str:
    """The page. ``problems``: file -> codes that mark a node; ``findings``: file ->
    (code, severity, message) shown in its details."""
    problems, findings = problems or {}, findings or {}
    heads = graph.head_revisions
    placed = lane_columns(graph)
    row_of = {node: row for row, (node, _) in enumerate(placed)}
    column_of = dict(placed)
    lanes = max((column for _, column in placed), default=0) + 1
    text_x = lanes * LANE + 14

    def centre(node: str) -> tuple[int, int]:
        return column_of[node] * LANE + LANE // 2 + 4, row_of[node] * ROW + ROW // 2 + 4

    edges = []
    for parent, child, data in graph.graph.edges(data=True):
        (x1, y1), (x2, y2) = centre(child), centre(parent)
        if x1 == x2:
            d = f"M{x1} {y1}V{y2}"
        elif x2 > x1:  # a second parent, to the right: turn at once, then straight down
            d = f"M{x1} {y1}C{x1} {y1 + ROW * 0.7} {x2} {y1 + ROW * 0.3} {x2} {y1 + ROW}V{y2}"
        else:  # lanes folding back in: straight down, turn into the parent's lane at the end
            d = f"M{x1} {y1}V{y2 - ROW}C{x1} {y2 - ROW * 0.3} {x2} {y2 - ROW * 0.7} {x2} {y2}"
        kind = " depends" if data["kind"] == "depends" else ""
        edges.append(f'<path class="edge{kind}" d="{d}"/>')

    nodes = []
    for node, _ in placed:
        x, y = centre(node)
        index = graph.index_of(node)
        revision = graph.revision_of(node)
        if index is None:
            classes, tags, attrs = ["missing"], ["missing: no file declares it"], {}
            label = ""
            codes: list[str] = []
        else:
            rf = graph.files[index]
            classes, tags = [], []
            for name, marked in (
                ("head", graph.is_head_file(index)),
                ("base", graph.is_base_file(index)),
                ("merge", graph.is_merge_file(index)),
            ):
                if marked:
                    classes.append(name)
                    tags.append(name)
            if graph.is_shadowed(index):
                tags.append("duplicate: Alembic maps the other copy")
            codes = sorted(set(problems.get(rf.path, [])))
            if codes:
                classes.append("problem")
            tags.extend(f"label: {label}" for label in rf.branch_labels)
            attrs = {
                "file": display_path(rf.path),
                "message": rf.message or "",
                "date": rf.header.create_date or "",
                "parents": ", ".join(rf.down_revisions),
                "findings": json.dumps([(c, s, display_text(m)) for c, s, m in findings.get(rf.path, [])]),
            }
            label = rf.message or ""
        attrs |= {"rev": revision, "tags": ", ".join(tags)}
        data = " ".join(f'data-{key}="{_attr(value)}"' for key, value in attrs.items())
        tooltip = "\n".join(
            printable(part)
            for part in (
                f"{revision}" + (f" ({', '.join(tags)})" if tags else ""),
                attrs.get("file", ""),
                attrs.get("message", ""),
                attrs.get("date", ""),
                *(f"{code} {severity}: {message}" for code, severity, message in findings.get(attrs.get("file"), [])),
            )
            if part
        )
        parts = [
            f"<title>{html.escape(tooltip)}</title>",
            f'<circle cx="{x}" cy="{y}" r="{RADIUS}"/>',
            f'<text x="{text_x}" y="{y}"><tspan class="rev">{_attr(revision)}</tspan>',
        ]
        if tags:
            parts.append(f'<tspan class="tags"> ({_attr(", ".join(tags))})</tspan>')
        if label:
            parts.append(f'<tspan class="msg"> {_attr(label)}</tspan>')
        if codes:
            parts.append(f'<tspan class="codes"> !! {_attr(" ".join(codes))}</tspan>')
        parts.append("</text>")
        nodes.append(f'<g class="{" ".join(["node", *classes])}" id="{_attr(node)}" {data}>{"".join(parts)}</g>')

    height = len(placed) * ROW + 8
    width = text_x + 900
    counts = (
        f"{len(placed)} revisions · {len(heads)} head{'s' if len(heads) != 1 else ''} · "
        f"{sum(1 for n, _ in placed if graph.index_of(n) is not None and graph.files[graph.index_of(n)].path in problems)} with problems"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_attr(title)}</title>
<style>{_STYLE}</style></head>
<body>
<header><h1>{_attr(title)}</h1><span>{_attr(counts)}</span>
<input id="search" type="search" placeholder="find a revision id" aria-label="find a revision id">
<span id="search-result"></span>
<span class="legend"><span style="color:#22863a">◯ head</span><span>● base</span>
<span style="color:#6f42c1">● merge</span><span style="color:#d73a49">● problem</span>
<span style="color:#d73a49">◌ missing</span></span></header>
<pre id="script-errors"></pre>
<div id="details"></div>
<svg id="chain" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">
<g class="edges">{"".join(edges)}</g>
<g class="nodes">{"".join(nodes)}</g>
</svg>
<script>{_SCRIPT}</script>
</body></html>
"""
