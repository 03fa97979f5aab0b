"""What a `benchopt run` leaves when not everything can run: datasets
without data are skipped with one line (a named one fails the command),
the runs that finished are saved and plotted whatever stops the others
(a crash, Ctrl-C), results never come from the cache of other code, long
runs say where they stand, and a dirty tree's diff lies beside the
results."""
import subprocess
import time
from types import SimpleNamespace

import pytest

from benchmark_utils.bench import runner
from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.reporting import provenance
from benchmark_utils.training.progress import duration, status_line
from benchopt_cli import benchopt, read_results


def no_data_home(bench, tmp_path, monkeypatch):
    """Every dataset's default folder empty, and no network: what a fresh
    machine offline has."""
    home = tmp_path / "empty_data"
    monkeypatch.setenv("BENCHOPT_DATA_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def test_a_named_dataset_without_data_keeps_the_others_results(
        bench, tmp_path, monkeypatch):
    """digits trains, then cifar10 and e2e have no data: the digits
    results and page are written, each absent dataset is named once with
    what it needs (e2e: weights and data together, in seconds), no
    traceback, and the command fails because they were named."""
    home = no_data_home(bench, tmp_path, monkeypatch)
    start = time.perf_counter()
    res = benchopt("run", ".", "-s", "innaprop", "-d", "digits[epochs=1]",
                   "-d", "cifar10", "-d", "e2e", "-n", "5", "--no-timeout",
                   "--no-display", "--output", "kept", cwd=bench,
                   raise_on_error=False)
    elapsed = time.perf_counter() - start
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-3000:]
    assert "Traceback" not in out
    df = read_results(bench, "kept")
    assert set(df["dataset_name"].str.split("[").str[0]) == {"digits"}
    assert list((bench / "outputs").glob("*kept*.html"))
    reasons = [line for line in out.splitlines() if "Reason:" in line]
    assert len(reasons) == 2, reasons
    cifar, e2e = reasons
    assert "CIFAR-10 was not found" in cifar and "data_paths" in cifar
    assert "GPT-2 small was not found" in e2e and "E2E was not found" in e2e
    # The reason ends the output: the last line names what is missing.
    assert "E2E was not found" in res.stderr.strip().splitlines()[-1]
    assert elapsed < 120
    assert not home.exists()      # nothing left behind by failed downloads


