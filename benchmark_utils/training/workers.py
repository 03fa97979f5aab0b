"""Replication of data-parallel runs: every call on the trainer runs on
every process.

Rank 0 is the benchopt process: it alone reports to benchopt. It drives a
``ReplicatedTrainer``, which has the trainer's interface: each call is
broadcast to the other ranks, which run it on their own trainer in
lockstep, then runs here. Alone (one process), it is the trainer. The
messages:

    setup       build the same trainer (same task, method, seed)
    warm_up     run the untimed warm-up on a throwaway trainer
    call        run one of the trainer's methods (train_stage,
                set_evaluation_mode, evaluate) with the same arguments
    load        restore a checkpoint (read and verified like rank 0's)
    exit        leave

Nothing outside this module sends them.

Two ways to start the other ranks:
- from the solver, on one node: INNAPROP_NPROC=8 benchopt run ... spawns 7
  worker processes the first time a trainer is built;
- under torchrun (one or several nodes):
  torchrun --nproc_per_node=8 -m benchmark_utils.bench.launch run . --config ...
  where rank 0 runs benchopt and the others run ``worker_loop``.

This module sits above the trainer; parallel.py holds the primitives both use.
"""
import atexit
import socket
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from benchmark_utils.training import environment, parallel
from benchmark_utils.training.checkpoint import read_checkpoint
from benchmark_utils.training.trainer import Trainer


def spawn_workers(n_procs, device):
    """From rank 0 (this process), start ranks 1..n_procs-1 on this node."""
    if dist.is_initialized():
        if parallel.world_size() != n_procs:
            raise RuntimeError(
                f"The process group already has {parallel.world_size()} "
                f"processes; {n_procs} were asked for.")
        return
    # The workers import this package by name: make it findable from the
    # benchmark's folder (benchopt loads it from a file path).
    root = str(environment.ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    if torch.device(device).type == "cuda" and \
            n_procs > torch.cuda.device_count():
        raise RuntimeError(
            f"INNAPROP_NPROC={n_procs} processes, but only "
            f"{torch.cuda.device_count()} GPUs are visible: one GPU per "
            "process.")
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    init_method = f"tcp://127.0.0.1:{port}"
    threads = threads_per_process(n_procs, device)
    if threads is not None:
        torch.set_num_threads(threads)
    ctx = torch.multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main,
                         args=(r, n_procs, init_method, str(device),
                               threads),
                         daemon=True)
             for r in range(1, n_procs)]
    for p in procs:
        p.start()
    parallel.init(parallel.backend(device), init_method, 0, n_procs)
    atexit.register(_shutdown, procs)
    parallel.announce(device)


def stop_workers():
    """Rank 0: let the other ranks leave (torchrun's end of a run), wait
    until they have all received it (``_leave``), and leave the group (a
    group of one too)."""
    if parallel.is_distributed() and parallel.rank() == 0:
        command("exit")
        _leave()
    parallel.close()


def _leave():
    """Every rank, on "exit": meet once more before any rank closes its
    process group. A rank that closed it while another was still receiving
    aborted the other at exit ("terminate called without an active
    exception", one run in four of the torchrun launcher)."""
    dist.barrier(group=parallel.command_group())


def _shutdown(procs):
    try:
        stop_workers()
    finally:
        for p in procs:
            p.join(timeout=30)


def threads_per_process(n_procs, device):
    """On the CPU, each of ``n_procs`` processes gets its share of this
    process's threads (torchrun sets one each): a full set each makes
    their OpenMP threads spin against one another. None on accelerators."""
    if torch.device(device).type != "cpu":
        return None
    return max(1, torch.get_num_threads() // n_procs)


def _worker_main(rank_, world, init_method, device, threads):
    if threads is not None:
        torch.set_num_threads(threads)
    parallel.init(parallel.backend(device), init_method, rank_, world)
    worker_loop()


def command(name, payload=None):
    """Rank 0: tell the other ranks what to do next (this module's own)."""
    if parallel.is_distributed() and parallel.rank() == 0:
        dist.broadcast_object_list([(name, payload)], src=0,
                                   group=parallel.command_group())


def _receive():
    box = [None]
    dist.broadcast_object_list(box, src=0, group=parallel.command_group())
    return box[0]


def _trainer(payload):
    task, method, seed = payload
    task = task.to(parallel.local_device(task.device))
    return Trainer(task, method, seed)


class ReplicatedTrainer:
    """A trainer whose calls run on every process: broadcast to the other
    ranks, then run on this one. Reads (``step``, ``model``, ``finished``,
    ``progress()``...) are this process's trainer's."""

    # The calls that change a trainer, or need every process (evaluation
    # sums the shards' metrics across ranks).
    REPLICATED = ("train_stage", "set_evaluation_mode", "evaluate")

    def __init__(self, task, method, seed):
        if parallel.is_distributed():
            # Fail here, alone, on what this process would refuse (invalid
            # hyperparameters): the workers must not build a trainer that
            # rank 0 will not.
            Trainer(task, method, seed, data_parallel=False)
        command("setup", (task, method, seed))
        self.local = Trainer(task, method, seed)

    def __getattr__(self, name):
        if name in self.REPLICATED:
            return self._replicated(name)
        return getattr(self.local, name)

    def _replicated(self, name):
        def call(*args):
            command("call", (name, args))
            return getattr(self.local, name)(*args)
        return call

    def restore(self, state, path):
        """Load a checkpoint's trainer ``state`` here, read from ``path``;
        the other ranks read and verify the same file."""
        command("load", str(path))
        self.local.load_state_dict(state)

    @staticmethod
    def warm_up(task, method, seed):
        """The untimed warm-up, on a throwaway trainer in every process."""
        command("warm_up", (task, method, seed))
        Trainer(task, method, seed).warm_up()


def worker_loop():
    """Ranks > 0: follow rank 0's commands until it says exit. A command that
    fails is reported and the worker waits for the next one, so that the
    solvers after a failed one still run."""
    trainer = None
    while True:
        name, payload = _receive()
        if name == "exit":
            _leave()
            break
        try:
            trainer = _execute(name, payload, trainer)
        except Exception as e:
            print(f"rank {parallel.rank()}: {name!r} failed ({e!r}); "
                  "waiting for rank 0's next command.", file=sys.stderr,
                  flush=True)
    parallel.close()


def _execute(name, payload, trainer):
    """Run one command; returns the worker's trainer afterwards."""
    if name == "setup":
        return _trainer(payload)
    if name == "warm_up":
        _trainer(payload).warm_up()
    elif name == "call":
        method, args = payload
        if method not in ReplicatedTrainer.REPLICATED:
            raise RuntimeError(f"Unknown trainer call {method!r}")
        getattr(trainer, method)(*args)
    elif name == "load":
        trainer.load_state_dict(read_checkpoint(Path(payload))["trainer"])
    else:
        raise RuntimeError(f"Unknown command {name!r}")
    return trainer
