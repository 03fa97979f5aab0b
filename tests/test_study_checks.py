"""Studies refuse bad input before spending compute, and never lose a
finished trial (issue 27): a study file is checked whole before its first
trial, a failing solver costs only itself, and a run that fails as a whole
ends the study on its one-line reason."""
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from benchmark_utils.tuning import __main__ as cli
from benchmark_utils.tuning.report import markdown
from benchmark_utils.tuning.study import load_study, reused_lr_wd

GOOD = """\
dataset: digits[epochs=2,n_val=270]
solvers: [adamw, innaprop]
"""


def refused(tmp_path, root, monkeypatch, text):
    """The message the study command ends on for a study file holding
    ``text``, checking that no benchopt run was started."""
    path = tmp_path / "study.yml"
    path.write_text(textwrap.dedent(text))

    def launched(*args, **kwargs):
        raise AssertionError("a benchopt run started")
    # Every benchopt run of a study is a subprocess.
    monkeypatch.setattr(subprocess, "Popen", launched)
    monkeypatch.setenv("INNAPROP_DEVICE", "cpu")
    with pytest.raises(SystemExit) as stop:
        cli.main([str(path), "--bench", str(root)])
    message = str(stop.value.code)
    assert message.startswith(f"Study {path} stopped: {path}: ")
    assert "\n" not in message
    return message


@pytest.mark.parametrize("text, expected", [
    # a selection column that does not exist
    (GOOD + "select: objective_val_bogus\n",
     "select='objective_val_bogus': digits does not report it; allowed: "
     "['objective_val_acc', 'objective_val_loss']"),
    # no validation split, default selection
    ("dataset: digits[epochs=2]\nsolvers: [adamw]\n",
     "select='objective_val_loss': digits with n_val=0 holds out no "
     "validation split; hold one out, e.g. digits[...,n_val=<images>]"),
    # a dataset whose task comes from a shared task module
    # (tasks/grey28.py): its columns are known and checked
    ("dataset: fashion_mnist[epochs=2]\nsolvers: [adamw]\n",
     "select='objective_val_loss': fashion_mnist with n_val=0 holds out no "
     "validation split"),
    ("dataset: fashion_mnist[n_val=600]\nsolvers: [adamw]\n"
     "select: objective_val_top5\n",
     "select='objective_val_top5': fashion_mnist does not report it"),
    # a language dataset whose validation split is the only one reported
    ("dataset: tokens[max_steps=4]\nsolvers: [adamw]\n",
     "select='objective_val_loss': tokens with test_fraction=0 reports its "
     "validation split as its only split"),
    # an unknown dataset, an unknown or ill-typed parameter, two values
    ("dataset: nosuch[epochs=2]\nsolvers: [adamw]\n",
     "dataset='nosuch[epochs=2]': no dataset 'nosuch' in"),
    ("dataset: digits[n_vall=270]\nsolvers: [adamw]\n",
     "digits has no parameter 'n_vall'; allowed: ['batch_size', 'dtype', "
     "'epochs', 'n_val']"),
    ("dataset: digits[n_val=lots]\nsolvers: [adamw]\n",
     "n_val='lots': allowed: a number, as its default 0."),
    ("dataset: 'digits[n_val=[100, 270]]'\nsolvers: [adamw]\n",
     "n_val=[100, 270]: a study runs one workload: allowed: one value per "
     "parameter."),
    # a bound that YAML reads as text
    (GOOD.replace("solvers: [adamw, innaprop]", """\
solvers:
  - adamw:
      search_space:
        lr: {log_uniform: [1e-4, 1e-2]}"""),
     "the study's search_space: adamw.lr: log_uniform bound '1e-4' is not a "
     "number; allowed: [low, high], two finite numbers. ('1e-4' is text, "
     "not a number: YAML reads 1e-4 without a decimal point, and anything "
     "quoted, as a string; write 1.0e-4, unquoted)"),
    # benchopt_args as one string
    (GOOD + "benchopt_args: -j 2\n",
     "benchopt_args='-j 2': allowed: a list of strings"),
    # targets that are not finite numbers, or out of the column's range
    (GOOD + "target: .nan\n", "target=nan: allowed: a finite number, "
     "'tuned_baseline_median' or nothing."),
    (GOOD + "target: true\n", "target=True: allowed: a finite number"),
    (GOOD + "target: 1e-1\n", "target='1e-1': allowed: a finite number, "
     "'tuned_baseline_median' or nothing. ('1e-1' is text"),
    (GOOD + "select: objective_val_acc\ntarget: 150\n",
     "target=150: objective_val_acc is an accuracy in percent: allowed: a "
     "number in [0, 100]."),
    # a name that is not a plain file name
    (GOOD + "name: ../../escape\n", "name='../../escape': allowed: a plain "
     "file name"),
    (GOOD + "trials: 2.0\n", "trials=2.0: allowed: an integer >= 1."),
])
def test_a_bad_study_is_refused_before_any_run(tmp_path, root, monkeypatch,
                                               text, expected):
    assert expected in refused(tmp_path, root, monkeypatch, text)


def test_a_bad_environment_is_refused_before_any_run(tmp_path, root,
                                                     monkeypatch):
    path = tmp_path / "study.yml"
    path.write_text(GOOD)
    monkeypatch.setattr(subprocess, "Popen", None)
    monkeypatch.setenv("INNAPROP_DEVICE", "bogus")
    with pytest.raises(SystemExit, match="INNAPROP_DEVICE='bogus' is not "
                       "valid; allowed: cpu, cuda or cuda:<index>."):
        cli.main([str(path), "--bench", str(root)])


