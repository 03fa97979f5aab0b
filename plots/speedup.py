import numpy as np

from benchmark_utils.reporting.plot import ResultPlot, fmt, select
from benchmark_utils.reporting.results import (baselines, metric_columns,
                                               metric_label, short_names,
                                               solver_curves, speedup_table)


class Plot(ResultPlot):
    """Thesis Table 4.4: each solver's best value, and the step and wall
    time at which it first reaches the baseline's best (AdamW by default),
    with the speedup factors. Definitions: benchmark_utils/results.py,
    ``speedup_table``."""

    name = "speedup"
    type = "table"
    options = {
        "dataset": ...,
        "objective": ...,
        "objective_column": metric_columns,
        "baseline": baselines,
    }

    def table(self, df, dataset, objective, objective_column, baseline):
        """The speedup table, or the reason why there is none (the baseline
        did not run on this dataset, or has no value of this metric: a
        solver's own diagnostic such as Sophia's win_rate)."""
        part = select(df, dataset, objective)
        if baseline not in set(part["solver_name"]):
            return None, f"{baseline} was not run on this dataset."
        # The solvers' curves once per metric, for every baseline.
        curves = self.cached(df, (dataset, objective, objective_column),
                             lambda: solver_curves(part, objective_column))
        if curves[baseline]["curve"].empty:
            return None, (f"{baseline} has no finite "
                          f"{metric_label(objective_column)}.")
        try:
            return speedup_table(part, objective_column, baseline,
                                 curves), ""
        except ValueError as e:    # the baseline diverged
            return None, str(e)

    def plot(self, df, dataset, objective, objective_column, baseline):
        table, _ = self.table(df, dataset, objective, objective_column,
                              baseline)
        if table is None:
            return []
        names = short_names(table.index)
        rows = []
        for solver, row in table.iterrows():
            best = fmt(row.best_mean, objective_column)
            if np.isfinite(row.best_std):
                best += f" ± {fmt(row.best_std, objective_column)}"
            seeds = f"{int(row.n_seeds)}"
            if row.n_diverged:
                seeds += f" ({int(row.n_diverged)} diverged)"
            reached = np.isfinite(row.step)
            rows.append([
                f"**{names[solver]}**" if solver == baseline
                else names[solver],
                best, seeds,
                int(row.step) if reached else "not reached",
                round(float(row.time), 2) if reached else "not reached",
                (round(float(row.speedup_steps), 2)
                 if np.isfinite(row.speedup_steps) else "-"),
                (round(float(row.speedup_time), 2)
                 if np.isfinite(row.speedup_time) else "-"),
            ])
        return rows

    def get_metadata(self, df, dataset, objective, objective_column,
                     baseline):
        metric = metric_label(objective_column)
        title = f"{objective}\nData: {dataset}\n"
        table, reason = self.table(df, dataset, objective, objective_column,
                                   baseline)
        if table is not None:
            t = table.attrs
            name = short_names(table.index)[baseline]
            title += (
                f"Target: the best {metric} of {name}'s mean curve over "
                f"seeds, {fmt(t['target'], objective_column)}, reached at "
                f"step {t['base_step']:.0f} after {t['base_time']:.2f} s. "
                "Speedup = the baseline's steps (time) to its best / the "
                "solver's steps (time) to the target.")
        else:
            title += reason
        return {
            "title": title,
            "columns": ["solver", f"best {metric} (mean ± std)", "seeds",
                        "step to target", "time to target (s)",
                        "speedup (steps)", "speedup (time)"],
            "default_order_column": 0,
            "default_order_ascending": True,
        }
