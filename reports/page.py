"""The frame every self-contained page of the reports shares: one Content-Security-Policy (nothing loads
from anywhere: inline styles and data: images only) and the base style; each page adds its own rules."""

from __future__ import annotations

import html

__all__ = ["CSP", "BASE_CSS", "page"]

#: Forbid every source but inline styles and data: images.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

BASE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1400px;
       padding: 0 1em; color: #1b1b1b; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #d0d0d0; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def page(title: str, body: str, css: str = "") -> str:
    """A whole HTML document: ``body`` (HTML) under ``title`` (text), styled by the base rules and ``css``."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{BASE_CSS}{css}</style></head>\n<body>\n"
            + body + "\n</body></html>\n")
