"""Data-parallel primitives: devices, ranks, shards and sums.

A run is data-parallel when torch.distributed is initialized with more than
one process (see workers.py for how the processes are started and driven).
Everything here works alone too: rank 0 of a world of 1, no shard, sums of
one.
"""
import datetime
import os
import sys

import torch
import torch.distributed as dist
# Imported before any process group exists: its functions take the world
# group as a default argument, evaluated at import. Imported later (torch
# compiles import it), they would hold the group for good, and its gloo
# threads would outlive close() (see there).
import torch.distributed.nn  # noqa: F401

from benchmark_utils.training import environment

_COMMANDS = None  # the gloo group carrying rank 0's commands, once initialized


def default_device():
    """CUDA when present, else CPU; INNAPROP_DEVICE=cpu forces the CPU (a
    bad value is refused naming the variable: environment.py)."""
    return environment.device()


def synchronize(device):
    """Wait for the device, so that a host clock read after it is true."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def rank():
    return dist.get_rank() if dist.is_initialized() else 0


def world_size():
    return dist.get_world_size() if dist.is_initialized() else 1


def is_distributed():
    return world_size() > 1


def shard():
    """(rank, world_size) in a data-parallel run, else None."""
    return (rank(), world_size()) if is_distributed() else None


def all_reduce_sum(tensor):
    """The sum of ``tensor`` over the processes (itself when alone)."""
    if is_distributed():
        tensor = tensor.clone()
        dist.all_reduce(tensor)
    return tensor


def local_device(device):
    """This rank's device: cuda:<local rank> when running on CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        index = int(os.environ.get("LOCAL_RANK", rank()))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def backend(device):
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init(backend_name, init_method, rank_, world):
    """Join a process group, plus a gloo group for rank 0's commands (they
    travel on the CPU, whatever the device)."""
    global _COMMANDS
    dist.init_process_group(backend_name, init_method=init_method,
                            rank=rank_, world_size=world,
                            timeout=datetime.timedelta(hours=2))
    _COMMANDS = (dist.new_group(backend="gloo") if backend_name != "gloo"
                 else dist.group.WORLD)


def command_group():
    return _COMMANDS


def close():
    """Leave the process group and let go of it: its gloo threads then end
    here, while the interpreter is whole. A group still referenced (the
    command group is the world group on the CPU) kept them running into the
    interpreter's teardown, where a thread that reached for the GIL aborted
    the process ("terminate called without an active exception")."""
    global _COMMANDS
    _COMMANDS = None
    if dist.is_initialized():
        dist.destroy_process_group()


def init_from_env(device):
    """Join the process group torchrun describes in the environment."""
    if dist.is_initialized():
        return
    init(backend(device), "env://", int(os.environ["RANK"]),
         int(os.environ["WORLD_SIZE"]))
    if rank() == 0:
        announce(device)


def announce(device):
    where = torch.device(device).type
    if where == "cpu":
        n = torch.get_num_threads()
        where += f" ({n} thread{'s' if n > 1 else ''} each)"
    print(f"Data parallelism: {world_size()} processes, "
          f"{dist.get_backend()} backend, {where}; each "
          "batch is split across them.", file=sys.stderr, flush=True)


def requested_processes():
    """Processes per run asked for with INNAPROP_NPROC: a number, or "auto"
    for one per visible GPU (1 by default)."""
    return environment.processes()
