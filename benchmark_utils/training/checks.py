"""Checks of the benchmark's parameters, run before any training: each
error names the parameter, the value and what is allowed.

benchopt passes command-line values through as YAML scalars, so a typo
arrives as a string, and ``epochs=1.5`` as a float: both are refused here
rather than deep in the trainer.
"""
import numbers


def _refuse(name, value, allowed):
    raise ValueError(f"{name}={value!r} is not allowed: {name} must be "
                     f"{allowed}.")


def positive_int(name, value, allow_none=False):
    """An integer >= 1 (None too, with allow_none). Returns it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or value < 1:
        _refuse(name, value, "a positive integer" + (" or None" if allow_none
                                                     else ""))
    return int(value)


def nonnegative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or value < 0:
        _refuse(name, value, "an integer >= 0")
    return int(value)


def number(name, value, minimum=None, allow_none=False, strict=False):
    """A real number (>= minimum, or > minimum with strict). Returns it as a
    float."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if not ok:
        bound = "" if minimum is None else (
            f" {'>' if strict else '>='} {minimum}")
        _refuse(name, value, f"a number{bound}"
                + (" or None" if allow_none else ""))
    return float(value)


def one_of(name, value, allowed):
    if value not in allowed:
        _refuse(name, value, "one of " + ", ".join(map(repr, allowed)))
    return value
