"""The published results: ``docs/results/``, built from the studies'
committed results files.

    python -m benchmark_utils.tuning.publish outputs/fashion_mnist_study.json ...
    python -m benchmark_utils.tuning.publish        # rebuild from docs/results/data

A study (``python -m benchmark_utils.tuning``) leaves its record,
``outputs/<study>_study.json``, beside the results files it names (trials,
defaults, confirmation). Publishing copies them into ``docs/results/data/``
(the committed results: a study published before is kept, one named again
is replaced) and writes, from them alone:

    index.html              each study's headline table (what the README
                            shows), links to its report and to its
                            confirmation run's page, the performance
                            profiles across the workloads (two or more)
    <study>_report.html     the study's report (tuning/report.py)
    <study>_confirm.html    the confirmation run's interactive page
    outputs/                the confirmation runs' results, parquet and csv
    headline.md             the headline tables, in Markdown
    assets/                 one copy of plotly.js and the other scripts,
                            shared by every page: nothing is inlined twice,
                            nothing loads from the network

The reports are rebuilt from the files (``study.study_result``), not from
the code that ran the study, so the same files give the same numbers.
"""
import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark_utils.reporting import html, provenance
from benchmark_utils.reporting.budget import adjusted_p
from benchmark_utils.reporting.results import (final_metrics, solver_base,
                                               target_table)
from benchmark_utils.reporting.site import build_site, describe_run
from benchmark_utils.training.environment import ROOT
from benchmark_utils.tuning.report import html_page, study_target
from benchmark_utils.tuning.study import study_result

DEFAULT_OUTPUT = ROOT / "docs" / "results"
# What a published site may weigh (issue 26: it lives in the repository).
MAX_BYTES = 20 * 2**20
HEADLINE_HEAD = ["solver", "test metric [95% interval]", "p (adjusted)",
                 "speedup to the baseline's target (steps)"]


def load_study(record_path):
    """(record, the report's result) of a study record, its results files
    read from the record's folder."""
    record_path = Path(record_path)
    record = json.loads(record_path.read_text())
    folder = record_path.parent

    def read(name):
        path = folder / name
        return pd.read_parquet(path) if path.is_file() else pd.DataFrame()
    trials = [read(f) for f in record["files"]["trials"]]
    trials = pd.concat([t for t in trials if not t.empty]) \
        if any(not t.empty for t in trials) else pd.DataFrame()
    result = study_result(record, trials, read(record["files"]["defaults"]),
                          read(record["files"]["confirm"]))
    return record, result


def record_files(record):
    return [*record["files"]["trials"], record["files"]["defaults"],
            record["files"]["confirm"]]


def headline(result):
    """(metric, rows): per confirmed solver its test metric (accuracy where
    the dataset has one, else loss) as mean [95% interval] over the fresh
    seeds, its Welch p against the baseline adjusted over the study's
    solvers (Benjamini-Hochberg) beside the raw one, and the speedup to the
    baseline's target in steps (the baseline's geometric mean steps over the
    solver's)."""
    study, confirm = result["study"], result["confirm"]
    if confirm.empty:
        return None, []
    metric = next((c for c in ("objective_test_acc", "objective_test_loss")
                   if c in confirm and confirm[c].notna().any()), None)
    if metric is None:
        return None, []
    by_base = {solver_base(n): n for n in confirm["solver_name"].unique()}
    baseline = by_base.get(study["baseline"])
    fm = final_metrics(confirm, [metric], baseline=baseline)
    adjusted = adjusted_p(fm[f"{metric}:p"])
    target = study_target(study, confirm)
    reach = target_table(confirm, study["select"], target) \
        if target is not None else None
    rows = []
    for i, (name, r) in enumerate(fm.iterrows()):
        kept = int(r.n_seeds - r.n_diverged)
        value = (f"{r[metric]:.4g} [{r[f'{metric}:low']:.4g}, "
                 f"{r[f'{metric}:high']:.4g}]" if kept > 1 else
                 f"{r[metric]:.4g}" if kept == 1 else "diverged")
        if r.n_diverged:
            value += f" ({int(r.n_diverged)} of {int(r.n_seeds)} diverged)"
        p = ("baseline" if name == baseline else "no test" if not
             np.isfinite(r[f"{metric}:p"]) else
             f"{r[f'{metric}:p']:.2g} ({adjusted[i]:.2g})")
        rows.append([solver_base(name), value, p, _speedup(reach, name,
                                                           baseline)])
    return metric.removeprefix("objective_"), rows


def _speedup(reach, name, baseline):
    if reach is None or baseline not in reach.index:
        return "-"
    base, own = reach.loc[baseline], reach.loc[name]
    if own.reached == 0:
        return "never reached"
    ratio = base.step / own.step
    seeds = "" if own.reached == 1 else f" ({own.reached:.0%} of seeds)"
    return f"{ratio:.2f}x{seeds}"


def made_on(result):
    """Date, commit and machine of a study's confirmation runs."""
    confirm = result["confirm"]
    if confirm.empty:
        return "no confirmed runs"
    run, info = describe_run(confirm), provenance.columns(confirm)
    commits = [c[:12] for c in info.get("commit", [])] or ["commit unknown"]
    dirty = " (uncommitted changes)" if any(
        d.startswith("yes") for d in info.get("dirty", [])) \
        else ""
    torch = ", ".join(f"torch {v}" for v in info.get("version_torch", []))
    return (f"{run['date']}, commit {', '.join(commits)}{dirty}, "
            f"{', '.join(run['hardware'] + ([torch] if torch else []))}")


