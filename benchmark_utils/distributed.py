"""Data parallelism inside one run (torch.distributed, DistributedDataParallel).

Rank 0 is the benchopt process: it alone reports to benchopt. The other ranks
follow its commands in lockstep:

    setup       build the same trainer (same task, solver, seed)
    train       run one training stage (DDP all-reduces the gradients)
    evaluate    evaluate a shard of the data (metrics summed across ranks)
    load        restore a checkpoint
    exit        leave

Two ways to start the other ranks:
- from the solver, on one node: INNAPROP_NPROC=8 benchopt run ... spawns 7
  worker processes the first time a trainer is built;
- under torchrun (one or several nodes):
  torchrun --nproc_per_node=8 -m benchmark_utils.launch run . --config ...
  where rank 0 runs benchopt and the others run ``worker_loop``.

Commands travel on a gloo group (CPU), so they work whatever the device.
"""
import atexit
import datetime
import os
import socket
import sys
from pathlib import Path

import torch
import torch.distributed as dist

_COMMANDS = None  # the gloo group carrying commands, once initialized


def rank():
    return dist.get_rank() if dist.is_initialized() else 0


def world_size():
    return dist.get_world_size() if dist.is_initialized() else 1


def is_distributed():
    return world_size() > 1


def local_device(device):
    """This rank's device: cuda:<local rank> when running on CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        index = int(os.environ.get("LOCAL_RANK", rank()))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def _init(backend, init_method, rank_, world):
    global _COMMANDS
    dist.init_process_group(backend, init_method=init_method, rank=rank_,
                            world_size=world,
                            timeout=datetime.timedelta(hours=2))
    _COMMANDS = (dist.new_group(backend="gloo") if backend != "gloo"
                 else dist.group.WORLD)


def _backend(device):
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device):
    """Join the process group torchrun describes in the environment."""
    if dist.is_initialized():
        return
    _init(_backend(device), "env://", int(os.environ["RANK"]),
          int(os.environ["WORLD_SIZE"]))
    if rank() == 0:
        _announce(device)


def requested_processes():
    """Processes per run asked for with INNAPROP_NPROC: a number, or "auto"
    for one per visible GPU (1 by default)."""
    value = os.environ.get("INNAPROP_NPROC", "1")
    if value == "auto":
        return max(1, torch.cuda.device_count())
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"INNAPROP_NPROC={value!r}: expected a number of "
                         "processes (>= 1) or 'auto'.")
    return n


def spawn_workers(n_procs, device):
    """From rank 0 (this process), start ranks 1..n_procs-1 on this node."""
    if dist.is_initialized():
        if world_size() != n_procs:
            raise RuntimeError(
                f"The process group already has {world_size()} processes; "
                f"{n_procs} were asked for.")
        return
    # The workers import this package by name: make it findable from the
    # benchmark's folder (benchopt loads it from a file path).
    root = str(Path(__file__).resolve().parents[1])
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
    ctx = torch.multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main,
                         args=(r, n_procs, init_method, str(device)),
                         daemon=True)
             for r in range(1, n_procs)]
    for p in procs:
        p.start()
    _init(_backend(device), init_method, 0, n_procs)
    atexit.register(_shutdown, procs)
    _announce(device)


def _announce(device):
    print(f"Data parallelism: {world_size()} processes, "
          f"{dist.get_backend()} backend, {torch.device(device).type}; each "
          "batch is split across them.", file=sys.stderr, flush=True)


def _shutdown(procs):
    try:
        command("exit")
    finally:
        for p in procs:
            p.join(timeout=30)


def _worker_main(rank_, world, init_method, device):
    _init(_backend(device), init_method, rank_, world)
    worker_loop()


def command(name, payload=None):
    """Rank 0: tell the other ranks what to do next."""
    if is_distributed() and rank() == 0:
        dist.broadcast_object_list([(name, payload)], src=0, group=_COMMANDS)


def _receive():
    box = [None]
    dist.broadcast_object_list(box, src=0, group=_COMMANDS)
    return box[0]


def worker_loop():
    """Ranks > 0: follow rank 0's commands until it says exit."""
    from benchmark_utils.trainer import Trainer
    trainer = None
    while True:
        name, payload = _receive()
        if name == "exit":
            break
        if name == "setup":
            task, make_optimizer, kwargs = payload
            task = task.to(local_device(task.device))
            trainer = Trainer(task, make_optimizer, **kwargs)
        elif name == "warm_up":
            task, make_optimizer, kwargs = payload
            task = task.to(local_device(task.device))
            Trainer(task, make_optimizer, **kwargs).warm_up()
        elif name == "train":
            trainer.train_stage()
        elif name == "evaluate":
            trainer.task.evaluate(trainer.model, payload)
        elif name == "load":
            state = torch.load(payload, map_location="cpu",
                               weights_only=False)
            trainer.load_state_dict(state["trainer"])
        else:
            raise RuntimeError(f"Unknown command {name!r}")
    dist.destroy_process_group()


def shard():
    """(rank, world_size) in a data-parallel run, else None."""
    return (rank(), world_size()) if is_distributed() else None


def all_reduce_sum(tensor):
    """The sum of ``tensor`` over the processes (itself when alone)."""
    if is_distributed():
        tensor = tensor.clone()
        dist.all_reduce(tensor)
    return tensor
