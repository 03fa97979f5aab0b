"""Every command the README shows, run on a copy of the checkout as a user
runs it: as written, or at a smaller size through the same entry point and
the same flags (fewer epochs, steps or trials), so that a renamed module, a
changed flag or a broken default fails here.

Commands that need data, weights or a GPU that CI lacks must end, within
seconds, on the one-line message naming what is missing and how to provide
it. A command this file does not know fails ``test_every_command_is_known``:
a new README command cannot go untested.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from benchopt_cli import BENCH_FILES

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = BENCH_FILES + ["studies", "benchmarks", "innaprop",
                          "pyproject.toml", "README.md"]


def readme_commands(text=None):
    """The commands of the README's ```bash blocks, one per line, without
    their trailing comments."""
    text = text if text is not None else (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", text,
                            re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


@dataclass
class Case:
    """How CI runs one README command.

    kind: "run" (must succeed), "missing" (must fail within ``seconds`` on
    its reason, in the last ``tail`` lines of its output, naming ``says``),
    or "ci" (the command that runs these tests).
    run: the command CI runs, when it is not the README's as written.
    says: what the output must contain.
    prepare: edits of the copy before the command (smaller configs).
    """
    kind: str
    run: str = None
    says: tuple = ()
    prepare: tuple = ()
    absent: tuple = ()
    seconds: float = 90.0
    tail: int = 1
    check: object = None
    marks: list = field(default_factory=list)


def one_epoch(config):
    """``configs/<config>`` with its digits runs cut to one epoch."""
    def edit(copy):
        path = copy / "configs" / config
        cfg = yaml.safe_load(path.read_text())
        for entry in cfg["dataset"]:
            if isinstance(entry, dict) and "digits" in entry:
                entry["digits"]["epochs"] = 1
        path.write_text(yaml.safe_dump(cfg))
    return edit


def published_records(copy):
    """One published study's records, which the publish command rebuilds
    the site from (tests/test_published.py rebuilds all of them and
    compares with the committed site)."""
    data = copy / "docs" / "results" / "data"
    data.mkdir(parents=True)
    for f in (ROOT / "docs" / "results" / "data").glob(
            "fashion_mnist_thesis_*"):
        shutil.copy(f, data)


def small_study(study, n_train=None):
    """``studies/<study>`` with one trial of two solvers, one seed each,
    one epoch (language datasets: 20 steps, 2 evaluation batches),
    ``n_train`` images of which a quarter held out."""
    def edit(copy):
        path = copy / "studies" / study
        cfg = yaml.safe_load(path.read_text())
        cfg["dataset"] = re.sub(r"epochs=\d+", "epochs=1", cfg["dataset"])
        language = "max_steps=" in cfg["dataset"]
        for key, value, add in (
                ("max_steps", 20, False), ("eval_every", 10, False),
                ("warmup", 2, False), ("eval_batches", 2, language),
                ("n_train", n_train, True),
                ("n_val", n_train and n_train // 4, False)):
            if value is None:
                continue
            if f"{key}=" in cfg["dataset"]:
                cfg["dataset"] = re.sub(rf"{key}=\d+", f"{key}={value}",
                                        cfg["dataset"])
            elif add:
                cfg["dataset"] = cfg["dataset"].replace(
                    "]", f",{key}={value}]")
        cfg["solvers"] = cfg["solvers"][:2]
        cfg.update(trials=1, trial_seeds=1, confirm_seeds=1)
        path.write_text(yaml.safe_dump(cfg))
    return edit


def results_named(*names):
    """Two quick digits runs saved as outputs/<name>.parquet."""
    def make(copy):
        for name in names:
            res = subprocess.run(
                [sys.executable, "-m", "benchopt", "run", ".", "-s", "adamw",
                 "-d", "digits[epochs=1]", "-n", "5", "--no-timeout",
                 "--no-plot", "--output", name], cwd=copy, env=env_for(copy),
                capture_output=True, text=True, timeout=600)
            assert res.returncode == 0, res.stderr[-2000:]
    return make


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serves_the_site(copy, command):
    """``python -m http.server -d site``: it serves the site's index."""
    port = free_port()
    proc = subprocess.Popen(f"{command} --bind 127.0.0.1 {port}", shell=True,
                            cwd=copy, env=env_for(copy),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(100):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/",
                                              timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server never answered")
        assert "index" in page.lower() or "<table" in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def built_site(copy):
    subprocess.run([sys.executable, "-m", "benchmark_utils.reporting.site",
                    "--output", "site"], cwd=copy, env=env_for(copy),
                   check=True, capture_output=True, timeout=600)


DIGITS = '-d "digits[epochs=1]"'
FASHION = pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (.ci/run "
    "installs it)")
CIFAR = ("CIFAR-10 was not found", "data_paths")
IMAGENET = ("ImageNet was not found", "data_paths")
E2E = ("GPT-2 small was not found", "E2E was not found")
NO_DATA_CONFIG = dict(kind="missing", says=CIFAR)

CASES = {
    'python3.11 -m venv .venv && . .venv/bin/activate && pip install -e '
    '".[benchmark]" && benchopt run . --config configs/quickstart.yml '
    '--no-display': Case(
        "run", run="benchopt run . --config configs/quickstart.yml "
        "--no-display", says=("Saving result in",)),
    'python3.11 -m venv .venv && . .venv/bin/activate && pip install '
    '--no-compile -e ".[test]" && python -m pytest tests': Case("ci"),
    'benchopt run . -d digits -s "innaprop[alpha=[0.1,1.0,2.0],beta=[0.5,'
    '0.9,2.0]]" -s adamw -r 2 --no-timeout -n 1000': Case(
        "run", run='benchopt run . -d "digits[epochs=1]" -s "innaprop[alpha='
        '[0.1,1.0,2.0],beta=[0.5,0.9,2.0]]" -s adamw -r 2 --no-timeout '
        '-n 1000'),
    "python -m benchmark_utils.tuning studies/digits.yml": Case(
        "run", prepare=(small_study("digits.yml"),), seconds=600,
        says=("digits_report",)),
    "python -m benchmark_utils.tuning studies/digits_thesis.yml": Case(
        "run", prepare=(small_study("digits_thesis.yml"),), seconds=600,
        says=("digits_thesis_report",)),
    "python -m benchmark_utils.tuning studies/fashion_mnist.yml": Case(
        "run", prepare=(small_study("fashion_mnist.yml", 2000),),
        seconds=600, says=("fashion_mnist_report",), marks=[FASHION]),
    "python -m benchmark_utils.tuning studies/fashion_mnist_thesis.yml": Case(
        "run", prepare=(small_study("fashion_mnist_thesis.yml", 2000),),
        seconds=600, says=("fashion_mnist_thesis_report",),
        marks=[FASHION]),
    "python -m benchmark_utils.tuning studies/tokens.yml": Case(
        "run", prepare=(small_study("tokens.yml"),), seconds=600,
        says=("tokens_report",)),
    "python -m benchmark_utils.tuning.publish outputs/digits_study.json":
    Case("missing", says=("No study record outputs/digits_study.json",)),
    "python -m benchmark_utils.tuning.publish": Case(
        "run", prepare=(published_records,), seconds=600,
        says=("Published ",)),
    "python -m benchmark_utils.tuning studies/cifar10_resnet18.yml": Case(
        "missing", says=CIFAR),
    "benchopt run . -s innaprop -d digits": Case(
        "run", run=f"benchopt run . -s innaprop {DIGITS}"),
    'benchopt run . -s "innaprop[alpha=2.0,beta=2.0]" -d digits': Case(
        "run", run=f'benchopt run . -s "innaprop[alpha=2.0,beta=2.0]" '
        f'{DIGITS}'),
    'benchopt run . -s "innaprop[lr=5e-4,weight_decay=0.1]" -d digits': Case(
        "run", run=f'benchopt run . -s "innaprop[lr=5e-4,weight_decay=0.1]" '
        f'{DIGITS}'),
    "benchopt run . -s lion -d digits": Case(
        "run", run=f"benchopt run . -s lion {DIGITS}"),
    "benchopt run . --config configs/cifar10_vgg11.yml": Case(
        **NO_DATA_CONFIG),
    'benchopt run . -s adamw -s innaprop -d "cifar10[model=resnet18,'
    'epochs=20]" --no-timeout -n 1000': Case(**NO_DATA_CONFIG),
    "benchopt run . --config configs/cifar10_resnet18.yml": Case(
        **NO_DATA_CONFIG),
    'pip install ".[openwebtext]"': Case(
        "run", run='pip install --dry-run --no-deps ".[openwebtext]"',
        says=("Would install",)),
    # benchopt's summary line follows the reason.
    "benchopt prepare . -d openwebtext": Case(
        "missing", says=('pip install ".[openwebtext]"',), tail=2),
    'benchopt run . -s "adamw[beta2=0.95]" -s "innaprop[sigma=0.99]" -d '
    'tokens --no-timeout': Case(
        "run", run='benchopt run . -s "adamw[beta2=0.95]" -s '
        '"innaprop[sigma=0.99]" -d "tokens[max_steps=20,eval_every=10,'
        'warmup=2]" --no-timeout'),
    'benchopt run . -s adamw -d "tokens[path=/path/to/book.txt,'
    'max_steps=300]" --no-timeout': Case(
        "missing", says=("/path/to/book.txt",)),
    "benchopt run . --config configs/e2e_gpt2_small.yml": Case(
        "missing", says=E2E),
    "benchopt run . --config configs/nonsmooth_vgg11_cifar10.yml": Case(
        **NO_DATA_CONFIG),
    "benchopt run . --config configs/nonsmooth_lenet5_mnist.yml": Case(
        "missing", says=("MNIST was not found",)),
    "benchopt run . --config configs/digits_precision_fig4_10.yml": Case(
        "run", prepare=(one_epoch("digits_precision_fig4_10.yml"),)),
    "python -m benchmark_utils.diagnostics.backprop_variation --dataset "
    "cifar10 --model vgg11 --programs native,minimal --dtype "
    "float16,float32,float64 --draws 10 --batches 20 --tau "
    "16=0.1,32=1e-8,64=1e-14": Case("missing", says=CIFAR),
    "python -m benchmark_utils.diagnostics.backprop_variation --dataset "
    "fashion_mnist --model lenet5_relu_logits --dtype "
    "float16,float32,float64 --draws 1000 --fresh-batches --deterministic "
    "--tau 16=1e-5,32=1e-6,64=1e-14": Case(
        "run", run="python -m benchmark_utils.diagnostics.backprop_variation"
        " --dataset fashion_mnist --model lenet5_relu_logits --dtype float32"
        " --draws 2 --fresh-batches --deterministic --tau "
        "16=1e-5,32=1e-6,64=1e-14", says=("variation.html",),
        marks=[FASHION]),
    "benchopt run . -d fashion_mnist -s adamw -s innaprop --no-timeout -n "
    "1000": Case(
        "run", run='benchopt run . -d "fashion_mnist[epochs=1,n_train=1000]"'
        ' -s adamw -s innaprop --no-timeout -n 1000', marks=[FASHION]),
    'benchopt run . -d "fashion_mnist[epochs=3]" -s adamw': Case(
        "run", run='benchopt run . -d "fashion_mnist[epochs=1,n_train=1000]"'
        ' -s adamw', marks=[FASHION]),
    "benchopt run . --config configs/imagenet_resnet18.yml": Case(
        "missing", says=IMAGENET),
    "INNAPROP_NPROC=8 benchopt run . --config configs/imagenet_resnet50.yml":
    Case("missing", says=IMAGENET),
    "python -m benchmark_utils.bench.launch --nproc_per_node=8 run . "
    "--config configs/imagenet_resnet50.yml": Case(
        "missing", run="python -m benchmark_utils.bench.launch "
        "--nproc_per_node=2 run . --config configs/imagenet_resnet50.yml",
        says=IMAGENET),
    "benchopt run . --config configs/cifar10_vgg11.yml --parallel-config "
    "configs/slurm.yml": Case(**NO_DATA_CONFIG),
    "INNAPROP_NPROC=auto benchopt run . --config configs/imagenet_resnet50.yml"
    " --parallel-config configs/slurm.yml": Case("missing", says=IMAGENET),
    "python -m benchmark_utils.training.resume": Case(
        "run", says=("MB in",)),
    "python -m benchmark_utils.training.resume --remove": Case(
        "run", says=("removed",)),
    "python benchmarks/optimizer_step.py": Case(
        "run", run="python benchmarks/optimizer_step.py --shapes tiny "
        "--rounds 1 --steps 1 --pairs 2", says=("INNAprop",)),
    "python benchmarks/throughput.py": Case(
        "run", run="python benchmarks/throughput.py --device cpu --models "
        "vgg11 --n-train 32 --n-test 16 --batch-size 16 --reps 1 "
        "--warmup-steps 1 --loader 0 --config none",
        says=("loop img/s",)),
    "python benchmarks/throughput.py gpt2": Case(
        "run", says=("tokens/s",), absent=("MFU",)),
    "python -m benchmark_utils.reporting.site outputs/run1.parquet "
    "outputs/run2.parquet --output site": Case(
        "run", prepare=(results_named("run1", "run2"),),
        says=("Site written to site",)),
    "python -m http.server -d site": Case(
        "run", prepare=(results_named("run1"), built_site),
        check=serves_the_site),
}


def env_for(copy):
    """The environment a user has: this interpreter's tools first on PATH,
    the copy's code importable, every dataset's folder empty, no network."""
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"],
               PYTHONPATH=str(copy), INNAPROP_DEVICE="cpu",
               BENCHOPT_DATA_HOME=str(copy / "data"), HF_HUB_OFFLINE="1")
    env.pop("BENCHOPT_RAISE_ON_ERROR", None)
    return env


