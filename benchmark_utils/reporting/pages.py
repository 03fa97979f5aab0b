"""Result pages that render with no network.

benchopt 1.10 writes its HTML pages (``benchopt run``, ``benchopt plot``) from
templates that load plotly.js, Grid.js, anime.js and fonts from CDNs: opened
offline (an archived page, a cluster with no outbound access) they show empty
plots. ``make_offline`` rewrites a page so that it loads nothing remote:

- plotly.js comes from the installed ``plotly`` Python package, followed by
  ``static/plotly_compat.js`` (benchopt's page code uses plotly.js 2 title
  strings that plotly.js 3+ ignores);
- Grid.js and anime.js come from ``static/`` (the exact versions the
  templates name, copied from npm; see static/README.md);
- web fonts are dropped (the pages fall back to system fonts), and so are the
  jQuery/DataTables/Font Awesome links of benchopt's run-list page, whose
  table of links works without them.

bench/pages.py applies it to the pages ``benchopt run .`` and ``benchopt
plot`` write. Should a benchopt release change the CDN links,
``make_offline`` warns (and tests/test_results.py fails) instead of silently
writing online pages.
"""
import re
import shutil
import warnings
from functools import lru_cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"

# Remote tags of benchopt 1.10's templates -> the local file that replaces
# them (None: dropped). plotly.js: any version, replaced by the installed
# one plus the compatibility shim; Grid.js and anime.js: only the versions
# shipped in static/, so that a template moving to another version is
# reported rather than silently given an older library.
SCRIPT = r'<script\b[^>]*\bsrc="{}"[^>]*>\s*</script>'
LINK = r'<link\b[^>]*\bhref="{}"[^>]*/?>'
REPLACEMENTS = [
    (SCRIPT.format(r"https://cdn\.plot\.ly/plotly[^\"]*\.js"),
     ["plotly.min.js", "plotly_compat.js"]),
    (SCRIPT.format(re.escape(
        "https://cdn.jsdelivr.net/npm/gridjs@6.2.0/dist/gridjs.umd.js")),
     ["gridjs.umd.js"]),
    (LINK.format(re.escape(
        "https://cdn.jsdelivr.net/npm/gridjs@6.2.0/dist/theme/mermaid.min.css")
     ), ["gridjs-mermaid.min.css"]),
    (SCRIPT.format(re.escape(
        "https://cdnjs.cloudflare.com/ajax/libs/animejs/2.0.2/anime.min.js")),
     ["anime.min.js"]),
    # Web fonts: system fonts are used instead.
    (LINK.format(r"https://fonts\.(?:googleapis|gstatic)\.com[^\"]*"), []),
    # benchopt's run-list page (outputs/<benchmark>.html): icons, jQuery,
    # jQuery UI and DataTables only add sorting and icons to a plain table.
    (SCRIPT.format(r"https://use\.fontawesome\.com/[^\"]*"), []),
    (LINK.format(r"https://cdnjs\.cloudflare\.com/ajax/libs/font-awesome/"
                 r"[^\"]*"), []),
    (SCRIPT.format(r"https://code\.jquery\.com/[^\"]*"), []),
    (SCRIPT.format(r"https://cdnjs\.cloudflare\.com/ajax/libs/jqueryui/"
                   r"[^\"]*"), []),
    (LINK.format(r"https://ajax\.googleapis\.com/ajax/libs/jqueryui/[^\"]*"),
     []),
    (SCRIPT.format(r"https://cdn\.datatables\.net/[^\"]*"), []),
    (LINK.format(r"https://cdn\.datatables\.net/[^\"]*"), []),
]

# What still loads something remote after the replacements: a script or an
# image source, or a stylesheet / preconnect / preload link.
REMOTE = re.compile(
    r'<(?:script|img|iframe)\b[^>]*\bsrc="(?:https?:)?//[^"]*"[^>]*>'
    r'|<link\b[^>]*\bhref="(?:https?:)?//[^"]*"[^>]*>', re.IGNORECASE)


class OfflineWarning(UserWarning):
    """A page still needs the network for some of its resources."""


def asset_names():
    """Files a page may reference, in the order of REPLACEMENTS."""
    return [name for _, names in REPLACEMENTS for name in names]


@lru_cache(maxsize=None)
def read_asset(name):
    """Text of one asset: plotly.js from the plotly package, the others
    from static/."""
    if name == "plotly.min.js":
        from plotly.offline import get_plotlyjs
        return get_plotlyjs()
    return (STATIC / name).read_text(encoding="utf-8")


def _tag(name, assets_url):
    """The local tag for one asset: inlined, or a link to ``assets_url``."""
    css = name.endswith(".css")
    if assets_url is None:
        text = read_asset(name)
        if css:
            return f"<style>\n{text}\n</style>"
        # A literal "</script" would end the inline script early.
        return "<script>\n{}\n</script>".format(
            text.replace("</script", "<\\/script"))
    url = f"{assets_url.rstrip('/')}/{name}"
    if css:
        return f'<link href="{url}" rel="stylesheet">'
    return f'<script src="{url}"></script>'


def remote_resources(html):
    """The tags of ``html`` that still load something over the network."""
    return REMOTE.findall(html)


def make_offline(html, assets_url=None):
    """Rewrite a benchopt page so that it loads nothing over the network.

    Args:
        html: the page's HTML text.
        assets_url: None to inline every asset (a single self-contained
            file, about 5 MB with plotly.js); else the URL, relative to the
            page, of a folder holding them (see ``write_assets``).
    """
    # Placeholders first, so that what is left remote is checked on the
    # page itself, not on the text of the inlined libraries.
    local = {}
    for i, (pattern, names) in enumerate(REPLACEMENTS):
        key = f"<!-- offline asset {i} -->"
        local[key] = "\n".join(_tag(name, assets_url) for name in names)
        html = re.sub(pattern, key, html, flags=re.IGNORECASE)
    left = remote_resources(html)
    if left:
        warnings.warn(
            "This page still loads resources from the network, and will not "
            f"render fully offline: {left}. benchopt's templates changed: "
            "add the new files to benchmark_utils/static/ and to "
            "REPLACEMENTS in benchmark_utils/reporting/pages.py.",
            OfflineWarning, stacklevel=2)
    # A function replacement: the inlined scripts contain backslashes that
    # re.sub would otherwise read as escapes.
    return re.sub(r"<!-- offline asset \d+ -->",
                  lambda m: local[m.group(0)], html)


def write_assets(folder):
    """Copy every asset into ``folder`` (for pages written with
    ``make_offline(html, assets_url=...)``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in asset_names():
        if name == "plotly.min.js":
            (folder / name).write_text(read_asset(name), encoding="utf-8")
        else:
            shutil.copyfile(STATIC / name, folder / name)
    return folder
