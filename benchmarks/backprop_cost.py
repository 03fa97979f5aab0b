"""The cost of a gradient, relative to the function (thesis chapter 2,
section 2.4, Theorem 3, Corollary 2, Figure 2.1): backpropagation through a
ReLU program costs at most 5 times the program, whatever the dimension;
forward mode needs one pass per input direction.

    python benchmarks/backprop_cost.py    # CPU or CUDA; writes
                                          # outputs/backprop_cost/cost.html

For ReLU MLPs of depth 1 to 20 and three widths on MNIST-shaped input
(784 -> width -> ... -> 10, batch 128) and for every network of the
benchmark's zoo, it gives:

- counted: operations as the theorem counts them, here the floating-point
  operations of matrix products and convolutions that
  torch.utils.flop_counter.FlopCounterMode records (2 per multiply-add;
  elementwise operations, pooling and normalization are not counted, a
  small share of the total): (forward + backward) / forward, the gradient
  with respect to every parameter, checked against Corollary 2's bound of
  5. On the MLPs also forward mode (torch.func.jvp), the gradient with
  respect to the 784 inputs: the primal pass once plus one tangent pass per
  input direction, over the forward pass. torch's tangent pass of a linear
  layer also multiplies the input by the weights' tangent, zeros here, so
  it counts twice the forward's products: 1 + 2 x 784 = 1569 where one
  product per layer would give 785.
- timed: the same ratios in wall-clock time, forward and forward + backward
  interleaved and each the minimum over many repetitions (the least
  disturbed run). A timed ratio below 1 is impossible for the computation
  and is reported as a failed measurement, never as a result.
"""
import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmark_utils.models.cifar import SmallCNN, build_cifar_model  # noqa
from benchmark_utils.models.gpt import build_gpt  # noqa: E402
from benchmark_utils.models.lenet import build_lenet  # noqa: E402

BOUND = 5.0
DEPTHS = (1, 2, 3, 5, 8, 12, 16, 20)
WIDTHS = (64, 256, 1024)
DEFAULT_OUTPUT = ROOT / "outputs" / "backprop_cost"
COLUMNS = ("counted: FLOPs of matrix products and convolutions "
           "(torch.utils.flop_counter); timed: minimum over interleaved "
           "repetitions; fwd+bwd/fwd: the gradient in every parameter by "
           "backpropagation over the forward pass; fwd-mode/fwd: the "
           "gradient in the 784 inputs by torch.func.jvp, primal once + one "
           "tangent pass per input over the forward pass (timed: 16 "
           "directions, scaled)")


def mlp(depth, width, d_in=784, d_out=10):
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, d_out))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def passes(model, x, directions=16):
    """(forward, forward + backward, jvps over ``directions`` inputs)."""
    @torch.no_grad()
    def forward():
        model(x)

    def backward():
        model.zero_grad(set_to_none=True)
        model(x).float().sum().backward()

    def jvps(n=directions):
        params = dict(model.named_parameters())

        def f(inp):
            return torch.func.functional_call(model, params, (inp,))

        for i in range(n):
            v = torch.zeros_like(x)
            v.view(len(x), -1)[:, i] = 1.0
            torch.func.jvp(f, (x,), (v,))

    return forward, backward, jvps


def flops(fn):
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def counted(model, x, forward_mode=False):
    """Counted FLOPs: (forward, forward + backward, forward mode over all
    input directions or None)."""
    forward, backward, jvps = passes(model, x)
    fwd, fwd_bwd = flops(forward), flops(backward)
    if not forward_mode:
        return fwd, fwd_bwd, None
    tangent = flops(lambda: jvps(1)) - fwd       # one direction's pass
    return fwd, fwd_bwd, fwd + x[0].numel() * tangent


