"""What identifies a run besides its parameters: the code it runs and
the data it reads.

A run's identity (its checkpoints, and benchopt's result cache) includes

- the code version: a hash of the files a run executes, so that a run
  never resumes, nor is served from the cache, across an edit of the code;
- the data source: the resolved path plus a cheap fingerprint of the files
  (names, sizes and modification times, two levels deep, no content read),
  so that the same holds across a change of data.
"""
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from benchmark_utils.training.environment import ROOT

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


def code_version(solver_class):
    """A hash of the code a run executes (shared code, the optimizer
    package, the solver's file, the datasets, the objective): a checkpoint
    of other code is not resumed."""
    solver_file = getattr(solver_class, "_module_filename", None)
    return code_files_version(None if solver_file is None
                              else str(solver_file))


@lru_cache(maxsize=None)
def code_files_version(solver_file):
    """The hash of the shared code and of ``solver_file`` (None: the shared
    code only)."""
    files = (sorted(ROOT.glob("benchmark_utils/**/*.py"))
             + sorted(ROOT.glob("innaprop/*.py"))
             + sorted(ROOT.glob("innaprop/csrc/*"))
             + sorted(ROOT.glob("datasets/*.py")) + [ROOT / "objective.py"])
    if solver_file is not None:
        files.append(Path(solver_file))
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
