"""The run's environment: the benchmark's folder, and the INNAPROP_*
variables, each read here and checked for a valid value.

``check()`` checks them all at once, at the start of a run, so that a typo
costs a second rather than a failure deep inside torch (or a silently
ignored setting) after the data have loaded. Every refusal names the
variable, its value and what is allowed. The readers below are the only
places that interpret these variables.

    INNAPROP_DEVICE            cpu, cuda or cuda:<index> (default: cuda when
                               present, else cpu)
    INNAPROP_NPROC             processes per run: a number >= 1, or auto
    INNAPROP_CHECKPOINTS       1 (default) or 0: checkpoint runs or not
    INNAPROP_CHECKPOINT_DIR    a folder that is or can be made writable
    INNAPROP_DOWNLOAD_TIMEOUT  seconds of network silence, a number > 0
    INNAPROP_RUNS_DIR          a folder that is or can be made writable
"""
import math
import os
import re
import tempfile
from pathlib import Path

import torch

# The benchmark's folder (objective.py, datasets/, solvers/): every module
# that needs it takes it from here.
ROOT = Path(__file__).resolve().parents[2]

DEVICE = "INNAPROP_DEVICE"
NPROC = "INNAPROP_NPROC"
CHECKPOINTS = "INNAPROP_CHECKPOINTS"
CHECKPOINT_DIR = "INNAPROP_CHECKPOINT_DIR"
DOWNLOAD_TIMEOUT = "INNAPROP_DOWNLOAD_TIMEOUT"
RUNS_DIR = "INNAPROP_RUNS_DIR"


class BadEnvironment(ValueError):
    """An INNAPROP_* variable holds a value the benchmark cannot use."""


def _refuse(name, value, allowed):
    raise BadEnvironment(f"{name}={value!r} is not valid; allowed: "
                         f"{allowed}.")


def _get(name):
    """The variable's value, None when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def device():
    """The device runs train on: INNAPROP_DEVICE, else CUDA when present,
    else the CPU. A CUDA device that is not there is refused here, not by
    the first tensor sent to it."""
    value = _get(DEVICE)
    if value is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = re.fullmatch(r"(cpu|cuda)(?::(\d+))?", value)
    if not match or (match[1] == "cpu" and match[2] is not None):
        _refuse(DEVICE, value, "cpu, cuda or cuda:<index>")
    if match[1] == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            _refuse(DEVICE, value, "cpu (torch sees no CUDA device on this "
                    "machine)")
        if match[2] is not None and int(match[2]) >= count:
            _refuse(DEVICE, value, f"cpu, cuda or cuda:0 to cuda:{count - 1}"
                    f" ({count} CUDA device(s) here)")
    return torch.device(value)


def processes():
    """Processes per run (INNAPROP_NPROC): a number, or "auto" for one per
    visible GPU; 1 by default."""
    value = _get(NPROC) or "1"
    if value == "auto":
        return max(1, torch.cuda.device_count())
    if not re.fullmatch(r"\d+", value) or int(value) < 1:
        _refuse(NPROC, value, "a number of processes >= 1, or auto")
    return int(value)


def checkpoints():
    """Whether runs write checkpoints (INNAPROP_CHECKPOINTS, 1 by
    default)."""
    value = _get(CHECKPOINTS) or "1"
    if value not in ("0", "1"):
        _refuse(CHECKPOINTS, value, "1 (checkpoint runs) or 0 (do not)")
    return value == "1"


def _folder(name, default):
    """A folder variable: the folder, or ``default`` when unset; refused
    when it is a file, or when it cannot be written or created."""
    value = _get(name)
    if value is None:
        return Path(default)
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        _refuse(name, value, "a folder (this is a file)")
    existing = next(p for p in [path, *path.absolute().parents]
                    if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        _refuse(name, value, f"a folder this user can write ({existing} "
                "is not writable)")
    return path


def checkpoint_dir():
    """Where checkpoints go (INNAPROP_CHECKPOINT_DIR, else
    <benchmark>/checkpoints)."""
    return _folder(CHECKPOINT_DIR, ROOT / "checkpoints")


def runs_dir():
    """The per-machine folder of the runs' records (training/sharing.py)."""
    return _folder(RUNS_DIR, Path(tempfile.gettempdir())
                   / f"innaprop-runs-{os.getuid()}")


def download_timeout():
    """Seconds of silence after which a download gives up
    (INNAPROP_DOWNLOAD_TIMEOUT, 60 by default)."""
    value = _get(DOWNLOAD_TIMEOUT) or "60"
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        _refuse(DOWNLOAD_TIMEOUT, value, "a number of seconds > 0")
    return seconds


def check():
    """Every INNAPROP_* variable checked, once, at the start of a run.

    Returns {variable: the value the run will use}; raises BadEnvironment
    naming every bad variable (one per line) otherwise."""
    readers = {DEVICE: device, NPROC: processes, CHECKPOINTS: checkpoints,
               DOWNLOAD_TIMEOUT: download_timeout, RUNS_DIR: runs_dir}
    values, errors = {}, []
    for name, read in readers.items():
        try:
            values[name] = read()
        except BadEnvironment as e:
            errors.append(str(e))
    # The folder only matters when checkpoints are written.
    if values.get(CHECKPOINTS, True):
        try:
            values[CHECKPOINT_DIR] = checkpoint_dir()
        except BadEnvironment as e:
            errors.append(str(e))
    if errors:
        raise BadEnvironment("\n".join(errors))
    return values
