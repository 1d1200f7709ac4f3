"""A self-contained HTML report: text, figures and tables in one file that opens offline.

The report is meant for policy briefings: readable on screen, clean on paper, and
portable (figures are embedded as base64 PNG, the CSS is inline, nothing is
fetched from the network). All user text is HTML-escaped. The last section,
"Provenance", lists the run manifest (version, commit, command, seeds, time,
scenario hash, ...) so a reader can trace every number back to its run.

Example::

    write_report("out/report.html", title="IPS scale-up", intro="Why and how ...",
                 sections=[Section("Outcomes", "What changed ...", figure=png)],
                 manifest=json.loads(Path("out/manifest.json").read_text()))
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import sim
from sim.files.outputs import write_atomic

__all__ = ["Section", "format_number", "write_report"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LONG_VALUE_CHARS = 80  # scalar manifest values longer than this are collapsed
LONG_LIST_ITEMS = 8  # manifest lists longer than this are collapsed

CSS = """
:root { --ink: #1f2328; --muted: #57606a; --rule: #d0d7de; --shade: #f6f8fa;
        --accent: #0072b2; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink); line-height: 1.55;
       font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
             Arial, sans-serif; }
main { max-width: 58rem; margin: 0 auto; padding: 2.5rem 1.25rem 4rem; }
h1 { font-size: 2rem; line-height: 1.2; margin: 0 0 1rem; }
h2 { font-size: 1.35rem; margin: 2.5rem 0 .75rem; padding-bottom: .3rem;
     border-bottom: 2px solid var(--accent); }
p { margin: 0 0 .9rem; max-width: 46rem; }
a { color: var(--accent); }
nav { background: var(--shade); border-left: 4px solid var(--accent);
      padding: .6rem 1.2rem; margin: 1.5rem 0; }
nav ol { margin: .3rem 0; padding-left: 1.3rem; }
figure { margin: 1.2rem 0 1.6rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .4rem; }
.table-wrap { overflow-x: auto; margin: 1rem 0 1.6rem; }
table { border-collapse: collapse; font-size: .9rem; font-variant-numeric: tabular-nums; }
th, td { padding: .35rem .7rem; text-align: left; border-bottom: 1px solid var(--rule);
         vertical-align: top; }
td:not(.num) { overflow-wrap: anywhere; min-width: 7em; }
thead th { border-bottom: 2px solid var(--ink); }
tbody tr:nth-child(even) { background: var(--shade); }
.num { text-align: right; white-space: nowrap; }
th.num { white-space: normal; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr);
     gap: .25rem 1.2rem; margin: .3rem 0; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
dd dl { border-left: 2px solid var(--rule); padding-left: .8rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
            font-size: .85rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--shade);
      padding: .5rem .7rem; margin: .3rem 0; }
details summary { cursor: pointer; color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
@page { margin: 16mm; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-after: avoid; }
  figure, .table-wrap, tr { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 8.5pt; }
  th, td { padding: .2rem .4rem; }
  tbody tr:nth-child(even) { background: none; }
  a { color: inherit; text-decoration: none; }
}
"""


@dataclass
class Section:
    """One section of a report.

    Attributes:
        heading: Section heading (plain text).
        text: Body text (plain text; blank lines separate paragraphs).
        figure: Optional PNG file shown below the text (embedded in the HTML).
        table: Optional table shown below the figure.
    """

    heading: str
    text: str
    figure: Path | None = None
    table: pd.DataFrame | None = None


def write_report(
    path: str | Path,
    *,
    title: str,
    intro: str,
    sections: Sequence[Section],
    manifest: Mapping[str, Any],
) -> Path:
    """Write a self-contained HTML report (atomically).

    Args:
        path: Destination ``.html`` file; its folder must exist.
        title: Report title (plain text).
        intro: Introductory text (plain text; blank lines separate paragraphs).
        sections: The sections, in order.
        manifest: Provenance of the results (any JSON-like mapping), listed last.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: If a section's figure or the destination folder is missing.
        ValueError: If a section's figure is not a PNG file.
    """
    body = [f"<h1>{_esc(title)}</h1>", _paragraphs(intro), _contents(sections)]
    body += [_section_html(section, number) for number, section in enumerate(sections, 1)]
    body.append(_provenance_html(manifest))
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta name="generator" content="recovery-pathways {_esc(sim.__version__)}">',
            f"<title>{_esc(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )
    return write_atomic(path, page.encode("utf-8"))


def format_number(value: Any) -> str:
    """Format one table cell: 3 significant digits, thousands separated, blanks as a dash.

    >>> [format_number(v) for v in (0.123456, 12.3456, 123456.7, 42, float("nan"))]
    ['0.123', '12.3', '123,457', '42', '–']
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        number = int(value)
        return f"{number:,}" if abs(number) >= 10_000 else str(number)
    if isinstance(value, Real):
        number = float(value)
        if math.isnan(number):
            return "–"
        if math.isinf(number):
            return "∞" if number > 0 else "-∞"
        return f"{number:,.0f}" if abs(number) >= 999.5 else f"{number:.3g}"
    return str(value)


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _paragraphs(text: str) -> str:
    blocks = [block.strip() for block in str(text).split("\n\n")]
    return "\n".join(
        f"<p>{'<br>'.join(_esc(line) for line in block.splitlines())}</p>"
        for block in blocks
        if block
    )


