"""Where a dataset's files come from, as a string that changes when they do.

A run's identity (its checkpoints, and benchopt's result cache) includes the
data source: the resolved path plus a cheap fingerprint of the files (names,
sizes and modification times, two levels deep, no content read), so that a
run never resumes, nor is served from the cache, across a change of data.
"""
import hashlib
import os
from pathlib import Path

from benchopt import BaseDataset
from benchopt.config import get_data_path

MAX_ENTRIES = 20_000   # ImageNet: 2 splits x 1000 class folders, cheap


def data_source(path):
    """``"<resolved path>#<fingerprint>"``; the fingerprint is "missing" when
    nothing is there."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        return f"{path}#missing"
    h = hashlib.sha256()
    for entry, st in _entries(path):
        h.update(f"{entry}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return f"{path}#{h.hexdigest()[:16]}"


def _entries(path):
    """(relative name, stat) of ``path`` and what lies one and two levels
    below it (folders at the second level are stat-ed, not listed)."""
    yield ".", path.stat()
    if not path.is_dir():
        return
    n = 0
    for child in sorted(os.scandir(path), key=lambda e: e.name):
        yield child.name, child.stat()
        if child.is_dir():
            for grand in sorted(os.scandir(child.path), key=lambda e: e.name):
                n += 1
                if n > MAX_ENTRIES:
                    return
                yield f"{child.name}/{grand.name}", grand.stat()


def is_current(source):
    """Whether a source string (``data_source``'s, or several joined by
    " + ") still describes the files on disk."""
    return all(data_source(part.rpartition("#")[0]) == part
               for part in source.split(" + "))


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
