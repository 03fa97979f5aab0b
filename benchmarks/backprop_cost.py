"""The cost of a gradient, relative to the function (thesis chapter 2,
section 2.4, Theorem 3, Corollary 2, Figure 2.1): backpropagation through a
ReLU program costs at most 5 times its forward pass, whatever the
dimension; forward mode needs one pass per input direction.

    python benchmarks/backprop_cost.py                 # CPU or CUDA
    python benchmarks/backprop_cost.py --output cost   # also cost/cost.html

In one run, after a warm-up, it times for ReLU MLPs of depth 1 to 20 and
three widths on MNIST-shaped input (784 -> width -> ... -> 10, batch 128)
and for every network of the benchmark's zoo:

- time(forward + backward) / time(forward), the gradient with respect to
  every parameter by backpropagation (Corollary 2's bound: 5);
- on the small MLPs, time(forward mode) / time(forward): the gradient with
  respect to the input by torch.func.jvp, one pass per input direction
  (784), here measured on 16 directions and scaled to 784.

Times are medians of rounds that visit every network in turn, so that a
slow spell of the machine hits them all.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_utils.models.cifar import SmallCNN, build_cifar_model  # noqa
from benchmark_utils.models.gpt import build_gpt  # noqa: E402
from benchmark_utils.models.lenet import LeNet5  # noqa: E402

BOUND = 5.0
DEPTHS = (1, 2, 3, 5, 8, 12, 16, 20)
WIDTHS = (64, 256, 1024)


def mlp(depth, width, d_in=784, d_out=10):
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, d_out))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, reps):
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    sync(device)
    return (time.perf_counter() - start) / reps


def costs(model, x, device, reps, forward_mode=False, directions=16):
    """(forward s, forward+backward s, forward-mode s for all directions or
    None) of ``model`` on ``x``."""
    model = model.to(device)
    x = x.to(device)

    @torch.no_grad()
    def forward():
        model(x)

    def backward():
        model.zero_grad(set_to_none=True)
        model(x).float().sum().backward()

    def jvps():
        f = torch.func.functional_call
        params = dict(model.named_parameters())
        for i in range(directions):
            v = torch.zeros_like(x)
            v.view(len(x), -1)[:, i] = 1.0
            torch.func.jvp(lambda inp: f(model, params, (inp,)), (x,), (v,))

    out = [forward, backward] + ([jvps] if forward_mode else [])
    for fn in out:
        fn()                                  # warm-up
    t = [timed(fn, device, reps) for fn in out]
    if forward_mode:
        t[2] *= x[0].numel() / directions     # one pass per input direction
    return t + ([None] if not forward_mode else [])


def zoo(device):
    """(name, model, input) of every network of the benchmark."""
    return [
        ("SmallCNN (digits)", SmallCNN(1), torch.randn(64, 1, 8, 8)),
        ("LeNet-5 (MNIST)", LeNet5(), torch.randn(128, 1, 28, 28)),
        ("VGG11 (CIFAR)", build_cifar_model("vgg11"),
         torch.randn(32, 3, 32, 32)),
        ("ResNet-18 (CIFAR)", build_cifar_model("resnet18"),
         torch.randn(32, 3, 32, 32)),
        ("GPT tiny", build_gpt("tiny", vocab_size=256, block_size=128),
         torch.randint(0, 256, (16, 128))),
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--output", default=None,
                   help="folder for cost.html (an offline plot)")
    args = p.parse_args(argv)
    device = torch.device(args.device or (
        "cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(0)
    jobs = []
    for width in WIDTHS:
        for depth in DEPTHS:
            forward_mode = width == WIDTHS[0] and depth in (1, 5, 20)
            jobs.append((f"MLP depth {depth} width {width}",
                         mlp(depth, width), torch.randn(128, 1, 28, 28)
                         .flatten(1), forward_mode, depth, width))
    jobs += [(n, m, x, False, None, None) for n, m, x in zoo(device)]
    times = {j[0]: [] for j in jobs}
    for _ in range(args.rounds):
        for name, model, x, fm, _, _ in jobs:
            times[name].append(costs(model, x, device, args.reps, fm))
    print(f"{device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads; medians of "
          f"{args.rounds} rounds; bound {BOUND:g}")
    print(f"{'network':28s} {'forward ms':>11s} {'backprop/fwd':>13s} "
          f"{'fwd-mode/fwd':>13s}")
    rows = []
    for name, _, _, fm, depth, width in jobs:
        fwd = statistics.median(t[0] for t in times[name])
        bwd = statistics.median(t[1] for t in times[name])
        jvp = (statistics.median(t[2] for t in times[name]) if fm
               else None)
        rows.append(dict(name=name, depth=depth, width=width, fwd=fwd,
                         ratio=bwd / fwd,
                         fwd_mode=None if jvp is None else jvp / fwd))
        print(f"{name:28s} {1e3 * fwd:11.3f} {bwd / fwd:13.2f} "
              + (f"{jvp / fwd:13.1f}" if jvp is not None else f"{'':>13s}"))
    worst = max(r["ratio"] for r in rows)
    print(f"largest backprop/forward ratio: {worst:.2f} "
          f"({'within' if worst <= BOUND else 'above'} the bound of "
          f"{BOUND:g})")
    if args.output:
        plot(rows, Path(args.output), device)
    return rows


def plot(rows, folder, device):
    import plotly.graph_objects as go
    fig = go.Figure()
    for width in WIDTHS:
        pts = [r for r in rows if r["width"] == width]
        fig.add_scatter(x=[r["depth"] for r in pts],
                        y=[r["ratio"] for r in pts], mode="lines+markers",
                        name=f"MLP width {width}, backprop")
    fm = [r for r in rows if r["fwd_mode"] is not None]
    fig.add_scatter(x=[r["depth"] for r in fm], y=[r["fwd_mode"] for r in fm],
                    mode="markers", name="forward mode (784 directions)")
    fig.add_hline(y=BOUND, line_dash="dash",
                  annotation_text="Corollary 2: 5")
    fig.update_layout(title=f"time(gradient) / time(forward), {device}",
                      xaxis_title="depth", yaxis_title="ratio",
                      yaxis_type="log")
    folder.mkdir(parents=True, exist_ok=True)
    fig.write_html(folder / "cost.html", include_plotlyjs=True)
    print(f"plot: {folder / 'cost.html'}")


if __name__ == "__main__":
    main()
