"""The checkpoints that will not resume.

    python -m benchmark_utils.training.resume [--remove] [folder]

lists the checkpoints of unfinished runs with their sizes, and which will not
resume (their code or their data changed); ``--remove`` deletes those.
Checkpointing a benchopt run is bench/resume.py's.
"""
import argparse
import os
import shutil
from pathlib import Path

from benchmark_utils.training.checkpoint import runs
from benchmark_utils.training.identity import ROOT, code_files_version, \
    is_current


def why_stale(fields):
    """Why the run a checkpoint folder records will not resume with the
    code and data here, or None if it will."""
    solver = fields.get("solver", "").split("[")[0]
    solver_file = ROOT / "solvers" / f"{solver}.py"
    if not solver_file.exists():
        return f"no solver {solver!r} here"
    if fields.get("code") != code_files_version(str(solver_file)):
        return "the code changed"
    if fields.get("data") and not is_current(fields["data"]):
        return "its data changed"
    return None


def main(argv=None, why_stale=None):
    """List (and with --remove delete) the checkpoints of runs that will not
    resume. ``why_stale(fields)`` says why a run will not resume, or None;
    the default is ``why_stale``."""
    parser = argparse.ArgumentParser(description=main.__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default=None,
                        help="checkpoint folder (default: "
                             "INNAPROP_CHECKPOINT_DIR, else ./checkpoints)")
    parser.add_argument("--remove", action="store_true",
                        help="delete the runs that will not resume")
    args = parser.parse_args(argv)
    why_stale = why_stale or globals()["why_stale"]
    root = Path(args.folder or os.environ.get("INNAPROP_CHECKPOINT_DIR")
                or "checkpoints")
    total = removed = 0
    for folder, fields, size in runs(root):
        why = "unreadable" if fields is None else why_stale(fields)
        name = (f"{fields.get('dataset')} / {fields.get('solver')} / "
                f"repetition {fields.get('repetition')}" if fields else
                folder.name)
        print(f"{size / 2**20:9.1f} MB  {name}: "
              f"{why and 'will not resume (' + why + ')' or 'resumable'}")
        total += size
        if why and args.remove:
            shutil.rmtree(folder, ignore_errors=True)
            removed += size
    print(f"{total / 2**20:.1f} MB in {root}"
          + (f", {removed / 2**20:.1f} MB removed" if args.remove else ""))


if __name__ == "__main__":
    main()
