"""Training throughput of the benchmark's loop against a bare PyTorch loop,
CIFAR-10 shapes, as ratios measured in the same run.

    python benchmarks/throughput.py                       # CUDA if present
    python benchmarks/throughput.py --device cpu          # small sizes
    python benchmarks/throughput.py --models densenet121 --precisions bf16
    python benchmarks/throughput.py gpt2                  # GPT-2: tokens/s, MFU

For each model and precision both loops train the same network (same
initialisation) with the same AdamW, the same batches and the same batched
augmentation (random crop with reflect padding 4, flip, normalization) on
uint8 images held on the device. The bare loop is nothing else: permute,
index, augment, forward under autocast, backward, step. The benchmark's loop
is ``Trainer.train_stage`` (one epoch) as benchopt runs it, followed by the
evaluation at the default cadence (``task.evaluate``: the test set, training
metrics from the epoch's running sums). "bf16" is bf16 autocast with
channels_last, the dataset's ``precision=bf16,channels_last=True``.

Images are synthetic (random uint8, CIFAR-10's 50,000 + 10,000 images of
3x32x32): speed does not depend on pixel values, and CIFAR-10 itself need not
be present. Each loop runs ``--reps`` epochs in alternation with the other;
the best epoch of each counts. The script also times the augmentation
against the pad-then-index form it replaced, and (``--loader``, on by
default on CUDA) the ImageNet/Food101 JPEG loader on generated JPEGs, which
bounds the image-folder workloads' epoch time.

``--config`` (default ``configs/cifar10_resnet18.yml``; ``none`` skips)
turns the measured epochs into the config's cost on this device: its runs
(solver entries x ``n-repetitions`` per cifar10 dataset entry) x its epochs
x (epoch + one evaluation), in hours, run one after the other ("serial")
and ``--packed K`` at a time on the device (default 2 on CUDA, 0 = skip on
the CPU). The packed figure comes from K copies of this script
(``--worker-epochs``) running the benchmark's loop at the same time; packed
runs slow each other down, so their time-axis curves are not comparable
with unpacked runs' (step and epoch axes stay exact). On the CPU the sizes
are small and the epochs scaled to 50,000 images, as ``s/50k ep`` is.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmark_utils.data.augment import ImageAugment  # noqa: E402
from benchmark_utils.models.cifar import build_cifar_model  # noqa: E402
from benchmark_utils.training.recipe import Recipe  # noqa: E402
from benchmark_utils.tasks.image import ClassificationTask  # noqa: E402
from benchmark_utils.training.parallel import synchronize  # noqa: E402
from benchmark_utils.training.method import Method
from benchmark_utils.training.trainer import Trainer  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
from config_cost import config_hours, config_runs  # noqa: E402

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def adamw(params, lr, weight_decay, run=None):
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def timed(device, fn):
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


class BareLoop:
    """The plainest loop over the same data: what the harness is held to."""

    def __init__(self, model_name, x, y, batch_size, precision,
                 channels_last, seed=0):
        torch.manual_seed(seed)
        model = build_cifar_model(model_name).to(x.device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model, self.x, self.y = model, x, y
        self.opt = adamw(model.parameters(), 1e-3, 0.01)
        self.batch_size = batch_size
        self.dtype = torch.bfloat16 if precision == "bf16" else None
        self.augment = ImageAugment(MEAN, STD, channels_last=channels_last)
        self.gen = torch.Generator(device=x.device).manual_seed(seed)

    def steps(self, n_steps=None):
        n, dev = len(self.x), self.x.device
        order = torch.randperm(n, generator=self.gen, device=dev)
        n_batches = -(-n // self.batch_size)
        for i in range(n_batches if n_steps is None else n_steps):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            xb = self.augment(self.x[idx], self.gen)
            with torch.autocast(dev.type, dtype=self.dtype,
                                enabled=self.dtype is not None):
                loss = F.cross_entropy(self.model(xb), self.y[idx])
            loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)


def reference_augment(x, generator, mean, std, pad=4):
    """The form ImageAugment replaced: normalize, pad, index, where-flip."""
    mean = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    x = (x.float().div_(255) - mean) / std
    n, c, h, w = x.shape
    x = F.pad(x, (pad,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator,
                       device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator,
                       device=x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)
    cols = dx[:, None] + torch.arange(w, device=x.device)
    x = x[torch.arange(n, device=x.device)[:, None, None, None],
          torch.arange(c, device=x.device)[None, :, None, None],
          rows[:, None, :, None], cols[:, None, None, :]]
    flip = torch.rand(n, generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def benchmark_loop(model_name, precision, channels_last, x, y, x_test,
                   y_test, batch_size):
    """The benchmark's trainer and task, as the cifar10 dataset builds them."""
    recipe = Recipe(batch_size=batch_size, epochs=10 ** 6, lr=1e-3,
                    weight_decay=0.01, precision=precision,
                    channels_last=channels_last)
    task = ClassificationTask(
        x, y, x_test, y_test,
        build_model=lambda n: build_cifar_model(model_name, n),
        recipe=recipe, n_classes=10,
        transform=ImageAugment(MEAN, STD, channels_last=channels_last))
    trainer = Trainer(task, Method(adamw, 1e-3, 0.01), 0)
    return trainer, task