def _contents(sections: Sequence[Section]) -> str:
    items = [
        f'<li><a href="#section-{n}">{_esc(s.heading)}</a></li>' for n, s in enumerate(sections, 1)
    ]
    items.append('<li><a href="#provenance">Provenance</a></li>')
    return f"<nav><strong>Contents</strong><ol>{''.join(items)}</ol></nav>"


def _section_html(section: Section, number: int) -> str:
    parts = [
        f'<section id="section-{number}">',
        f"<h2>{_esc(section.heading)}</h2>",
        _paragraphs(section.text),
    ]
    if section.figure is not None:
        parts.append(_figure_html(Path(section.figure), section.heading))
    if section.table is not None:
        parts.append(_table_html(section.table))
    parts.append("</section>")
    return "\n".join(parts)


def _figure_html(path: Path, heading: str) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"figure {path} of section {heading!r} does not exist")
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise ValueError(
            f"figure {path} of section {heading!r} is not a PNG file; "
            "save figures as .png (see sim.faces.reports.figures)"
        )
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" '
        f'alt="{_esc("Figure: " + heading)}"></figure>'
    )


def _table_html(table: pd.DataFrame) -> str:
    frame = table if _index_is_plain(table) else table.reset_index()
    numeric = [
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        for dtype in frame.dtypes
    ]
    names = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    rows = [
        [format_number(value) for value in record]
        for record in frame.itertuples(index=False, name=None)
    ]
    return _html_table(names, rows, numeric)


def _html_table(
    names: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]
) -> str:
    """A table from header names and already formatted cells (escaped here)."""
    head = "".join(
        f'<th scope="col"{_num(is_num)}>{_breakable(name)}</th>'
        for name, is_num in zip(names, numeric, strict=True)
    )
    body = [
        "<tr>"
        + "".join(
            f"<td{_num(is_num)}>{_esc(cell) if is_num else _breakable(cell)}</td>"
            for cell, is_num in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in rows
    ]
    if not body:
        body.append(f'<tr><td class="empty" colspan="{max(len(names), 1)}">no rows</td></tr>')
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _breakable(name: str) -> str:
    """Text, escaped, that may wrap after an underscore (``diff_<wbr>high``)."""
    return _esc(name).replace("_", "_<wbr>")


def _index_is_plain(table: pd.DataFrame) -> bool:
    index = table.index
    return (
        isinstance(index, pd.RangeIndex)
        and index.name is None
        and index.start == 0
        and index.step == 1
    )


def _num(is_numeric: bool) -> str:
    return ' class="num"' if is_numeric else ""


def _provenance_html(manifest: Mapping[str, Any]) -> str:
    return "\n".join(
        [
            '<section id="provenance">',
            "<h2>Provenance</h2>",
            "<p>How these results were produced: the run manifest, as recorded.</p>",
            _value_html(manifest),
            "</section>",
        ]
    )


def _value_html(value: Any) -> str:
    """Render a JSON-like value: mappings as definition lists, long values collapsed."""
    if isinstance(value, Mapping):
        if not value:
            return '<span class="empty">none</span>'
        items = "".join(
            f"<dt>{_esc(key)}</dt><dd>{_value_html(item)}</dd>" for key, item in value.items()
        )
        return f"<dl>{items}</dl>"
    if _is_container(value):
        return _sequence_html(list(value))
    text = _scalar_text(value)
    if len(text) > LONG_VALUE_CHARS or "\n" in text:
        preview = text.splitlines()[0][:60] if text.strip() else ""
        return (
            f"<details><summary><code>{_esc(preview)}</code>… ({len(text):,} characters)"
            f"</summary><pre>{_esc(text)}</pre></details>"
        )
    return f"<code>{_esc(text)}</code>"


def _sequence_html(items: list[Any]) -> str:
    if not items:
        return '<span class="empty">none</span>'
    scalars = not any(_is_container(item) for item in items)
    if scalars:
        joined = ", ".join(_scalar_text(item) for item in items)
        if len(items) <= LONG_LIST_ITEMS and len(joined) <= LONG_VALUE_CHARS:
            return f"<code>{_esc(joined)}</code>"
        body = f"<pre>{_esc(joined)}</pre>"
    elif _is_records(items):
        names = list(items[0])
        rows = [[_scalar_text(item[name]) for name in names] for item in items]
        numeric = [all(_is_number(item[name]) for item in items) for name in names]
        body = _html_table(names, rows, numeric)
    else:
        body = "<ol>" + "".join(f"<li>{_value_html(item)}</li>" for item in items) + "</ol>"
    if not scalars and len(items) <= LONG_LIST_ITEMS:
        return body
    return f"<details><summary>{len(items):,} items</summary>{body}</details>"


def _is_records(items: list[Any]) -> bool:
    """Whether ``items`` are mappings with the same keys and scalar values (a table)."""
    if not all(isinstance(item, Mapping) and item for item in items):
        return False
    keys = list(items[0])
    return all(
        list(item) == keys and not any(_is_container(v) for v in item.values()) for item in items
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool | np.bool_)


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple | set | frozenset)


def _scalar_text(value: Any) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)