def copy_checkout(dest):
    dest.mkdir(parents=True)
    for name in CHECKOUT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(
                "__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest


def test_every_command_is_known():
    unknown = [c for c in readme_commands() if c not in CASES]
    assert unknown == [], ("README commands CI does not know how to run; "
                           "add each to CASES in tests/test_readme.py")
    stale = [c for c in CASES if c not in readme_commands()]
    assert stale == [], "CASES for commands the README no longer shows"


def test_the_reader_finds_commands_and_drops_comments():
    text = ("x\n```bash\nbenchopt run . -d a   # a comment\n# only a "
            "comment\n\n  python -m b --c d\n```\n```yaml\nk: v\n```\n")
    assert readme_commands(text) == ["benchopt run . -d a",
                                     "python -m b --c d"]


@pytest.mark.parametrize("command", [
    pytest.param(c, marks=case.marks) for c, case in CASES.items()])
def test_the_readme_command_works(command, tmp_path):
    case = CASES[command]
    if case.kind == "ci":
        pytest.skip("the command that runs these tests")
    copy = copy_checkout(tmp_path / "checkout")
    for prepare in case.prepare:
        prepare(copy)
    run = case.run or command
    if case.check is not None:
        case.check(copy, run)
        return
    start = time.perf_counter()
    res = subprocess.run(run, shell=True, cwd=copy, env=env_for(copy),
                         capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    out = res.stdout + res.stderr
    for text in case.says:
        assert text in out, out[-3000:]
    for text in case.absent:
        assert text not in out, out[-3000:]
    if case.kind == "run":
        assert res.returncode == 0, out[-3000:]
        return
    assert res.returncode != 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    last = "\n".join(out.strip().splitlines()[-case.tail:])
    assert any(text in last for text in case.says), (last, out[-3000:])
    assert elapsed < case.seconds, elapsed
    assert not (copy / "data").exists() or not any(
        p.is_dir() and not any(p.iterdir())
        for p in (copy / "data").rglob("*")), "an empty folder was left"
