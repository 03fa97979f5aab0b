"""Data parallelism inside a run: 2 CPU processes (gloo) against 1."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from benchmark_utils.data.augment import ImageAugment
from benchmark_utils.models.cifar import SmallCNN
from innaprop import INNAprop
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.tasks.image import ClassificationTask
from benchmark_utils.training.method import Method
from benchmark_utils.training.trainer import Trainer


ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_task():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (65, 3, 8, 8), dtype=torch.uint8,
                      generator=gen)
    y = torch.randint(0, 4, (65,), generator=gen)
    # 45 training images in batches of 16: the last batch (13) splits
    # unevenly over 2 processes (6 and 7).
    recipe = Recipe(batch_size=16, epochs=2, lr=1e-2, weight_decay=0.01)
    return ClassificationTask(
        x[:45], y[:45], x[45:], y[45:],
        lambda n: SmallCNN(3, n, width=4), recipe, 4,
        transform=ImageAugment((0.5,) * 3, (0.25,) * 3, crop_padding=2),
        eval_batch_size=8)


def train(rank=0, world=1, port=None, out=None):
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                                rank=rank, world_size=world)
    task = make_task()
    trainer = Trainer(task, Method(lambda p, lr, wd, run: INNAprop(
        p, lr=lr, weight_decay=wd), 1e-2, 0.01), 0)
    metrics = []
    while not trainer.finished:
        trainer.train_stage()
        metrics.append(task.evaluate(trainer.model,
                                     trainer.progress().running))
    result = dict(params=[p.detach().clone()
                          for p in trainer.model.parameters()],
                  metrics=metrics, seen=trainer.seen)
    if world > 1:
        dist.destroy_process_group()
    if out is not None and rank == 0:
        torch.save(result, out)
    return result


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    alone = train()
    out = tmp_path / "ddp.pt"
    mp.spawn(train, args=(2, free_port(), out), nprocs=2)
    pair = torch.load(out)
    assert pair["seen"] == alone["seen"] == 2 * 45
    for a, b in zip(alone["params"], pair["params"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for m_alone, m_pair in zip(alone["metrics"], pair["metrics"]):
        assert m_alone.keys() == m_pair.keys()
        for key in m_alone:
            assert m_pair[key] == pytest.approx(m_alone[key], rel=1e-5), key


def run_python(*args, env=None):
    """The output of ``python *args`` run from the checkout, which must
    succeed."""
    res = subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    return out


def test_cpu_processes_share_the_threads_instead_of_each_taking_all():
    """INNAPROP_NPROC=2 on a CPU with 2 threads: one thread each (as torchrun
    does), not two each spinning against the other's."""
    out = run_python("-c", (
        "import torch\n"
        "from benchmark_utils.training import workers\n"
        "torch.set_num_threads(2)\n"
        "workers.spawn_workers(2, 'cpu')\n"
        "print('THREADS', torch.get_num_threads())\n"
        "workers.stop_workers()\n"))
    assert "THREADS 1" in out, out[-3000:]
    assert "cpu (1 thread each)" in out, out[-3000:]


# Each process reports the threads it still has when the interpreter starts
# its teardown; gloo's (pt_gloo_runloop, gloo_tcp_loop) must be gone by then,
# since one reaching for the GIL in the teardown aborts the process
# ("terminate called without an active exception"). torch._dynamo is
# imported once the group exists, as a compiled step does.
REPORT_THREADS = """
import atexit, os, sys
def report():
    names = [open(f"/proc/self/task/{t}/comm").read().strip()
             for t in os.listdir("/proc/self/task")]
    print("THREADS AT EXIT", os.environ.get("RANK", "0"), names, flush=True)
atexit.register(report)
"""
NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self/task").is_dir(),
                                reason="reads the threads from /proc")


def threads_at_exit(out):
    return [line for line in out.splitlines()
            if line.startswith("THREADS AT EXIT")]


