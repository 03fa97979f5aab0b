"""The one training loop, shared by every solver.

A method (method.py) only says how to build its optimizer, its lr and
weight decay, and, for algorithms that need them, its hooks (Sophia's extra
pass after a step, Schedule-Free's evaluation point). Everything else here is
identical for every solver: model initialisation, data order, recipe (batch
size, budget, weight decay, schedule, clipping, precision), divergence
handling, checkpoints (``state_dict``) and data parallelism.

Data parallelism (see parallel.py and workers.py): every process builds the same
trainer; the model is wrapped in DistributedDataParallel, each process takes
its share of every batch (the global batch stays the recipe's), and the sums
behind the training metrics are added up across processes at the end of each
stage.
"""
import contextlib
import math
import os
import random
import time

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR

from benchmark_utils.training import parallel
from benchmark_utils.training.method import RunInfo
from benchmark_utils.training.parallel import synchronize
from benchmark_utils.training.progress import Progress
from benchmark_utils.training.recipe import lr_factor

BN_RECALIBRATION_SEED = 9876   # fixed: every evaluation recalibrates alike


def _rng_devices(device):
    return [device] if torch.device(device).type == "cuda" else []


def param_groups(model, weight_decay, decay_1d_params=True):
    """One group decayed with ``weight_decay``; with decay_1d_params=False,
    biases and norm weights (tensors of dim < 2) go to an undecayed group,
    as in nanoGPT, with the parameters the model names in its
    ``no_weight_decay()`` (timm's convention; GPT's embeddings, as in the
    INNAprop authors' GPT-2 code)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_1d_params:
        return [{"params": params, "weight_decay": weight_decay}]
    names = getattr(model, "no_weight_decay", set)()
    exempt = {id(p) for n, p in model.named_parameters() if n in names}
    decay = [p for p in params if p.dim() >= 2 and id(p) not in exempt]
    no_decay = [p for p in params if p.dim() < 2 or id(p) in exempt]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


class Trainer:
    """Trains ``task``'s model with one optimizer, one evaluation stage at a
    time.

    Args:
        task: a ``Task`` (tasks/base.py): data, model, loss and recipe.
        method: a ``Method`` (method.py): how to build the optimizer, the
            run's lr and weight decay, and the algorithm's hooks.
        seed: seeds the model initialisation and the data order; the same
            seed gives every solver the same start and the same batches.
        data_parallel: False trains in this process alone even inside a
            process group (rank 0's check of a method before its workers
            build theirs).

    What a method's hooks may use: ``step``, ``optimizer``, ``recipe`` and
    ``backward`` (an extra forward and backward pass over batches).
    """

    def __init__(self, task, method, seed, data_parallel=True):
        self.task = task
        self.recipe = recipe = task.recipe
        self.device = task.device
        self.method = method
        self.shard = parallel.shard() if data_parallel else None
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

        if recipe.deterministic:
            # cuBLAS needs this workspace setting before its first call.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        torch.manual_seed(seed)
        model = task.build_model().to(self.device, recipe.torch_dtype)
        if recipe.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.forward_model = model
        if self.shard is not None:
            # Gradients averaged across processes in backward.
            self.forward_model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=([self.device.index]
                                   if self.device.type == "cuda" else None))
        if recipe.compile:
            # Compiled lazily at the first step: TrainingSolver.warm_up runs
            # a throwaway trainer first so compilation stays out of timed
            # runs.
            self.forward_model = torch.compile(self.forward_model)
        self.loader = task.train_loader(seed, self.shard)
        self.batches_per_epoch = len(self.loader)
        self.steps_per_epoch = math.ceil(self.batches_per_epoch
                                         / recipe.grad_accum)
        self.total_steps = (recipe.max_steps
                            or recipe.epochs * self.steps_per_epoch)

        total = (recipe.epochs if recipe.schedule_unit == "epoch"
                 else self.total_steps)
        warmup = method.warmup(recipe, total)
        per_unit = (self.steps_per_epoch if recipe.schedule_unit == "epoch"
                    else 1)
        groups = param_groups(model, method.weight_decay,
                              recipe.decay_1d_params)
        self.optimizer = method.make_optimizer(
            groups, method.lr, method.weight_decay,
            RunInfo(model, dict(model.named_parameters()), self.total_steps,
                    warmup_steps=warmup * per_unit))

        self.scheduler = LambdaLR(self.optimizer, lambda k: lr_factor(
            recipe.schedule if method.schedule else "constant", k, total,
            warmup, recipe.min_lr_ratio))

        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=recipe.precision == "fp16")

        self.step = 0            # optimizer steps done
        self.epoch = 0           # epochs done (epoch budgets)
        self.seen = 0            # training examples (or tokens) processed
        self.train_time = 0.0    # seconds spent in train_stage
        self.diverged = False
        self._stream = None      # endless batches (step budgets)
        self._stream_pos = (0, 0)  # (epoch, batch) the stream reads next
        self._reset_running()

    # -- progress --------------------------------------------------------
    @property
    def budget_done(self):
        r = self.recipe
        if r.epochs is not None:
            return self.epoch / r.epochs
        return self.step / r.max_steps

    @property
    def finished(self):
        return self.diverged or self.budget_done >= 1

    def progress(self):
        """Where the run stands, with the optimizer's own diagnostics where
        it has a ``metrics()`` method (SophiaG's win rate)."""
        running = {k: (v.item() if torch.is_tensor(v) else v)
                   for k, v in self.running.items()}
        return Progress(
            step=self.step, epoch=self.step / self.steps_per_epoch,
            lr=self.optimizer.param_groups[0]["lr"], diverged=self.diverged,
            budget_done=self.budget_done, seen=self.seen,
            train_time=self.train_time, running=running,
            optimizer_metrics=getattr(self.optimizer, "metrics", dict)(),
            state_bytes=self.state_bytes_per_parameter(),
            peak_memory=self.peak_memory())

    def state_bytes_per_parameter(self):
        """The optimizer's state (every tensor it keeps, across the parts
        of a combined optimizer) in bytes per trained parameter: AdamW's
        is 8 in fp32."""
        parts = getattr(self.optimizer, "optimizers", [self.optimizer])
        state = sum(t.numel() * t.element_size() for part in parts
                    for s in part.state.values() for t in s.values()
                    if torch.is_tensor(t))
        n = sum(p.numel() for p in self.model.parameters()
                if p.requires_grad)
        return state / n if n else float("nan")

    def peak_memory(self):
        """The device's peak allocated memory since the run started, in
        MiB: CUDA only (a CPU process's peak mixes every run it made)."""
        if self.device.type != "cuda":
            return float("nan")
        return torch.cuda.max_memory_allocated(self.device) / 2**20

    def evaluate(self, running=None):
        """The task's metrics of the current model (``running``: the
        training sums of the last stage, or None for a full pass)."""
        return self.task.evaluate(self.model, running)

    # -- training ----------------------------------------------------------
    def train_stage(self):
        """Train up to the next evaluation point, the end of the budget, or
        divergence; synchronize so that the caller's clock is true."""
        r = self.recipe
        start = time.perf_counter()
        self.model.train()
        self._reset_running()
        if r.epochs is not None:
            end = min(r.epochs, self.epoch + r.eval_every)
            while self.epoch < end and not self.diverged:
                self._train_epoch()
        else:
            end = min(r.max_steps, self.step + r.eval_every)
            if self._stream is None:
                self._stream = self._endless_batches(*self._stream_pos)
            while self.step < end and not self.diverged:
                # Drawn one at a time, so that the next micro-batch is read
                # while the device computes on this one.
                self._optimizer_step(
                    (next(self._stream) for _ in range(r.grad_accum)),
                    r.grad_accum)
        # Every process's sums, so that all agree on the metrics and on
        # divergence.
        self.running = {k: parallel.all_reduce_sum(
            torch.as_tensor(v, dtype=torch.float64, device=self.device))
            for k, v in sorted(self.running.items())}
        self._check_finite()
        synchronize(self.device)
        self.train_time += time.perf_counter() - start
        self.seen += int(self.running.get("count", 0))

    def warm_up(self, steps=3):
        """Run a few optimizer steps (compilation, autotuning, lazy CUDA
        initialisation) on this trainer; meant for a throwaway trainer."""
        stream = self._endless_batches()
        for _ in range(steps):
            n = self.recipe.grad_accum
            self._optimizer_step((next(stream) for _ in range(n)), n)
        synchronize(self.device)

    def _train_epoch(self):
        micro = []
        for batch in self.loader.epoch(self.epoch):
            micro.append(batch)
            if len(micro) == self.recipe.grad_accum:
                self._optimizer_step(micro)
                micro = []
                if self.diverged:
                    return
        if micro:
            self._optimizer_step(micro)
            if self.diverged:
                return
        self.epoch += 1
        if self.recipe.schedule_unit == "epoch":
            self.scheduler.step()

    def _endless_batches(self, epoch=0, start=0):
        while True:
            for i, batch in enumerate(self.loader.epoch(epoch, start),
                                      start):
                self._stream_pos = (epoch, i + 1)
                yield batch
            epoch, start = epoch + 1, 0

    def _optimizer_step(self, micro_batches, n=None):
        """One optimizer step over ``micro_batches`` (a list, or an
        iterator of ``n`` batches), then the solver's hook and the
        schedule."""
        n = len(micro_batches) if n is None else n
        seen = []
        for batch in micro_batches:
            seen.append(batch)
            with self.gradient_sync(last=len(seen) == n):
                with self.autocast():
                    loss, sums = self.task.loss(self.forward_model,
                                                self.recipe.cast(batch))
                self.scaler.scale(self._weighted(loss, sums) / n).backward()
            for k, v in sums.items():
                self.running[k] = self.running.get(k, 0) + v
        if self.recipe.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                           self.recipe.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if self.method.after_step is not None:
            self.method.after_step(self, seen)
        if self.recipe.schedule_unit == "step":
            self.scheduler.step()
        # A host sync per step is free on CPU; on GPU check every 25 steps.
        # Data-parallel processes check together, at the end of the stage.
        if self.shard is None and (self.device.type != "cuda"
                                   or self.step % 25 == 0):
            self._check_finite()

    def backward_sampled(self, batches):
        """An extra forward and backward pass over a step's micro-batches
        with labels sampled from the model's own predictions (the task's
        ``sampled_loss``): the mean over the micro-batches, under the
        recipe's autocast, gradients reduced once across processes (with
        the last one), then clipped as the recipe clips. Returns the number
        of labels the mean runs over, in all processes. For methods' hooks:
        Sophia's Gauss-Newton-Bartlett Hessian refresh."""
        n = len(batches)
        for i, batch in enumerate(batches):
            with self.gradient_sync(last=i == n - 1):
                with self.autocast():
                    loss = self.task.sampled_loss(self.forward_model, batch)
                (loss / n).backward()
        if self.recipe.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                           self.recipe.grad_clip)
        labels = sum(batch[1].numel() for batch in batches)
        return labels * (self.shard[1] if self.shard is not None else 1)

    def set_evaluation_mode(self, on):
        """Enter (on=True) or leave the state in which the model is
        evaluated and checkpointed: the solver's evaluation_mode hook, then
        the batch-norm recalibration when entering. Untimed."""
        if self.method.evaluation_mode is not None:
            self.method.evaluation_mode(self, on)
        if on and self.method.bn_recalibration:
            self.recalibrate_batch_norm(self.method.bn_recalibration)

    @torch.no_grad()
    def recalibrate_batch_norm(self, n_batches):
        """Recompute the batch-norm running statistics of the current
        weights as a cumulative average over the first ``n_batches`` of a
        fixed training loader (the same for every evaluation and solver).
        The random streams of training are left untouched."""
        norms = [m for m in self.model.modules()
                 if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        saved = [(m.momentum, m.training) for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None          # cumulative average
        was_training = self.model.training
        self.model.train()
        loader = self.task.train_loader(BN_RECALIBRATION_SEED, self.shard)
        with torch.random.fork_rng(devices=_rng_devices(self.device)):
            for i, batch in enumerate(loader.epoch(0)):
                if i == n_batches:
                    break
                with self.autocast():
                    self.model(self.recipe.cast(batch)[0])
        for m, (momentum, training) in zip(norms, saved):
            m.momentum = momentum
            m.train(training)
        self.model.train(was_training)

    def autocast(self):
        """The recipe's mixed precision for a forward pass."""
        return self.recipe.autocast(self.device)

    def gradient_sync(self, last):
        """Around a micro-batch's backward: under DDP, gradients are
        all-reduced only with the step's last micro-batch."""
        if self.shard is None or last:
            return contextlib.nullcontext()
        return self.forward_model.no_sync()

    def _weighted(self, loss, sums):
        """The loss whose gradient, averaged by DDP over the processes, is
        that of the mean over the whole batch, even when the shards differ
        in size (the last batch of an epoch)."""
        if self.shard is None:
            return loss
        count = sums["count"]   # a Python number: no host sync
        if count == 0:
            raise RuntimeError(
                "A batch too small to give every one of the "
                f"{self.shard[1]} processes an example; use fewer processes "
                "or a batch size that leaves a larger last batch.")
        total = parallel.all_reduce_sum(torch.tensor(
            float(count), device=self.device))
        return loss * (count * self.shard[1] / total)

    def _check_finite(self):
        loss = self.running.get("loss")
        if torch.is_tensor(loss) and not torch.isfinite(loss).item():
            self.diverged = True

    def _reset_running(self):
        # Sums over the current stage, named by the task's loss().
        self.running = {}

    # -- checkpoints ---------------------------------------------------------
    def state_dict(self):
        """Everything a resumed run needs to continue exactly: weights,
        optimizer, schedule, loss scaler, progress, data position and random
        number generators."""
        return dict(
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict(),
            step=self.step, epoch=self.epoch, seen=self.seen,
            train_time=self.train_time, diverged=self.diverged,
            stream_pos=self._stream_pos,
            rng=dict(torch=torch.get_rng_state(),
                     cuda=(torch.cuda.get_rng_state_all()
                           if torch.cuda.is_available() else None),
                     python=random.getstate(),
                     numpy=np.random.get_state()))

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        for key in ("step", "epoch", "seen", "train_time", "diverged"):
            setattr(self, key, state[key])
        self._stream_pos = tuple(state["stream_pos"])
        self._stream = None
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
