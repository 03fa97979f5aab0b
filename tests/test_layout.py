"""The layout's promises: the optimizers are an installable package, and no
project module imports itself back through others.

Also a script: ``python tests/test_layout.py`` prints every project module
with the project modules it imports, and exits non-zero on a cycle.
"""
import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark_utils", "innaprop")
PLUGINS = ("objective.py", "datasets", "solvers", "plots")


def module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def project_files():
    files = []
    for top in PACKAGES + PLUGINS:
        path = ROOT / top
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def imports_of(path, modules):
    """The project modules ``path`` imports. A package counts (importing
    a.b.c runs a/__init__.py and a/b/__init__.py first), except the
    module's own packages: they are already running when it runs."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) -
                                       node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix != name \
                        and not name.startswith(prefix + "."):
                    found.add(prefix)
    return found


def import_graph():
    files = project_files()
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def test_no_project_module_imports_itself_back():
    graph = import_graph()
    assert "benchmark_utils.training.trainer" in graph
    assert "benchmark_utils.training.parallel" in \
        graph["benchmark_utils.training.workers"]
    # Raises CycleError, naming the circle, if there is one.
    order = list(graphlib.TopologicalSorter(graph).static_order())
    assert set(order) == set(graph)


def test_the_check_finds_a_circle(tmp_path):
    graph = import_graph()
    graph["benchmark_utils.training.parallel"] = {
        "benchmark_utils.training.workers"}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        assert "benchmark_utils.training.workers" in e.args[1]
    else:
        raise AssertionError("a circle went unnoticed")


def benchopt_importers(folder):
    """The modules under ``folder`` that import benchopt."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names]
                     if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom)
                     and not node.level else [])
            if any(n == "benchopt" or n.startswith("benchopt.")
                   for n in names):
                found.append(module_name(path))
                break
    return found


def test_only_the_seam_imports_benchopt():
    """benchmark_utils/bench/ is the one place that knows benchopt: a new
    benchopt release touches it alone."""
    found = benchopt_importers("benchmark_utils")
    assert "benchmark_utils.bench.solver" in found
    outside = [m for m in found if not m.startswith("benchmark_utils.bench")]
    assert outside == []


def test_training_imports_nothing_above_it():
    graph = import_graph()
    training = {m: deps for m, deps in graph.items()
                if m.startswith("benchmark_utils.training")}
    assert "benchmark_utils.training.trainer" in training
    upward = {m: sorted(d for d in deps
                        if not d.startswith("benchmark_utils.training"))
              for m, deps in training.items()}
    assert {m: d for m, d in upward.items() if d} == {}


def test_the_trainer_is_not_guessed_at_and_replication_is_one_module():
    """No signature inspection decides what a method receives, and only the
    replication module sends commands to the workers."""
    sources = {module_name(f): f.read_text() for f in project_files()}
    assert [m for m, text in sources.items()
            if "inspect.signature" in text] == []
    assert [m for m, text in sources.items() if "command(" in text
            and m != "benchmark_utils.training.workers"] == []


def test_innaprop_imports_from_anywhere_and_is_this_checkout(tmp_path):
    code = ("import innaprop, sys; from innaprop import INNAprop, INNA, "
            "DINAdam, INNApropMomentum, SophiaG, Lion; "
            "print(innaprop.__file__)")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()).resolve() == \
        ROOT / "innaprop" / "__init__.py"


def test_a_step_with_the_package_equals_the_solvers(root):
    import importlib.util

    import innaprop
    spec = importlib.util.spec_from_file_location(
        "innaprop_solver", root / "solvers" / "innaprop.py")
    solver_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solver_module)
    solver = solver_module.Solver.__new__(solver_module.Solver)
    solver.alpha, solver.beta, solver.sigma = 0.1, 0.9, 0.999
    solver.eps, solver.fused = 1e-8, False
    torch.manual_seed(0)
    a = torch.randn(5, 3, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    ours = solver.make_optimizer([{"params": [a], "weight_decay": 0.01}],
                                 1e-2, 0.01, run=None)
    theirs = innaprop.INNAprop([b], lr=1e-2, alpha=0.1, beta=0.9,
                               sigma=0.999, weight_decay=0.01)
    for opt, p in ((ours, a), (theirs, b)):
        p.grad = torch.ones_like(p) * 0.3
        opt.step()
    assert isinstance(ours, innaprop.INNAprop)
    assert torch.equal(a, b) and not torch.equal(a, b.detach() * 0)


if __name__ == "__main__":
    graph = import_graph()
    for name in sorted(graph):
        print(name, "->", ", ".join(sorted(graph[name])) or "-")
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        sys.exit(f"import circle: {' -> '.join(e.args[1])}")
    print(f"{len(graph)} modules, no import circle")
