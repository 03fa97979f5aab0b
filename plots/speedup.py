import numpy as np

from benchmark_utils.bench.plot import (ResultPlot, fmt, select,
                                            with_interval)
from benchmark_utils.reporting.budget import (ADJUSTED, adjusted_p,
                                              adjusted_verdict)
from benchmark_utils.reporting.results import (baselines, metric_columns,
                                               metric_label,
                                               packing_warning, short_names,
                                               solver_curves,
                                               speedup_interval,
                                               speedup_table)

# Resamples behind each speedup interval of a page (every metric and
# baseline is computed when the page is written).
N_RESAMPLES = 199


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
        adjusted = adjusted_p(table["best_p"])
        rows = []
        for i, (solver, row) in enumerate(table.iterrows()):
            best = with_interval(row.best_mean, row.best_low, row.best_high,
                                 objective_column, row.n_seeds)
            if solver != baseline:
                best += "; " + adjusted_verdict(row.best_p, adjusted[i])
            speedup = "-"
            if np.isfinite(row.speedup_steps):
                speedup = f"{row.speedup_steps:.2f}"
                if solver != baseline:
                    low, high = self.cached_interval(
                        df, dataset, objective, objective_column, baseline,
                        solver)
                    speedup += (f" [{low:.2f}, {high:.2f}]"
                                if np.isfinite(low) else " (no interval)")
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
                speedup,
                (round(float(row.speedup_time), 2)
                 if np.isfinite(row.speedup_time) else "-"),
            ])
        return rows

    def cached_interval(self, df, dataset, objective, column, baseline,
                        solver):
        cache = self.__dict__.setdefault("_intervals", {})
        key = (id(df), dataset, objective, column, baseline, solver)
        if key not in cache:
            cache[key] = speedup_interval(
                select(df, dataset, objective), column, baseline, solver,
                n_resamples=N_RESAMPLES)
        return cache[key]

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
                "solver's steps (time) to the target, with a 95% bootstrap "
                "percentile interval over seeds (steps). Best: mean over "
                "seeds [95% Student-t interval]; p: two-sided Welch t-test "
                f"against the baseline. {ADJUSTED}")
        else:
            title += reason
        warning = packing_warning(select(df, dataset, objective))
        if warning:
            title += (f"\n{warning} The time columns compare distorted "
                      "times.")
        return {
            "title": title,
            "columns": ["solver", f"best {metric} (mean [95% CI])", "seeds",
                        "step to target", "time to target (s)",
                        "speedup (steps)", "speedup (time)"],
            "default_order_column": 0,
            "default_order_ascending": True,
        }
