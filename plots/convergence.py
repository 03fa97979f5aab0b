from benchmark_utils.bench.plot import ResultPlot, select
from benchmark_utils.reporting.results import (band_curve, bands,
                                               curve_columns, metric_label,
                                               n_diverged, packing_warning,
                                               seed_table,
                                               solvers_in_order, x_axes,
                                               x_column, x_values)


def short(values):
    """Values with 6 significant digits: the page embeds every curve of
    every (metric, x axis, band) choice, which for a 100-run grid is
    millions of numbers."""
    return [float(f"{v:.6g}") for v in values]


class Plot(ResultPlot):
    """Convergence curves averaged over seeds (thesis Figures 4.2-4.9): the
    mean over repetitions with a band (standard deviation or min-max),
    against epochs, optimizer steps, wall time, or tokens for language
    models."""

    name = "convergence"
    type = "scatter"
    options = {
        "dataset": ...,
        "objective": ...,
        "objective_column": curve_columns,
        "X_axis": x_axes,
        "band": bands,
    }

    def runs(self, df, dataset, objective):
        """{solver: its rows} for one dataset and objective, and a cache
        for their seed tables: benchopt asks for every (metric, x axis,
        band), and the tables only depend on the metric and the x axis."""
        def compute():
            part = select(df, dataset, objective)
            return {s: part[part["solver_name"] == s]
                    for s in solvers_in_order(part)}, {}
        return self.cached(df, (dataset, objective), compute)

    def plot(self, df, dataset, objective, objective_column, X_axis, band):
        solvers, tables = self.runs(df, dataset, objective)
        x_col = x_column(X_axis)
        traces = []
        for solver, runs in solvers.items():
            if (solver, objective_column) not in tables:
                tables[solver, objective_column] = seed_table(
                    runs, objective_column)
            if (solver, x_col) not in tables:
                tables[solver, x_col] = x_values(runs, x_col)
            curve = band_curve(tables[solver, objective_column],
                               tables[solver, x_col], band)
            label = solver
            if (solver, "diverged") not in tables:
                tables[solver, "diverged"] = n_diverged(runs)
            lost = tables[solver, "diverged"]
            if lost:
                label += (f" ({lost}/{runs['idx_rep'].nunique()} seeds "
                          "diverged)")
            trace = dict(x=short(curve["x"]), y=short(curve["mean"]),
                         label=label, **self.get_style(solver))
            if curve["low"].notna().any():
                trace.update(y_low=short(curve["low"]),
                             y_high=short(curve["high"]))
            traces.append(trace)
        return traces

    def get_metadata(self, df, dataset, objective, objective_column, X_axis,
                     band):
        df = select(df, dataset, objective)
        seeds = df.groupby("solver_name")["idx_rep"].nunique()
        if seeds.max() == 1:
            how = "One seed"
        else:
            n = (f"{seeds.min()}" if seeds.min() == seeds.max()
                 else f"{seeds.min()}-{seeds.max()}")
            spread = "standard deviation" if band == "std" else "min to max"
            how = f"Mean over {n} seeds, band: {spread}"
        warning = packing_warning(df) if X_axis == "time" else ""
        if warning:
            how += "\n" + warning
        return {
            "title": f"{objective}\nData: {dataset}\n{how}",
            "xlabel": "time (s)" if X_axis == "time" else X_axis,
            "ylabel": metric_label(objective_column),
        }
