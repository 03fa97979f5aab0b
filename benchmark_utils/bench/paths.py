"""Where a dataset's files are, inside a benchopt run and outside one.

benchopt's ``get_data_path`` reads the settings of the benchmark that is
running, and fails outside a run (``python -m benchmark_utils.diagnostics
...``: "'NoneType' object has no attribute 'get_setting'"). ``data_path``
gives the same answer in both places: config.yml's ``data_paths`` (a
relative path is under ``data_home``), ``data_home`` or the environment's
``BENCHOPT_DATA_HOME``, else ``data/<key>`` under the benchmark folder.
"""
import os
from pathlib import Path

from benchopt.benchmark import get_running_benchmark
from benchopt.config import get_data_path, get_setting

from benchmark_utils.training import environment

BENCHMARK_DIR = environment.ROOT


def data_path(key, benchmark_dir=None):
    """The folder of dataset ``key``: benchopt's own answer in a run, the
    same rule applied to ``benchmark_dir`` (this checkout by default)
    outside one."""
    if get_running_benchmark() is not None and benchmark_dir is None:
        return Path(get_data_path(key))
    root = Path(benchmark_dir or BENCHMARK_DIR).resolve()

    def setting(name):
        # benchopt's reader: the environment (BENCHOPT_<NAME>) first, then
        # the benchmark's config.yml, then benchopt's default.
        return get_setting(name, config_file=root / "config.yml",
                           benchmark_name=root.name.replace(".", "-"))

    home = setting("data_home")
    home = (root / "data" if home is None
            else Path(os.path.expandvars(home)).expanduser())
    configured = (setting("data_paths") or {}).get(key)
    if configured is None:
        return (home / key).resolve()
    path = Path(os.path.expandvars(configured)).expanduser()
    return (path if path.is_absolute() else home / path).resolve()
