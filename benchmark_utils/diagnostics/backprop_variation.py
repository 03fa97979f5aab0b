"""Backprop variation between programs of one network (thesis chapter 3,
Definition 11, Criteria 1, Table 3.2, Figures 3.3-3.5).

For M parameter draws theta_m (PyTorch's default Kaiming-uniform
initialisation under seed m) and Q mini-batches of real images, it computes
the gradient of the mean cross-entropy of each mini-batch under programs of
the same network, which differ only in the Jacobian chosen at nonsmooth
points, and their L1 distances

    D_{m,q}(P, Q) = || backprop[P](theta_m; B_q)
                       - backprop[Q](theta_m; B_q) ||_1

for three pairs: P against Q (the two ``--programs``, e.g. native and
minimal MaxPool: Figure 3.3), P against a second run of P (P~, Figure 3.3's
sanity check, Figure 3.4 on a nondeterministic GPU), and ReLU'(0) = 0
against 1 (Figure 3.5).

Thresholds (eqs. 3.12-3.13): tau1 is the largest D(P, P~), tau2 the
smallest nonzero D(R0, R1). Either can be undefined, and is then reported
so, never used: tau1 is identically 0 where the computation is
deterministic (a CPU, or ``--deterministic``), which would count every
rounding difference as a bifurcation; tau2 is a minimum over an empty set
when ReLU'(0) never matters (no pre-activation exactly 0). ``--tau`` gives
the thesis's values per precision instead (Table 3.4; approximated there as
powers of 10):

    LeNet-5, MNIST:    --tau 16=1e-5,32=1e-6,64=1e-14
    VGG-11, CIFAR-10:  --tau 16=0.1,32=1e-8,64=1e-14

(tau2 at 16 bits and tau1 at 32 and 64 bits, as section 3.3.2 applies
them). With a threshold tau, a (draw, mini-batch) pair is identical
(D = 0), a compensation error (0 < D <= tau) or a bifurcation (D > tau,
in the numerical bifurcation zone S of Criteria 1); Table 3.2 reports the
share of draws with at least one such mini-batch, and the share of
mini-batches.

Figures 3.3-3.5 on Fashion-MNIST (LeNet-5 as the thesis cites it, batches
of 128, deterministic CPU):

    python -m benchmark_utils.diagnostics.backprop_variation \\
        --dataset fashion_mnist --model lenet5_relu_logits \\
        --dtype float16,float32,float64 --draws 1000 \\
        --fresh-batches --deterministic --tau 16=1e-5,32=1e-6,64=1e-14

writes outputs/backprop_variation/variation.csv (one row per precision,
draw and mini-batch) and variation.html (histograms and tables; offline).
"""
import argparse
import csv
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmark_utils.training import environment

ROOT = environment.ROOT
DEFAULT_OUTPUT = ROOT / "outputs" / "backprop_variation"

PROGRAMS = {
    "native": dict(maxpool_beta=0.0, relu_prime0=0),
    "minimal": dict(maxpool_beta=1.0, relu_prime0=0),
    "relu0": dict(maxpool_beta=0.0, relu_prime0=0),
    "relu1": dict(maxpool_beta=0.0, relu_prime0=1),
}
PAIRS = {"d_programs": "D(P, Q)", "d_same": "D(P, P~)",
         "d_relu": "D(R0, R1)"}
BITS = {"float16": 16, "float32": 32, "float64": 64}


def program(name):
    """The Jacobians of a program: a PROGRAMS name or "hybrid:<beta>"."""
    if name.startswith("hybrid:"):
        return dict(maxpool_beta=float(name.split(":")[1]), relu_prime0=0)
    if name not in PROGRAMS:
        raise ValueError(f"program={name!r} is not allowed: one of "
                         f"{', '.join(PROGRAMS)} or hybrid:<beta>.")
    return PROGRAMS[name]


def flat_gradient(model, x, y, seed):
    """The gradient of the batch's mean cross-entropy; ``seed`` fixes any
    randomness (dropout) so that two programs see the same."""
    torch.manual_seed(seed)
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x).float(), y).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def l1(a, b):
    return float((a.double() - b.double()).abs().sum())


