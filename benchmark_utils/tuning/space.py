"""Search spaces and their quasi-random draws.

A search space maps a solver parameter to ``{"log_uniform": [low, high]}``,
``{"uniform": [low, high]}`` or ``{"choice": [v1, v2, ...]}`` (the project's
convention: a solver's ``search_space`` class attribute, or a study file's
``search_space`` for that solver, which replaces it).
"""
import math

import numpy as np
from scipy.stats import qmc

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
        if not (isinstance(values, list) and len(values) == 2
                and all(isinstance(v, (int, float)) for v in values)
                and values[0] < values[1]):
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


def draw(space, n, seed):
    """``n`` trials of ``space``, a list of {parameter: value}; parameters
    in sorted order, one Halton dimension each."""
    names = sorted(space)
    points = unit_points(len(names), n, seed)
    return [{name: scale(space[name], u) for name, u in zip(names, row)}
            for row in np.asarray(points)]