def test_a_good_study_passes(tmp_path, root):
    path = tmp_path / "study.yml"
    path.write_text(GOOD + "target: 0.5\nbenchopt_args: [-j, 2]\n")
    study = load_study(path, root)
    assert study["target"] == 0.5 and study["benchopt_args"] == ["-j", "2"]
    # An accuracy target in percent, and a language dataset that keeps a
    # test split apart.
    path.write_text(GOOD + "select: objective_val_acc\ntarget: 95\n")
    assert load_study(path, root)["target"] == 95.0
    path.write_text("dataset: tokens[test_fraction=0.5]\nsolvers: [adamw]\n")
    assert load_study(path, root)["select"] == "objective_val_loss"


def test_the_thesis_protocol_report_names_each_scale_rule(tmp_path, root):
    path = tmp_path / "study.yml"
    path.write_text(GOOD.replace("[adamw, innaprop]",
                                 "[adamw, innaprop, sgd, prodigy]")
                    + "protocol: thesis\n")
    study = load_study(path, root)
    fixed = reused_lr_wd(study, {"lr": 0.002, "weight_decay": 0.05})
    # Prodigy never takes the recipe's lr: it keeps searching its own.
    assert fixed["prodigy"] == {"weight_decay": 0.05}
    assert fixed["sgd"] == {"lr": 0.2, "weight_decay": 0.0005}
    result = dict(
        study=study, confirm=pd.DataFrame(), failures=[],
        names={s: {s: {}} for s in study["spaces"]},
        chosen={s: (fixed[s], 0.5) for s in study["spaces"]},
        fixed={s: v for s, v in fixed.items() if s != "adamw"})
    report = markdown(result)
    assert ("reused from adamw: ['lr', 'weight_decay'], through its scale "
            "rule: lr x 100, weight decay x 0.01 (SGD's usual lr 0.1 for "
            "CIFAR ResNets against AdamW's 1e-3; decay per step lr x "
            "weight_decay kept)") in report
    assert ("reused from adamw: ['lr', 'weight_decay'], through its scale "
            "rule: lr x 1, weight decay x 1 (AdamW's values, as the "
            "thesis's protocol (Table 4.1))") in report
    assert ("reused from adamw: ['weight_decay'], through its scale rule: "
            "own lr (never the recipe's), weight decay x 1 (Mishchenko and "
            "Defazio") in report


BROKEN = '''
from pathlib import Path

from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    name = "{name}"
    parameters = {{"lr": [None], "weight_decay": [None]}}
    search_space = {{"lr": {{"log_uniform": [1e-4, 1e-2]}}}}

    def make_optimizer(self, params, lr, weight_decay, run):
        import torch
        if {condition}:
            raise RuntimeError("{message}")
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
'''


def run_study(bench, tmp_path, **keys):
    import yaml
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump(dict(name="tiny", **keys)))
    return subprocess.run(
        [sys.executable, "-m", "benchmark_utils.tuning", str(path),
         "--bench", str(bench)], cwd=bench, capture_output=True, text=True,
        timeout=900, env=dict(os.environ, INNAPROP_DEVICE="cpu"))


def test_a_failing_solver_costs_only_itself(bench, tmp_path):
    # "broken" raises in every trial; "flaky" trains in its trials and
    # raises in its confirmation runs (the confirmation's config exists).
    (bench / "solvers" / "broken.py").write_text(BROKEN.format(
        name="broken", condition="True", message="broken on purpose"))
    (bench / "solvers" / "flaky.py").write_text(BROKEN.format(
        name="flaky", message="flaky in confirmation",
        condition='Path("outputs/tiny_confirm.yml").exists()'))
    out = run_study(bench, tmp_path, dataset="digits[epochs=1,n_val=100]",
                    trials=2, confirm_seeds=2,
                    solvers=["adamw", "broken", "flaky"])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = (bench / "outputs" / "tiny_report.md").read_text()
    failed = report.split("## Failed runs")[1]
    rows = [r for r in failed.splitlines() if r.startswith("| broken")]
    assert len(rows) == 3 and all("RuntimeError: broken on purpose" in r
                                  for r in rows)
    # Its two trials, and its run at its defaults (budget 0).
    assert [r.split(" | ")[1] for r in rows] == ["trial", "trial",
                                                 "defaults"]
    [flaky] = [r for r in failed.splitlines() if r.startswith("| flaky")]
    assert "| confirmation |" in flaky
    assert "RuntimeError: flaky in confirmation" in flaky
    # The others' results are all there: adamw confirmed on 2 seeds, flaky's
    # finished trials chosen from.
    choice = report.split("## Search spaces")[1].split("## Confirmed")[0]
    assert "| adamw |" in choice and "| flaky |" in choice
    assert "| broken |" not in choice
    confirmed = report.split("## Confirmed")[1].split("## ")[0]
    assert "| adamw | 2 |" in confirmed and "flaky" not in confirmed
    trials = pd.read_parquet(bench / "outputs" / "tiny_trials.parquet")
    assert trials["solver_name"].str.startswith("adamw").any()
    assert trials["solver_name"].str.startswith("flaky").any()


def test_missing_data_ends_the_study_on_its_reason(bench, tmp_path):
    out = run_study(bench, tmp_path, dataset="imagenet[n_val=10]",
                    trials=1, confirm_seeds=1, solvers=["adamw"])
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("Study ") and "stopped: benchopt run " \
        "(tiny_trials) failed: imagenet[" in last
    assert ": no data. ImageNet was not found: " in last
    assert "CalledProcessError" not in out.stdout + out.stderr


def test_every_shipped_study_passes_its_checks(root):
    for path in sorted((root / "studies").glob("*.yml")):
        study = load_study(path, root)
        assert study["spaces"] and study["baseline"] in study["spaces"]