@NEEDS_PROC
def test_the_launchers_ranks_end_gloos_threads_before_exiting(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(REPORT_THREADS + (
        "from benchmark_utils.training import parallel\n"
        "init = parallel.init_from_env\n"
        "def init_then_compile(device):\n"
        "    init(device)\n"
        "    import torch._dynamo\n"
        "parallel.init_from_env = init_then_compile\n"
        "from benchmark_utils.bench import launch\n"
        "launch.main(['run', '--help'])\n"))
    out = run_python("-m", "torch.distributed.run", "--nproc_per_node=2",
                     str(script), env=dict(os.environ, PYTHONPATH=str(ROOT)))
    reports = threads_at_exit(out)
    assert len(reports) == 2, out[-3000:]
    assert not any("gloo" in line for line in reports), reports


@NEEDS_PROC
def test_a_run_that_spawned_workers_ends_gloos_threads_before_exiting():
    out = run_python("-c", REPORT_THREADS + (
        "from benchmark_utils.training import workers\n"
        "workers.spawn_workers(2, 'cpu')\n"
        "import torch._dynamo\n"))
    reports = threads_at_exit(out)
    assert len(reports) == 1, out[-3000:]
    assert "gloo" not in reports[0], reports


def benchopt_results(bench, name, env, launcher, solvers=("innaprop",)):
    env = dict(os.environ, INNAPROP_DEVICE="cpu", BENCHOPT_RAISE_ON_ERROR="1",
               INNAPROP_CHECKPOINTS="0", **env)
    args = ["run", ".", *[a for s in solvers for a in ("-s", s)],
            "-d", "digits[epochs=1]",
            "--no-timeout", "--no-plot", "--no-cache", "--output", name]
    res = subprocess.run([sys.executable, *launcher, *args], cwd=bench,
                         env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    n = int(env.get("INNAPROP_NPROC", 2 if "torch.distributed.run" in
                    launcher else 1))
    assert (f"Data parallelism: {n} processes, gloo"
            in res.stdout + res.stderr) == (n > 1)
    return pd.read_parquet(bench / "outputs" / f"{name}.parquet")


COLUMNS = ["objective_value", "objective_test_loss", "objective_test_acc",
           "objective_train_acc", "objective_samples"]


def test_benchopt_run_on_two_processes_matches_one(bench):
    """INNAPROP_NPROC=2: the solver spawns a second process; torchrun: two
    ranks, rank 0 running benchopt. Both report the 1-process curve, with
    the same global batch (digits' last batch splits unevenly). The solvers
    with hooks (Sophia's extra pass, Schedule-Free's evaluation point) and
    those that split or size by the run (Muon, AdEMAMix) train too."""
    hooked = ("muon", "schedulefree_adamw", "ademamix", "sophia")
    one = benchopt_results(bench, "one", {}, ["-m", "benchopt"])
    spawned = benchopt_results(bench, "spawned", {"INNAPROP_NPROC": "2"},
                               ["-m", "benchopt"],
                               solvers=("innaprop",) + hooked)
    for name in hooked:
        df = spawned[spawned["solver_name"].str.startswith(name + "[")]
        assert list(df["objective_epoch"]) == [0, 1], name
        assert np.isfinite(df["objective_value"]).all(), name
        assert set(df["objective_provenance_world_size"]) == {"2"}
    spawned = spawned[spawned["solver_name"].str.startswith("innaprop[")]
    torchrun = benchopt_results(
        bench, "torchrun", {},
        ["-m", "torch.distributed.run", "--nproc_per_node=2",
         f"--master_port={free_port()}", "-m", "benchmark_utils.bench.launch"])
    for df in (spawned, torchrun):
        assert len(df) == len(one) == 2
        np.testing.assert_allclose(df[COLUMNS].to_numpy(dtype=float),
                                   one[COLUMNS].to_numpy(dtype=float),
                                   rtol=1e-5)


# submitit's local executor (used where there is no SLURM) gives each job
# 2 minutes and signals it 30 s before, whatever the parallel config says:
# benchopt maps every key to slurm_* (timeout_min becomes slurm_time). A
# loaded machine runs the quickstart past that, so the test lifts the local
# limit; on a cluster, slurm_time applies.
LOCAL_EXECUTOR_WITHOUT_TIME_LIMIT = """
import runpy, sys
import submitit.local.local as local
start = local.start_controller
def unlimited(*args, **kwargs):
    kwargs["timeout_min"] = 600
    return start(*args, **kwargs)
local.start_controller = unlimited
sys.argv = ["benchopt", *sys.argv[1:]]
runpy.run_module("benchopt", run_name="__main__")
"""


def test_quickstart_dispatched_through_the_slurm_config(bench):
    """configs/slurm.yml through benchopt's submitit backend. Without SLURM
    here, submitit's local executor runs each job in its own process, with
    the same parameters handed to it as sbatch would get."""
    pytest.importorskip("submitit")
    env = dict(os.environ, INNAPROP_DEVICE="cpu", BENCHOPT_RAISE_ON_ERROR="1")
    args = ["run", ".", "--config", "configs/quickstart.yml",
            "--parallel-config", "configs/slurm.yml", "--no-plot", "--output",
            "dispatched"]
    res = subprocess.run(
        [sys.executable, "-c", LOCAL_EXECUTOR_WITHOUT_TIME_LIMIT, *args],
        cwd=bench, env=env, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert "backend: submitit" in res.stdout
    df = pd.read_parquet(bench / "outputs" / "dispatched.parquet")
    for solver in ("adamw", "innaprop"):
        curve = df[df["solver_name"].str.startswith(solver + "[")]
        assert list(curve["objective_epoch"]) == list(range(21))
    # One job per run, each with its own submitit log folder.
    jobs = [p for p in (bench / "benchopt_run").rglob("*_submitted.pkl")]
    assert len(jobs) == 2
