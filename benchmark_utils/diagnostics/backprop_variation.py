"""Backprop variation between two programs of one network (thesis chapter
3, Definition 11, Table 3.2, Figures 3.3-3.5).

For M parameter draws theta_m (torch's default Kaiming-uniform
initialisation under seed m) and the dataset's first Q mini-batches, it
computes the gradient of the mean cross-entropy of each mini-batch with two
programs P and Q of the same network, which differ only in the Jacobian
chosen at nonsmooth points (native or minimal MaxPool, a hybrid beta,
ReLU'(0) = 0 or 1), and

    D_{m,q}(P, Q) = || backprop[P](theta_m; B_q) - backprop[Q](theta_m; B_q) ||_1

Thresholds: tau1 (eq. 3.12) is the largest variation between two runs of
the same program P (nondeterminism only; 0 on a deterministic machine),
tau2 (eq. 3.13) the smallest nonzero variation between ReLU'(0) = 0 and 1.
A (draw, mini-batch) pair is in the numerical bifurcation zone when its
D_{m,q}(P, Q) exceeds the threshold (tau1 by default); Table 3.2 reports
the share of draws with at least one such mini-batch, and the share of
mini-batches.

    python -m benchmark_utils.diagnostics.backprop_variation \\
        --dataset cifar10 --model vgg11 --programs native,minimal \\
        --dtype float32 --draws 10 --batches 20 --output variation/

writes variation/variation.csv (one row per draw and mini-batch) and
variation/variation.html (histograms and the table; offline).
"""
import argparse
import csv
from pathlib import Path

import torch
import torch.nn.functional as F

PROGRAMS = {
    "native": dict(maxpool="native"),
    "minimal": dict(maxpool="minimal"),
    "relu0": dict(relu_prime0=0),
    "relu1": dict(relu_prime0=1),
}


def program(name):
    """Knobs of a program: a PROGRAMS name or "hybrid:<beta>"."""
    if name.startswith("hybrid:"):
        return dict(maxpool="hybrid", maxpool_beta=float(name.split(":")[1]))
    if name not in PROGRAMS:
        raise ValueError(f"program={name!r} is not allowed: one of "
                         f"{', '.join(PROGRAMS)} or hybrid:<beta>.")
    return PROGRAMS[name]


def flat_gradient(model, x, y):
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x).float(), y).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def variations(build, batches, first, second, draws, dtype=torch.float32,
               device="cpu", deterministic=False):
    """Rows (draw, batch, D(P,Q), D(P,P), D(relu0, relu1)) for ``draws``
    parameter draws over ``batches`` (a list of (x, y)); ``build(**knobs)``
    returns the network with ``program`` knobs."""
    if deterministic:
        torch.use_deterministic_algorithms(True)
    names = (first, second, "relu0", "relu1")
    rows = []
    for m in range(draws):
        torch.manual_seed(m)
        reference = build(**program(first))
        state = reference.state_dict()
        models = {}
        for name in names:
            model = build(**program(name))
            model.load_state_dict(state)     # the same theta_m
            models[name] = model.to(device, dtype).train()
        for q, (x, y) in enumerate(batches):
            x, y = x.to(device, dtype), y.to(device)
            g = {name: flat_gradient(models[name], x, y) for name in names}
            again = flat_gradient(models[first], x, y)
            rows.append(dict(
                draw=m, batch=q,
                d_programs=float((g[first] - g[second]).abs().sum()),
                d_same=float((g[first] - again).abs().sum()),
                d_relu=float((g["relu0"] - g["relu1"]).abs().sum())))
    return rows


def summary(rows, threshold="tau1"):
    """tau1, tau2 and Table 3.2's two rows."""
    tau1 = max(r["d_same"] for r in rows)
    nonzero = [r["d_relu"] for r in rows if r["d_relu"] > 0]
    tau2 = min(nonzero) if nonzero else float("nan")
    tau = tau1 if threshold == "tau1" else tau2
    hit = [r for r in rows if r["d_programs"] > tau]
    draws = {r["draw"] for r in rows}
    return dict(tau1=tau1, tau2=tau2, threshold=threshold, tau=tau,
                draws_in_zone=len({r["draw"] for r in hit}) / len(draws),
                batches_in_zone=len(hit) / len(rows))