LABELS = {"test_acc": "test accuracy %", "test_loss": "test loss"}


def markdown_table(head, rows):
    def row(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|")
                                 for c in cells) + " |"
    return "\n".join([row(head), "|" + " --- |" * len(head)]
                     + [row(r) for r in rows])


def headline_markdown(studies):
    """The headline tables of ``studies`` ({name: result}), as
    headline.md and the README show them."""
    parts = []
    for name, result in studies.items():
        study = result["study"]
        metric, rows = headline(result)
        if not rows:
            continue
        parts += [f"**{name}** ({study['dataset']}, {study['protocol']} "
                  f"protocol, {LABELS.get(metric, metric)}, "
                  f"{study['confirm_seeds']} fresh seeds; made "
                  f"{made_on(result)}; "
                  f"[report]({name}_report.html))",
                  markdown_table(HEADLINE_HEAD, rows)]
    return "\n\n".join(parts) + "\n"


def index_part(studies):
    """The index's section on the studies: their headline tables, with
    links."""
    e = html.escape
    parts = ["<h2>Studies</h2><p>Tuned on validation splits, confirmed "
             "on fresh seeds, reported on the test split. p: two-sided "
             "Welch t-test against the baseline, raw (Benjamini-Hochberg "
             "adjusted over the study's solvers); speedup: the baseline's "
             "geometric mean steps to its target over the solver's.</p>"]
    for name, result in studies.items():
        study = result["study"]
        metric, rows = headline(result)
        parts.append(
            f"<h3>{e(name)}: {e(study['dataset'])}</h3><p>"
            f"{e(study['protocol'])} protocol, "
            f"{e(LABELS.get(metric, metric or '-'))}, "
            f"made {e(made_on(result))}. <a href=\"{e(name)}_report.html\">"
            f"Report</a> (search spaces, trials, cost of tuning, "
            f"sensitivity, costs) &middot; <a href=\"{e(name)}_confirm.html"
            f"\">confirmation run</a></p>")
        if rows:
            parts.append(html.table(HEADLINE_HEAD, rows))
    return "".join(parts)


def collect(record_paths, data):
    """Copy each study record and its results files into ``data``; returns
    the records' paths there."""
    data.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in map(Path, record_paths):
        if not path.is_file():
            raise SystemExit(
                f"No study record {path}: a study writes outputs/<study>_"
                "study.json when it ends (python -m benchmark_utils.tuning "
                "studies/<study>.yml).")
        record = json.loads(path.read_text())
        missing = [f for f in record_files(record)
                   if not (path.parent / f).is_file()
                   and f != record["files"]["defaults"]]
        if missing:
            raise SystemExit(f"{path}: its results file(s) {missing} are "
                             f"not in {path.parent}.")
        target = data / path.name
        if path.resolve() != target.resolve():
            for f in record_files(record):
                if (path.parent / f).is_file():
                    shutil.copyfile(path.parent / f, data / f)
            shutil.copyfile(path, target)
        copied.append(target)
    return copied


def publish(output=DEFAULT_OUTPUT, records=()):
    """Add ``records`` (study records) to ``output``/data and rebuild the
    whole site from every record there; returns the studies' results."""
    output = Path(output)
    data = output / "data"
    collect(records, data)
    paths = sorted(data.glob("*_study.json"))
    if not paths:
        raise SystemExit(f"No study to publish: {data} holds no "
                         "*_study.json, and none was given.")
    studies = {}
    for path in paths:
        record, result = load_study(path)
        studies[record["study"]["name"]] = result
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        confirms = [data / f"{name}_confirm.parquet" for name in studies]
        confirms = [f for f in confirms if f.is_file()]
        build_site(confirms, site, ROOT,
                   title="INNAprop benchmark: published results",
                   extra=index_part(studies))
        for name, result in studies.items():
            (site / f"{name}_report.html").write_text(
                html_page(result, assets_url="assets"), encoding="utf-8")
        (site / "headline.md").write_text(headline_markdown(studies))
        # Everything but the data is rebuilt: nothing stale is left.
        for old in output.iterdir() if output.exists() else ():
            if old.name != "data":
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        output.mkdir(parents=True, exist_ok=True)
        for new in site.iterdir():
            shutil.move(str(new), output / new.name)
    size = sum(f.stat().st_size for f in output.rglob("*") if f.is_file())
    print(f"Published {len(studies)} studies to {output}/ "
          f"({size / 2**20:.1f} MB): open {output / 'index.html'}")
    if size > MAX_BYTES:
        raise SystemExit(f"{output} weighs {size / 2**20:.1f} MB, over "
                         f"{MAX_BYTES / 2**20:.0f} MB: publish fewer runs.")
    return studies


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_utils.tuning.publish",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="*", type=Path,
                        help="study records (outputs/<study>_study.json) "
                        "to add; none: rebuild from OUTPUT/data")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help="the site's folder (default: docs/results)")
    args = parser.parse_args(argv)
    publish(args.output, args.records)


if __name__ == "__main__":
    main()
