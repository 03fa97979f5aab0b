"""Run benchopt under torchrun, one process per GPU, on one node or several:

    torchrun --nproc_per_node=8 -m benchmark_utils.launch run . --config configs/imagenet_resnet50.yml

Rank 0 runs benchopt (the arguments are benchopt's) and alone reports
results; the other ranks follow its commands (distributed.worker_loop). Run it
from the benchmark's folder.
"""
import sys

import torch

from benchmark_utils import distributed


def main():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    distributed.init_from_env(device)
    distributed.local_device(device)
    if distributed.rank() != 0:
        distributed.worker_loop()
        return
    from benchopt.cli import benchopt
    try:
        benchopt.main(args=sys.argv[1:], prog_name="benchopt",
                      standalone_mode=False)
    finally:
        distributed.command("exit")


if __name__ == "__main__":
    main()
