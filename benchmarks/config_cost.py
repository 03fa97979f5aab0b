"""What a benchopt config asks of the cifar10 dataset (runs, epochs, model,
precision), and its cost in hours from measured epoch times:
benchmarks/throughput.py's ``--config`` report."""
import ast
import itertools
import math
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# The cifar10 dataset's parameters that the measurement reproduces; the
# others (batch_size, dtype, maxpool, ...) are named as not reproduced.
MEASURED = ("model", "precision", "channels_last", "epochs", "n_train",
            "n_val")


def dataset_defaults(path=ROOT / "datasets" / "cifar10.py"):
    """The cifar10 Dataset's default parameters (the first value of each),
    read from its source: importing it would import all of benchopt."""
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "parameters"):
            return {k: v[0] for k, v in ast.literal_eval(node.value).items()}
    raise ValueError(f"no `parameters = {{...}}` in {path}")


def config_entry(item):
    """(name, parameters) of a config list item: "name" or {name: {...}}."""
    if isinstance(item, str):
        if "[" in item:
            # benchopt's "name[p=v]" form is not parsed here.
            raise ValueError(f"config entry {item!r}: write its parameters "
                             "as a mapping, {name: {parameter: value}}")
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        (name, params), = item.items()
        return name, dict(params or {})
    raise ValueError(f"config entry {item!r}: expected a name or a one-key "
                     "mapping")


def combinations(params):
    """The parameter sets an entry stands for: as benchopt, the product of
    its list-valued parameters ("a, b": [[1, 2], ...] sets both)."""
    lists = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    sets = []
    for values in itertools.product(*lists.values()):
        combo = {}
        for key, value in zip(lists, values):
            if "," in key:
                combo.update(zip([k.strip() for k in key.split(",")], value))
            else:
                combo[key] = value
        sets.append(combo)
    return sets


def config_runs(path):
    """What a benchopt config asks of the cifar10 dataset: one dict per
    dataset parameter set, with its model, precision, channels_last,
    epochs, training and evaluated images, runs (solvers x objectives x
    n-repetitions) and ``other``, the parameters it sets away from their
    defaults that this script does not reproduce."""
    config = yaml.safe_load(Path(path).read_text()) or {}

    def items(key):
        found = config.get(key, [])
        return found if isinstance(found, list) else [found]

    # Each solver's and the objective's own grids have one value per
    # parameter (solvers/*.py, objective.py): an entry's combinations are
    # its runs.
    solvers = sum(len(combinations(config_entry(s)[1]))
                  for s in items("solver"))
    objectives = sum(len(combinations(config_entry(o)[1]))
                     for o in items("objective")) or 1
    reps = int(config.get("n-repetitions", config.get("n_repetitions", 1)))
    if not solvers:
        raise ValueError(f"{path}: no solver entry")
    defaults = dataset_defaults()
    groups = []
    for item in items("dataset"):
        name, params = config_entry(item)
        if name != "cifar10":
            raise ValueError(
                f"{path}: dataset {name!r}: throughput.py measures CIFAR-10 "
                "shapes only, so it prices cifar10 dataset entries only")
        for combo in combinations(params):
            unknown = set(combo) - set(defaults)
            if unknown:
                raise ValueError(f"{path}: unknown cifar10 parameters "
                                 f"{sorted(unknown)}")
            p = {**defaults, **combo}
            n_train = min(p["n_train"] or 50_000, 50_000)
            groups.append(dict(
                model=p["model"], precision=p["precision"],
                channels_last=bool(p["channels_last"]),
                epochs=int(p["epochs"]),
                train_images=n_train - p["n_val"],
                # The validation split is evaluated with the test set.
                eval_images=10_000 + p["n_val"],
                runs=solvers * objectives * reps,
                other={k: v for k, v in combo.items()
                       if k not in MEASURED and v != defaults[k]}))
    if not groups:
        raise ValueError(f"{path}: no cifar10 dataset entry")
    return groups


def config_hours(runs, epochs, epoch_s, eval_s, packed=1):
    """Hours for ``runs`` runs of ``epochs`` epochs of ``epoch_s`` training
    and ``eval_s`` evaluation seconds, ``packed`` runs at a time on the
    device (then pass the seconds measured while packed)."""
    return math.ceil(runs / packed) * epochs * (epoch_s + eval_s) / 3600


