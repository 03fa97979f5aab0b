"""Step time and state memory of every optimizer of the benchmark on the
same parameters, as ratios to torch.optim.AdamW (foreach and fused) timed in
the same run.

    python benchmarks/optimizer_step.py                    # CUDA if present
    python benchmarks/optimizer_step.py --device cpu       # ResNet-18 shapes
    python benchmarks/optimizer_step.py --shapes gpt2-small

Parameters take the shapes of GPT-2 small (nanoGPT, vocabulary padded to
50304: 124.5M parameters, the default on CUDA) or of the CIFAR ResNet-18
(11.2M, the default on the CPU), with fixed random gradients. Every
optimizer steps the same parameter tensors; each keeps its own state. Times
are medians over rounds that visit the optimizers in turn, so that a slow
spell of the machine hits them all; a step slower than 2 s (Muon's on the
CPU, whose bf16 matmuls lack hardware there) is timed once. SophiaG's time is its step alone,
without its Hessian refresh (an extra forward and backward pass every 10
steps, which the training loop times).

The script prints INNAprop's default and fused steps over
AdamW(fused=True)'s as medians of ratios over pairs of steps timed in
alternating order, reports the fused step's compile time (the
first step, never in the timings: Triton on CUDA, the C++ kernel's build or
load on the CPU) and checks the fused step against the per-tensor reference. On
CUDA it also measures the device's copy bandwidth and prints INNAprop's
bandwidth floor (7 reads and writes per parameter), and times the fused
kernel's block configurations.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from innaprop import (DINAdam, INNA, INNAprop,  # noqa: E402
                      INNApropMomentum, Lion, MARS, NAdamW, SophiaG,
                      _cpu_innaprop)
import pytorch_optimizer as po  # noqa: E402
from schedulefree import AdamWScheduleFree  # noqa: E402
from timm.optim import AdamWLegacy  # noqa: E402

from benchmark_utils.optimizers.adopt import ADOPT  # noqa: E402
from benchmark_utils.optimizers.combined import CombinedOptimizer  # noqa
from benchmark_utils.optimizers.kron import Kron  # noqa: E402
from benchmark_utils.optimizers.muon import Muon  # noqa: E402


def muon_and_adamw(params):
    """The muon solver's split, on shapes alone: Muon on the >= 2-D tensors
    but the first two (embeddings, or the stem) and the head, AdamW on the
    rest (solvers/muon.py decides it from the model's modules)."""
    hidden = {id(p) for p in params[2:-2] if p.ndim >= 2}
    return CombinedOptimizer(
        Muon([p for p in params if id(p) in hidden], lr=1e-3,
             adjust_lr_fn="match_rms_adamw"),
        torch.optim.AdamW([p for p in params if id(p) not in hidden],
                          lr=1e-3))


def schedule_free(params):
    opt = AdamWScheduleFree(params, lr=1e-3)
    opt.train()
    return opt


def gpt2_small_shapes(vocab=50304, block=1024, n_layer=12, d=768):
    shapes = [(vocab, d), (block, d)]               # wte (tied head), wpe
    for _ in range(n_layer):
        shapes += [(d,), (d,),                      # ln_1
                   (3 * d, d), (3 * d,),            # attn.c_attn
                   (d, d), (d,),                    # attn.c_proj
                   (d,), (d,),                      # ln_2
                   (4 * d, d), (4 * d,),            # mlp.c_fc
                   (d, 4 * d), (d,)]                # mlp.c_proj
    return shapes + [(d,), (d,)]                    # ln_f


def resnet18_shapes(n_classes=10):
    shapes, width = [(64, 3, 3, 3), (64,), (64,)], 64
    for planes, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        for block in range(2):
            shapes += [(planes, width, 3, 3), (planes,), (planes,),
                       (planes, planes, 3, 3), (planes,), (planes,)]
            if block == 0 and (stride != 1 or width != planes):
                shapes += [(planes, width, 1, 1), (planes,), (planes,)]
            width = planes
    return shapes + [(n_classes, 512), (n_classes,)]


def tiny_shapes():
    """A two-layer network's: a smoke test (CI runs the README's command
    with it), not a measurement."""
    return [(256, 128), (256,), (10, 256), (10,)]


SHAPES = {"gpt2-small": gpt2_small_shapes, "resnet18": resnet18_shapes,
          "tiny": tiny_shapes}

OPTIMIZERS = {
    "AdamW foreach": lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True),
    "AdamW fused": lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True),
    "INNAprop (default)": lambda ps: INNAprop(ps, lr=1e-3),
    "INNAprop foreach": lambda ps: INNAprop(ps, lr=1e-3, foreach=True),
    "INNAprop per-tensor": lambda ps: INNAprop(ps, lr=1e-3, foreach=False),
    "INNAprop fused": lambda ps: INNAprop(ps, lr=1e-3, fused=True),
    "INNA": lambda ps: INNA(ps, lr=0.1),
    "DINAdam": lambda ps: DINAdam(ps, lr=1e-3),
    "INNApropMomentum": lambda ps: INNApropMomentum(ps, lr=1e-3),
    "SophiaG (step)": lambda ps: SophiaG(ps, lr=1e-3),
    "Lion": lambda ps: Lion(ps, lr=1e-4),
    "SGD momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "Adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "NAdam": lambda ps: torch.optim.NAdam(ps, lr=1e-3),
    "RMSprop": lambda ps: torch.optim.RMSprop(ps, lr=1e-3),
    "NAdamW (AlgoPerf)": lambda ps: NAdamW(ps, lr=1e-3, weight_decay=0.01),
    "Muon + AdamW": lambda ps: muon_and_adamw(ps),
    "Schedule-Free AdamW": lambda ps: schedule_free(ps),
    "ADOPT": lambda ps: ADOPT(ps, lr=1e-3, weight_decouple=True),
    "SOAP": lambda ps: po.SOAP(ps, lr=1e-3),
    "AdEMAMix": lambda ps: po.AdEMAMix(ps, lr=1e-3, t_alpha_beta3=1000,
                                       weight_decouple=True),
    "MARS": lambda ps: MARS(ps, lr=1e-3),
    "NorMuon": lambda ps: po.NorMuon(
        [dict(params=[p for p in ps if p.ndim >= 2], use_muon=True),
         dict(params=[p for p in ps if p.ndim < 2], use_muon=False)],
        lr=1e-3, update_scale="match_rms"),
    "Prodigy": lambda ps: po.Prodigy(ps, lr=1.0),
    "PSGD Kron": lambda ps: Kron(ps, lr=1e-3 / 3),
    "Cautious AdamW": lambda ps: AdamWLegacy(ps, lr=1e-3, caution=True),
}


