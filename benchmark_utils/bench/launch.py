"""Run benchopt on one process per GPU, on one node or several:

    python -m benchmark_utils.bench.launch --nproc_per_node=8 run . --config configs/imagenet_resnet50.yml

The options before benchopt's command (``run``) are torchrun's
(``--nproc_per_node``, ``--nnodes``, ``--rdzv_endpoint``...): this starts
the ranks through torch.distributed.run, each running this module. Started
by torchrun itself (``torchrun --nproc_per_node=8 -m
benchmark_utils.bench.launch run ...``) it runs as one of the ranks.

Rank 0 runs benchopt (the arguments are benchopt's) and alone reports
results; the other ranks follow its commands (workers.worker_loop). Run it
from the benchmark's folder.

Started through this module, a failed run ends on rank 0's own message
(what is missing, how to provide it), not on torchrun's summary of exit
statuses, and exits with rank 0's status.
"""
import logging
import os
import sys

import torch

from benchmark_utils.training import parallel, workers

# benchopt's commands: what comes before one is torchrun's.
BENCHOPT_COMMANDS = ("run", "plot", "test")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "RANK" not in os.environ:
        sys.exit(start_ranks(argv))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    parallel.init_from_env(device)
    parallel.local_device(device)
    if parallel.rank() != 0:
        workers.worker_loop()
        return
    from benchopt.cli import benchopt
    try:
        benchopt.main(args=argv, prog_name="benchopt",
                      standalone_mode=False)
    finally:
        workers.stop_workers()


def start_ranks(argv):
    """torch.distributed.run with the torchrun options of ``argv``, each
    rank running this module with the rest; the exit status of the first
    rank that failed (0 when all succeeded)."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import (
        ChildFailedError)
    split = next((i for i, a in enumerate(argv) if a in BENCHOPT_COMMANDS),
                 None)
    if split is None:
        raise SystemExit(f"No benchopt command ({', '.join(BENCHOPT_COMMANDS)})"
                         f" in {' '.join(argv)!r}: python -m "
                         "benchmark_utils.bench.launch [torchrun options] "
                         "run . [benchopt options]")
    args = torchrun.parse_args(argv[:split] + ["-m", __spec__.name]
                               + argv[split:])
    # The ranks' own output says why one failed; the agent's log lines and
    # summary would bury it.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        torchrun.run(args)
    except ChildFailedError as e:
        _, failure = e.get_first_failure()
        return failure.exitcode if failure.exitcode > 0 else 1
    return 0


if __name__ == "__main__":
    main()
