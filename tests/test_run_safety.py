"""Nothing lost, nothing mixed: run identity covers the data, checkpoints
cannot hurt a run, -n is respected after a resume, stale checkpoints can be
listed and removed, and a failed solver leaves data-parallel workers alive."""
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from benchmark_utils.training import identity
from benchmark_utils.training.identity import data_source, is_current
from benchmark_utils.training import checkpoint as checkpoint_mod
from benchmark_utils.training import resume
from benchmark_utils.training.checkpoint import CheckpointStore
from benchmark_utils.bench.resume import NoCheckpoints, RunCheckpoints
from benchopt_cli import benchopt, read_results


class FakeTrainer:
    finished = False
    step = epoch = 3

    def __init__(self):
        self.loaded = None

    def state_dict(self):
        return {"w": torch.arange(4.0)}

    def load_state_dict(self, state):
        self.loaded = state

    def restore(self, state, path):
        self.load_state_dict(state)


def fake_run(source="data#1", solver="innaprop[alpha=0.1]", max_runs=10,
             n_eval=4):
    """The solver and callback objects RunCheckpoints reads."""
    solver_obj = SimpleNamespace(seed=0, task=SimpleNamespace(source=source))
    criterion = SimpleNamespace(n_eval=n_eval, rho=1.0, max_runs=max_runs)
    callback = SimpleNamespace(
        meta=dict(dataset_name="d", objective_name="o", solver_name=solver,
                  idx_rep=0),
        curve=[{"stop_val": i} for i in range(n_eval)], it=n_eval,
        next_stopval=n_eval, time_iter=1.0, _last_it_log=n_eval - 1,
        stopping_criterion=criterion, status="running")
    return solver_obj, callback


