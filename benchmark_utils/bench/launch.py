"""Run benchopt under torchrun, one process per GPU, on one node or several:

    torchrun --nproc_per_node=8 -m benchmark_utils.bench.launch run . --config configs/imagenet_resnet50.yml

Rank 0 runs benchopt (the arguments are benchopt's) and alone reports
results; the other ranks follow its commands (workers.worker_loop). Run it
from the benchmark's folder.
"""
import sys

import torch

from benchmark_utils.training import parallel, workers


def main():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    parallel.init_from_env(device)
    parallel.local_device(device)
    if parallel.rank() != 0:
        workers.worker_loop()
        return
    from benchopt.cli import benchopt
    try:
        benchopt.main(args=sys.argv[1:], prog_name="benchopt",
                      standalone_mode=False)
    finally:
        workers.stop_workers()


if __name__ == "__main__":
    main()
