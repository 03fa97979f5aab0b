"""Downloads that cannot hang and leave nothing behind when they fail.

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
from pathlib import Path


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
