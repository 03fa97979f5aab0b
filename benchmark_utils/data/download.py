"""Downloads that cannot hang and leave nothing behind when they fail, and
the one error that says a dataset's files are absent.

torchvision and torch.hub download through urllib without a timeout: a
network that accepts a connection and never answers hangs the run with no
output. Inside ``downloading``, every socket gives up after
INNAPROP_DOWNLOAD_TIMEOUT seconds of silence (60 by default).

A failed download removes what it created: the files and folders that
appeared under its folder (torchvision creates ``MNIST/raw/`` before it
fetches anything, and an offline run used to leave it empty, which later
runs took for a copy of the data), and the folders above it that did not
exist (a typo in data_paths, say). Readers decide on the presence of the
data's files, never of a folder (``has_files``); ``prune_empty`` clears the
empty folders an older version may have left, so that they cannot stop a
download.
"""
import contextlib
import os
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from benchmark_utils.training import environment


class DataNotFound(RuntimeError):
    """A dataset's files (or pretrained weights) are absent, and could not
    be fetched here. Its message is one paragraph: what is missing, where
    it was looked for, and how to provide it. A run skips the dataset with
    that message (bench/dataset.py) instead of failing."""


@lru_cache(maxsize=None)
def reachable(url, timeout=3.0):
    """Whether ``url``'s server accepts a connection within ``timeout``
    seconds (once per process): offline, a download is not tried, rather
    than retried for a minute by the hub's client."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout):
            return True
    except OSError:
        return False


def timeout_seconds():
    return environment.download_timeout()


def _tree(folder):
    """Every file and folder below ``folder`` (not itself)."""
    if not folder.is_dir():
        return set()
    found = set()
    for top, dirs, files in os.walk(folder):
        found.update(Path(top) / name for name in dirs + files)
    return found


def _remove(paths):
    """Files, then folders deepest first; a folder only if empty."""
    for path in sorted(paths, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()


def has_files(folder):
    """Whether any file lies below ``folder`` (stops at the first)."""
    for _, _, files in os.walk(folder):
        if files:
            return True
    return False


def prune_empty(folder):
    """Remove the folders below ``folder`` that hold no file at all (and
    ``folder`` itself if it ends up empty). Returns whether it is gone."""
    folder = Path(folder)
    if not folder.is_dir():
        return not folder.exists()
    for top, _, _ in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(top)      # only succeeds on an empty folder
    return not folder.exists()


@contextlib.contextmanager
def downloading(folder):
    """Around a download into ``folder``."""
    folder = Path(folder).expanduser().absolute()
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    before = _tree(folder)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_seconds())
    try:
        yield
    except BaseException:
        _remove(_tree(folder) - before)
        _remove(missing)
        raise
    finally:
        socket.setdefaulttimeout(previous)
