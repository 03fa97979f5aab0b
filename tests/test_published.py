"""The committed results site (docs/results/): under 20 MB, rendering
offline, rebuilt from its own data with the same numbers, and the README's
headline table is its own."""
import re
import shutil
from pathlib import Path

import pytest

from benchmark_utils.tuning.publish import MAX_BYTES, publish
from conftest import ROOT
from test_results import chromium_dom, needs_chromium

SITE = ROOT / "docs" / "results"
# The site is rebuilt once: its tests stay on one xdist worker.
pytestmark = pytest.mark.xdist_group("published")


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """docs/results rebuilt from a copy of its data/ alone."""
    site = tmp_path_factory.mktemp("published") / "results"
    shutil.copytree(SITE / "data", site / "data")
    publish(site)
    return site


def test_the_site_is_committed_and_under_20_mb():
    files = [f for f in SITE.rglob("*") if f.is_file()]
    assert (SITE / "index.html").is_file() and (SITE / "data").is_dir()
    assert sum(f.stat().st_size for f in files) < MAX_BYTES
    # One plotly.js for every page.
    assert len([f for f in files if f.name == "plotly.min.js"]) == 1
    for page in SITE.glob("*.html"):
        text = page.read_text()
        assert "cdn.plot.ly" not in text and 'src="http' not in text, page


def test_rebuilding_from_the_committed_data_gives_the_same_numbers(rebuilt):
    assert (rebuilt / "headline.md").read_text() == \
        (SITE / "headline.md").read_text()
    names = sorted(p.name for p in SITE.glob("*_report.html"))
    assert names and names == sorted(p.name for p in
                                     rebuilt.glob("*_report.html"))
    for name in names:
        assert tables(rebuilt / name) == tables(SITE / name), name


def tables(page):
    """The text of a page's tables (the numbers), markup aside."""
    text = page.read_text()
    return [re.sub(r"<[^>]+>", " ", t)
            for t in re.findall(r"<table>.*?</table>", text, re.S)]


def test_the_readme_shows_the_sites_headline_tables():
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- headline:start -->")[1].split(
        "<!-- headline:end -->")[0]
    headline = (SITE / "headline.md").read_text()
    # The same tables; the README's links point into docs/results/.
    assert shown.strip() == headline.replace(
        "](", "](docs/results/").strip()


@needs_chromium
def test_the_index_and_a_report_render_offline():
    dom = chromium_dom(SITE / "index.html")
    assert "<table" in dom and "_report.html" in dom
    report = sorted(SITE.glob("*_report.html"))[0]
    dom = chromium_dom(report)
    # plotly drew its figures from the shared assets/ copy.
    assert 'class="plot-container' in dom or "main-svg" in dom
