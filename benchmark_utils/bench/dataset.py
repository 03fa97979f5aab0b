"""benchopt's dataset: the base of the datasets read from local files, and
how a dataset whose files are absent is skipped rather than failing the
whole run."""
from pathlib import Path

from benchopt import BaseDataset
from benchopt.config import get_data_path

from benchmark_utils.bench import runner
from benchmark_utils.data.download import DataNotFound
from benchmark_utils.training.identity import data_source

# `benchopt prepare` imports the datasets, not the objective.
runner.install()

# The key of the data a dataset hands over when its files are absent; the
# objective's ``skip`` reads it (objective.py).
MISSING = "missing"


class LocalDataset(BaseDataset):
    """Base of the datasets read from local files: ``data_key`` names their
    folder in config.yml's ``data_paths`` and ``data_marker`` what must be in
    it. Their data source is part of benchopt's cache key (benchopt hashes
    what ``_get_state`` returns) and of the checkpoint key (``task.source``,
    set by ``source()``).

    A ``get_data`` that raises ``DataNotFound`` hands over
    ``{"missing": message}`` instead: benchopt then skips the dataset with
    that message (Objective.skip). benchopt calls ``get_data`` before any
    run and outside its error handling, so an exception there would end
    the whole ``benchopt run``, other datasets' results included."""

    data_key = None
    data_marker = ""

    def data_root(self):
        return Path(get_data_path(self.data_key))

    def source(self):
        return data_source(self.data_root())

    def _get_state(self):
        return {"data_source": self.source()}

    def __setstate__(self, state):
        pass   # recomputed where it is needed

    def _get_data(self):
        if getattr(self, "_data", None) is not None and MISSING in self._data:
            return self._data    # looked for once per process
        try:
            return super()._get_data()
        except DataNotFound as e:
            runner.record_missing(str(self), str(e))
            self._data = {MISSING: str(e)}
            return self._data
