"""The HTML the benchmark writes itself (the site's index, the profiles
page, the study reports): one page frame, one table, one style, every
text escaped. benchopt's own result pages are bench/pages.py's."""
from html import escape

STYLE = """body { font-family: system-ui, -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, sans-serif; margin: 2rem; color: #1f2937; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
p.sub { color: #6b7280; margin-top: 0; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
th, td { text-align: left; vertical-align: top; padding: .4rem .7rem;
  border-bottom: 1px solid #e5e7eb; }
th { background: #2563eb; color: white; font-weight: 600; }
tr:hover td { background: #f3f4f6; }
td.num { text-align: right; }
a { color: #1d4ed8; }
.warn { color: #b45309; font-weight: 600; }"""


def table(header, rows, raw=()):
    """A table of text cells, escaped; the columns whose indices are in
    ``raw`` hold HTML the caller built (links), inserted as is."""
    th = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    trs = "".join(
        "<tr>" + "".join(f"<td>{c if i in raw else escape(str(c))}</td>"
                         for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def document(title, body, head=""):
    """A whole page: ``title`` (text), ``body`` and ``head`` (HTML)."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
{head}
<style>
{STYLE}
</style>
</head>
<body>
{body}
</body>
</html>
"""
