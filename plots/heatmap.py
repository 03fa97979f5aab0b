from itertools import combinations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle
from matplotlib.figure import Figure

from benchmark_utils.bench.plot import ResultPlot, select
from benchmark_utils.reporting.results import (checkpoints, grid,
                                               grid_solvers,
                                               higher_is_better,
                                               metric_columns, metric_label,
                                               solver_base, varying_params)

NONE = "none"
HOW_TO = ("No solver of these results was run over a grid of two of its "
          "parameters.\nRun one, e.g.\nbenchopt run . -d digits -s "
          "\"innaprop[alpha=[0.1,1.0,2.0],beta=[0.5,0.9,2.0]]\"")


def _or_none(options):
    def get(df):
        return options(df) if grid_solvers(df) else [NONE]
    get.__name__ = options.__name__
    return get


def param_pairs(df):
    """'x,y' pairs of the parameters varied by the grid solvers."""
    pairs = []
    for base in grid_solvers(df):
        runs = df[df["solver_name"].map(solver_base) == base]
        pairs += [",".join(p) for p in combinations(varying_params(runs), 2)]
    return list(dict.fromkeys(pairs))


def tick(value):
    """A grid value as a label: numbers with %g, None as None."""
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def render(fig):
    """An RGB array in [0, 1] of a matplotlib figure (benchopt's image
    plots take arrays)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3] / 255.0


def message(text):
    fig = Figure(figsize=(6.4, 2.0), dpi=100)
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return render(fig)


def heatmap_image(panel, params, column, at):
    values, diverged = panel["values"], panel["diverged"]
    z = values.to_numpy(dtype=float)
    maximize = higher_is_better(column)
    # Losses on a log scale as in the thesis's Figure 4.1; better is
    # brighter for every metric.
    finite = z[np.isfinite(z)]
    norm = None
    if not maximize and finite.size and finite.min() > 0 \
            and finite.max() > 10 * finite.min():
        norm = LogNorm(finite.min(), finite.max())
    fig = Figure(figsize=(6.4, 6.0), dpi=100)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(z), origin="lower",
                      cmap="viridis" if maximize else "viridis_r",
                      norm=norm, aspect="auto")
    ax.set_facecolor("#dddddd")
    fig.colorbar(image, ax=ax, label=metric_label(column))
    ax.set_xticks(range(z.shape[1]), [tick(v) for v in values.columns])
    ax.set_yticks(range(z.shape[0]), [tick(v) for v in values.index])
    ax.set_xlabel(params[0])
    ax.set_ylabel(params[1])
    best = None
    if finite.size:
        best = np.unravel_index(
            np.nanargmax(z) if maximize else np.nanargmin(z), z.shape)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            if np.isfinite(z[i, j]):
                text = f"{z[i, j]:.1f}" if maximize else f"{z[i, j]:.3g}"
                rgba = image.cmap(image.norm(z[i, j]))
                dark = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                color = "black" if dark > 0.5 else "white"
            else:
                text = "div." if diverged.iat[i, j] else ""
                color = "black"
            ax.text(j, i, text, ha="center", va="center", color=color,
                    fontsize=9, fontweight="bold" if (i, j) == best else None)
    if best is not None:
        ax.add_patch(Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1,
                               fill=False, ec="red", lw=2))
    fixed = ", ".join(f"{k}={tick(v)}" for k, v in panel["fixed"].items())
    ax.set_title(f"{metric_label(column)} at {at}, mean over "
                 f"{panel['n_seeds']} seed(s)" + (f"\n{fixed}" if fixed
                                                  else ""))
    # Fixed margins: tight_layout would draw the figure twice.
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.09, top=0.9)
    return render(fig), fixed


class Plot(ResultPlot):
    """Thesis Figures 4.1 and 4.12-4.14: a metric over a grid of two of a
    solver's parameters ((alpha, beta) for INNAprop) at a chosen epoch,
    averaged over seeds; losses on a log colour scale when they span more
    than a decade. Diverged cells read "div."; the best cell is
    framed in red. One panel per value of any other varied parameter."""

    name = "heatmap"
    type = "image"
    options = {
        "dataset": ...,
        "objective": ...,
        "solver": _or_none(grid_solvers),
        "params": _or_none(param_pairs),
        "metric": _or_none(metric_columns),
        "at": _or_none(checkpoints),
    }

    def plot(self, df, dataset, objective, solver, params, metric, at):
        if solver == NONE:
            return [{"image": message(HOW_TO), "label": ""}]
        df = select(df, dataset, objective)
        runs = df[df["solver_name"].map(solver_base) == solver]
        pair = params.split(",")
        if runs.empty or not set(pair) <= set(varying_params(runs)):
            return [{"image": message(
                f"{solver} was not run over a grid of {params} on "
                f"{dataset}."), "label": ""}]
        images = []
        for panel in grid(df, solver, pair, metric, at):
            image, fixed = heatmap_image(panel, pair, metric, at)
            images.append({"image": image, "label": fixed})
        return images

    def get_metadata(self, df, dataset, objective, solver, params, metric,
                     at):
        if solver == NONE:
            return {"title": "Parameter heatmap"}
        # Image titles are shown as plain text (no line breaks).
        return {"title": f"{solver}: {metric_label(metric)} over "
                         f"({params.replace(',', ', ')}) at {at}, "
                         f"data: {dataset}"}
