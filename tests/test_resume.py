"""Checkpoint and resume: a resumed run continues exactly where it stopped."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark_utils.training.checkpoint import CheckpointStore
from benchmark_utils.data.augment import ImageAugment
from benchmark_utils.data.tokens import byte_tokens
from benchmark_utils.tasks.language import LanguageModelingTask
from benchmark_utils.models.gpt import build_gpt
from innaprop import INNAprop
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.tasks.image import ClassificationTask
from benchmark_utils.training.method import Method
from benchmark_utils.training.trainer import Trainer
from benchopt_cli import benchopt


def image_task():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (70, 3, 8, 8), dtype=torch.uint8,
                      generator=gen)
    y = torch.randint(0, 3, (70,), generator=gen)
    recipe = Recipe(batch_size=16, epochs=4, lr=1e-2, weight_decay=0.01)

    def model(n):
        # Dropout: the resumed run must also continue the random stream.
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Flatten(), torch.nn.Dropout(0.3),
            torch.nn.Linear(256, n))

    return ClassificationTask(x[:50], y[:50], x[50:], y[50:], model, recipe,
                              3, transform=ImageAugment((0.5,) * 3,
                                                        (0.25,) * 3, 2))


def text_task():
    train, val = byte_tokens(Path(json.__file__).with_name("decoder.py"))
    recipe = Recipe(batch_size=4, max_steps=6, eval_every=2, grad_accum=2,
                    lr=1e-3, weight_decay=0.1, schedule="cosine_warmup",
                    schedule_unit="step", warmup=2, grad_clip=1.0,
                    decay_1d_params=False)
    return LanguageModelingTask(
        train, val, build_model=lambda: build_gpt("tiny", vocab_size=256,
                                                  block_size=16),
        recipe=recipe, block_size=16, eval_batches=2)


def innaprop(params, lr, weight_decay, run=None):
    return INNAprop(params, lr=lr, weight_decay=weight_decay)


def run_stages(trainer, n):
    metrics = []
    for _ in range(n):
        trainer.train_stage()
        progress = trainer.progress()
        metrics.append(trainer.task.evaluate(trainer.model,
                                             progress.running))
    return metrics


def check_resume_is_exact(make_task, stages_before, stages_after, tmp_path):
    straight = Trainer(make_task(), Method(innaprop, 1e-2, 0.01), 3)
    expected = run_stages(straight, stages_before + stages_after)

    first = Trainer(make_task(), Method(innaprop, 1e-2, 0.01), 3)
    run_stages(first, stages_before)
    store = CheckpointStore(tmp_path, run="r")
    store.save({"trainer": first.state_dict()}, index=1)
    torch.manual_seed(12345)             # a new process: other RNG state
    resumed = Trainer(make_task(), Method(innaprop, 1e-2, 0.01), 3)
    resumed.load_state_dict(store.load()["trainer"])
    got = run_stages(resumed, stages_after)

    assert got == expected[stages_before:]          # bit for bit
    for a, b in zip(straight.model.parameters(),
                    resumed.model.parameters()):
        assert torch.equal(a, b)
    assert resumed.step == straight.step and resumed.finished


def test_resumed_image_run_equals_the_uninterrupted_one(tmp_path):
    check_resume_is_exact(image_task, 2, 2, tmp_path)


def test_resumed_run_within_an_epoch_of_windows(tmp_path):
    # Step budget with gradient accumulation: the checkpoint falls in the
    # middle of the loader's epoch, and the schedule is per step.
    check_resume_is_exact(text_task, 1, 2, tmp_path)


def checkpoint_dirs(root):
    out = {}
    for meta in Path(root).glob("*/ckpt-*.json"):
        try:   # the running writer may prune it between glob and read
            solver = json.loads(meta.read_text())["run"]["solver"]
        except (FileNotFoundError, ValueError):
            continue
        out.setdefault(solver.split("[")[0], set()).add(meta.parent)
    return out


def test_killed_benchopt_run_resumes_with_full_curves(bench, tmp_path):
    """SIGINT then SIGKILL in the middle of the second solver; the same
    command again redoes no finished run, resumes the other from its last
    good checkpoint (the newest one is truncated on purpose), and every
    curve is complete, without duplicated points, and equal to an
    uninterrupted run's."""
    args = ["run", ".", "-s", "adamw", "-s", "innaprop", "-d",
            "digits[epochs=8,batch_size=8]", "--no-timeout", "-n", "1000",
            "--no-plot"]
    env = dict(os.environ, INNAPROP_CHECKPOINT_DIR=str(tmp_path / "ckpt"),
               INNAPROP_DEVICE="cpu", BENCHOPT_RAISE_ON_ERROR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ["PATH"])
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "benchopt", *args,
                             "--output", "killed"], cwd=bench, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline:
        dirs = checkpoint_dirs(tmp_path / "ckpt").get("innaprop", set())
        if any(len(list(d.glob("ckpt-*.json"))) == 2 for d in dirs):
            metas = sorted(next(iter(dirs)).glob("ckpt-*.json"))
            try:
                if json.loads(metas[-1].read_text())["index"] >= 4:
                    break
            except (FileNotFoundError, ValueError):   # pruned meanwhile
                pass
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    log.close()

    # The newest checkpoint is damaged: the resume must fall back.
    (innaprop_dir,) = checkpoint_dirs(tmp_path / "ckpt")["innaprop"]
    newest = sorted(innaprop_dir.glob("ckpt-*.pt"))[-1]
    newest.write_bytes(newest.read_bytes()[:-1000])

    res = subprocess.run([sys.executable, "-m", "benchopt", *args,
                          "--output", "resumed"], cwd=bench, env=env,
                         capture_output=True, text=True, timeout=600)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "(cached)" in out                      # adamw was not redone
    assert "is unusable" in out and "resumed from its checkpoint" in out
    assert not list(innaprop_dir.glob("ckpt-*"))  # cleared once finished

    # The same command on a clean slate: an uninterrupted run.
    straight = benchopt(*args, "--no-cache", "--output", "straight",
                        cwd=bench)
    assert straight.returncode == 0
    resumed = pd.read_parquet(bench / "outputs" / "resumed.parquet")
    full = pd.read_parquet(bench / "outputs" / "straight.parquet")
    for solver in full["solver_name"].unique():
        got = resumed[resumed["solver_name"] == solver]
        want = full[full["solver_name"] == solver]
        assert list(got["objective_epoch"]) == list(range(9))
        columns = ["objective_value", "objective_test_acc",
                   "objective_train_acc", "objective_step"]
        assert np.array_equal(got[columns].to_numpy(),
                              want[columns].to_numpy())
