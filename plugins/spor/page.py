"""The frame every SPOR page shares, so that it reads as part of Airflow's UI.

Airflow shows a plugin page in a frame of its own UI: these pages use its font (Inter, then the
system font), its grey palette and spacing, follow the light or dark mode of the UI around them
(or of the system when opened alone), and keep every table inside a box that scrolls sideways, so
the page itself is never wider than the window. No external script, font or style sheet: the
pages must work on a hospital network without internet access.

Imports nothing from Airflow: the CLI and the tasks build the same pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape, unescape

STYLE = """
:root{color-scheme:light dark;--fg:#18181b;--muted:#52525b;--bg:#ffffff;--subtle:#f4f4f5;--border:#e4e4e7;
--link:#0369a1;--ok:#15803d;--bad:#b91c1c;--warn:#a16207;--info:#1d4ed8}
:root.dark{--fg:#fafafa;--muted:#a1a1aa;--bg:#111111;--subtle:#18181b;--border:#27272a;
--link:#7dd3fc;--ok:#4ade80;--bad:#f87171;--warn:#facc15;--info:#93c5fd}
@media (prefers-color-scheme:dark){:root:not(.light){--fg:#fafafa;--muted:#a1a1aa;--bg:#111111;
--subtle:#18181b;--border:#27272a;--link:#7dd3fc;--ok:#4ade80;--bad:#f87171;--warn:#facc15;--info:#93c5fd}}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--fg);line-height:1.5;font-size:14px;
font-family:Inter,-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif}
body{margin:0;padding:16px 24px;max-width:100%;overflow-wrap:anywhere}
h1{font-size:1.5rem;font-weight:600;margin:0 0 8px}h2{font-size:1.15rem;font-weight:600;margin:24px 0 8px}
h3{font-size:1rem;font-weight:600;margin:16px 0 4px}p{margin:4px 0 12px}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
nav.spor{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:.9rem;margin:0 0 12px;color:var(--muted)}
.scroll{overflow-x:auto;max-width:100%;margin:0 0 16px;border:1px solid var(--border);border-radius:6px}
table{border-collapse:collapse;width:max-content;min-width:100%;font-size:.9rem}
th,td{padding:6px 12px;text-align:left;vertical-align:top;border-bottom:1px solid var(--border)}
th{background:var(--subtle);font-weight:600;white-space:nowrap}
tr:last-child td{border-bottom:none}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:600;background:var(--subtle)}
.ids,code{font-family:SFMono-Regular,Menlo,Monaco,Consolas,"Liberation Mono","Courier New",monospace;font-size:.85rem}
td.ids{white-space:normal;max-width:60em}
.ok{color:var(--ok)}.reject,.bad{color:var(--bad);font-weight:600}.warn{color:var(--warn);font-weight:600}
.small,.muted{font-size:.85rem;color:var(--muted)}
.banner{border-left:4px solid var(--warn);background:var(--subtle);padding:8px 12px;margin:0 0 12px;border-radius:4px}
.banner.bad{border-color:var(--bad);font-weight:normal;color:var(--fg)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 16px}
.card{border:1px solid var(--border);border-radius:6px;padding:8px 14px;min-width:9em}
.card b{display:block;font-size:1.4rem;font-variant-numeric:tabular-nums}
svg.chart{display:block;max-width:100%;height:auto}svg.chart text{fill:var(--muted);font-size:11px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:.85rem;margin:4px 0 16px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
"""

#: Follows the light/dark mode of the Airflow UI this page is framed in (same origin); opened on
#: its own the system's preference applies (the media query above).
COLOR_MODE_SCRIPT = ("<script>try{var r=window.parent.document.documentElement;if(r!==document.documentElement)"
                     "{document.documentElement.classList.add(r.classList.contains('dark')?'dark':'light')}}"
                     "catch(e){}</script>")


def e(value: object) -> str:
    return escape(str(value), quote=True)


def document(title: str, body: str, *, links: Sequence[tuple[str, str]] = ()) -> str:
    """A whole page: ``links`` are (href, text) shown above the title (back to the run, status)."""
    nav = ""
    if links:
        nav = "<nav class='spor'>" + "".join(f"<a href='{e(h)}' target='_top'>{e(t)}</a>" for h, t in links) + "</nav>"
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{e(title)}</title><style>{STYLE}</style>{COLOR_MODE_SCRIPT}</head>"
            f"<body>{nav}{body}</body></html>")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Iterable[int] = (),
          total: Sequence[object] | None = None, raw: Iterable[int] = ()) -> str:
    """A table in its own scrolling box. Cells are escaped, except the columns in ``raw`` (HTML we
    built ourselves: links); ``numeric`` columns are right-aligned; ``total`` is a last, bold row."""
    numeric, raw = set(numeric), set(raw)

    def cells(values: Sequence[object], tag: str = "td") -> str:
        return "".join(f"<{tag}{' class=n' if i in numeric else ''}>{v if i in raw else e(v)}</{tag}>"
                       for i, v in enumerate(values))

    head = "<tr>" + cells(headers, "th") + "</tr>"
    body = "".join(f"<tr>{cells(r)}</tr>" for r in rows)
    if total is not None:
        body += f"<tr class='total'>{cells(total)}</tr>"
    return f"<div class='scroll'><table>{head}{body}</table></div>"


_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)
_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)
_TABLE_OPEN = re.compile(r"<table\b", re.I)
_TABLE_CLOSE = re.compile(r"</table>", re.I)


def restyle(stored: str, *, links: Sequence[tuple[str, str]] = (), fallback_title: str = "SPOR report") -> str:
    """A report kept as a whole HTML document (quality gate, stage approval; also those kept by
    older versions) in this frame: its body with our style, each table in a scrolling box."""
    if "<html" not in stored.lower() and "<body" not in stored.lower():
        return document(fallback_title, f"<div class='scroll'><pre>{e(stored)}</pre></div>", links=links)
    found = _BODY.search(stored)
    body = found.group(1) if found else stored
    if "class='scroll'" not in body and 'class="scroll"' not in body:
        body = _TABLE_CLOSE.sub("</table></div>", _TABLE_OPEN.sub("<div class='scroll'><table", body))
    title = _TITLE.search(stored)
    return document(unescape(title.group(1)) if title else fallback_title, body, links=links)