# A step slower than this (seconds) is timed once, not in every round: on
# the CPU, Muon's step takes about 50 s on ResNet-18's shapes (bf16 matmuls
# without bf16 hardware), which 9 rounds of 3 steps would make 25 minutes.
SLOW_STEP_S = 2.0


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(opt, steps, device):
    """Seconds per step over ``steps`` steps."""
    if device.type == "cuda":
        start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
        start.record()
        for _ in range(steps):
            opt.step()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / steps
    begin = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - begin) / steps


def state_bytes(opt):
    """Bytes of the tensors of an optimizer's state, nested lists and dicts
    included (SOAP keeps its preconditioners in lists)."""
    def size(v):
        if torch.is_tensor(v):
            return v.numel() * v.element_size()
        if isinstance(v, (list, tuple)):
            return sum(size(x) for x in v)
        if isinstance(v, dict):
            return sum(size(x) for x in v.values())
        return 0
    return sum(size(s) for s in opt.state.values())


def copy_bandwidth(device, nbytes=1 << 30, reps=20):
    """Device memory bandwidth of a large copy (read + write), bytes/s."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    sync(device)
    start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
    start.record()
    for _ in range(reps):
        dst.copy_(src)
    end.record()
    end.synchronize()
    return 2 * nbytes * reps / (start.elapsed_time(end) / 1e3)


def make_params(shapes, device, dtype, seed=0):
    gen = torch.Generator(device=device).manual_seed(seed)
    params = []
    for shape in shapes:
        p = torch.nn.Parameter(torch.randn(shape, device=device, dtype=dtype,
                                           generator=gen) * 0.02)
        p.grad = torch.randn(shape, device=device, dtype=dtype,
                             generator=gen) * 1e-3
        params.append(p)
    return params


def check_fused(shapes, device, dtype, steps=5):
    """Largest difference between the fused and the per-tensor reference
    INNAprop after ``steps`` steps, relative to the largest value."""
    worst = 0.0
    a, b = (make_params(shapes, device, dtype, seed=1) for _ in range(2))
    fused = INNAprop(a, lr=1e-3, weight_decay=0.1, fused=True)
    ref = INNAprop(b, lr=1e-3, weight_decay=0.1, foreach=False)
    gen = torch.Generator(device=device).manual_seed(2)
    for _ in range(steps):
        for p, q in zip(a, b):
            p.grad.normal_(generator=gen)
            q.grad.copy_(p.grad)
        fused.step()
        ref.step()
    for p, q in zip(a, b):
        pairs = [(p, q)] + [(fused.state[p][k], ref.state[q][k])
                            for k in ("exp_avg_sq", "psi")]
        for x, y in pairs:
            scale = y.abs().max().item() or 1.0
            worst = max(worst, (x - y).abs().max().item() / scale)
    del a, b, fused, ref
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None,
                        help="cuda or cpu (default: cuda if present)")
    parser.add_argument("--shapes", choices=sorted(SHAPES), default=None,
                        help="default: gpt2-small on CUDA, resnet18 on CPU")
    parser.add_argument("--dtype", default="float32",
                        choices=["float32", "bfloat16"])
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per optimizer per round")
    parser.add_argument("--pairs", type=int, default=None,
                        help="pairs of steps for the INNAprop / AdamW fused "
                        "ratios (default 100 on the CPU, 20 on CUDA)")
    args = parser.parse_args()

    device = torch.device(args.device or (
        "cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    shapes_name = args.shapes or ("gpt2-small" if cuda else "resnet18")
    shapes = SHAPES[shapes_name]()
    dtype = getattr(torch, args.dtype)
    rounds = args.rounds or (5 if cuda else 9)
    steps = args.steps or (20 if cuda else 3)
    n = sum(torch.Size(s).numel() for s in shapes)
    name = torch.cuda.get_device_name(device) if cuda else "CPU"
    print(f"{name}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"CPU threads; {n / 1e6:.1f}M parameters in {len(shapes)} tensors "
          f"({shapes_name} shapes, {args.dtype}); {rounds} rounds of {steps} "
          "steps per optimizer")

    floor = None
    if cuda:
        bandwidth = copy_bandwidth(device)
        floor = 7 * dtype.itemsize * n / bandwidth
        print(f"copy bandwidth {bandwidth / 1e12:.2f} TB/s; INNAprop's "
              f"floor (7 reads and writes per parameter): "
              f"{floor * 1e3:.3f} ms")

    params = make_params(shapes, device, dtype)
    names = list(OPTIMIZERS)
    opts, first, times = {}, {}, {}
    for k in names:
        opts[k] = OPTIMIZERS[k](params)
        sync(device)
        start = time.perf_counter()
        opts[k].step()              # state creation, compilation
        sync(device)
        first[k] = time.perf_counter() - start
        times[k] = [time_steps(opts[k], 1, device)]
        if times[k][0] < SLOW_STEP_S:
            times[k] = []           # that step was warm-up
            time_steps(opts[k], 1, device)
    # Optimizers too slow for the rounds keep their one timed step.
    slow = {k for k in names if times[k]}
    for _ in range(rounds):
        for k in names:
            if k not in slow:
                times[k].append(time_steps(opts[k], steps, device))
    med = {k: statistics.median(v) for k, v in times.items()}
    base_foreach, base_fused = med["AdamW foreach"], med["AdamW fused"]
    adamw_state = state_bytes(opts["AdamW foreach"])

    header = (f"{'optimizer':22s} {'step ms':>9s} {'/AdamW foreach':>15s} "
              f"{'/AdamW fused':>13s}" + (f" {'/floor':>7s}" if floor else "")
              + f" {'state MB':>9s} {'/AdamW':>7s}")
    print("\n" + header + "\n" + "-" * len(header))
    for k in names:
        label = k + (" *" if k in slow else "")
        row = (f"{label:22s} {med[k] * 1e3:9.3f} {med[k] / base_foreach:15.2f} "
               f"{med[k] / base_fused:13.2f}")
        if floor:
            row += f" {med[k] / floor:7.2f}"
        sb = state_bytes(opts[k])
        row += f" {sb / 2 ** 20:9.1f} {sb / adamw_state:7.2f}"
        print(row)
    if slow:
        print(f"* one step timed, not {rounds} rounds: a step takes over "
              f"{SLOW_STEP_S:g} s here" + (
                  " (on a CPU without bf16 arithmetic, Muon's bf16 "
                  "Newton-Schulz matmuls run on a slow generic path)"
                  if not cuda and "Muon + AdamW" in slow else ""))

    # The headline ratio, from single steps timed in pairs, alternating
    # which of the two goes first (measured here: the second of two
    # memory-bound steps runs about 5% slower), so that neither the order
    # nor a slow spell of the machine favours one of them.
    base = opts["AdamW fused"]
    for k in ("INNAprop (default)", "INNAprop fused"):
        ratios = []
        for i in range(args.pairs or (20 if cuda else 100)):
            order = (opts[k], base) if i % 2 else (base, opts[k])
            t = {id(o): time_steps(o, steps if cuda else 1, device)
                 for o in order}
            ratios.append(t[id(opts[k])] / t[id(base)])
        q1, q2, q3 = statistics.quantiles(ratios, n=4)
        print(f"\n{k} / AdamW fused: {q2:.2f}x (median over {len(ratios)} "
              f"pairs of steps in alternating order; quartiles {q1:.2f}, "
              f"{q3:.2f})", end="")
    # The fused step's first use: the first INNAprop row that took it.
    fused_row = "INNAprop fused" if cuda else "INNAprop (default)"
    compile_s = first[fused_row] - med[fused_row]
    what = ("Triton compilation" if cuda else
            "building or loading the C++ kernel, which runs on "
            f"{_cpu_innaprop.threads()} of {torch.get_num_threads()} "
            "threads")
    print(f"\nfused INNAprop: first step {first[fused_row]:.2f} s "
          f"({what}, {compile_s:.2f} s over a steady step; benchopt's "
          "warm-up absorbs it, outside the timed runs)")
    if cuda:
        # The kernel's block size and warps, on the same parameters.
        from innaprop import _triton_innaprop as kernel
        default = (kernel.BLOCK, kernel.NUM_WARPS)
        opt = opts["INNAprop fused"]
        print("fused kernel configurations (BLOCK, warps): step ms, /floor")
        for config in [(512, 4), (1024, 4), (2048, 4), (2048, 8), (4096, 8)]:
            kernel.BLOCK, kernel.NUM_WARPS = config
            time_steps(opt, 3, device)      # compiles this configuration
            t = statistics.median(time_steps(opt, steps, device)
                                  for _ in range(3))
            mark = "  (default)" if config == default else ""
            print(f"  {config}: {t * 1e3:.3f} ms, {t / floor:.2f}{mark}")
        kernel.BLOCK, kernel.NUM_WARPS = default
    del opts, params
    if cuda:
        torch.cuda.empty_cache()
    err = check_fused(shapes, device, dtype)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    print(f"fused vs per-tensor reference after 5 steps, max |diff| / "
          f"max |value| over parameters and state: {err:.2e} "
          f"({'OK' if err < tol else 'TOO LARGE'}, tolerance {tol:g})")

if __name__ == "__main__":
    main()
