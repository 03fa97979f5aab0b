"""benchopt's dataset: the base of the datasets read from local files."""
from pathlib import Path

from benchopt import BaseDataset
from benchopt.config import get_data_path

from benchmark_utils.training.identity import data_source


class LocalDataset(BaseDataset):
    """Base of the datasets read from local files: ``data_key`` names their
    folder in config.yml's ``data_paths`` and ``data_marker`` what must be in
    it. Their data source is part of benchopt's cache key (benchopt hashes
    what ``_get_state`` returns) and of the checkpoint key (``task.source``,
    set by ``source()``)."""

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
