"""The vault map for people: rich tables on the terminal, and a self-contained HTML report with a graph.

The HTML report needs no server and loads nothing: one file with inline CSS and an SVG graph
(people and agents on the left, resource kinds on the right, an edge per subject and kind labelled
with its actions; solid for ALWAYS, dashed for CONDITIONALLY, the conditions in each edge's tooltip).
Every name and condition is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

from chamberlain.analysis.sensitive import sensitive_summary
from chamberlain.analysis.vault import Access, Cell, VaultMap
from chamberlain.text import printable

_MARK = {Access.ALWAYS: "ALWAYS", Access.CONDITIONALLY: "if [{n}]", Access.NEVER: "·"}
_STYLE = {Access.ALWAYS: "bold red", Access.CONDITIONALLY: "yellow", Access.NEVER: "dim"}


def rich_tables(vault: VaultMap) -> Iterator[Any]:
    """Renderables for ``rich``: the sensitive lead, one table per resource, then the conditions."""
    from rich.table import Table
    from rich.text import Text

    lead = sensitive_summary(vault)
    if lead:
        yield Text("Sensitive systems", style="bold")
        for entry in lead:
            yield Text(f"  {printable(entry['summary'])}")
    footnotes: list[str] = []
    for target in vault.targets:
        cells = [c for c in vault.cells if c.target == target.label]
        if not cells:
            continue
        table = Table(title=printable(target.label), title_justify="left")
        table.add_column("subject")
        for action in target.actions:
            marker = " (sensitive)" if target.is_sensitive(action) else ""
            table.add_column(printable(action) + marker)
        by_subject: dict[str, dict[str, Cell]] = {}
        for c in cells:
            by_subject.setdefault(c.subject, {})[c.action] = c
        for subject, row in by_subject.items():
            values = [Text(printable(subject))]
            for action in target.actions:
                cell = row.get(action)
                if cell is None:
                    values.append(Text("?"))
                    continue
                label = _MARK[cell.access]
                if cell.access is Access.CONDITIONALLY:
                    footnotes.append(_footnote(cell))
                    label = label.format(n=len(footnotes))
                values.append(Text(label, style=_STYLE[cell.access]))
            table.add_row(*values)
        yield table
    if footnotes:
        yield Text("Conditions", style="bold")
        for i, text in enumerate(footnotes, 1):
            yield Text(f"  [{i}] {text}")
    if not vault.complete:
        yield Text(f"incomplete: {printable(vault.stopped)}", style="bold red")
    for note in vault.notes:
        yield Text(f"note: {printable(note)}")


def _footnote(c: Cell) -> str:
    parts = [f"{via}: {text}" if via else text for via, text in c.conditions]
    return printable(f"{c.subject} {c.action} {c.target}: " + " AND ".join(parts))


# -- HTML -------------------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;font-size:.9em;vertical-align:top}.ALWAYS{background:#fdd}
.CONDITIONALLY{background:#ffc}.NEVER{color:#aaa}.lead{font-size:1.1em;font-weight:bold}code{font-size:.85em}
svg text{font-size:12px}"""


def html_report(vault: VaultMap, title: str = "chamberlain vault map") -> str:
    """The whole report as one HTML document."""
    e = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1><p>Computed at {e(vault.now)} from the policies "
        "by the query planner (not by sampling).</p>",
    ]
    if not vault.complete:
        parts.append(f"<p class='lead'>Incomplete: {e(vault.stopped)}</p>")
    lead = sensitive_summary(vault)
    if lead:
        parts.append("<h2>Sensitive systems</h2><ul>")
        parts.extend(f"<li class='lead'>{e(entry['summary'])}</li>" for entry in lead)
        parts.append("</ul>")
    parts.append("<h2>Who reaches what</h2>")
    parts.append(svg_graph(vault))
    parts.append(
        "<h2>Every answer</h2><table><tr><th>subject</th><th>resource</th><th>action</th>"
        "<th>access</th><th>condition</th></tr>"
    )
    for c in vault.cells:
        if c.access is Access.NEVER:
            continue
        conditions = "<br>".join(
            f"{e(via) + ': ' if via else ''}<code>{e(text)}</code>" for via, text in c.conditions
        )
        parts.append(
            f"<tr class='{c.access.value}'><td>{e(c.subject)}</td><td>{e(c.target)}</td>"
            f"<td>{e(c.action)}{' (sensitive)' if c.sensitive else ''}</td><td>{c.access.value}</td>"
            f"<td>{conditions}</td></tr>"
        )
    parts.append("</table><p>Cells not listed are NEVER.</p>")
    parts.extend(f"<p>note: {e(note)}</p>" for note in vault.notes)
    parts.append("</body></html>")
    return "".join(parts)


def svg_graph(vault: VaultMap) -> str:
    """Subjects (left) to resources (right), one edge per pair that is ever allowed."""
    e = html.escape
    edges: dict[tuple[str, str], list[Cell]] = {}
    for c in vault.cells:
        if c.access is not Access.NEVER:
            edges.setdefault((c.subject, c.target), []).append(c)
    left = sorted({s for s, _ in edges})
    right = sorted({t for _, t in edges})
    row = 28
    height = max(len(left), len(right), 1) * row + 20
    x1, x2 = 220, 720
    ys = {name: 20 + i * row for i, name in enumerate(left)}
    yt = {name: 20 + i * row for i, name in enumerate(right)}
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='960' height='{height}' role='img'>"]
    for (subject, target), cells in sorted(edges.items()):
        always = any(c.access is Access.ALWAYS for c in cells)
        label = ", ".join(c.action for c in cells)
        tip = "\n".join(
            f"{c.action}: {c.access.value} " + " AND ".join(t for _, t in c.conditions) for c in cells
        )
        dash = "" if always else " stroke-dasharray='6 4'"
        colour = "#c33" if any(c.sensitive for c in cells) else "#558"
        y1, y2 = ys[subject], yt[target]
        out.append(
            f"<g><title>{e(tip)}</title><line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='{colour}'{dash}/>"
            f"<text x='{(x1 + x2) // 2}' y='{(y1 + y2) // 2 - 3}' text-anchor='middle'>{e(label[:60])}</text></g>"
        )
    for name, y in ys.items():
        out.append(f"<text x='{x1 - 6}' y='{y + 4}' text-anchor='end'>{e(name)}</text>")
    for name, y in yt.items():
        out.append(f"<text x='{x2 + 6}' y='{y + 4}'>{e(name)}</text>")
    out.append("</svg>")
    return "".join(out)
