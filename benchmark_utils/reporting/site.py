"""A static results site from one or more results files, offline.

    python -m benchmark_utils.reporting.site outputs/run1.parquet outputs/run2.parquet \\
        --output site

writes ``site/``, a folder to serve as static files (GitHub Pages, any web
server, or opened from disk):

    index.html                  the runs: dataset, model, solvers, seeds,
                                date, hardware, links
    <run>.html                  each run's interactive benchopt page
    outputs/<run>.parquet, .csv the raw results
    assets/                     plotly.js (from the plotly package), Grid.js,
                                anime.js: the pages load nothing remote

With no file, every ``outputs/*.parquet`` of the benchmark is published.
Nothing needs network access or a token (unlike ``benchopt publish``).
"""
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (python .../benchmark_utils/reporting/site.py): the
    # package's folder replaces the script's on the path (whose html.py
    # would shadow the standard library's); environment.ROOT then says
    # where the benchmark is.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse  # noqa: E402
import html  # noqa: E402
import shutil  # noqa: E402
import warnings  # noqa: E402
from datetime import datetime  # noqa: E402
from urllib.parse import quote, unquote  # noqa: E402

import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmark_utils.bench.pages import RunPages, has_markup  # noqa: E402
from benchmark_utils.reporting import profiles, provenance  # noqa: E402
from benchmark_utils.reporting.html import document  # noqa: E402
from benchmark_utils.reporting.pages import make_offline, write_assets  # noqa
from benchmark_utils.reporting.results import short_names, solver_base  # noqa
from benchmark_utils.training.environment import ROOT  # noqa: E402

# The columns of benchopt's results every page reads.
REQUIRED = ("objective_name", "dataset_name", "solver_name", "idx_rep",
            "stop_val", "time")

# Families with more settings than this are summarized ("innaprop: 9
# settings of alpha, beta") in the index.
MAX_LISTED = 4


def _unique(df, column):
    if column not in df:
        return []
    return [str(v) for v in dict.fromkeys(df[column].dropna())]


# The provenance fields the index shows (the run's page shows them all).
PROVENANCE_SHOWN = ("commit", "dirty", "version_torch", "cuda", "device",
                    "device_count", "world_size", "precision",
                    "device_shared")


def describe_run(df):
    """What the index says about one results frame."""
    dates = pd.to_datetime(df["run_date"], errors="coerce") \
        if "run_date" in df else pd.Series(dtype="datetime64[ns]")
    # Datasets with one model (digits: a small CNN) have no model
    # parameter in their results.
    model = (_unique(df, "objective_model") or _unique(df, "p_dataset_model")
             or ["the dataset's default"])
    solvers = []
    names = short_names(list(dict.fromkeys(df["solver_name"])))
    for base in dict.fromkeys(map(solver_base, names)):
        family = [s for n, s in names.items() if solver_base(n) == base]
        if len(family) > MAX_LISTED:
            varied = sorted({p.split("=")[0] for s in family
                             for p in s.partition("[")[2].rstrip("]")
                             .split(",") if p})
            solvers.append(f"{base}: {len(family)} settings of "
                           f"{', '.join(varied)}")
        else:
            solvers.extend(family)
    hardware = []
    cpu = _unique(df, "system-processor")
    if cpu:
        hardware.append(f"{cpu[0]} ({_unique(df, 'system-cpus')[0]} cores)"
                        if _unique(df, "system-cpus") else cpu[0])
    if _unique(df, "system-ram (GB)"):
        hardware.append(f"{_unique(df, 'system-ram (GB)')[0]} GB RAM")
    gpus = [v for c in df.columns if "gpu" in c.lower()
            for v in _unique(df, c)]
    hardware += [f"GPU: {g}" for g in gpus]
    cuda = [v for v in _unique(df, "version-cuda") if v not in ("None", "")]
    hardware.append(f"CUDA {cuda[0]}" if cuda else "no CUDA")
    info = provenance.columns(df)
    made = [f"{k}: {', '.join(info[k])}" for k in PROVENANCE_SHOWN
            if k in info]
    return dict(
        provenance=made or ["not recorded"],
        date=dates.min().strftime("%Y-%m-%d %H:%M") if dates.notna().any()
        else "-",
        sort_date=dates.min() if dates.notna().any() else pd.Timestamp(0),
        datasets=_unique(df, "dataset_name"), model=model, solvers=solvers,
        seeds=int(df.groupby("solver_name")["idx_rep"].nunique().max()),
        hardware=hardware)


