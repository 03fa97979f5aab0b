"""Runs that share a device (training/sharing.py): counted at every
evaluation, recorded in the results, and named on the pages wherever time
is compared."""
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmark_utils.training import sharing
from benchopt_cli import benchopt, copy_benchmark, read_results

ROOT = Path(__file__).resolve().parents[1]


def run_python(code, env=None, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
        env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, **kwargs)


def test_runs_overlapping_a_stage_are_counted_and_finished_ones_drop_out(
        tmp_path):
    a = sharing.DeviceShare("cpu", folder=tmp_path)
    b = sharing.DeviceShare("cpu", folder=tmp_path)
    a.start()
    assert a.stage_runs() == 1
    b.start()
    assert a.stage_runs() == 2 and b.stage_runs() == 2
    b.finish()
    # b ran during the stage that just ended: still counted once...
    assert a.stage_runs() == 2
    # ...but not in the next one.
    assert a.stage_runs() == 1
    a.finish()


def test_runs_on_another_device_are_not_counted(tmp_path, monkeypatch):
    a = sharing.DeviceShare("cpu", folder=tmp_path)
    other = sharing.DeviceShare("cpu", folder=tmp_path)
    other.key = "cuda-GPU-0000"
    a.start()
    other.start()
    assert a.stage_runs() == 1 and other.stage_runs() == 1


def test_a_crashed_run_counts_until_its_last_refresh(tmp_path):
    a = sharing.DeviceShare("cpu", folder=tmp_path)
    a.start()
    crash = run_python(f"""
        import os
        from benchmark_utils.training.sharing import DeviceShare
        s = DeviceShare("cpu", folder={str(tmp_path)!r})
        s.start()
        os._exit(1)             # no finish(): a killed run
    """)
    assert crash.wait(timeout=300) == 1
    assert a.stage_runs() == 2      # it ran during this stage
    assert a.stage_runs() == 1      # dead since: not running any more


def test_an_unwritable_folder_counts_one_run_and_says_so(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    a = sharing.DeviceShare("cpu", folder=blocker / "runs")
    a.start()
    assert a.stage_runs() == 1
    a.finish()
    assert "will not be detected" in capsys.readouterr().err


def test_records_older_than_a_day_are_removed(tmp_path):
    old = sharing.DeviceShare("cpu", folder=tmp_path)
    old.start()
    old.finish()
    stamp = time.time() - sharing.KEEP_S - 60
    old._write(end=stamp)
    a = sharing.DeviceShare("cpu", folder=tmp_path)
    a.start()
    assert a.stage_runs() == 1
    assert not old.path.exists() and a.path.exists()


def test_two_processes_running_at_once_see_each_other(tmp_path):
    """Each process records itself, waits for the other, then counts."""
    code = """
        import sys, time
        from pathlib import Path
        from benchmark_utils.training.sharing import DeviceShare
        folder, me = Path(sys.argv[1]), sys.argv[2]
        s = DeviceShare("cpu", folder=folder / "runs")
        s.start()
        (folder / me).touch()
        deadline = time.time() + 300    # a hang, not a speed limit
        while not all((folder / n).exists() for n in ("p0", "p1")):
            assert time.time() < deadline, "the other never started"
            time.sleep(0.05)
        print("RUNS", s.stage_runs())
        (folder / (me + "-done")).touch()
        while not all((folder / n).exists() for n in ("p0-done", "p1-done")):
            assert time.time() < deadline, "the other never counted"
            time.sleep(0.05)
        s.finish()
    """
    procs = [subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(tmp_path), f"p{i}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert "RUNS 2" in out, out
    assert "2 runs share this device" in outs[0][1]


def page_texts(bench, df):
    """The titles of the convergence plot (time and step axes), the speedup
    table and the provenance rows of one results frame."""
    from benchopt.benchmark import Benchmark
    plots = {p.name: p for p in Benchmark(bench).get_plots()}
    d, o = df["dataset_name"].iloc[0], df["objective_name"].iloc[0]
    conv = plots["convergence"]
    return dict(
        time=conv.get_metadata(df, d, o, "objective_value", "time",
                               "std")["title"],
        step=conv.get_metadata(df, d, o, "objective_value", "step",
                               "std")["title"],
        speedup=plots["speedup"].get_metadata(df, d, o, "objective_value",
                                              "adamw")["title"],
        provenance=dict(plots["provenance"].plot(df, d, o)))


@pytest.mark.parametrize("packed", [True, False])
def test_a_run_sharing_its_device_says_so_where_time_is_compared(
        tmp_path, monkeypatch, packed):
    """A benchopt run while another run holds the CPU (a live process's
    record): every evaluation counts 2 runs, and the time-axis plot, the
    speedup table and the provenance say so. Alone: 1, and no warning."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("INNAPROP_RUNS_DIR", str(runs))
    holder = None
    if packed:
        holder = run_python("""
            import sys, time
            from benchmark_utils.training.sharing import DeviceShare
            DeviceShare("cpu").start()
            print("HOLDING", flush=True)
            time.sleep(900)
        """)
        assert holder.stdout.readline().strip() == "HOLDING"
    try:
        bench = copy_benchmark(tmp_path / "bench")
        res = benchopt("run", ".", "-d", "digits[epochs=2]", "-s", "adamw",
                       "-s", "innaprop", "-r", "1", "--no-plot",
                       "--no-timeout", "--output", "packed", cwd=bench)
        assert res.returncode == 0, res.stderr[-3000:]
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    df = read_results(bench, "packed")
    counts = set(df["objective_device_runs"])
    texts = page_texts(bench, df)
    warning = "Packed runs: up to 2 runs shared a device"
    if packed:
        assert counts == {2}
        assert "2 runs share this device" in res.stderr
        assert warning in texts["time"] and warning in texts["speedup"]
        assert warning not in texts["step"]     # steps are exact
        assert texts["provenance"]["device_shared"].startswith("yes: up to 2")
    else:
        assert counts == {1}
        assert "Packed" not in texts["time"] + texts["speedup"]
        assert texts["provenance"]["device_shared"].startswith("no")


def test_the_time_based_profile_warns_about_packed_workloads():
    import pandas as pd
    from benchmark_utils.reporting import profiles

    def frame(workload, packed):
        rows = [dict(solver_name=s, idx_rep=0, stop_val=k, time=float(k),
                     objective_step=10 * k, objective_value=v,
                     dataset_name=workload, objective_name="o",
                     objective_device_runs=2 if packed else 1)
                for s, values in (("adamw", [3, 2, 1]),
                                  ("innaprop", [3, 1, 0.5]))
                for k, v in enumerate(values)]
        return pd.DataFrame(rows)
    alone = profiles.workloads({"a": frame("A", False)})[2]
    assert not any("packed" in w for w in alone)
    mixed = profiles.workloads({"a": frame("A", False),
                                "b": frame("B", True)})[2]
    packed = [w for w in mixed if "packed" in w]
    assert len(packed) == 1 and "B / o" in packed[0] and "A / o" not in \
        packed[0]
