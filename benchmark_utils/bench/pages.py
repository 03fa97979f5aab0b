"""benchopt's pages, made offline, and rendered for the site.

``install()`` makes ``benchopt run .`` and ``benchopt plot`` in this
repository write pages that load nothing remote (reporting/pages.py's
``make_offline``). The charts' base (bench/plot.py) calls it when benchopt
instantiates them: ``plot_benchmark`` calls ``Benchmark.get_plots()``, and
``get_results`` calls ``get_plot_data``, both before
``render_all_results``. It wraps the functions of
``benchopt.plotting.generate_html`` that return the rendered HTML strings;
``plot_benchmark_html`` looks them up as module globals at call time, so
the wrapped versions are the ones used. Nothing else of benchopt is
changed. Should a benchopt release rename those functions, ``install()``
warns instead of silently writing online pages.

``RunPages`` renders one results file's page for the static site
(reporting/site.py), through benchopt's own renderer.
"""
import warnings

from benchmark_utils.reporting.pages import OfflineWarning, make_offline


# The functions of benchopt.plotting.generate_html whose return values are
# rendered pages: a single string, or a list of them.
RENDERERS = ("render_all_results", "render_benchmark", "render_index")


def install():
    """Make benchopt's HTML pages self-contained in this process.

    Idempotent: benchopt may import the plots/ modules more than once.
    """
    from benchopt.plotting import generate_html

    if getattr(generate_html, "_offline_pages", False):
        return
    missing = [name for name in RENDERERS
               if not callable(getattr(generate_html, name, None))]
    if missing:
        warnings.warn(
            f"benchopt.plotting.generate_html has no {missing}: this "
            "benchopt version is not the one benchmark_utils/bench/pages.py "
            "was written for (1.10), and its pages will need the network.",
            OfflineWarning, stacklevel=2)
        return
    for name in RENDERERS:
        setattr(generate_html, name, _offline(getattr(generate_html, name)))
    generate_html._offline_pages = True


def _offline(render):
    def wrapper(*args, **kwargs):
        pages = render(*args, **kwargs)
        if isinstance(pages, str):
            return make_offline(pages)
        return [make_offline(page) for page in pages]
    wrapper.__wrapped__ = render
    wrapper.__name__ = render.__name__
    wrapper.__doc__ = render.__doc__
    return wrapper


class RunPages:
    """benchopt's pages of results files, for a static site: each page
    rendered by benchopt's own renderer (unwrapped: the site shares one
    copy of the assets instead of inlining them per page)."""

    def __init__(self, benchmark_dir):
        from benchopt.benchmark import Benchmark
        from benchopt.plotting import generate_html

        self.benchmark = Benchmark(benchmark_dir)
        self._html = generate_html
        # The folder, relative to the site, where benchopt's pages expect
        # their results files ("outputs").
        self.outputs = generate_html.OUTPUTS

    @property
    def objective_name(self):
        return self.benchmark.get_benchmark_objective().name

    @staticmethod
    def read(path):
        """A results file as benchopt reads it."""
        from benchopt.results import read_results
        return read_results(path)

    def render(self, original, data, site, page):
        """The page of results file ``data`` (a copy of ``original`` inside
        ``site``), linked as ``page``: (HTML text, the data's path relative
        to the site)."""
        from benchopt.results.parquet import get_metadata

        # The plot settings as `benchopt plot` would use them: config.yml
        # over those saved in the file.
        config = self.benchmark.get_plot_config(
            default_config=get_metadata(original))
        [result] = self._html.get_results([data], site, self.benchmark,
                                          config)
        result["page"] = page
        render = self._html.render_all_results
        render = getattr(render, "__wrapped__", render)
        [html] = render([result], self.benchmark, home="index.html")
        return html, result["fname"]