def write_outputs(rows, stats, folder, title):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "variation.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import plotly.graph_objects as go
    fig = go.Figure()
    for key, label in (("d_programs", "D(P, Q)"), ("d_same", "D(P, P)"),
                       ("d_relu", "D(ReLU'(0)=0, ReLU'(0)=1)")):
        fig.add_histogram(x=[r[key] for r in rows], name=label, opacity=0.6)
    fig.update_layout(barmode="overlay", title=title,
                      xaxis_title="L1 distance between the gradients",
                      yaxis_title="(draw, mini-batch) pairs")
    table = (
        "<table border=1 cellpadding=4><tr><th></th><th>value</th></tr>"
        f"<tr><td>tau1 (eq. 3.12)</td><td>{stats['tau1']:.3g}</td></tr>"
        f"<tr><td>tau2 (eq. 3.13)</td><td>{stats['tau2']:.3g}</td></tr>"
        f"<tr><td>Proportion of draws in S (threshold {stats['threshold']})"
        f"</td><td>{100 * stats['draws_in_zone']:.2f}%</td></tr>"
        "<tr><td>Proportion of impacted mini-batches</td>"
        f"<td>{100 * stats['batches_in_zone']:.2f}%</td></tr></table>")
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    html = html.replace("<body>", f"<body><h2>{title}</h2>{table}", 1)
    (folder / "variation.html").write_text(html, encoding="utf-8")


def load_batches(dataset, root, batch_size, n_batches):
    from benchmark_utils.data.augment import ImageAugment
    if dataset == "cifar10":
        from benchmark_utils.data.cifar10 import MEAN, STD, load_cifar10
        x, y, _, _ = load_cifar10(root, download=True)
    elif dataset == "mnist":
        from benchmark_utils.data.mnist import MEAN, STD, load_mnist
        x, y, _, _ = load_mnist(root, download=True)
    else:
        raise ValueError(f"dataset={dataset!r} is not allowed: cifar10 or "
                         "mnist.")
    normalize = ImageAugment(MEAN, STD, crop_padding=0, flip=False).normalize
    return [(normalize(x[i:i + batch_size]), y[i:i + batch_size])
            for i in range(0, min(len(y), batch_size * n_batches),
                           batch_size)]


def builder(model):
    if model == "vgg11":
        from benchmark_utils.models.cifar import build_cifar_model
        return lambda **knobs: build_cifar_model("vgg11", **knobs)
    if model == "lenet5":
        from benchmark_utils.models.lenet import LeNet5
        return lambda **knobs: LeNet5(**knobs)
    raise ValueError(f"model={model!r} is not allowed: vgg11 or lenet5.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data", default=None,
                   help="the dataset's folder (default: benchopt's "
                        "data path for it)")
    p.add_argument("--model", default="vgg11")
    p.add_argument("--programs", default="native,minimal")
    p.add_argument("--dtype", default="float32",
                   choices=["float16", "float32", "float64"])
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threshold", default="tau1", choices=["tau1", "tau2"])
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--output", default="variation")
    args = p.parse_args(argv)
    root = args.data
    if root is None:
        from benchopt.config import get_data_path
        root = get_data_path(args.dataset)
    first, second = args.programs.split(",")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    batches = load_batches(args.dataset, root, args.batch_size, args.batches)
    rows = variations(builder(args.model), batches, first, second,
                      args.draws, getattr(torch, args.dtype), device,
                      args.deterministic)
    stats = summary(rows, args.threshold)
    title = (f"{args.model} on {args.dataset}, {args.dtype}: {first} vs "
             f"{second}, {args.draws} draws x {len(batches)} mini-batches")
    write_outputs(rows, stats, args.output, title)
    print(title)
    for k, v in stats.items():
        print(f"  {k}: {v}")
    return stats


if __name__ == "__main__":
    main()
