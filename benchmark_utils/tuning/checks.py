"""What a study file must hold, checked whole before its first trial.

A mistake found after the trials have trained costs their compute; found
here it costs seconds. Every refusal names the file, the key, the value and
what is allowed. What is checked:

- ``name``: a plain file name (the study's outputs are outputs/<name>_*);
- ``dataset``: benchopt's selection string, parsed and built: a dataset
  class of datasets/, parameters it has, one value each;
- ``select``: a validation column that this dataset reports, held out
  from the test split the report reads (``held_out_columns``);
- ``target``: a finite number in the column's range, or
  ``tuned_baseline_median``;
- ``benchopt_args``: a list of strings;
- numbers written as text (YAML 1.1 reads ``1e-4`` as a string).
"""
import ast
import importlib.util
import math
import re
import sys
import types
from pathlib import Path

from benchmark_utils.tasks.base import Task
from benchmark_utils.tasks.finetune import FineTuneTask
from benchmark_utils.tasks.image import (ClassificationTask,
                                         LoaderClassificationTask)
from benchmark_utils.tasks.language import LanguageModelingTask


class StudyError(ValueError):
    """A study that cannot run, or that stopped: its message is the
    one-line reason."""


def plugin_classes(bench, folder, attribute):
    """{name: class} of ``bench/<folder>/*.py``: each module's ``Solver``
    or ``Dataset`` (``attribute``), by its benchopt name; the module is the
    class's ``__module__`` in sys.modules."""
    bench = str(Path(bench).resolve())
    if bench not in sys.path:
        sys.path.insert(0, bench)
    classes = {}
    for file in sorted(Path(bench, folder).glob("*.py")):
        module_name = f"study_{folder}_{file.stem}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        cls = getattr(module, attribute, None)
        if cls is not None:
            classes[cls.name] = cls
    return classes