def variations(build, batches, first, second, draws, dtype=torch.float32,
               device="cpu", deterministic=False, fresh_batches=False):
    """Rows (draw, batch, d_programs, d_same, d_relu) for ``draws``
    parameter draws. ``build()`` returns the network with switchable
    MaxPool and ReLU Jacobians (nonsmooth.set_program); ``batches`` is a
    list of (x, y). Every draw uses all of them, or, with
    ``fresh_batches``, its own (draw m takes batch m, cycling)."""
    from benchmark_utils.models.nonsmooth import set_program
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(bool(deterministic))
    names = {"P": program(first), "Q": program(second),
             "R0": PROGRAMS["relu0"], "R1": PROGRAMS["relu1"]}
    rows = []
    try:
        for m in range(draws):
            torch.manual_seed(m)                 # theta_m
            model = build().to(device, dtype).train()
            mine = ([batches[m % len(batches)]] if fresh_batches
                    else batches)
            for q, (x, y) in enumerate(mine):
                x, y = x.to(device, dtype), y.to(device)
                seed = m * 100_003 + q
                grads = {}
                for name, knobs in names.items():
                    key = tuple(sorted(knobs.items()))
                    if key not in grads:
                        set_program(model, **knobs)
                        grads[key] = flat_gradient(model, x, y, seed)
                    grads[name] = grads[key]
                set_program(model, **names["P"])
                again = flat_gradient(model, x, y, seed)     # P~
                rows.append(dict(
                    draw=m, batch=m % len(batches) if fresh_batches else q,
                    d_programs=l1(grads["P"], grads["Q"]),
                    d_same=l1(grads["P"], again),
                    d_relu=l1(grads["R0"], grads["R1"])))
    finally:
        torch.use_deterministic_algorithms(previous)
    return rows


def thresholds(rows):
    """tau1 (eq. 3.12) and tau2 (eq. 3.13), each as (value, None) or
    (None, why it is undefined)."""
    same = [r["d_same"] for r in rows]
    relu = [r["d_relu"] for r in rows]
    if not all(math.isfinite(d) for d in same):
        tau1 = None, "D(P, P~) is not finite for some draw (the gradient " \
                     "overflowed)"
    elif max(same) == 0:
        tau1 = None, ("D(P, P~) = 0 for every draw and mini-batch: the "
                      "computation is deterministic, and a threshold of 0 "
                      "would count every rounding difference as a "
                      "bifurcation")
    else:
        tau1 = max(same), None
    nonzero = [d for d in relu if d > 0 and math.isfinite(d)]
    if not nonzero:
        tau2 = None, ("D(R0, R1) = 0 for every draw and mini-batch: no "
                      "pre-activation was exactly 0, so eq. 3.13's minimum "
                      "is over an empty set")
    else:
        tau2 = min(nonzero), None
    return {"tau1": tau1, "tau2": tau2}


def regimes(values, tau):
    """Shares of pairs that are identical (D = 0), compensation errors
    (0 < D <= tau), bifurcations (D > tau) or not finite; the last two are
    None when ``tau`` is None (undefined)."""
    n = len(values)
    finite = [d for d in values if math.isfinite(d)]
    out = {"identical": sum(d == 0 for d in finite) / n,
           "not_finite": (n - len(finite)) / n,
           "compensation": None, "bifurcation": None}
    if tau is not None:
        out["compensation"] = sum(0 < d <= tau for d in finite) / n
        out["bifurcation"] = sum(d > tau for d in finite) / n
    return out


def summary(rows, threshold="tau1", tau=None):
    """tau1, tau2, the threshold applied (``tau`` when given, else the
    measured ``threshold``), each pair's regimes and Table 3.2's rows.
    Undefined quantities are None, with their reason beside them."""
    measured = thresholds(rows)
    if tau is not None:
        applied, why, source = float(tau), None, "--tau"
    else:
        (applied, why), source = measured[threshold], threshold
    stats = {"tau1": measured["tau1"][0],
             "tau1_undefined": measured["tau1"][1],
             "tau2": measured["tau2"][0],
             "tau2_undefined": measured["tau2"][1],
             "threshold": source, "tau": applied, "tau_undefined": why,
             "pairs": len(rows), "draws": len({r["draw"] for r in rows}),
             "regimes": {key: regimes([r[key] for r in rows], applied)
                         for key in PAIRS},
             "draws_in_zone": None, "batches_in_zone": None}
    if applied is not None:
        hit = [r for r in rows if r["d_programs"] > applied]
        stats["draws_in_zone"] = len({r["draw"] for r in hit}) / \
            stats["draws"]
        stats["batches_in_zone"] = len(hit) / len(rows)
    return stats


