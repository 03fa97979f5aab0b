import numpy as np

from benchmark_utils.bench.plot import (ResultPlot, select,
                                            with_interval)
from benchmark_utils.reporting.budget import (ADJUSTED, adjusted_p,
                                              adjusted_verdict)
from benchmark_utils.reporting.results import (FINAL_METRICS, final_columns,
                                               final_metrics,
                                               higher_is_better,
                                               metric_label, short_names)


class Plot(ResultPlot):
    """Thesis Tables 4.2 and 4.3: each solver's test top-1 (and top-5)
    accuracy and losses at the end of training, mean over seeds with its 95%
    Student-t interval and a Welch test against the first solver (AdamW),
    its p-value beside the Benjamini-Hochberg adjusted one (over the
    solvers of the column), the verdict following the adjusted one; the
    best mean of each column in bold."""

    name = "final_metrics"
    type = "table"
    options = {"dataset": ..., "objective": ...}

    def plot(self, df, dataset, objective):
        df = select(df, dataset, objective)
        columns = final_columns(df)
        table = final_metrics(df, columns)
        adjusted = {c: adjusted_p(table[f"{c}:p"]) for c in columns}
        best = {c: (table[c].max() if higher_is_better(c) else table[c].min())
                for c in columns}
        names = short_names(table.index)
        rows = []
        for i, (solver, row) in enumerate(table.iterrows()):
            cells = [names[solver]]
            for c in columns:
                mean = row[c]
                if not np.isfinite(mean):
                    cells.append("-")
                    continue
                kept = row.n_seeds - row.n_diverged
                text = with_interval(mean, row[f"{c}:low"],
                                     row[f"{c}:high"], c, kept)
                if solver != table.attrs["baseline"]:
                    text += "; " + adjusted_verdict(row[f"{c}:p"],
                                                    adjusted[c][i])
                cells.append(f"**{text}**" if mean == best[c] else text)
            seeds = f"{int(row.n_seeds)}"
            notes = [f"{int(n)} {what}" for n, what in (
                (row.n_diverged, "diverged"), (row.n_cut, "cut short")) if n]
            if notes:
                seeds += f" ({', '.join(notes)})"
            rows.append(cells + [seeds])
        return rows

    def get_metadata(self, df, dataset, objective):
        part = select(df, dataset, objective)
        columns = [FINAL_METRICS.get(c, metric_label(c))
                   for c in final_columns(part)]
        return {
            "title": f"{objective}\nData: {dataset}\nAt the last evaluation, "
                     "mean over seeds [95% Student-t interval] (diverged "
                     "seeds left out); p: two-sided Welch t-test against "
                     f"the first solver. {ADJUSTED}",
            "columns": ["solver", *columns, "seeds"],
            "default_order_column": 0,
            "default_order_ascending": True,
        }