@pytest.fixture
def ckpt_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("INNAPROP_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    monkeypatch.setenv("INNAPROP_CHECKPOINTS", "1")
    monkeypatch.setattr(identity, "code_version", lambda cls: "code")
    return tmp_path / "ckpt"


def open_run(*args, **kwargs):
    solver, callback = fake_run(*args, **kwargs)
    return RunCheckpoints.open(solver, callback), callback


def test_data_source_changes_with_the_files_and_only_then(tmp_path):
    folder = tmp_path / "cifar"
    (folder / "batches").mkdir(parents=True)
    (folder / "batches" / "data_1").write_bytes(b"x" * 10)
    before = data_source(folder)
    assert data_source(folder) == before and is_current(before)
    assert before.startswith(str(folder.resolve()) + "#")
    (folder / "batches" / "data_1").write_bytes(b"y" * 11)
    assert data_source(folder) != before and not is_current(before)
    assert data_source(tmp_path / "nowhere").endswith("#missing")


def test_a_checkpoint_is_not_resumed_across_a_data_change(ckpt_dir, capsys):
    run, callback = open_run(source="/data/A#aaaa")
    with run:
        run.save(FakeTrainer())
    other, _ = open_run(source="/data/B#bbbb")
    with other:
        trainer = FakeTrainer()
        assert not other.resume(trainer) and trainer.loaded is None
    err = capsys.readouterr().err
    assert "data source changed" in err and "/data/B#bbbb" in err
    same, _ = open_run(source="/data/A#aaaa")
    with same:
        assert same.resume(FakeTrainer())


def test_benchopt_cache_misses_when_the_text_file_changes(bench, tmp_path):
    text = tmp_path / "book.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 400)
    args = ["run", ".", "-s", "adamw", "-d",
            f"tokens[path={text},max_steps=4,eval_every=2,eval_batches=2,"
            "block_size=16,batch_size=4,warmup=1]", "--no-plot", "-n", "10",
            "--no-timeout"]
    first = benchopt(*args, "--output", "a", cwd=bench)
    assert first.returncode == 0, first.stderr[-3000:]
    again = benchopt(*args, "--output", "b", cwd=bench)
    assert "cached" in again.stdout
    time.sleep(0.01)
    text.write_text("a completely different text, with other bytes! " * 400)
    changed = benchopt(*args, "--output", "c", cwd=bench)
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert "cached" not in changed.stdout
    a, c = read_results(bench, "a"), read_results(bench, "c")
    assert list(a["objective_value"]) != list(c["objective_value"])


def test_a_second_identical_run_is_refused_while_the_first_trains(ckpt_dir):
    run, _ = open_run()
    with run:
        with pytest.raises(RuntimeError, match="Another process is running "
                           "this very run.*INNAPROP_CHECKPOINTS=0"):
            open_run()
    # Released at the end of the first run: the next one may start.
    again, _ = open_run()
    with again:
        pass


def test_the_lock_of_a_killed_process_is_released(ckpt_dir):
    store = CheckpointStore(ckpt_dir, **{"run": "x"})
    code = ("import sys, time; from benchmark_utils.training.checkpoint "
            "import CheckpointStore; s = CheckpointStore(sys.argv[1], "
            "run='x'); s.lock(); print('locked', flush=True); "
            "time.sleep(600)")
    env = dict(os.environ, PYTHONPATH=str(resume.ROOT))
    proc = subprocess.Popen([sys.executable, "-c", code, str(ckpt_dir)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RuntimeError, match="Another process"):
            store.lock()
    finally:
        proc.kill()
        proc.wait(timeout=60)
    store.lock()
    store.unlock()


def test_a_full_disk_warns_once_cleans_up_and_the_run_goes_on(
        ckpt_dir, monkeypatch, capsys):
    run, _ = open_run()
    real_save = torch.save

    def full_disk(obj, f):
        f.write(b"partial bytes")
        raise OSError(28, "No space left on device")

    with run:
        monkeypatch.setattr(torch, "save", full_disk)
        run.save(FakeTrainer())
        run.save(FakeTrainer())        # no second warning, no second try
        monkeypatch.setattr(torch, "save", real_save)
        run.finish(FakeTrainer())
    err = capsys.readouterr().err
    assert err.count("No space left on device") == 1
    assert "INNAPROP_CHECKPOINTS=0" in err
    assert not list(ckpt_dir.rglob("*.tmp"))
    # The next run of the same key is not blocked by a leftover lock.
    again, _ = open_run()
    with again:
        pass


def test_a_checkpoint_folder_that_is_a_file_refuses_the_run(
        tmp_path, monkeypatch):
    """A file where the checkpoint folder should be ends the run at start,
    naming the variable (issue 27), instead of a run whose progress a crash
    would lose."""
    from benchmark_utils.training.environment import BadEnvironment
    target = tmp_path / "not_a_folder"
    target.write_text("")
    monkeypatch.setenv("INNAPROP_CHECKPOINT_DIR", str(target))
    monkeypatch.setattr(identity, "code_version", lambda cls: "code")
    with pytest.raises(BadEnvironment, match="INNAPROP_CHECKPOINT_DIR"):
        open_run()
    assert target.read_text() == ""


def test_a_smaller_max_runs_after_a_resume_is_respected(ckpt_dir):
    run, callback = open_run(n_eval=5)
    with run:
        run.save(FakeTrainer())
    smaller, callback = open_run(max_runs=3, n_eval=0)
    with smaller:
        assert smaller.resume(FakeTrainer())
        assert smaller.over_max_runs()
    assert len(callback.curve) == 4 and callback.status == "max_runs"
    same, callback = open_run(max_runs=5, n_eval=0)
    with same:
        assert same.resume(FakeTrainer()) and not same.over_max_runs()
    assert len(callback.curve) == 5


def test_stale_checkpoints_are_listed_with_sizes_and_removed(
        ckpt_dir, monkeypatch, capsys):
    for solver in ("innaprop[alpha=0.1]", "adamw[lr=0.1]"):
        run, _ = open_run(solver=solver)
        with run:
            run.save(FakeTrainer())
    stale = {"innaprop[alpha=0.1]": "the code changed"}
    why = lambda fields: stale.get(fields["solver"])  # noqa: E731
    resume.main([str(ckpt_dir)], why_stale=why)
    out = capsys.readouterr().out
    assert "will not resume (the code changed)" in out and "resumable" in out
    assert " MB " in out
    resume.main([str(ckpt_dir), "--remove"], why_stale=why)
    left = [f for _, f, _ in checkpoint_mod.runs(ckpt_dir)]
    assert [f["solver"] for f in left] == ["adamw[lr=0.1]"]


def test_why_stale_sees_code_and_data_changes(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("abc")
    fields = dict(solver="adamw[lr=0.1]", data=data_source(text),
                  code=identity.code_files_version(
                      str(resume.ROOT / "solvers" / "adamw.py")))
    assert resume.why_stale(fields) is None
    assert resume.why_stale(dict(fields, code="old")) == "the code changed"
    text.write_text("abcd")
    assert resume.why_stale(fields) == "its data changed"


def test_a_failed_solver_leaves_the_workers_alive(bench):
    """INNAPROP_NPROC=2: invalid hyperparameters fail the first solver; the
    second still trains on both processes."""
    env = dict(INNAPROP_NPROC="2", INNAPROP_CHECKPOINTS="0")
    os.environ.update(env)
    try:
        res = benchopt("run", ".", "-s", "innaprop[lr=1.0,beta=0.9]", "-s",
                       "adamw", "-d", "digits[epochs=1]", "--no-timeout",
                       "--no-plot", "--output", "pair", cwd=bench,
                       raise_on_error=False)
    finally:
        for k in env:
            os.environ.pop(k)
    log = res.stdout + res.stderr
    assert "needs lr < beta" in log
    assert "Connection closed" not in log
    df = read_results(bench, "pair")
    adamw = df[df["solver_name"].str.startswith("adamw")]
    assert list(adamw["objective_epoch"]) == [0, 1]
