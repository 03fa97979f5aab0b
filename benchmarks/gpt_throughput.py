"""GPT-2 training throughput: the benchmark's Trainer against a bare loop.

Both loops train the same model (benchmark_utils.gpt, GPT-2 small by
default) in the same process, on the same data, with the same optimizer
(torch.optim.AdamW, betas (0.9, 0.95), weight decay 0.1 on the Linear
weights: the adamw solver's construction), bf16 autocast and gradient
clipping at 1.0:

- the bare loop is nanoGPT's train.py reduced to its core: get_batch() from
  a uint16 memmap (pinned, non-blocking copies; the next batch is read
  while the GPU works), forward, backward, clip, step;
- the Trainer is benchmark_utils.training.trainer.Trainer on a LanguageModelingTask
  reading the same file, timed around train_stage() as benchopt times it.

The tokens are synthetic: uniform random GPT-2 token ids written to a
temporary uint16 file in nanoGPT's layout (throughput does not depend on
their values). Measurements alternate between the two loops; the medians are
reported, with model FLOP utilization (PaLM's 6N + 12 L T C FLOPs per
token, as nanoGPT's estimate_mfu) against a peak given by --peak-tflops
(H100 SXM dense bf16: 989, the default on CUDA; on a CPU none, and no
MFU).

    python benchmarks/throughput.py gpt2           # ~1 min on one H100
    python benchmarks/gpt_throughput.py            # the same

Without a GPU it runs a tiny model in fp32 on the CPU, as a smoke test.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_utils.models.gpt import build_gpt  # noqa: E402
from benchmark_utils.data.tokens import write_token_file  # noqa: E402
from benchmark_utils.tasks.language import LanguageModelingTask  # noqa
from benchmark_utils.training.recipe import Recipe  # noqa: E402
from benchmark_utils.training.method import Method
from benchmark_utils.training.trainer import Trainer, param_groups  # noqa


def adamw(groups, lr, weight_decay, run=None):
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95),
                             weight_decay=weight_decay)


def bare_loop(model, optimizer, data, steps, args, device, dtype):
    """nanoGPT's training loop, minus logging and the schedule."""
    B, T, accum = args.batch, args.block, args.accum

    def get_batch():
        ix = torch.randint(len(data) - T, (B,))
        x = torch.stack([torch.from_numpy(data[i:i + T].astype(np.int64))
                         for i in ix])
        y = torch.stack([torch.from_numpy(
            data[i + 1:i + 1 + T].astype(np.int64)) for i in ix])
        if device.type == "cuda":
            return (x.pin_memory().to(device, non_blocking=True),
                    y.pin_memory().to(device, non_blocking=True))
        return x.to(device), y.to(device)

    X, Y = get_batch()
    for _ in range(steps):
        for _ in range(accum):
            with torch.autocast(device.type, dtype=dtype,
                                enabled=dtype is not None):
                logits = model(X)
                loss = F.cross_entropy(logits.view(-1, logits.size(-1)),
                                       Y.view(-1)) / accum
            X, Y = get_batch()    # read the next batch while the GPU works
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None):
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="small" if cuda else "tiny")
    p.add_argument("--batch", type=int, default=12 if cuda else 2)
    p.add_argument("--block", type=int, default=1024 if cuda else 64)
    p.add_argument("--accum", type=int, default=8 if cuda else 2)
    p.add_argument("--steps", type=int, default=10 if cuda else 2,
                   help="optimizer steps per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tokens", type=int, default=50_000_000 if cuda
                   else 200_000, help="size of the synthetic token file")
    p.add_argument("--precision", default="bf16" if cuda else "fp32",
                   choices=["bf16", "fp16", "fp32"])
    p.add_argument("--compile", action="store_true",
                   help="torch.compile both models (compiled in warm-up)")
    p.add_argument("--peak-tflops", type=float, default=989.0 if cuda
                   else None, help="the device's peak, for the MFU (default "
                   "on CUDA: an H100's dense bf16, 989; none on a CPU, "
                   "where no MFU is printed)")
    args = p.parse_args(argv)

    device = torch.device("cuda" if cuda else "cpu")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
        args.precision)
    tokens_per_step = args.batch * args.block * args.accum
    workdir = Path(tempfile.mkdtemp(prefix="gpt_throughput_"))
    path = workdir / "train.bin"
    rng = np.random.default_rng(0)
    chunks = (rng.integers(0, 50257, 1_000_000)
              for _ in range(args.tokens // 1_000_000))
    n = args.tokens // 1_000_000 * 1_000_000
    if n == 0:
        chunks, n = [rng.integers(0, 50257, args.tokens)], args.tokens
    write_token_file(path, chunks, n)
    data = np.memmap(path, dtype=np.uint16, mode="r")

    # The benchmark's loop.
    recipe = Recipe(batch_size=args.batch, max_steps=10 ** 9, lr=6e-4,
                    weight_decay=0.1, schedule="cosine_warmup",
                    schedule_unit="step", warmup=0, min_lr_ratio=0.1,
                    eval_every=args.steps, grad_accum=args.accum,
                    grad_clip=1.0, decay_1d_params=False,
                    precision=args.precision, compile=args.compile)
    task = LanguageModelingTask(
        path, path, recipe=recipe, block_size=args.block, eval_batches=1,
        build_model=lambda: build_gpt(args.size, block_size=args.block))
    task.to(device)
    trainer = Trainer(task, Method(adamw, 6e-4, 0.1), 0)

    # The bare loop, on its own copy of the same model.
    torch.manual_seed(0)
    model = build_gpt(args.size, block_size=args.block).to(device)
    opt = adamw(param_groups(model, 0.1, decay_1d_params=False), 6e-4, 0.1)
    bare_model = torch.compile(model) if args.compile else model

    flops = model.flops_per_token(args.block)
    name = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"GPT-2 {args.size}: {model.n_params() / 1e6:.1f}M parameters, "
          f"{flops / 1e9:.3f} GFLOP per token (T={args.block}); "
          f"precision {args.precision}, torch.optim.AdamW; micro-batch "
          f"{args.batch}x{args.block}, {args.accum} per step "
          f"({tokens_per_step:,} tokens), {args.steps} steps per "
          f"measurement, {args.rounds} rounds; compile={args.compile}")
    print(f"device: {name}; torch {torch.__version__}")
    print("data: synthetic uniform random token ids (not text) in a uint16 "
          f"memmap on local disk ({n:,} tokens), read by both loops")

    def timed(fn):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        return args.steps * tokens_per_step / (time.perf_counter() - start)

    def run_bare():
        bare_loop(bare_model, opt, data, args.steps, args, device, dtype)

    # Warm-up (compilation, autotuning, allocator), untimed.
    start = time.perf_counter()
    run_bare()
    trainer.train_stage()
    sync(device)
    print(f"warm-up: {time.perf_counter() - start:.1f} s")

    bare, bench = [], []
    for r in range(args.rounds):
        bare.append(timed(run_bare))
        bench.append(timed(trainer.train_stage))
        print(f"round {r + 1}: bare {bare[-1]:,.0f} tokens/s, "
              f"Trainer {bench[-1]:,.0f} tokens/s")
    own = trainer.seen / trainer.train_time
    b, t = statistics.median(bare), statistics.median(bench)
    if args.peak_tflops:
        peak = args.peak_tflops * 1e12
        mfu = [f", MFU {100 * x * flops / peak:.1f}% of "
               f"{args.peak_tflops:g} TFLOP/s" for x in (b, t)]
    else:   # a CPU's peak is not known here: an MFU would mean nothing
        mfu = ["", ""]
    print(f"bare loop: {b:,.0f} tokens/s{mfu[0]}")
    print(f"Trainer:   {t:,.0f} tokens/s{mfu[1]} (its own count, warm-up "
          f"included: {own:,.0f} tokens/s)")
    print(f"ratio Trainer / bare: {t / b:.3f} (goal: >= 0.90)")
    path.unlink()
    workdir.rmdir()


if __name__ == "__main__":
    main()