def test_all_datasets_run_what_has_data_and_skip_the_rest(bench, tmp_path,
                                                          monkeypatch):
    """No -d (the design card's command): the datasets with data run, the
    others are skipped with their reason, and the command succeeds."""
    no_data_home(bench, tmp_path, monkeypatch)
    # The datasets that need no download but train long are left out of
    # this copy: digits (shipped with scikit-learn) stands for them.
    for slow in ("tokens", "fashion_mnist", "simulated"):
        (bench / "datasets" / f"{slow}.py").unlink(missing_ok=True)
    (bench / "datasets" / "digits.py").write_text(
        (bench / "datasets" / "digits.py").read_text().replace(
            '"epochs": [20]', '"epochs": [1]'))
    res = benchopt("run", ".", "-s", "innaprop", "-n", "5", "--no-timeout",
                   "--no-display", "--output", "all", cwd=bench,
                   raise_on_error=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "Traceback" not in out
    df = read_results(bench, "all")
    assert set(df["dataset_name"].str.split("[").str[0]) == {"digits"}
    for name in ("CIFAR-10", "ImageNet", "Food101", "OpenWebText", "E2E",
                 "MNIST"):
        assert f"{name} was not found" in out or \
            f"{name} is not prepared" in out, name


CRASHING_SOLVER = '''
from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    name = "{name}"
    parameters = {{"lr": [None], "weight_decay": [None]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        raise {error}("{name} fails by design")
'''


@pytest.mark.parametrize("error, status", [("RuntimeError", 1),
                                           ("KeyboardInterrupt", 130)])
def test_a_crash_or_ctrl_c_keeps_the_runs_that_finished(bench, error,
                                                        status):
    """adamw finishes, then a solver crashes (with BENCHOPT_RAISE_ON_ERROR,
    which fails fast) or the user presses Ctrl-C: adamw's results file and
    page are written, and the command fails."""
    name = f"fails-{error.lower()}"
    (bench / "solvers" / "fails.py").write_text(
        CRASHING_SOLVER.format(name=name, error=error))
    res = benchopt("run", ".", "-s", "adamw", "-s", name,
                   "-d", "digits[epochs=1]", "-n", "5", "--no-timeout",
                   "--no-display", "--output", "crash", cwd=bench)
    out = res.stdout + res.stderr
    assert res.returncode == status, out[-3000:]
    df = read_results(bench, "crash")
    assert set(df["solver_name"].str.split("[").str[0]) == {"adamw"}
    assert list((bench / "outputs").glob("*crash*.html"))
    assert "are saved" in out


def test_an_edit_of_the_optimizer_is_never_served_from_the_cache(bench,
                                                                 root):
    """Two identical commands around an edit of innaprop/innaprop.py: the
    second runs the new code (other values, not "(cached)")."""
    import shutil
    shutil.copytree(root / "innaprop", bench / "innaprop",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(bench)}   # the copy's optimizers, not ours
    args = ("run", ".", "-s", "innaprop", "-d", "digits[epochs=1]", "-n",
            "5", "--no-timeout", "--no-plot")
    first = benchopt(*args, "--output", "before", cwd=bench, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    again = benchopt(*args, "--output", "same", cwd=bench, env=env)
    assert "cached" in again.stdout       # unchanged code: from the cache
    code = bench / "innaprop" / "innaprop.py"
    text = code.read_text()
    assert "psi_keep = 1 - lr / beta" in text
    code.write_text(text.replace("psi_keep = 1 - lr / beta",
                                 "psi_keep = 1 - 0.5 * lr / beta"))
    after = benchopt(*args, "--output", "after", cwd=bench, env=env)
    assert after.returncode == 0, after.stderr[-3000:]
    assert "cached" not in after.stdout
    before, changed = (read_results(bench, n)["objective_value"].iloc[-1]
                       for n in ("before", "after"))
    assert before != changed


def test_the_status_line_says_where_a_run_stands():
    assert duration(12.4) == "12 s"
    assert duration(508) == "8 min 28 s"
    assert duration(7500) == "2 h 05 min"
    # 12 of 200 epochs, 30 s of training, 60 s in all so far: 2.5 s per
    # epoch; 188 more epochs at 5 s each.
    line = status_line("innaprop[alpha=0.1]", "epoch", 12, 200, 30.0, 60.0)
    assert line == ("innaprop[alpha=0.1]: epoch 12/200 (6%), 2.5 s per "
                    "epoch of training, about 15 min 40 s left")


def test_a_long_run_prints_its_status_at_each_evaluation(capsys,
                                                         monkeypatch):
    recipe = SimpleNamespace(epochs=None, max_steps=1000)
    solver = SimpleNamespace(
        run_start=100.0,
        trainer=SimpleNamespace(step=250, epoch=0, recipe=recipe,
                                train_time=40.0))
    monkeypatch.setattr(time, "perf_counter", lambda: 130.0)
    TrainingSolver._say_where_it_stands(solver)       # 30 s: quiet
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(time, "perf_counter", lambda: 200.0)
    TrainingSolver._say_where_it_stands(solver)       # 100 s: it speaks
    err = capsys.readouterr().err
    assert "step 250/1000 (25%), 0.16 s per step" in err
    assert "about 5 min 00 s left" in err


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True,
                   capture_output=True)


def test_a_dirty_tree_keeps_its_diff_beside_the_results(tmp_path,
                                                        monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "optimizer.py").write_text("lr = 1e-3\n")
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm",
        "start")
    monkeypatch.setattr(provenance, "ROOT", repo)
    for cached in (provenance.working_tree_diff, provenance.static):
        cached.cache_clear()
    results = tmp_path / "run.parquet"
    assert provenance.static()["dirty"] == "no"
    assert provenance.save_diff(results) is None
    (repo / "optimizer.py").write_text("lr = 2e-3\n")
    (repo / "new_solver.py").write_text("name = 'mine'\n")
    for cached in (provenance.working_tree_diff, provenance.static):
        cached.cache_clear()
    assert provenance.static()["dirty"].startswith("yes: diff sha256 ")
    diff = provenance.save_diff(results).read_text()
    assert "-lr = 1e-3" in diff and "+lr = 2e-3" in diff
    assert "+name = 'mine'" in diff
    for cached in (provenance.working_tree_diff, provenance.static):
        cached.cache_clear()


def test_the_runner_fails_only_when_a_named_dataset_had_no_data():
    state = runner._State()
    state.missing = {"cifar10[model=resnet18]": "CIFAR-10 was not found"}
    assert runner.finish(state) == 0          # all datasets: a skip
    state.named = {"digits"}
    assert runner.finish(state) == 0
    state.named = {"digits", "cifar10"}
    assert runner.finish(state) == 1
    # -d patterns, and a config's entries (strings or {name: parameters})
    assert runner._bases('cifar10[model=vgg11]') == ["cifar10"]
    assert runner._bases({"cifar10": {"model": "vgg11"}}) == ["cifar10"]


def test_a_bad_environment_variable_stops_the_run_before_anything(bench):
    from benchopt_cli import benchopt_here
    code, log = benchopt_here(bench, "-d", "digits[epochs=1]", "-s", "adamw",
                              "--no-plot", env={"INNAPROP_DEVICE": "bogus",
                                                "INNAPROP_NPROC": "abc"})
    assert code == 2, log[-2000:]
    assert "INNAPROP_DEVICE='bogus'" in log and "INNAPROP_NPROC='abc'" in log
    assert log.strip().splitlines()[-1].startswith("INNAPROP_")
    assert not (bench / "outputs").exists()
