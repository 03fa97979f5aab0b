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

Names from results files are made inert on every page: benchopt's templates
insert dataset, solver, objective and parameter names unescaped, and its
page script builds elements from them with innerHTML, so a name holding
``<script>`` or ``<img onerror=...>`` would run when the page is opened.
``install()`` also wraps the functions that read a results file and its
plot settings for a page (``read_results``, ``get_results``,
``get_parquet_metadata``): every text cell and column name, and every plot
setting, has its markup characters replaced by look-alikes (``safe_text``).
An HTML escape would not do: the same names are both HTML (undone by the
browser) and keys of the page's plot data (kept), and would no longer
match.
"""
import warnings

import pandas as pd

from benchmark_utils.reporting.pages import OfflineWarning, make_offline


# The functions of benchopt.plotting.generate_html whose return values are
# rendered pages: a single string, or a list of them.
RENDERERS = ("render_all_results", "render_benchmark", "render_index")
# Its functions that read what a page shows from a results file.
READERS = ("read_results", "get_results", "get_parquet_metadata")

# Markup characters, and the look-alikes pages show instead.
MARKUP = str.maketrans({"<": "\u2039", ">": "\u203a", "&": "\uff06",
                        '"': "\uff02", "'": "\u2019"})


def safe_text(value):
    """``value`` with its markup characters replaced (other values as they
    are)."""
    return value.translate(MARKUP) if isinstance(value, str) else value


def has_markup(value):
    return isinstance(value, str) and safe_text(value) != value


def safe_frame(df):
    """A results frame whose text cells and column names hold no markup."""
    df = df.rename(columns=safe_text)
    for column in df.columns:
        kind = df[column].dtype
        if (kind == object or pd.api.types.is_string_dtype(kind)) and \
                df[column].map(has_markup).any():
            df[column] = df[column].map(safe_text)
    return df


def safe_config(config):
    """Plot settings (nested dicts and lists of text) without markup."""
    if isinstance(config, dict):
        return {safe_text(k): safe_config(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [safe_config(v) for v in config]
    return safe_text(config)


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
    _install_safe_names(generate_html)
    generate_html._offline_pages = True


def _install_safe_names(generate_html):
    """Wrap the readers of READERS so that pages show inert names."""
    missing = [name for name in READERS
               if not callable(getattr(generate_html, name, None))]
    if missing:
        warnings.warn(
            f"benchopt.plotting.generate_html has no {missing}: names from "
            "results files may reach its pages unescaped (benchmark_utils/"
            "bench/pages.py was written for benchopt 1.10).",
            OfflineWarning, stacklevel=3)
        return
    read, results, metadata = (getattr(generate_html, n) for n in READERS)

    def read_results(*args, **kwargs):
        return safe_frame(read(*args, **kwargs))

    def get_results(fnames, html_root, benchmark, config=None, *args,
                    **kwargs):
        return results(fnames, html_root, benchmark,
                       None if config is None else safe_config(config),
                       *args, **kwargs)

    def get_parquet_metadata(*args, **kwargs):
        return safe_config(metadata(*args, **kwargs))

    wrappers = (read_results, get_results, get_parquet_metadata)
    for name, wrapper in zip(READERS, wrappers):
        wrapper.__wrapped__ = getattr(generate_html, name)
        wrapper.__doc__ = wrapper.__wrapped__.__doc__
        setattr(generate_html, name, wrapper)


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

        install()          # names made inert on every page rendered here
        self.benchmark = Benchmark(benchmark_dir)
        self._html = generate_html
        # The folder, relative to the site, where benchopt's pages expect
        # their results files ("outputs").
        self.outputs = generate_html.OUTPUTS

    @property
    def objective_name(self):
        return self.benchmark.get_benchmark_objective().name

    @staticmethod
    def read(path, safe=True):
        """A results file as benchopt reads it; ``safe``: as the pages show
        it (``safe_frame``), else as it is (for downloads)."""
        from benchopt.results import read_results
        df = read_results(path)
        return safe_frame(df) if safe else df

    def render(self, original, data, site, page):
        """The page of results file ``data`` (a copy of ``original`` inside
        ``site``), linked as ``page``: (HTML text, the data's path relative
        to the site)."""
        from benchopt.results.parquet import get_metadata

        # The plot settings as `benchopt plot` would use them: config.yml
        # over those saved in the file.
        config = safe_config(self.benchmark.get_plot_config(
            default_config=get_metadata(original)))
        [result] = self._html.get_results([data], site, self.benchmark,
                                          config)
        result["page"] = page
        render = self._html.render_all_results
        render = getattr(render, "__wrapped__", render)
        [html] = render([result], self.benchmark, home="index.html")
        return html, result["fname"]