def parse_tau(text):
    """"16=1e-5,32=1e-6,64=1e-14" -> {16: 1e-5, ...}; a single number
    applies to every precision; None -> {}."""
    if not text:
        return {}
    if "=" not in text:
        return {bits: float(text) for bits in BITS.values()}
    out = {}
    for part in text.split(","):
        bits, value = part.split("=")
        out[int(bits)] = float(value)
    return out


def pct(share, why=None):
    if share is None:
        return "undefined" + (f" ({why})" if why else "")
    return f"{100 * share:.2f}%"


def num(value, why=None):
    if value is None:
        return "undefined" + (f" ({why})" if why else "")
    return f"{value:.3g}"


def report(stats, first, second):
    """The text the command prints for one precision."""
    tau1 = num(stats["tau1"], stats["tau1_undefined"])
    tau2 = num(stats["tau2"], stats["tau2_undefined"])
    lines = [f"  tau1 (eq. 3.12): {tau1}",
             f"  tau2 (eq. 3.13): {tau2}",
             f"  threshold applied ({stats['threshold']}): "
             f"{num(stats['tau'], stats['tau_undefined'])}",
             f"  {'pair':22s} {'D = 0':>9s} {'0 < D <= tau':>13s} "
             f"{'D > tau':>9s} {'not finite':>10s}"]
    for key, label in PAIRS.items():
        r = stats["regimes"][key]
        if key == "d_programs":
            label = f"D({first}, {second})"
        lines.append(f"  {label:22s} {pct(r['identical']):>9s} "
                     f"{pct(r['compensation']):>13s} "
                     f"{pct(r['bifurcation']):>9s} "
                     f"{pct(r['not_finite']):>10s}")
    lines += [f"  draws in S (Table 3.2): {pct(stats['draws_in_zone'])}",
              f"  mini-batches in S: {pct(stats['batches_in_zone'])}"]
    return "\n".join(lines)


def write_outputs(rows, stats, folder, title, first, second):
    """variation.csv and variation.html (offline: plotly.js inlined).
    ``rows`` and ``stats`` map each dtype to its rows and summary."""
    from plotly.subplots import make_subplots
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flat = [dict(dtype=dtype, **r) for dtype in rows for r in rows[dtype]]
    with open(folder / "variation.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
    dtypes = list(rows)

    def label(key):
        return f"D({first}, {second})" if key == "d_programs" else PAIRS[key]

    def zeros(dtype):
        return ", ".join(
            f"{label(key)} {sum(r[key] == 0 for r in rows[dtype])}"
            for key in PAIRS)

    fig = make_subplots(rows=len(dtypes), cols=1, vertical_spacing=0.1,
                        subplot_titles=[
        f"{BITS[d]} bits; pairs at D = 0 (not drawn): {zeros(d)} of "
        f"{len(rows[d])}" for d in dtypes])
    colors = {"d_programs": "#d62728", "d_same": "#1f77b4",
              "d_relu": "#2ca02c"}
    shown = set()
    for i, dtype in enumerate(dtypes, start=1):
        for key in PAIRS:
            logs = [math.log10(r[key]) for r in rows[dtype]
                    if r[key] > 0 and math.isfinite(r[key])]
            fig.add_histogram(
                x=logs, name=label(key), legendgroup=key,
                showlegend=bool(logs) and key not in shown,
                marker_color=colors[key], opacity=0.6, xbins=dict(size=0.1),
                row=i, col=1)
            if logs:
                shown.add(key)
        tau = stats[dtype]["tau"]
        if tau is not None and tau > 0:
            fig.add_vline(x=math.log10(tau), line_dash="dash", row=i, col=1,
                          annotation_text=f"tau = {tau:.3g}")
        fig.update_xaxes(title_text="log10 of the L1 distance between the "
                         "gradients", row=i, col=1)
        fig.update_yaxes(title_text="(draw, mini-batch) pairs", row=i, col=1)
    fig.update_layout(barmode="overlay", height=450 * len(dtypes),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom",
                                  x=0, xanchor="left"),
                      margin=dict(t=110))
    tables = "".join(_html_table(dtype, stats[dtype], first, second)
                     for dtype in dtypes)
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    html = html.replace("<body>", f"<body><h2>{title}</h2>{tables}", 1)
    (folder / "variation.html").write_text(html, encoding="utf-8")