def timed(model, x, device, reps, forward_mode=False, directions=16,
          block_s=0.01):
    """Wall-clock seconds (forward, forward + backward, forward mode over
    all input directions or None): each the minimum over ``reps``
    interleaved repetitions of a block of calls lasting about
    ``block_s``."""
    forward, backward, jvps = passes(model, x, directions)
    fns = [forward, backward] + ([jvps] if forward_mode else [])
    calls = []
    for fn in fns:
        fn()                                      # warm-up
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        once = max(time.perf_counter() - start, 1e-7)
        calls.append(max(1, int(block_s / once)))
    best = [float("inf")] * len(fns)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            sync(device)
            start = time.perf_counter()
            for _ in range(calls[i]):
                fn()
            sync(device)
            best[i] = min(best[i], (time.perf_counter() - start) / calls[i])
    if forward_mode:
        best[2] *= x[0].numel() / directions      # one pass per direction
    return best + ([None] if not forward_mode else [])


def zoo():
    """(name, model, input) of every network of the benchmark."""
    return [
        ("SmallCNN (digits)", SmallCNN(1), torch.randn(64, 1, 8, 8)),
        ("LeNet-5 (MNIST)", build_lenet("lenet5"),
         torch.randn(128, 1, 28, 28)),
        ("VGG11 (CIFAR)", build_cifar_model("vgg11"),
         torch.randn(32, 3, 32, 32)),
        ("ResNet-18 (CIFAR)", build_cifar_model("resnet18"),
         torch.randn(32, 3, 32, 32)),
        ("GPT tiny", build_gpt("tiny", vocab_size=256, block_size=128),
         torch.randint(0, 256, (16, 128))),
    ]


def ratio(num, den):
    return None if num is None else num / den


def measure(jobs, device, reps):
    rows = []
    for name, model, x, fm, depth, width in jobs:
        model, x = model.to(device), x.to(device)
        c_fwd, c_fb, c_fm = counted(model, x, fm)
        t_fwd, t_fb, t_fm = timed(model, x, device, reps, fm)
        rows.append(dict(
            name=name, depth=depth, width=width, flops=c_fwd,
            counted=c_fb / c_fwd, counted_fwd_mode=ratio(c_fm, c_fwd),
            forward_s=t_fwd, timed=t_fb / t_fwd,
            timed_fwd_mode=ratio(t_fm, t_fwd)))
    return rows


