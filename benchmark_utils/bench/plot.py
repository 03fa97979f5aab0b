"""What the result charts of plots/ share: the base class, the selection of
one dataset and objective, number formatting, and a cache per page.

benchopt builds a page by asking each chart for every combination of its
options, metadata then data, on the same results frame: ``ResultPlot.cached``
computes what does not depend on the other options once per frame.

benchopt instantiates every chart before it writes a page: ``ResultPlot``
then installs the offline pages (bench/pages.py), once per process.
"""
from benchopt import BasePlot

from benchmark_utils.bench import pages
from benchmark_utils.reporting.results import higher_is_better


def select(df, dataset, objective):
    """The rows of one dataset and one objective."""
    return df[(df["dataset_name"] == dataset)
              & (df["objective_name"] == objective)]


def fmt(value, column):
    """Accuracies with two decimals, losses with four significant digits."""
    return f"{value:.2f}" if higher_is_better(column) else f"{value:.4g}"


class ResultPlot(BasePlot):
    """Base class of the benchmark's charts."""

    def __init__(self):
        # benchopt instantiates the charts (Benchmark.get_plots) before it
        # renders a page: the page it renders loads nothing remote.
        pages.install()

    def cached(self, df, key, compute):
        """``compute()`` once per results frame and ``key``. Keeping a
        reference to ``df`` makes the identity check safe."""
        cache = getattr(self, "_cache", None)
        if cache is None or cache[0] is not df or cache[1] != key:
            self._cache = cache = (df, key, compute())
        return cache[2]


def with_interval(mean, low, high, column, n):
    """"mean [low, high]", or the mean and why there is no interval; never
    a bare ± 0."""
    text = fmt(mean, column)
    if n < 2:
        return f"{text} (1 seed: no interval)"
    return f"{text} [{fmt(low, column)}, {fmt(high, column)}]"