def _html_table(dtype, stats, first, second):
    head = ("<tr><th>pair</th><th>D = 0</th><th>compensation "
            "(0 &lt; D &le; tau)</th><th>bifurcation (D &gt; tau)</th>"
            "<th>not finite</th></tr>")
    body = ""
    for key, label in PAIRS.items():
        if key == "d_programs":
            label = f"D({first}, {second})"
        r = stats["regimes"][key]
        body += (f"<tr><td>{label}</td><td>{pct(r['identical'])}</td>"
                 f"<td>{pct(r['compensation'])}</td>"
                 f"<td>{pct(r['bifurcation'])}</td>"
                 f"<td>{pct(r['not_finite'])}</td></tr>")
    return (
        f"<h3>{BITS[dtype]} bits: {stats['draws']} draws, "
        f"{stats['pairs']} (draw, mini-batch) pairs</h3>"
        "<table border=1 cellpadding=4>"
        f"<tr><td>tau1 (eq. 3.12)</td><td>"
        f"{num(stats['tau1'], stats['tau1_undefined'])}</td></tr>"
        f"<tr><td>tau2 (eq. 3.13)</td><td>"
        f"{num(stats['tau2'], stats['tau2_undefined'])}</td></tr>"
        f"<tr><td>threshold applied ({stats['threshold']})</td><td>"
        f"{num(stats['tau'], stats['tau_undefined'])}</td></tr>"
        "<tr><td>Proportion of draws in S (Table 3.2)</td>"
        f"<td>{pct(stats['draws_in_zone'])}</td></tr>"
        "<tr><td>Proportion of impacted mini-batches</td>"
        f"<td>{pct(stats['batches_in_zone'])}</td></tr></table>"
        f"<p>Share of pairs in each regime:</p>"
        f"<table border=1 cellpadding=4>{head}{body}</table>")


DATASETS = ("cifar10", "mnist", "fashion_mnist")


