"""What the measured time of a run includes: training, not the warm-up."""
import time

import pandas as pd
from benchopt.cli.main import run


def test_every_solver_warms_up_outside_its_timed_region(bench, monkeypatch,
                                                       capsys):
    """Each warm-up sleeps 4 s; benchopt's times do not see them, and every
    solver has one (the CPU too), so the first one does not pay torch's
    lazy start alone. A warm-up that long says how long it took, on the
    CPU too (the fused INNAprop step's first build there is 15-20 s)."""
    import benchmark_utils.training.trainer as trainer_module

    calls = []
    real = trainer_module.Trainer.warm_up

    def slow(self, steps=3):
        calls.append(steps)
        time.sleep(4)
        return real(self, steps)

    monkeypatch.setattr(trainer_module.Trainer, "warm_up", slow)
    monkeypatch.setenv("INNAPROP_CHECKPOINTS", "0")
    monkeypatch.setenv("INNAPROP_DEVICE", "cpu")
    start = time.perf_counter()
    run([str(bench), "-s", "adamw", "-s", "innaprop", "-d", "simulated",
         "--no-plot", "-n", "10", "--no-timeout", "--output", "warm"],
        standalone_mode=False)
    assert time.perf_counter() - start > 8
    df = pd.read_parquet(bench / "outputs" / "warm.parquet")
    assert len(calls) == 2
    assert df.groupby("solver_name")["time"].max().max() < 4
    said = capsys.readouterr().err
    assert said.count("outside the timed runs") == 2, said[-2000:]
