"""Which runs shared a device, so that results can say their wall-clock
times distort each other.

Runs packed on one device (``benchopt run -j 2``, two benchopt commands on
one machine, SLURM jobs sharing a node's GPU) slow each other down: their
time axes and times to target are not comparable with unpacked runs, while
their step and epoch axes stay exact. Each timed run keeps a small JSON
record in a per-machine folder (``INNAPROP_RUNS_DIR``, default the system's
temporary directory): its device, process id and start time, refreshed at
every evaluation and given an end time when the run finishes. At each
evaluation a run counts the other runs whose [start, end] overlaps the
stage that just ended; the objective records the count, itself included,
in the ``device_runs`` column. A run that crashed ends at its last refresh.

Only runs of this benchmark on the same machine are seen: another program
using the GPU is not.
"""
import json
import os
import sys
import time
import uuid
from pathlib import Path

import torch

from benchmark_utils.training import environment

# Records of finished runs are kept this long, for the runs they overlapped
# to see them, then removed.
KEEP_S = 24 * 3600


def runs_dir():
    return environment.runs_dir()


def device_key(device):
    """The device as every process on the machine names it: the CPU, or a
    GPU's UUID (CUDA_VISIBLE_DEVICES renumbers GPUs between processes)."""
    device = torch.device(device)
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None \
        else torch.cuda.current_device()
    uuid_ = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return f"cuda-{uuid_}" if uuid_ is not None else f"cuda-{index}"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # another user's live process
        return True
    return True


class DeviceShare:
    """One run's record, and the count of runs that overlapped its stages.

    ``start()`` when the run's timed part begins, ``stage_runs()`` at each
    evaluation, ``finish()`` when it ends (also on errors)."""

    def __init__(self, device, folder=None):
        self.key = device_key(device)
        self.folder = Path(folder) if folder else runs_dir()
        self.path = self.folder / f"{os.getpid()}-{uuid.uuid4().hex}.json"
        self.begin = self.last = None
        self.noticed = False

    def _write(self, end=None):
        record = dict(device=self.key, pid=os.getpid(), start=self.begin,
                      end=end)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.path)  # readers never see half a record

    def start(self):
        self.begin = self.last = time.time()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write()
        except OSError as err:      # an unwritable folder: count nothing
            print(f"innaprop: cannot record this run in {self.folder} "
                  f"({err}); runs sharing the device will not be "
                  "detected.", file=sys.stderr, flush=True)
            self.path = None

    def _others(self):
        """(start, end) of the other runs on this device; end None: still
        running."""
        now = time.time()
        for path in self.folder.glob("*.json"):
            if path == self.path:
                continue
            try:
                record = json.loads(path.read_text())
                refreshed = path.stat().st_mtime
            except (OSError, ValueError):   # removed meanwhile, or foreign
                continue
            end = record.get("end")
            if end is None and not _alive(record.get("pid", -1)):
                end = refreshed             # crashed: its last refresh
            if end is not None and end < now - KEEP_S:
                path.unlink(missing_ok=True)
                continue
            if record.get("device") == self.key and \
                    record.get("start") is not None:
                yield record["start"], end

    def stage_runs(self):
        """Runs on this device during the stage since the last call (or the
        start), this one included."""
        if self.path is None:
            return 1
        now = time.time()
        count = 1 + sum(1 for start, end in self._others()
                        if start <= now and (end is None or end >= self.last))
        self.last = now
        os.utime(self.path)     # the refresh a crash leaves as its end
        if count > 1 and not self.noticed:
            self.noticed = True
            print(f"\ninnaprop: {count} runs share this device "
                  f"({self.key}); their wall-clock times distort each "
                  "other (the result pages say so; step and epoch axes "
                  "stay exact).", file=sys.stderr, flush=True)
        return count

    def finish(self):
        if self.path is None or self.begin is None:
            return
        try:
            self._write(end=time.time())
        except OSError:
            pass