def build_site(result_files, output="site", benchmark_dir=ROOT,
               title="INNAprop benchmark results", extra=""):
    """Write the site for ``result_files`` into ``output``; returns the
    path of its index.html. ``extra``: HTML the index shows before its
    runs (the published studies' tables, tuning/publish.py)."""
    result_files = [Path(f).resolve() for f in result_files]
    if not result_files:
        raise ValueError("No results file to publish: pass .parquet files "
                         "written by `benchopt run`.")
    names = {}
    for f in result_files:
        if not f.is_file():
            raise FileNotFoundError(f"No results file {f}.")
        if f.stem == "index":
            raise ValueError(f"{f} would overwrite the site's index.html: "
                             "rename it.")
        if f.name in names:
            raise ValueError(f"Two results files are named {f.name} "
                             f"({names[f.name]} and {f}): rename one, the "
                             "site keeps one page per file name.")
        names[f.name] = f

    pages = RunPages(benchmark_dir)
    out = Path(output)
    (out / pages.outputs).mkdir(parents=True, exist_ok=True)
    write_assets(out / "assets")
    (out / ".nojekyll").touch()    # GitHub Pages: serve the files as they are

    objective = pages.objective_name
    runs, skipped = [], []
    for f in result_files:
        why = _unpublishable(f, objective)
        if why is None:
            try:
                runs.append(_publish(f, out, pages))
            except Exception as e:   # whatever else is wrong with the file
                why = (f"its page cannot be built ({type(e).__name__}: "
                       f"{e})")
                _remove_outputs(f, out, pages)
        if why:
            warnings.warn(f"{f} is left out of the site: {why}.",
                          SiteWarning, stacklevel=2)
            skipped.append((f.name, why))
    runs.sort(key=lambda r: r["sort_date"], reverse=True)
    # Two workloads or more: the performance profiles across them.
    frames = {r["name"]: pages.read(out / pages.outputs /
                                    f"{r['name']}.parquet") for r in runs}
    n_workloads = len({k for df in frames.values() for k in
                       zip(df["dataset_name"], df["objective_name"])})
    profile_link = None
    if n_workloads >= 2:
        try:
            result = profiles.profiles(frames)
            (out / "profiles.html").write_text(
                profiles.page(result, assets_url="assets"), encoding="utf-8")
            profile_link = "profiles.html"
        except Exception as e:
            skipped.append(("profiles.html", "the performance profiles "
                            f"cannot be computed ({type(e).__name__}: {e})"))
    index = out / "index.html"
    index.write_text(render_index(runs, title, skipped, profile_link, extra),
                     encoding="utf-8")
    return index


def _publish(f, out, pages):
    """Copy results file ``f`` into the site, with its CSV and its page;
    returns its row of the index."""
    data = out / pages.outputs / f.name
    shutil.copyfile(f, data)
    # The download is the data as they are; the page shows inert names.
    pages.read(data, safe=False).to_csv(data.with_suffix(".csv"),
                                        index=False)
    df = pages.read(data)
    # The page's "Download data" link is the copy's path relative to the
    # site.
    link = quote(f"{f.stem}.html")
    page, fname = pages.render(f, data, out, link)
    page_path = out / unquote(link)
    page_path.write_text(make_offline(page, assets_url="assets"),
                         encoding="utf-8")
    print(f"  {f} -> {page_path}")
    return dict(describe_run(df), name=f.stem, page=link,
                parquet=quote(fname),
                csv=quote(str(Path(fname).with_suffix(".csv"))))


def _remove_outputs(f, out, pages):
    """What ``_publish`` wrote for ``f`` before it failed."""
    data = out / pages.outputs / f.name
    for path in (data, data.with_suffix(".csv"), out / f"{f.stem}.html"):
        path.unlink(missing_ok=True)


class SiteWarning(UserWarning):
    """A results file the site leaves out."""