def timed_epoch(device, trainer, task):
    """Seconds of one epoch (train_stage) and of the evaluation after it."""
    epoch = timed(device, trainer.train_stage)
    running = trainer.progress().running
    return epoch, timed(device, lambda: task.evaluate(trainer.model, running))


def measure(model_name, precision, x, y, x_test, y_test, args, device,
            channels_last=None):
    if channels_last is None:
        channels_last = precision == "bf16"
    bare = BareLoop(model_name, x, y, args.batch_size, precision,
                    channels_last)
    trainer, task = benchmark_loop(model_name, precision, channels_last, x, y,
                                   x_test, y_test, args.batch_size)
    # Warm-up, untimed: lazy CUDA initialisation, cuDNN plans, allocator.
    timed(device, lambda: bare.steps(args.warmup_steps))
    trainer.warm_up(args.warmup_steps)
    task.evaluate(trainer.model, None)

    bare_times, loop_times, eval_times = [], [], []
    for _ in range(args.reps):
        bare_times.append(timed(device, bare.steps))
        epoch, evaluation = timed_epoch(device, trainer, task)
        loop_times.append(epoch)
        eval_times.append(evaluation)
    n = len(x)
    bare_ips, loop_ips = n / min(bare_times), n / min(loop_times)
    epoch, evaluation = min(loop_times), min(eval_times)
    return dict(bare=bare_ips, loop=loop_ips, ratio=loop_ips / bare_ips,
                epoch=epoch, epoch_50k=50_000 / loop_ips, eval=evaluation,
                eval_share=evaluation / (epoch + evaluation))


def augment_speed(device, batch_size, n_batches=50):
    x = torch.randint(0, 256, (batch_size, 3, 32, 32), dtype=torch.uint8,
                      device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    new = ImageAugment(MEAN, STD)
    rates = {}
    for name, fn in (("gather (ImageAugment)", lambda: new(x, gen)),
                     ("pad + index (replaced)",
                      lambda: reference_augment(x, gen, MEAN, STD))):
        fn()
        seconds = timed(device, lambda: [fn() for _ in range(n_batches)])
        rates[name] = n_batches * batch_size / seconds
    return rates


def loader_speed(n_images, batch_size, workers, size=(500, 375)):
    """Images per second of the image-folder loader (JPEG decoding, random
    resized crop 224, flip, uint8 tensors, collation; pinned copies to CUDA
    when present) on generated ImageNet-sized JPEGs."""
    import numpy as np
    from PIL import Image
    from torchvision import datasets
    from benchmark_utils.data.loaders import DatasetLoader
    from benchmark_utils.data.augment import (Normalize, eval_transform,
                                              train_transform)
    rng = np.random.default_rng(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as root:
        # Smooth random images plus noise: JPEG entropy between flat
        # images and pure noise, as for photographs.
        for i in range(n_images):
            folder = Path(root) / f"c{i % 10}"
            folder.mkdir(exist_ok=True)
            low = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            image = Image.fromarray(low).resize(size, Image.BICUBIC)
            noisy = np.asarray(image, dtype=np.int16) + rng.integers(
                -12, 13, (size[1], size[0], 3))
            Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(
                folder / f"{i}.JPEG", quality=90)
        rates = {}
        for name, tf in (("train (random resized crop)", train_transform()),
                         ("test (resize 256, center crop)",
                          eval_transform())):
            data = datasets.ImageFolder(root, tf)
            loader = DatasetLoader(data, batch_size, 0, device, Normalize(),
                                   num_workers=workers)
            # Timed from the first batch on: worker start-up is once per
            # epoch, negligible over an ImageNet epoch.
            start, n = None, 0
            for xb, _ in loader.epoch(0):
                if start is None:
                    synchronize(torch.device(device))
                    start = time.perf_counter()
                else:
                    n += len(xb)
            synchronize(torch.device(device))
            rates[name] = n / (time.perf_counter() - start)
    return rates


def rounded(value):
    """Three significant figures, without an exponent."""
    if not value:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def synthetic_data(n_train, n_test, device):
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n_train, 3, 32, 32), dtype=torch.uint8,
                      generator=gen).to(device)
    y = torch.randint(0, 10, (n_train,), generator=gen).to(device)
    x_test = torch.randint(0, 256, (n_test, 3, 32, 32), dtype=torch.uint8,
                           generator=gen).to(device)
    y_test = torch.randint(0, 10, (n_test,), generator=gen).to(device)
    return x, y, x_test, y_test


