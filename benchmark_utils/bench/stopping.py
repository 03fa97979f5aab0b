"""The stopping rule of every run: the recipe's budget."""
import sys

from benchopt.stopping_criterion import StoppingCriterion


class TrainingBudgetCriterion(StoppingCriterion):
    """Stop when the recipe's budget is spent, never on slow progress.

    benchopt's default criterion stops a run whose value stalls for three
    evaluations, and it drops the whole curve of a run it marks diverged.
    Here the training loop itself stops at its budget or on a non-finite
    loss (reported in the ``diverged`` column, curve kept). benchopt's own
    --timeout and --max-runs still apply; when they cut a run before its
    budget, this says so loudly.
    """

    def __init__(self, strategy="callback", key_to_monitor=None,
                 minimize=True):
        super().__init__(strategy=strategy, key_to_monitor=None,
                         minimize=minimize)

    def check_convergence(self, objective_list):
        done = objective_list[-1].get("objective_budget_done", 0.0)
        return False, min(1.0, float(done))

    def should_stop(self, stop_val, objective_list):
        stop, status, next_val = super().should_stop(stop_val, objective_list)
        done = objective_list[-1].get("objective_budget_done", 1.0)
        if stop and status in ("timeout", "max_runs") and done < 1:
            flag = "--timeout" if status == "timeout" else "--max-runs"
            print(f"\nWARNING: benchopt's {flag} stopped {self.solver} at "
                  f"{100 * done:.1f}% of its training budget. Use "
                  "--no-timeout and a larger --max-runs (the run configs in "
                  "configs/ set both) to train to the end.",
                  file=sys.stderr, flush=True)
        return stop, status, next_val
