"""Search spaces and their quasi-random draws.

A search space maps a solver parameter to ``{"log_uniform": [low, high]}``,
``{"uniform": [low, high]}`` or ``{"choice": [v1, v2, ...]}`` (the project's
convention: a solver's ``search_space`` class attribute, or a study file's
``search_space`` for that solver, which replaces it).
"""
import math

import numpy as np
from scipy.stats import qmc

from benchmark_utils.tuning.checks import is_number, text_number_hint

KINDS = ("log_uniform", "uniform", "choice")


def check_space(space, solver, parameters):
    """``space`` validated against the solver's benchopt ``parameters``;
    errors name the solver, the parameter and what is allowed."""
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{solver}: the search space must be a non-empty "
                         f"mapping of parameters, got {space!r}.")
    for name, spec in space.items():
        if name not in parameters:
            raise ValueError(
                f"{solver}: search space parameter {name!r} is not a "
                f"parameter of the solver; allowed: {sorted(parameters)}.")
        if not isinstance(spec, dict) or len(spec) != 1 \
                or next(iter(spec)) not in KINDS:
            raise ValueError(
                f"{solver}.{name}: {spec!r} must be one of "
                f"{{'log_uniform': [low, high]}}, {{'uniform': [low, high]}}"
                f" or {{'choice': [v1, ...]}}.")
        kind, values = next(iter(spec.items()))
        if kind == "choice":
            if not isinstance(values, list) or not values:
                raise ValueError(f"{solver}.{name}: choice needs a non-empty "
                                 f"list, got {values!r}.")
            continue
        if not (isinstance(values, list) and len(values) == 2):
            raise ValueError(f"{solver}.{name}: {kind} needs [low, high] "
                             f"(two numbers), got {values!r}.")
        for v in values:
            if not is_number(v) or not math.isfinite(v):
                raise ValueError(
                    f"{solver}.{name}: {kind} bound {v!r} is not a number;"
                    f" allowed: [low, high], two finite numbers."
                    f"{text_number_hint(v)}")
        if not values[0] < values[1]:
            raise ValueError(f"{solver}.{name}: {kind} needs [low, high] "
                             f"with low < high, got {values!r}.")
        if kind == "log_uniform" and values[0] <= 0:
            raise ValueError(f"{solver}.{name}: log_uniform needs low > 0, "
                             f"got {values!r}.")
    return space


def unit_points(n_dims, n, seed):
    """The first ``n`` points of a scrambled Halton sequence in [0, 1)^d
    (scipy.stats.qmc), the same for every solver of a study."""
    return qmc.Halton(d=n_dims, scramble=True, seed=seed).random(n)


def scale(spec, u):
    """One coordinate ``u`` in [0, 1) mapped into ``spec``'s range."""
    kind, values = next(iter(spec.items()))
    if kind == "choice":
        return values[min(int(u * len(values)), len(values) - 1)]
    low, high = values
    if kind == "uniform":
        return round_value(low + u * (high - low))
    return round_value(math.exp(math.log(low)
                                + u * (math.log(high) - math.log(low))))


def round_value(x):
    """Four significant digits: trials read as they run (benchopt's solver
    names carry the values) and re-parse to the same float."""
    return float(f"{x:.4g}")


# Parameters every solver's trials place on the same Halton coordinates,
# whatever else the solver searches (common random numbers): two solvers
# with the same lr and weight-decay ranges get the same lr and weight-decay
# trials, so that their comparison is not a comparison of luck.
SHARED = ("lr", "weight_decay")


def dimensions(space):
    """{parameter: Halton dimension}: lr 0, weight_decay 1 (whether or not
    the space searches them), the other parameters 2, 3, ... in name
    order."""
    others = sorted(k for k in space if k not in SHARED)
    dims = {name: i for i, name in enumerate(SHARED) if name in space}
    dims.update({name: len(SHARED) + i for i, name in enumerate(others)})
    return dims


def draw(space, n, seed):
    """``n`` trials of ``space``, a list of {parameter: value}, each
    parameter on its coordinate of one scrambled Halton sequence
    (``dimensions``)."""
    dims = dimensions(space)
    points = np.asarray(unit_points(max(dims.values()) + 1, n, seed))
    return [{name: scale(space[name], row[d]) for name, d in dims.items()}
            for row in points]
