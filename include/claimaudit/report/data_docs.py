"""The day's Data Docs, readable offline: one index page, and GX's pages without internet assets.

GX 1.x renders its validation pages with Bootstrap, Font Awesome, jQuery, Vega and a logo from
CDNs (``great_expectations/render/view/templates/page.j2`` and ``js_script_imports.j2``); on an
audit server without internet they render as unstyled text. ``make_offline`` removes every
external <link>/<script>/<img> and puts a small local stylesheet in their place, so the tables
read well anywhere; the validation results JSON next to them stays the record.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from html import escape
from pathlib import Path

OFFLINE_MARK = "<!-- claimaudit: offline -->"
_EXTERNAL = re.compile(
    r"""<link\b[^>]*\bhref=["']?(?:https?:)?//[^>]*>"""
    r"""|<script\b[^>]*\bsrc=["']?(?:https?:)?//[^>]*>\s*</script>"""
    r"""|<img\b[^>]*\bsrc=["']?(?:https?:)?//[^>]*>""", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*["']?(?:https?:)?//[^)]*\)""", re.IGNORECASE)
# What a browser would fetch by itself (links to click are fine): stylesheets, scripts, images,
# frames, CSS url() and @import.
_FETCHED = re.compile(
    r"""<(?:link|script|img|iframe|source|embed)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//[^\s"'>]*"""
    r"""|url\(\s*["']?(?:https?:)?//[^)]*\)|@import\s+["']?(?:url\()?["']?(?:https?:)?//[^;]*""", re.IGNORECASE)
CSS = """body{font:14px/1.4 Arial,Helvetica,sans-serif;color:#1f2328;margin:0;padding:12px;background:#fff}
.container,.container-fluid{max-width:1100px;margin:0 auto}
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f6f8fa}h1,h2,h3,h4,h5{margin:14px 0 6px}.card{border:1px solid #d0d7de;border-radius:6px;
padding:8px;margin:0 0 12px}.badge,.badge-danger,.badge-success{padding:0 5px;border-radius:3px}
.text-danger,.badge-danger{color:#b00}.text-success,.badge-success{color:#1e7b34}
.navbar,body>footer,.cooltip{display:none}.collapse{display:block}
.fa-check-circle::before{content:"\\2714  passed";color:#1e7b34}.fa-times::before{content:"\\2716  failed";color:#b00}
.fa-exclamation-triangle::before{content:"!";color:#b57a00}.fa-question-circle::before{content:"?"}
.fas,.fa{font-style:normal;white-space:nowrap}
a{color:#0b57d0}ul{padding-left:20px}code,pre{font-size:12px;white-space:pre-wrap}"""


def make_offline(html: str) -> str:
    """GX page HTML without any resource fetched from the internet (idempotent)."""
    if OFFLINE_MARK in html:
        return html
    html = _EXTERNAL.sub("", html)
    html = _CSS_URL.sub("none", html)  # e.g. the navbar logo as a CSS background image
    style = f"{OFFLINE_MARK}<style>{CSS}</style>"
    if "</head>" in html:
        return html.replace("</head>", style + "</head>", 1)
    return style + html


def external_references(html: str) -> list[str]:
    """What in the page a browser would still fetch from the internet."""
    return [m.group(0) for m in _FETCHED.finditer(html)]


def _summary(json_path: Path) -> list[dict]:
    """Suite, expectations and failures per validation result in one validation_results.json."""
    try:
        results = json.loads(json_path.read_text())
    except (OSError, ValueError):
        return []
    out = []
    for r in results if isinstance(results, list) else []:
        stats = r.get("statistics") or {}
        suite = (r.get("meta") or {}).get("expectation_suite_name") or r.get("suite_name") or "suite"
        out.append({"suite": suite, "evaluated": stats.get("evaluated_expectations", 0),
                    "failed": stats.get("unsuccessful_expectations", 0), "success": bool(r.get("success"))})
    return out


def write_index(day_dir: Path, audit_date: date) -> Path | None:
    """Make every GX page under ``day_dir`` offline and write ``index.html`` listing them with their
    pass/fail counts. Returns the index path, or None when the day has no Data Docs."""
    day_dir = Path(day_dir)
    if not day_dir.is_dir():
        return None
    pages = sorted(p for p in day_dir.rglob("*.html") if p.name != "index.html")
    for page in pages:
        html = page.read_text(encoding="utf-8")
        fixed = make_offline(html)
        if fixed != html:
            page.write_text(fixed, encoding="utf-8")
    rows = []
    for results in sorted(day_dir.rglob("validation_results.json")):
        folder = results.parent
        part = folder.relative_to(day_dir).as_posix() if folder != day_dir else "whole day"
        summary = _summary(results)
        folder_pages = [p for p in pages if p.parent == folder]
        for i, s in enumerate(summary):
            page = next((p for p in folder_pages if p.name.startswith(f"{i:02d}_")), None)
            name = escape(s["suite"])
            link = f'<a href="{escape(page.relative_to(day_dir).as_posix(), quote=True)}">{name}</a>' if page else name
            state = "passed" if s["success"] else f'<b class="text-danger">{s["failed"]} failed</b>'
            rows.append(f"<tr><td>{escape(part)}</td><td>{link}</td><td>{s['evaluated']}</td><td>{state}</td></tr>")
        rows.append(f'<tr><td>{escape(part)}</td><td colspan="3"><a href="'
                    f'{escape(results.relative_to(day_dir).as_posix(), quote=True)}">validation_results.json</a>'
                    "</td></tr>")
    if not rows:
        return None
    html = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>Data Docs {audit_date.isoformat()}</title>{OFFLINE_MARK}<style>{CSS}</style></head>\n<body>"
            f"<h1>77386 audit: Data Docs of {audit_date.isoformat()}</h1>"
            "<p>Great Expectations validation results of the day's rule suites (one row per suite and part of "
            "the day's patients). A failed expectation is a billing finding, listed with its claim in the digest "
            "and the report table <code>audit_finding</code>.</p>"
            "<table><thead><tr><th>part</th><th>suite</th><th>expectations</th><th>result</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></body></html>\n")
    index = day_dir / "index.html"
    tmp = index.with_name(f".index.html.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, index)
    return index