def wait_for_copies(folder, k, busy=None, timeout=600):
    """Mark this copy in ``folder`` and wait until all ``k`` have, calling
    ``busy`` meanwhile (None: sleep)."""
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < k:
        if time.monotonic() > deadline:
            raise RuntimeError(f"packed copies: {k} expected, "
                               f"{len(list(folder.iterdir()))} came")
        if busy:
            busy()
        else:
            time.sleep(0.01)


def worker(args, device):
    """``--worker-epochs``: one of the ``--packed`` copies. Times epochs of
    the benchmark's loop once every copy is warm, keeps the device busy
    until every copy is done (so that each timed epoch ran against all the
    others), and prints one JSON line of epoch and evaluation seconds."""
    if device.type == "cpu":
        # The copies share the cores: more threads than cores would thrash.
        torch.set_num_threads(max(1, torch.get_num_threads() // args.packed))
    data = synthetic_data(args.n_train, args.n_test, device)
    trainer, task = benchmark_loop(args.models, args.precisions,
                                   bool(args.worker_channels_last), *data,
                                   args.batch_size)
    trainer.warm_up(args.warmup_steps)
    task.evaluate(trainer.model, None)
    folder = Path(args.worker_barrier)
    wait_for_copies(folder / "ready", args.packed)
    times = [timed_epoch(device, trainer, task)
             for _ in range(args.worker_epochs)]
    wait_for_copies(folder / "done", args.packed,
                    busy=lambda: trainer.warm_up(1))
    print(json.dumps({"epochs": [t[0] for t in times],
                      "evals": [t[1] for t in times]}), flush=True)


def packed_times(case, args, device):
    """Epoch and evaluation seconds of the benchmark's loop while
    ``args.packed`` copies of it run on the device: the slowest copy's
    median over its epochs after the first."""
    model_name, precision, channels_last = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "ready").mkdir()
        (tmp / "done").mkdir()
        command = [
            sys.executable, str(Path(__file__).resolve()),
            "--worker-epochs", str(args.packed_epochs),
            "--worker-barrier", str(tmp), "--packed", str(args.packed),
            "--worker-channels-last", str(int(channels_last)),
            "--device", str(device), "--models", model_name,
            "--precisions", precision, "--n-train", str(args.n_train),
            "--n-test", str(args.n_test), "--batch-size",
            str(args.batch_size), "--warmup-steps", str(args.warmup_steps)]
        if args.cudnn_benchmark:
            command.append("--cudnn-benchmark")
        copies = []
        for i in range(args.packed):
            out, err = open(tmp / f"{i}.out", "w"), open(tmp / f"{i}.err", "w")
            copies.append((subprocess.Popen(command, stdout=out, stderr=err),
                           out, err))
        epochs, evals = [], []
        for i, (proc, out, err) in enumerate(copies):
            proc.wait()
            out.close()
            err.close()
            if proc.returncode:
                raise RuntimeError(
                    f"packed copy {i} failed (exit {proc.returncode}):\n"
                    + (tmp / f"{i}.err").read_text()[-3000:])
            # The JSON line is the copy's last output.
            times = json.loads(
                (tmp / f"{i}.out").read_text().strip().splitlines()[-1])
            epochs.append(statistics.median(times["epochs"][1:]
                                            or times["epochs"]))
            evals.append(statistics.median(times["evals"][1:]
                                           or times["evals"]))
    return max(epochs), max(evals)


def report_config(label, groups, results, device_name, args, device):
    """The config's hours on this device, serial and packed."""
    packed_cache, totals = {}, [0.0, 0.0]
    print(f"\n{label} on {device_name}, from the epochs measured above "
          "(scaled to the config's training and test images):")
    for g in groups:
        case = (g["model"], g["precision"], g["channels_last"])
        r = results[case]
        # s/50k ep and the evaluation, scaled to the config's images.
        epoch_s = r["epoch_50k"] * g["train_images"] / 50_000
        eval_s = r["eval"] * g["eval_images"] / args.n_test
        serial = config_hours(g["runs"], g["epochs"], epoch_s, eval_s)
        totals[0] += serial
        line = (f"{label}: {g['runs']} runs x {g['epochs']} epochs "
                f"({g['model']}, {case_label(case)}) on {device_name}: "
                f"serial {rounded(serial)} h")
        if args.packed:
            if case not in packed_cache:
                packed_cache[case] = packed_times(case, args, device)
            p_epoch, p_eval = packed_cache[case]
            p_epoch *= g["train_images"] / args.n_train
            p_eval *= g["eval_images"] / args.n_test
            packed = config_hours(g["runs"], g["epochs"], p_epoch, p_eval,
                                  args.packed)
            totals[1] += packed
            line += (f"; {args.packed} packed per device: {rounded(packed)} h"
                     f" (epoch {rounded(p_epoch)} s + eval {rounded(p_eval)}"
                     f" s while packed, against {rounded(epoch_s)} s + "
                     f"{rounded(eval_s)} s alone)")
        else:
            line += f" (epoch {rounded(epoch_s)} s + eval {rounded(eval_s)} s)"
        print(line, flush=True)
        if g["other"]:
            print("  not reproduced by this measurement: " + ", ".join(
                f"{k}={v}" for k, v in g["other"].items()))
    if len(groups) > 1:
        print(f"total: serial {rounded(totals[0])} h" + (
            f"; {args.packed} packed per device: {rounded(totals[1])} h"
            if args.packed else ""))
    if args.packed:
        print(f"Packed: {args.packed} runs at a time on one device, "
              f"{args.packed_epochs} epochs each measured. Packed runs "
              "distort each other's wall-clock time: their time-axis curves "
              "are not comparable with unpacked runs' (the step and epoch "
              "axes stay exact).")


def case_label(case):
    _, precision, channels_last = case
    return precision + ("+cl" if channels_last else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--models", default=None,
                        help="comma-separated, e.g. resnet18,vgg11")
    parser.add_argument("--precisions", default=None,
                        help="comma-separated: bf16 (with channels_last), "
                             "fp32")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--loader", type=int, default=None,
                        help="JPEGs for the image-folder loader timing "
                             "(0: skip)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="torch.backends.cudnn.benchmark = True for both "
                             "loops (the benchmark leaves it off)")
    parser.add_argument("--config", default="configs/cifar10_resnet18.yml",
                        help="benchopt config whose cifar10 runs to price "
                             "in hours on this device ('none': skip)")
    parser.add_argument("--packed", type=int, default=None,
                        help="runs at a time on the device for the packed "
                             "hours (default 2 on CUDA, 0: skip, on CPU)")
    parser.add_argument("--packed-epochs", type=int, default=4,
                        help="epochs each packed copy times (the first is "
                             "left out)")
    # A packed copy (see worker); not for direct use.
    parser.add_argument("--worker-epochs", type=int, default=0,
                        help=argparse.SUPPRESS)
    parser.add_argument("--worker-barrier", help=argparse.SUPPRESS)
    parser.add_argument("--worker-channels-last", type=int, default=0,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()

    device = torch.device(args.device or (
        "cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    # CPU defaults keep the run short; CUDA defaults are CIFAR-10's sizes.
    args.n_train = args.n_train or (50_000 if cuda else 256)
    args.n_test = args.n_test or (10_000 if cuda else 256)
    args.reps = args.reps or (2 if cuda else 1)
    if not cuda and args.batch_size == 256:
        args.batch_size = 64
    if args.loader is None:
        args.loader = 2048 if cuda else 0
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.worker_epochs:
        return worker(args, device)
    if args.packed is None:
        args.packed = 2 if cuda else 0
    groups, label = [], args.config
    if args.config.lower() != "none":
        path = Path(args.config)
        if not path.is_absolute() and not path.exists():
            path = ROOT / path
        groups = config_runs(path)   # errors before any measurement
    if args.models or args.precisions:
        models = (args.models or "resnet18,vgg11").split(",")
        precisions = (args.precisions or ("bf16,fp32" if cuda else "fp32")
                      ).split(",")
        runs = [(m, p) for m in models for p in precisions]
    elif cuda:
        runs = [("resnet18", "bf16"), ("vgg11", "bf16"),
                ("resnet18", "fp32"), ("vgg11", "fp32")]
    else:
        runs = [("resnet18", "fp32"), ("vgg11", "fp32")]
    # (model, precision, channels_last); bf16 goes with channels_last.
    cases = [(m, p, p == "bf16") for m, p in runs]
    for g in groups:
        case = (g["model"], g["precision"], g["channels_last"])
        if case not in cases:   # the config's own case, measured as well
            cases.append(case)

    device_name = torch.cuda.get_device_name(device) if cuda else "CPU"
    print(f"device: {device_name}, torch {torch.__version__}, "
          f"cudnn.benchmark={args.cudnn_benchmark}")
    print(f"data: synthetic CIFAR-shaped uint8 images on the device "
          f"({args.n_train} train, {args.n_test} test, 3x32x32); CIFAR-10 "
          "itself is not used (speed does not depend on pixel values).")
    print(f"batch {args.batch_size}, AdamW, best of {args.reps} epoch(s) "
          "per loop, loops alternated.\n")
    x, y, x_test, y_test = synthetic_data(args.n_train, args.n_test, device)

    header = (f"{'model':<12} {'precision':<10} {'bare img/s':>11} "
              f"{'loop img/s':>11} {'loop/bare':>10} {'s/epoch':>8} "
              f"{'s/50k ep':>9} {'eval s':>7} {'eval share':>11}")
    print(header)
    print("-" * len(header))
    results = {}
    for case in cases:
        model_name, precision, channels_last = case
        r = results[case] = measure(model_name, precision, x, y, x_test,
                                    y_test, args, device, channels_last)
        print(f"{model_name:<12} {case_label(case):<10} {r['bare']:>11,.0f} "
              f"{r['loop']:>11,.0f} {r['ratio']:>10.3f} {r['epoch']:>8.2f} "
              f"{r['epoch_50k']:>9.2f} {r['eval']:>7.3f} "
              f"{100 * r['eval_share']:>10.1f}%", flush=True)
    print("\nloop/bare: the benchmark's epoch against the bare loop's (goal "
          ">= 0.90). eval share: evaluation time over epoch + evaluation, "
          "one evaluation per epoch (goal <= 10%).")
    if groups:
        report_config(label, groups, results, device_name, args, device)

    rates = augment_speed(device, args.batch_size)
    base = rates["pad + index (replaced)"]
    print(f"\naugmentation alone, batch {args.batch_size}:")
    for name, rate in rates.items():
        print(f"  {name:<24} {rate:>13,.0f} img/s  ({rate / base:.2f}x)")

    if args.loader:
        from benchmark_utils.data.image_folders import default_workers
        workers = args.workers or default_workers()
        rates = loader_speed(args.loader, args.batch_size, workers)
        print(f"\nimage-folder loader, {args.loader} generated 500x375 "
              f"JPEGs, {workers} workers, batch {args.batch_size} "
              "(ImageNet epoch = 1,281,167 images, Food101 = 75,750):")
        for name, rate in rates.items():
            print(f"  {name:<31} {rate:>9,.0f} img/s  "
                  f"(ImageNet epoch {1_281_167 / rate / 60:.1f} min, "
                  f"Food101 epoch {75_750 / rate:.0f} s)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["gpt2"]:
        # The language-model workload lives in gpt_throughput.py.
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from gpt_throughput import main as gpt_main
        gpt_main(sys.argv[2:])
    else:
        main()
