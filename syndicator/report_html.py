"""The monthly report as one printable HTML page (A4 landscape; a print stylesheet drops the screen chrome).

Self-contained (inline CSS, no scripts) so it can be saved, mailed or printed to PDF as it is; the same
numbers, definitions and per-delivery lines as the Markdown and CSV forms (syndicator.report).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from core.clock import SHANGHAI
from syndicator.delays import local_text

# A table as its header and its rows of cells.
Listing = tuple[Sequence[str], Sequence[Sequence[Any]]]
PRINT_CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5em; color: #1d2733; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin: .6em 0; }
th, td { border: 1px solid #9aa7b4; padding: 3px 5px; vertical-align: top; text-align: left; }
th { background: #e8eef4; }
td.url { word-break: break-all; max-width: 16em; }
.defs { font-size: 12px; line-height: 1.6; }
.noprint { margin-bottom: 1em; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  .noprint { display: none; }
  body { margin: 0; font-size: 10px; }
  table { font-size: 8.5px; page-break-inside: auto; }
  tr { page-break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], url_cols: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, c in enumerate(row):
            text = escape(str(c))
            if i in url_cols and str(c).startswith(("http://", "https://")):
                cells.append(f'<td class="url"><a href="{text}">{text}</a></td>')
            else:
                cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def report_html(title: str, stamp: str, summary: str, definitions: str, header: Sequence[str],
                cells: Sequence[Sequence[Any]], details: Listing | None, quality: Listing | None = None,
                tz: tzinfo = SHANGHAI, as_of: datetime | None = None) -> str:
    """``details`` and ``quality`` come as header and rendered cells (syndicator.report) so that this page
    only lays them out: the same lines as the Markdown and CSV forms, and no import back into the report."""
    parts = [
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        f"<title>{escape(title)}</title><style>{PRINT_CSS}</style></head><body>",
        '<p class="noprint">打印：使用浏览器的“打印”（Ctrl+P），可另存为 PDF；打印时仅保留报表内容。</p>',
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(stamp)}</p>" if stamp else "",
        f"<p>{escape(summary)}</p>",
        _table(header, cells) if cells else "<p>本月没有截止时间在本月的转载任务。</p>",
    ]
    if details is not None:
        detail_header, detail_cells = details
        urls = frozenset({detail_header.index("上游链接"), detail_header.index("公开链接")})
        parts += ["<h2>逐条明细</h2>", _table(detail_header, detail_cells, urls) if detail_cells else "<p>（无）</p>"]
    if quality is not None:
        quality_header, quality_cells = quality
        parts += ["<h2>来源数据质量问题</h2>",
                  _table(quality_header, quality_cells, frozenset({2})) if quality_cells else "<p>（无）</p>"]
    parts += ["<h2>口径说明</h2>", f'<p class="defs">{escape(definitions)}</p>']
    if as_of is not None:
        parts.append(f"<p>生成时间：{escape(local_text(as_of, tz))}</p>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