def _unpublishable(path, objective):
    """Why the results file ``path`` cannot be published with this
    benchmark's pages, or None."""
    if has_markup(path.name):
        return ("its file name holds markup characters (<, >, &, quotes), "
                "which the pages would show as HTML: rename it")
    try:
        missing = [c for c in REQUIRED
                   if c not in pq.read_schema(path).names]
        names = pd.read_parquet(path, columns=["objective_name"]) \
            if not missing else None
    except Exception as e:  # truncated, not parquet, another writer
        return f"it cannot be read as benchopt results ({e})"
    if missing:
        return f"it lacks benchopt's column(s) {', '.join(missing)}"
    # objective_name carries the objective's parameters: "name[k=v]".
    found = sorted({n.split("[")[0] for n in names["objective_name"].dropna()})
    if found != [objective]:
        return (f"its objective is {', '.join(found) or 'missing'}, not "
                f"this benchmark's {objective!r}")
    return None


def render_index(runs, title, skipped=(), profile_link=None, extra=""):
    e = html.escape

    def items(values):
        return "<br>".join(e(v) for v in values)

    rows = "\n".join(f"""    <tr>
      <td><a href="{e(r['page'])}">{e(r['name'])}</a></td>
      <td>{e(r['date'])}</td>
      <td>{items(r['datasets'])}</td>
      <td>{items(r['model'])}</td>
      <td>{items(r['solvers'])}</td>
      <td class="num">{r['seeds']}</td>
      <td>{items(r['hardware'])}</td>
      <td>{items(r['provenance'])}</td>
      <td><a href="{e(r['parquet'])}" download>parquet</a>
        <a href="{e(r['csv'])}" download>csv</a></td>
    </tr>""" for r in runs)
    built = datetime.now().strftime("%Y-%m-%d %H:%M")
    left_out = "".join(f"<li><code>{e(name)}</code>: {e(why)}</li>"
                       for name, why in skipped)
    if left_out:
        left_out = f'<p class="sub">Left out:</p><ul>{left_out}</ul>'
    body = f"""<h1>{e(title)}</h1>
<p class="sub">{len(runs)} run{'s' * (len(runs) != 1)}. Each page is
interactive and works offline; the raw results are downloadable.</p>
{f'<p><a href="{e(profile_link)}">Performance profiles and leaderboard '
 'across the workloads</a></p>' if profile_link else ''}
{extra}{'<h2>Runs</h2>' if extra else ''}
<table>
  <thead>
    <tr><th>Run</th><th>Date</th><th>Dataset</th><th>Model</th>
      <th>Solvers</th><th>Seeds</th><th>Hardware</th><th>Provenance</th>
      <th>Raw results</th></tr>
  </thead>
  <tbody>
{rows}
  </tbody>
</table>
{left_out}
<p class="sub">Built on {built} with
<code>python -m benchmark_utils.reporting.site</code>.</p>"""
    return document(title, body)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_utils.reporting.site",
        description="Turn results files of `benchopt run` into a static "
        "site (index of runs, interactive pages, raw results) that works "
        "offline.")
    parser.add_argument("files", nargs="*", type=Path,
                        help="results files (.parquet); default: every "
                        "outputs/*.parquet of the benchmark")
    parser.add_argument("-o", "--output", type=Path, default=Path("site"),
                        help="folder to write (default: site)")
    parser.add_argument("--benchmark", type=Path, default=ROOT,
                        help=f"the benchmark folder (default: {ROOT}, the "
                        "one holding this module)")
    parser.add_argument("--title", default="INNAprop benchmark results")
    args = parser.parse_args(argv)
    if not (args.benchmark / "objective.py").is_file():
        parser.error(f"{args.benchmark} is not a benchmark folder (it has "
                     "no objective.py); pass --benchmark.")
    files = args.files or sorted((args.benchmark / "outputs")
                                 .glob("*.parquet"))
    if not files:
        parser.error("No results file to publish: none given, and "
                     f"{args.benchmark / 'outputs'} holds no .parquet "
                     "file.")
    index = build_site(files, args.output, args.benchmark, args.title)
    print(f"Site written to {index.parent}/ (open {index}, or serve it: "
          f"python -m http.server -d {index.parent})")


if __name__ == "__main__":
    main()
