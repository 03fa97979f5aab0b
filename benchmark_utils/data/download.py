"""Downloads that cannot hang and leave nothing behind when they fail, and
the one error that says a dataset's files are absent.

torchvision and torch.hub download through urllib without a timeout: a
network that accepts a connection and never answers hangs the run with no
output. Inside ``downloading``, every socket gives up after
INNAPROP_DOWNLOAD_TIMEOUT seconds of silence (60 by default), and the
folders the failed download created (a typo in data_paths, say) are removed
again while they are empty.
"""
import contextlib
import os
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit


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
    return float(os.environ.get("INNAPROP_DOWNLOAD_TIMEOUT", "60"))


@contextlib.contextmanager
def downloading(folder):
    """Around a download into ``folder``."""
    folder = Path(folder).expanduser().absolute()
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_seconds())
    try:
        yield
    except BaseException:
        for path in missing:    # deepest first
            with contextlib.suppress(OSError):
                path.rmdir()    # only if empty
        raise
    finally:
        socket.setdefaulttimeout(previous)