def load_batches(dataset, root, batch_size, n_batches):
    """The first ``n_batches`` full mini-batches of the training set (at
    most as many as it holds), normalized as the dataset's task does."""
    from benchmark_utils.data.augment import ImageAugment
    if dataset == "cifar10":
        from benchmark_utils.data.cifar10 import MEAN, STD, load_cifar10
        x, y, _, _ = load_cifar10(root, download=True)
    elif dataset in ("mnist", "fashion_mnist"):
        from benchmark_utils.data import mnist
        spec = mnist.MNIST if dataset == "mnist" else mnist.FASHION_MNIST
        MEAN, STD = spec.mean, spec.std
        x, y, _, _ = mnist.load(root, spec)
    else:
        raise ValueError(f"dataset={dataset!r} is not allowed: one of "
                         f"{', '.join(DATASETS)}.")
    normalize = ImageAugment(MEAN, STD, crop_padding=0, flip=False).normalize
    n = max(1, min(n_batches, len(y) // batch_size))
    return [(normalize(x[i:i + batch_size]), y[i:i + batch_size])
            for i in range(0, n * batch_size, batch_size)]


MODELS = ("vgg11", "vgg11_torchvision", "lenet5", "lenet5_relu_logits")


def builder(model, batchnorm=None):
    """build() -> the network with switchable Jacobians. ``vgg11`` is the
    project's CIFAR VGG11 (one linear layer after the convolutions),
    ``vgg11_torchvision`` torchvision's (three fully connected layers),
    ``lenet5_relu_logits`` the LeNet-5 chapter 3 cites and ``lenet5`` the
    same with plain logits. ``batchnorm`` None keeps the model's default
    (VGG: on, LeNet-5: off)."""
    # maxpool="hybrid" with beta 0 builds the switchable modules, whose
    # forward and (at beta 0) backward are torch's own.
    knobs = dict(maxpool="hybrid", maxpool_beta=0.0, relu_prime0=0)
    if batchnorm is not None:
        knobs["batchnorm"] = bool(batchnorm)
    if model == "vgg11":
        from benchmark_utils.models.cifar import build_cifar_model
        return lambda: build_cifar_model("vgg11", **knobs)
    if model == "vgg11_torchvision":
        from benchmark_utils.models.cifar import torchvision_vgg11
        return lambda: torchvision_vgg11(10, **knobs)
    if model in ("lenet5", "lenet5_relu_logits"):
        from benchmark_utils.models.lenet import build_lenet
        return lambda: build_lenet(model, **knobs)
    raise ValueError(f"model={model!r} is not allowed: one of "
                     f"{', '.join(MODELS)}.")


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Table 3.4's thresholds: LeNet-5/MNIST --tau "
               "16=1e-5,32=1e-6,64=1e-14; VGG-11/CIFAR-10 --tau "
               "16=0.1,32=1e-8,64=1e-14.")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS)
    p.add_argument("--data", default=None,
                   help="the dataset's folder (default: where the benchmark"
                        "'s datasets look: config.yml's data_paths, "
                        "data_home or BENCHOPT_DATA_HOME, else "
                        "data/<dataset>)")
    p.add_argument("--model", default="vgg11", choices=MODELS)
    p.add_argument("--batchnorm", default=None, choices=["on", "off"],
                   help="batch norm after each convolution (default: the "
                        "model's: on for VGG, off for LeNet-5)")
    p.add_argument("--programs", default="native,minimal",
                   help="P,Q: native, minimal, relu0, relu1 or hybrid:<beta>")
    p.add_argument("--dtype", default="float32",
                   help="one or more of float16, float32, float64, "
                        "comma-separated")
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--fresh-batches", action="store_true",
                   help="each draw takes its own mini-batch (draw m: batch "
                        "m, cycling through the training set's full "
                        "mini-batches), instead of all --batches of them")
    p.add_argument("--threshold", default="tau1", choices=["tau1", "tau2"],
                   help="the measured threshold applied where --tau gives "
                        "none for the precision")
    p.add_argument("--tau", default=None,
                   help="fixed thresholds per precision, e.g. "
                        "16=0.1,32=1e-8,64=1e-14 (Table 3.4), or one value")
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--output", default=str(DEFAULT_OUTPUT))
    args = p.parse_args(argv)
    dtypes = args.dtype.split(",")
    for dtype in dtypes:
        if dtype not in BITS:
            p.error(f"--dtype {dtype!r}: one of {', '.join(BITS)}")
    taus = parse_tau(args.tau)
    root = args.data
    if root is None:
        from benchmark_utils.bench.paths import data_path
        root = data_path(args.dataset)
    first, second = args.programs.split(",")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    n_batches = args.draws if args.fresh_batches else args.batches
    from benchmark_utils.data.download import DataNotFound
    try:
        batches = load_batches(args.dataset, root, args.batch_size,
                               n_batches)
    except DataNotFound as e:
        # What is missing and how to provide it, not a traceback.
        raise SystemExit(str(e)) from None
    build = builder(args.model, None if args.batchnorm is None
                    else args.batchnorm == "on")
    rows, stats = {}, {}
    dtypes = sorted(dtypes, key=BITS.get)      # the page reads 16, 32, 64
    title = (f"{args.model} on {args.dataset}: {first} vs {second}, "
             f"{args.draws} draws, mini-batches of {args.batch_size}, "
             f"{device}{', deterministic' if args.deterministic else ''}")
    print(title)
    for dtype in dtypes:
        rows[dtype] = variations(build, batches, first, second, args.draws,
                                 getattr(torch, dtype), device,
                                 args.deterministic, args.fresh_batches)
        stats[dtype] = summary(rows[dtype], args.threshold,
                               taus.get(BITS[dtype]))
        print(f"{BITS[dtype]} bits:")
        print(report(stats[dtype], first, second))
    write_outputs(rows, stats, args.output, title, first, second)
    print(f"page: {Path(args.output) / 'variation.html'}")
    return stats


if __name__ == "__main__":
    main()