# -- numbers ------------------------------------------------------------
def is_number(value):
    """A real number, not a bool (YAML's true is an int to Python)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def text_number_hint(value):
    """Why a string that reads as a number was refused, and how to write
    it; '' for other values."""
    if not isinstance(value, str):
        return ""
    try:
        float(value)
    except ValueError:
        return ""
    exponent = re.fullmatch(r"\s*([+-]?\d+)[eE]([+-]?\d+)\s*", value)
    how = (f"{exponent[1]}.0e{exponent[2]}" if exponent
           else value.strip())
    return (f" ({value!r} is text, not a number: YAML reads 1e-4 without "
            f"a decimal point, and anything quoted, as a string; write {how}"
            ", unquoted)")


# -- the study's own keys -------------------------------------------------
def check_name(name, where):
    """The study's name: its outputs are outputs/<name>_*, so a plain file
    name (no folder, no '..')."""
    if not (isinstance(name, str)
            and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)):
        raise StudyError(
            f"{where}: name={name!r}: allowed: a plain file name (letters, "
            "digits, '.', '_', '-', starting with a letter or digit): the "
            "study writes outputs/<name>_*.")
    return name


def check_benchopt_args(args, where):
    """``benchopt_args``: a list of strings (numbers are taken as written,
    ["-j", 2]); a single string would be passed character by character."""
    if not isinstance(args, list) or not all(
            isinstance(a, str) or is_number(a) for a in args):
        raise StudyError(
            f"{where}: benchopt_args={args!r}: allowed: a list of strings, "
            'e.g. ["-j", "2"] or ["--parallel-config", "configs/slurm.yml"].')
    return [str(a) for a in args]


def check_count(key, value, where):
    if type(value) is not int or value < 1:
        raise StudyError(f"{where}: {key}={value!r}: allowed: an integer "
                         f">= 1.{text_number_hint(value)}")
    return value


# -- the dataset ------------------------------------------------------------
def _literal(text):
    """One parameter value as benchopt reads it: a Python literal (numbers,
    True, None, quoted strings, lists), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _split_top(text):
    """``text`` split on the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def parse_selection(text):
    """(name, {parameter: value}) of benchopt's selection syntax,
    ``name[key=value,...]``."""
    match = re.fullmatch(r"\s*([^\[\]]+?)\s*(?:\[(.*)\])?\s*", text)
    if not match:
        raise ValueError("expected name or name[key=value,...]")
    params = {}
    for item in _split_top(match[2] or ""):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item.strip()!r} is not key=value")
        params[key.strip()] = _literal(value.strip())
    return match[1], params


def _check_value(key, value, defaults, label):
    if isinstance(value, (list, tuple)):
        raise StudyError(f"{label}: {key}={value!r}: a study runs one "
                         "workload: allowed: one value per parameter.")
    numeric = [v for v in defaults if v is not None]
    if numeric and all(is_number(v) for v in numeric) and \
            value is not None and not is_number(value):
        raise StudyError(f"{label}: {key}={value!r}: allowed: a number, "
                         f"as its default {numeric[0]!r}.")


def check_dataset(text, bench, where, classes=None):
    """The study's dataset, parsed and built: (Dataset class, its
    parameters, its instance)."""
    label = f"{where}: dataset={text!r}"
    if not isinstance(text, str):
        raise StudyError(f"{label}: allowed: one benchopt dataset string, "
                         'e.g. "digits[epochs=10,n_val=270]".')
    try:
        name, params = parse_selection(text)
    except ValueError as e:
        raise StudyError(f"{label}: {e}.") from None
    classes = plugin_classes(bench, "datasets", "Dataset") \
        if classes is None else classes
    by_lower = {k.lower(): v for k, v in classes.items()}
    cls = by_lower.get(name.lower())
    if cls is None:
        raise StudyError(f"{label}: no dataset {name!r} in "
                         f"{Path(bench) / 'datasets'}; allowed: "
                         f"{sorted(classes)}.")
    for key, value in params.items():
        if key not in cls.parameters:
            raise StudyError(f"{label}: {cls.name} has no parameter {key!r};"
                             f" allowed: {sorted(cls.parameters)}.")
        _check_value(key, value, cls.parameters[key], label)
    try:
        instance = cls.get_instance(**params)
    except Exception as e:   # the dataset's own checks
        raise StudyError(f"{label}: {e}") from None
    return cls, params, instance


def task_kind(cls):
    """The Task class the dataset's module builds, among those
    ``held_out_columns`` knows; None when it cannot tell."""
    module = sys.modules.get(cls.__module__)
    # The dataset's module, and the task modules it builds its task with
    # (datasets/fashion_mnist.py: tasks/grey28.py's grey28_task).
    modules = [module] if module else []
    modules += [sys.modules[v.__module__] for v in (
        vars(module).values() if module else ())
        if isinstance(v, types.FunctionType) and v.__module__.startswith(
            "benchmark_utils.tasks.") and v.__module__ in sys.modules]
    found = {v for m in modules for v in vars(m).values()
             if isinstance(v, type) and issubclass(v, Task) and v is not Task}
    for kind in (LoaderClassificationTask, ClassificationTask,
                 LanguageModelingTask, FineTuneTask):
        if any(issubclass(v, kind) for v in found):
            return kind
    return None


def held_out_columns(cls, params):
    """(columns, why): the validation columns the dataset reports held out
    from its test split (objective_*), as tasks/*.py report them; ``why``
    says why there are none. (None, "") when the task is not one of those
    known here: the column is then not checked."""
    value = {k: v[0] if isinstance(v, list) and v else v
             for k, v in cls.parameters.items()}
    value.update(params)
    kind = task_kind(cls)
    if kind is None:
        return None, ""
    if kind is FineTuneTask:
        return {"objective_val_loss", "objective_val_perplexity"}, ""
    if kind is LanguageModelingTask:
        if (value.get("test_fraction") or 0) > 0:
            return {"objective_val_loss", "objective_val_perplexity"}, ""
        return set(), (
            f"{cls.name} with test_fraction=0 reports its validation split "
            "as its only split: nothing would be left for the report; "
            f"keep a test split apart, e.g. {cls.name}[...,test_fraction="
            "0.5]")
    if "n_val" not in cls.parameters:
        return set(), f"{cls.name} holds out no validation split (it has " \
            "no n_val parameter)"
    if not value.get("n_val"):
        return set(), (f"{cls.name} with n_val={value.get('n_val')!r} "
                       "holds out no validation split; hold one out, e.g. "
                       f"{cls.name}[...,n_val=<images>]")
    columns = {"objective_val_loss", "objective_val_acc"}
    if kind is LoaderClassificationTask:
        columns.add("objective_val_top5")
    return columns, ""


def check_select(column, cls, params, where):
    """The selection column: a validation column this dataset reports."""
    if not isinstance(column, str) or not column.startswith("objective_val_"):
        raise StudyError(
            f"{where}: select={column!r}: selection must read a validation "
            "column (objective_val_loss, objective_val_acc, ...), never "
            "the test split.")
    columns, why = held_out_columns(cls, params)
    if columns is None:
        print(f"{where}: note: {cls.name}'s columns are not known to the "
              f"study's checks; {column} is not checked before the trials.",
              flush=True)
        return column
    if not columns:
        raise StudyError(f"{where}: select={column!r}: {why}.")
    if column not in columns:
        raise StudyError(f"{where}: select={column!r}: {cls.name} does not "
                         f"report it; allowed: {sorted(columns)}.")
    return column


def check_target(target, column, where):
    """``target``: None, "tuned_baseline_median", or a finite number in
    the range of ``column`` (accuracies in percent)."""
    label = f"{where}: target={target!r}"
    allowed = ("allowed: a finite number, 'tuned_baseline_median' or "
               "nothing")
    if target is None or target == "tuned_baseline_median":
        return target
    if not is_number(target) or not math.isfinite(target):
        raise StudyError(f"{label}: {allowed}.{text_number_hint(target)}")
    metric = column.rsplit("_", 1)[-1]
    ranges = {"acc": (0, 100, "an accuracy in percent"),
              "top5": (0, 100, "an accuracy in percent"),
              "loss": (0, math.inf, "a loss"),
              "perplexity": (1, math.inf, "a perplexity")}
    if metric in ranges:
        low, high, what = ranges[metric]
        if not low <= target <= high:
            raise StudyError(f"{label}: {column} is {what}: allowed: a "
                             f"number in [{low}, {high}].")
    return float(target)
