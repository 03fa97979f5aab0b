"""Where a run stands: what the trainer reports at each evaluation and the
objective turns into columns of the results."""
from dataclasses import dataclass, field


@dataclass
class Progress:
    step: int = 0               # optimizer steps done
    epoch: float = 0.0          # steps / steps per epoch
    lr: float = 0.0             # the first group's current learning rate
    diverged: bool = False
    budget_done: float = 0.0    # fraction of the recipe's budget
    seen: int = 0               # examples (or tokens) trained on
    train_time: float = 0.0     # seconds of training
    running: dict = field(default_factory=dict)  # the last stage's sums
    optimizer_metrics: dict = field(default_factory=dict)  # Sophia: win_rate
    device_runs: int = 1        # runs on this device during the last stage
    state_bytes: float = float("nan")   # optimizer state, bytes / parameter
    peak_memory: float = float("nan")   # MiB on the device (CUDA only)

    def columns(self, unit="samples"):
        """The results' columns, ``unit`` naming the throughput's."""
        return dict(step=self.step, epoch=self.epoch, lr=self.lr,
                    diverged=int(self.diverged),
                    budget_done=self.budget_done,
                    device_runs=self.device_runs,
                    state_bytes_per_param=self.state_bytes,
                    peak_memory_mib=self.peak_memory, **{
                        unit: self.seen,
                        f"{unit}_per_second": (self.seen / self.train_time
                                               if self.train_time else 0.0)},
                    **self.optimizer_metrics)


def duration(seconds):
    """"2 h 05 min", "8 min 28 s", "12 s": a time a person plans with."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {s:02d} s"
    return f"{s} s"


def status_line(name, unit, done, total, train_time, elapsed):
    """Where a long run stands: ``done`` of ``total`` epochs (or steps),
    the training time per unit so far, and the time left at the pace of
    the whole run so far (``elapsed``, evaluations included)."""
    left = elapsed * (total - done) / done if done else float("nan")
    per_unit = train_time / done if done else float("nan")
    per = f"{per_unit:.3g} s" if per_unit < 60 else duration(per_unit)
    return (f"{name}: {unit} {done:g}/{total:g} "
            f"({100 * done / total:.0f}%), {per} per {unit} of training, "
            f"about {duration(left)} left")