def fmt_timed(r):
    """A timed ratio, or the failed measurement it is when below 1."""
    if r is None:
        return ""
    return f"{r:.2f}" if r >= 1 else f"failed ({r:.2f} < 1)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None)
    p.add_argument("--reps", type=int, default=20,
                   help="interleaved repetitions; each timing is the "
                        "minimum over them")
    p.add_argument("--output", default=str(DEFAULT_OUTPUT),
                   help="folder for cost.html (an offline page); '' for "
                        "none")
    p.add_argument("--quick", action="store_true",
                   help="three MLPs and LeNet-5 only (a check of the "
                        "command)")
    args = p.parse_args(argv)
    device = torch.device(args.device or (
        "cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(0)
    jobs = []
    for width in WIDTHS:
        for depth in DEPTHS:
            jobs.append((f"MLP depth {depth} width {width}",
                         mlp(depth, width), torch.randn(128, 784),
                         width == WIDTHS[0], depth, width))
    jobs += [(n, m, x, False, None, None) for n, m, x in zoo()]
    if args.quick:
        jobs = [j for j in jobs if j[0] in (
            "MLP depth 1 width 64", "MLP depth 5 width 64",
            "MLP depth 2 width 256", "LeNet-5 (MNIST)")]
    rows = measure(jobs, device, args.reps)
    print(f"{device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads; {args.reps} "
          f"repetitions; Corollary 2's bound {BOUND:g}")
    print(f"columns: {COLUMNS}")
    print(f"{'network':26s} {'fwd MFLOP':>10s} {'counted':>8s} "
          f"{'counted':>9s} {'fwd ms':>8s} {'timed':>17s} {'timed':>9s}")
    print(f"{'':26s} {'':>10s} {'fwd+bwd/':>8s} {'fwd-mode/':>9s} "
          f"{'':>8s} {'fwd+bwd/fwd':>17s} {'fwd-mode/':>9s}")
    for r in rows:
        cfm = r["counted_fwd_mode"]
        print(f"{r['name']:26s} {r['flops'] / 1e6:10.1f} "
              f"{r['counted']:8.2f} "
              f"{'' if cfm is None else f'{cfm:9.0f}':>9s} "
              f"{1e3 * r['forward_s']:8.3f} {fmt_timed(r['timed']):>17s} "
              + ("" if r["timed_fwd_mode"] is None
                 else f"{r['timed_fwd_mode']:9.0f}"))
    worst = max(r["counted"] for r in rows)
    print(f"counted fwd+bwd/fwd: at most {worst:.2f} "
          f"({'within' if worst <= BOUND else 'ABOVE'} the bound of "
          f"{BOUND:g})")
    good = [r["timed"] for r in rows if r["timed"] >= 1]
    failed = len(rows) - len(good)
    print(f"timed fwd+bwd/fwd: {min(good):.2f} to {max(good):.2f}"
          + (f"; {failed} failed measurement(s) (below 1: a disturbed "
             "machine; rerun with more --reps)" if failed else ""))
    if args.output:
        plot(rows, Path(args.output), device)
    return rows


def plot(rows, folder, device):
    import plotly.graph_objects as go
    fig = go.Figure()
    for i, width in enumerate(WIDTHS):
        pts = [r for r in rows if r["width"] == width]
        if not pts:
            continue
        color = ("#1f77b4", "#ff7f0e", "#2ca02c")[i]
        fig.add_scatter(x=[r["depth"] for r in pts],
                        y=[r["counted"] for r in pts], mode="lines+markers",
                        line_color=color,
                        name=f"MLP width {width}, backprop, counted")
        ok = [r for r in pts if r["timed"] >= 1]
        fig.add_scatter(x=[r["depth"] for r in ok],
                        y=[r["timed"] for r in ok], mode="lines+markers",
                        line=dict(color=color, dash="dot"),
                        name=f"MLP width {width}, backprop, timed")
    fm = [r for r in rows if r["counted_fwd_mode"] is not None]
    fig.add_scatter(x=[r["depth"] for r in fm],
                    y=[r["counted_fwd_mode"] for r in fm],
                    mode="lines+markers", line_color="#d62728",
                    name="forward mode (784 inputs), counted")
    fig.add_scatter(x=[r["depth"] for r in fm],
                    y=[r["timed_fwd_mode"] for r in fm], mode="markers",
                    marker_color="#d62728",
                    name="forward mode (784 inputs), timed")
    fig.add_hline(y=BOUND, line_dash="dash",
                  annotation_text="Corollary 2: 5")
    fig.update_layout(
        title=f"cost(gradient) / cost(forward), {device}",
        xaxis_title="depth (hidden layers)", yaxis_title="ratio",
        yaxis_type="log", width=1100, height=650)
    table = "".join(
        f"<tr><td>{r['name']}</td><td>{r['flops'] / 1e6:.1f}</td>"
        f"<td>{r['counted']:.2f}</td><td>{fmt_timed(r['timed'])}</td></tr>"
        for r in rows)
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    html = html.replace("<body>", (
        f"<body><p>{COLUMNS}.</p>"), 1).replace("</body>", (
        "<table border=1 cellpadding=4><tr><th>network</th><th>forward "
        "MFLOP</th><th>counted fwd+bwd/fwd</th><th>timed fwd+bwd/fwd</th>"
        f"</tr>{table}</table></body>"), 1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cost.html").write_text(html, encoding="utf-8")
    print(f"page: {folder / 'cost.html'}")


if __name__ == "__main__":
    main()
