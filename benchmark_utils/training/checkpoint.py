"""Checkpoints that survive crashes: atomic writes, verified reads, fallback.

Each run has its own folder, named by a hash of everything that defines the
run, so two different runs never share a checkpoint. A checkpoint is written
to a temporary file, flushed to disk and renamed into place; its SHA-256 goes
in a small JSON file written the same way after it. A read verifies the hash
before unpickling, so a truncated or corrupted file is detected, reported, and
the previous good checkpoint (or a fresh start) is used instead.

A run holds a lock on its folder (``filelock``, released if the process
dies) while it trains, so that two identical runs started at once never
share one; temporary files carry the writer's pid and a random suffix.
"""
import hashlib
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import torch
from filelock import FileLock, Timeout

KEEP = 2  # the newest checkpoint and the one before, to fall back on


def run_key(**fields):
    """A stable hash of the fields that define a run."""
    text = json.dumps({k: str(v) for k, v in fields.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _HashingWriter:
    """A file that hashes what is written to it: one pass over the bytes."""

    def __init__(self, f):
        self.f, self.hash = f, hashlib.sha256()

    def write(self, data):
        self.hash.update(data)
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def _atomic_write(path, write):
    """Write through ``write(file)`` to a temporary file, flush it to disk,
    rename it into place; return the SHA-256 of what was written."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
                         ".tmp")
    try:
        with open(tmp, "wb") as f:
            writer = _HashingWriter(f)
            write(writer)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)   # a full disk leaves nothing behind
        raise
    return writer.hash.hexdigest()


def read_checkpoint(path):
    """The state saved at ``path``, after checking its SHA-256 against the
    one recorded beside it; raises if it is missing, truncated or altered.
    Every process of a run reads checkpoints through this."""
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    if _sha256(path) != meta["sha256"]:
        raise ValueError("its SHA-256 does not match the one recorded when "
                         "it was written")
    return torch.load(path, map_location="cpu", weights_only=False)


class CheckpointStore:
    """The checkpoints of one run, in ``root/<key>/``.

    Args:
        root: folder holding every run's checkpoints.
        fields: what defines the run (dataset, objective, solver with their
            parameters, seed, repetition, code version); hashed into the
            folder name and stored beside the checkpoints for humans.
    """

    def __init__(self, root, **fields):
        self.fields = {k: str(v) for k, v in fields.items()}
        self.root = Path(root)
        self.dir = self.root / run_key(**fields)
        self.loaded_path = None
        self._lock = None

    def _paths(self):
        return sorted(self.dir.glob("ckpt-*.pt"), reverse=True)

    def lock(self):
        """Take this run's lock, or raise if another process holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.dir / "run.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise RuntimeError(
                f"Another process is running this very run (same dataset, "
                f"solver, seed and code: {self.fields.get('solver')}, "
                f"repetition {self.fields.get('repetition')}) and holds "
                f"{self.dir / 'run.lock'}. Wait for it to finish (rerun "
                "then: benchopt's cache holds its results), or run with "
                "INNAPROP_CHECKPOINTS=0.") from None
        self._lock = lock

    def unlock(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def others_of_the_same_run(self, ignore=("data",)):
        """Folders of checkpoints whose run differs from this one only in
        the fields ``ignore`` names: what a changed data source leaves."""
        same = {k: v for k, v in self.fields.items() if k not in ignore}
        found = []
        for meta in self.root.glob("*/ckpt-*.json"):
            if meta.parent == self.dir:
                continue
            try:
                run = json.loads(meta.read_text())["run"]
            except (OSError, ValueError, KeyError):
                continue
            if {k: v for k, v in run.items() if k not in ignore} == same:
                found.append(meta.parent)
        return sorted(set(found))

    def save(self, state, index):
        """Write ``state`` as checkpoint number ``index`` (increasing)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"ckpt-{index:08d}.pt"
        digest = _atomic_write(path, lambda f: torch.save(state, f))
        meta = dict(index=index, sha256=digest,
                    bytes=path.stat().st_size, run=self.fields)
        _atomic_write(path.with_suffix(".json"),
                      lambda f: f.write(json.dumps(meta, indent=1).encode()))
        for old in self._paths()[KEEP:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)

    def load(self):
        """The newest checkpoint that verifies, or None. Bad ones are
        reported on stderr and skipped."""
        for path in self._paths():
            try:
                state = read_checkpoint(path)
                self.loaded_path = path
                return state
            except Exception as e:  # missing meta, truncated, unreadable
                print(f"WARNING: checkpoint {path} is unusable ({e}); "
                      "falling back to the previous one.", file=sys.stderr,
                      flush=True)
        return None

    def clear(self):
        """Remove this run's checkpoints (the run is finished and cached)."""
        self.unlock()
        shutil.rmtree(self.dir, ignore_errors=True)


def runs(root):
    """Each run folder under ``root``: (folder, its run fields or None,
    bytes on disk)."""
    found = []
    for folder in sorted(Path(root).glob("*/")):
        if not folder.is_dir():
            continue
        metas = sorted(folder.glob("ckpt-*.json"))
        try:
            fields = json.loads(metas[-1].read_text())["run"]
        except (IndexError, OSError, ValueError, KeyError):
            fields = None
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        found.append((folder, fields, size))
    return found
