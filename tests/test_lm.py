"""The language-model workload: GPT, token data, the task, the configs."""
import importlib.util
import math
import time

import numpy as np
import pandas as pd
import pydoc_data.topics
import pytest
import torch
import torch.nn.functional as F
import yaml

from benchmark_utils.data.download import DataNotFound
from benchmark_utils.models.gpt import GPT, GPTConfig, GPT_SIZES, build_gpt
from benchmark_utils.data.tokens import (WindowLoader, byte_tokens,
                                         check_prepared, prepare_openwebtext,
                                         read_tokens, write_splits,
                                         write_token_file)
from benchmark_utils.tasks.language import LanguageModelingTask
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.training.method import Method
from benchmark_utils.training.trainer import Trainer, param_groups

TEXT = pydoc_data.topics.__file__     # the tokens dataset's default text


def expected_n_params(n_layer, n_embd, vocab_size, block_size, bias):
    """GPT-2's parameter count, tied output head counted once."""
    C = n_embd
    per_block = 12 * C * C + (13 * C if bias else 2 * C)
    return (vocab_size * C + block_size * C + n_layer * per_block
            + (2 * C if bias else C))


def meta_gpt(**config):
    with torch.device("meta"):    # shapes only: medium costs no memory
        return GPT(GPTConfig(**config))


# -- the model ----------------------------------------------------------------
@pytest.mark.parametrize("size, approx", [("mini", 30e6),
                                          ("small", 124e6),
                                          ("medium", 355e6)])
def test_parameter_counts_of_the_three_sizes(size, approx):
    model = meta_gpt(vocab_size=50304, block_size=1024, **GPT_SIZES[size])
    n = model.n_params()
    assert n == expected_n_params(vocab_size=50304, block_size=1024,
                                  bias=False, **{
                                      k: GPT_SIZES[size][k]
                                      for k in ("n_layer", "n_embd")})
    assert n == pytest.approx(approx, rel=0.015)   # the thesis's sizes


def test_parameter_counts_match_openai_gpt2():
    # With GPT-2's own vocabulary and biases, the published counts of
    # gpt2 and gpt2-medium (Hugging Face), and nanoGPT's "123.59M"
    # non-embedding count for its default (bias-free, vocab 50304) small.
    small = meta_gpt(vocab_size=50257, bias=True, **GPT_SIZES["small"])
    medium = meta_gpt(vocab_size=50257, bias=True, **GPT_SIZES["medium"])
    assert small.n_params() == 124_439_808
    assert medium.n_params() == 354_823_168
    nano = meta_gpt(**GPT_SIZES["small"])
    assert round(nano.n_params(non_embedding=True) / 1e6, 2) == 123.59


def reference_forward(model, idx):
    """GPT-2's forward pass written out in float64, attention with an
    explicit causal mask and softmax."""
    c = model.config
    d = {k: v.double() for k, v in model.state_dict().items()}
    B, T = idx.shape
    x = d["wte.weight"][idx] + d["wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    hs = c.n_embd // c.n_head
    for i in range(c.n_layer):
        p = f"h.{i}."
        h = F.layer_norm(x, (c.n_embd,), d[p + "ln_1.weight"])
        q, k, v = (h @ d[p + "attn.c_attn.weight"].T).split(c.n_embd, 2)
        q, k, v = (t.view(B, T, c.n_head, hs).transpose(1, 2)
                   for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, c.n_embd)
        x = x + y @ d[p + "attn.c_proj.weight"].T
        h = F.layer_norm(x, (c.n_embd,), d[p + "ln_2.weight"])
        h = F.gelu(h @ d[p + "mlp.c_fc.weight"].T)
        x = x + h @ d[p + "mlp.c_proj.weight"].T
    x = F.layer_norm(x, (c.n_embd,), d["ln_f.weight"])
    return x @ d["wte.weight"].T


def test_gpt_forward_matches_a_float64_reference_and_is_causal():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=2,
                          n_head=2, n_embd=32))
    # Random LayerNorm gains so that a missing or misplaced norm shows.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
    idx = torch.randint(0, 50, (3, 16))
    logits = model(idx)
    torch.testing.assert_close(logits.double(), reference_forward(model, idx),
                               rtol=1e-4, atol=1e-5)
    # Changing the last token changes no earlier prediction.
    idx2 = idx.clone()
    idx2[:, -1] = (idx2[:, -1] + 1) % 50
    torch.testing.assert_close(model(idx2)[:, :-1], logits[:, :-1])


def test_gpt_init_tying_and_decay_groups():
    torch.manual_seed(0)
    model = build_gpt("tiny", vocab_size=256, block_size=64)
    assert model.lm_head.weight is model.wte.weight
    n_layer = GPT_SIZES["tiny"]["n_layer"]
    proj = torch.cat([b.mlp.c_proj.weight.flatten() for b in model.h])
    assert proj.std().item() == pytest.approx(
        0.02 / math.sqrt(2 * n_layer), rel=0.05)
    assert model.h[0].mlp.c_fc.weight.std().item() == pytest.approx(
        0.02, rel=0.05)
    # Weight decay on the Linear weights only (the authors' GPT-2 code):
    # not on norms, nor on the embeddings that the tied head shares.
    decay, no_decay = param_groups(model, 0.1, decay_1d_params=False)
    linear = {id(m.weight) for m in model.modules()
              if isinstance(m, torch.nn.Linear) and m is not model.lm_head}
    assert {id(p) for p in decay["params"]} == linear
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(model.wte.weight), id(model.wpe.weight)} <= {
        id(p) for p in no_decay["params"]}
    n = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert n == model.n_params()


# -- token data ---------------------------------------------------------------
def test_byte_level_windows_come_from_the_text(tmp_path):
    text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n"
                   for i in range(300))
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    train, val = byte_tokens(path, val_fraction=0.1)
    raw = text.encode()
    assert bytes(train) + bytes(val) == raw
    assert len(val) == int(len(raw) * 0.1)
    loader = WindowLoader(train, batch_size=4, block_size=16, seed=3,
                          device=torch.device("cpu"))
    assert len(loader) == (len(train) - 1) // 64
    batches = list(loader.epoch(0))
    for x, y in batches:
        assert x.shape == y.shape == (4, 16) and x.dtype == torch.int64
        for row_x, row_y in zip(x, y):
            # 17 consecutive bytes of the training text: inputs, then
            # targets one byte further.
            assert torch.equal(row_x[1:], row_y[:-1])
            window = bytes(row_x.tolist() + [row_y[-1].item()])
            assert window in bytes(train)
    # Windows are a function of (seed, epoch).
    again = list(WindowLoader(train, 4, 16, 3, torch.device("cpu")).epoch(0))
    other = list(WindowLoader(train, 4, 16, 4, torch.device("cpu")).epoch(0))
    nxt = list(loader.epoch(1))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
    assert not torch.equal(batches[0][0], other[0][0])
    assert not torch.equal(batches[0][0], nxt[0][0])


def write_owt(root, n_train=20_000, n_val=5_000, seed=0):
    """nanoGPT's OpenWebText layout with generated GPT-2 token ids."""
    rng = np.random.default_rng(seed)
    ids = {"train": rng.integers(0, 50257, n_train),
           "val": rng.integers(0, 50257, n_val)}
    root.mkdir(parents=True, exist_ok=True)
    for name, arr in ids.items():
        chunks = np.array_split(arr, 7)
        write_token_file(root / f"{name}.bin", chunks, len(arr))
    return ids


def test_uint16_memmap_layout_round_trip(tmp_path):
    ids = write_owt(tmp_path / "owt")
    train_path, val_path = check_prepared(tmp_path / "owt")
    # Exactly nanoGPT's files: raw uint16, no header.
    assert train_path.stat().st_size == 2 * len(ids["train"])
    np.testing.assert_array_equal(np.fromfile(val_path, dtype=np.uint16),
                                  ids["val"])
    assert not list((tmp_path / "owt").glob("*.tmp"))
    tokens = read_tokens(train_path)
    assert isinstance(tokens, np.memmap)
    loader = WindowLoader(train_path, 3, 32, seed=0,
                          device=torch.device("cpu"))
    x, y = next(iter(loader.epoch(0)))
    all_windows = np.lib.stride_tricks.sliding_window_view(ids["train"], 33)
    for row_x, row_y in zip(x.numpy(), y.numpy()):
        window = np.append(row_x, row_y[-1])
        assert (all_windows == window).all(1).any()
        np.testing.assert_array_equal(row_x[1:], row_y[:-1])
    assert x.max() > 255       # real GPT-2 ids, not bytes


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        write_token_file(tmp_path / "a.bin", [np.array([1, 70000])], 2)
    with pytest.raises(ValueError, match="Expected 5 tokens"):
        write_token_file(tmp_path / "b.bin", [np.array([1, 2])], 5)
    assert not (tmp_path / "a.bin").exists()
    assert not (tmp_path / "b.bin").exists()


def test_unprepared_openwebtext_says_what_to_run(tmp_path):
    # DataNotFound: the run skips openwebtext with this message.
    with pytest.raises(DataNotFound) as info:
        check_prepared(tmp_path / "nowhere")
    msg = str(info.value)
    assert "benchopt prepare . -d openwebtext" in msg
    assert str(tmp_path / "nowhere") in msg and "data_paths" in msg


def test_preparation_without_its_extra_says_what_to_install(tmp_path):
    try:
        from datasets import load_dataset  # noqa: F401
        import tiktoken  # noqa: F401
        import tqdm  # noqa: F401
        pytest.skip("datasets, tiktoken and tqdm are installed")
    except ImportError:
        pass
    with pytest.raises(DataNotFound,
                       match=r'pip install "\.\[openwebtext\]"'):
        prepare_openwebtext(tmp_path)


def test_preparation_splits_tokenizes_and_writes_every_document(tmp_path):
    """nanoGPT's preparation steps on a small generated corpus, byte-level
    tokens standing in for tiktoken's (which needs a download). Runs where
    `datasets` is installed (pip install ".[openwebtext]")."""
    try:
        from datasets import Dataset
        import tqdm  # noqa: F401
    except ImportError:
        pytest.skip("needs datasets and tqdm")
    docs = [f"document {i}: " + "words " * (i % 7) for i in range(3000)]
    write_splits(tmp_path, Dataset.from_dict({"text": docs}),
                 encode=lambda text: text.encode(), eot=256, num_proc=1)
    out = {}
    for name in ("train", "val"):
        ids = np.fromfile(tmp_path / f"{name}.bin", dtype=np.uint16)
        assert ids[-1] == 256
        pieces = np.split(ids, np.flatnonzero(ids == 256) + 1)[:-1]
        out[name] = [bytes(p[:-1].astype(np.uint8)).decode() for p in pieces]
    assert len(out["val"]) == 2                  # 0.05% of the documents
    assert sorted(out["train"] + out["val"]) == sorted(docs)
    again = tmp_path / "again"
    write_splits(again, Dataset.from_dict({"text": docs}),
                 encode=lambda text: text.encode(), eot=256, num_proc=1)
    assert (again / "val.bin").read_bytes() == (tmp_path / "val.bin") \
        .read_bytes()                            # the split is seeded


# -- the task -----------------------------------------------------------------
def tiny_task(train, val, block_size=32, batch_size=4, eval_batches=3,
              **recipe):
    r = Recipe(batch_size=batch_size, max_steps=recipe.pop("max_steps", 4),
               schedule="cosine_warmup", schedule_unit="step", **recipe)
    return LanguageModelingTask(
        train, val, recipe=r, block_size=block_size,
        eval_batches=eval_batches,
        build_model=lambda: GPT(GPTConfig(block_size=block_size,
                                          vocab_size=256, n_layer=1,
                                          n_head=2, n_embd=16)))


def test_validation_is_one_fixed_set_of_windows_and_exact():
    train, val = byte_tokens(TEXT)
    a = tiny_task(train, val, eval_every=4)
    b = tiny_task(train, val, eval_every=4)
    # Built independently (as for two solvers), same windows.
    assert torch.equal(a.val_starts, b.val_starts)
    assert a.val_starts.shape == (3, 4)
    assert (a.val_starts <= len(val) - 33).all()
    torch.manual_seed(0)
    model = a.build_model()
    metrics = a.evaluate(model)
    assert metrics == b.evaluate(model)
    # The mean next-token cross-entropy over those windows, in float64.
    total, n = 0.0, 0
    for s in a.val_starts.flatten().tolist():
        x = torch.as_tensor(val[s:s + 32].astype(np.int64))[None]
        y = torch.as_tensor(val[s + 1:s + 33].astype(np.int64))
        logp = model(x)[0].double().log_softmax(-1)
        total -= logp[torch.arange(32), y].sum().item()
        n += 32
    assert metrics["value"] == pytest.approx(total / n, rel=1e-6)
    assert metrics["val_loss"] == metrics["value"]
    assert metrics["val_perplexity"] == pytest.approx(math.exp(total / n))
    # Training does not move the validation windows.
    t = Trainer(a, Method(lambda p, lr, wd, run: torch.optim.AdamW(p, lr=lr),
                          1e-3, 0.0), 5)
    t.train_stage()
    assert torch.equal(a.val_starts, b.val_starts)
    after = a.evaluate(t.model, t.running)
    assert after["value"] != metrics["value"]
    assert after["train_loss"] == pytest.approx(
        float(t.running["loss"]) / t.running["count"])
    assert t.running["count"] == 4 * 4 * 32       # tokens of 4 steps


def test_sampled_loss_draws_labels_from_the_model():
    """Sophia's estimator: labels drawn from the model's softmax, not the
    data's. The gradient of the sampled loss with respect to the logits is
    softmax - (label frequencies): zero in expectation (Bartlett's
    identity), and far from zero if the data's labels were used."""
    V, B, T = 6, 16, 500
    bias = torch.nn.Parameter(torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -2.0]))

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return bias.expand(x.shape[0], x.shape[1], V)

    task = tiny_task(*byte_tokens(TEXT))
    x = torch.zeros(B, T, dtype=torch.long)
    y = torch.zeros(B, T, dtype=torch.long)   # the data's labels: all 0
    torch.manual_seed(0)
    loss = task.sampled_loss(Fixed(), (x, y))
    loss.backward()
    # std of each coordinate: sqrt(p (1 - p) / (B T)) <= 0.0056
    assert bias.grad.abs().max().item() < 0.025
    data_grad = bias.softmax(0).detach() - F.one_hot(torch.tensor(0), V)
    assert data_grad.abs().max().item() > 0.3


def load_solver(root, name):
    spec = importlib.util.spec_from_file_location(
        f"lm_solver_{name}", root / "solvers" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Solver


def test_sophia_refreshes_every_k_steps_inside_the_timed_region(root):
    """SophiaG on the language model: after every k-th optimizer step, one
    extra forward and backward on labels sampled from the model, inside
    train_stage (the region benchopt times)."""
    train, val = byte_tokens(TEXT)
    task = tiny_task(train, val, grad_accum=2, max_steps=7, eval_every=7)
    solver = load_solver(root, "sophia").get_instance(hessian_interval=3)
    trainer = Trainer(task, solver.method(1e-3, 0.1), 0)
    calls, sampled_loss = [], task.sampled_loss

    def slow_sampled_loss(model, batch):
        calls.append((trainer.step, time.perf_counter()))
        time.sleep(0.1)
        return sampled_loss(model, batch)

    task.sampled_loss = slow_sampled_loss
    start = time.perf_counter()
    trainer.train_stage()
    end = time.perf_counter()
    # Each refresh runs over the step's two micro-batches.
    assert [step for step, _ in calls] == [3, 3, 6, 6]
    assert all(start < t < end for _, t in calls)
    assert trainer.train_time >= 0.4            # both refreshes are timed
    # The extra backward reached the Hessian estimate of every tensor.
    for p in trainer.model.parameters():
        h = trainer.optimizer.state[p]["hessian"]
        assert torch.isfinite(h).all() and h.abs().sum() > 0


def test_a_mini_gpt_learns_text_below_its_unigram_entropy():
    """On CPU, 60 steps of a small GPT on real text (Python's reference
    documentation, bytes): the validation loss falls well below the
    entropy of the text's byte frequencies, the best a model without
    context can do."""
    torch.manual_seed(0)
    train, val = byte_tokens(TEXT)
    p = np.bincount(train, minlength=256) / len(train)
    entropy = -(p[p > 0] * np.log(p[p > 0])).sum()
    r = Recipe(batch_size=16, max_steps=60, lr=1e-3, weight_decay=0.1,
               schedule="cosine_warmup", schedule_unit="step", warmup=6,
               min_lr_ratio=0.1, eval_every=60, grad_clip=1.0,
               decay_1d_params=False)
    task = LanguageModelingTask(
        train, val, recipe=r, block_size=64, eval_batches=10,
        build_model=lambda: build_gpt("tiny", vocab_size=256,
                                      block_size=64))
    t = Trainer(task, Method(lambda g, lr, wd, run: torch.optim.AdamW(
        g, lr=lr, betas=(0.9, 0.95), weight_decay=wd), r.lr, r.weight_decay),
        0)
    start = task.evaluate(t.model)["value"]
    t.train_stage()
    end = task.evaluate(t.model, t.running)["value"]
    assert start > math.log(256) - 0.5           # chance level at init
    assert end < entropy - 0.4, (end, entropy)   # 2.02 vs 2.68 nats


# -- benchopt -----------------------------------------------------------------
REDUCED_OWT = ("openwebtext[model=tiny,block_size=16,batch_size=2,"
               "grad_accum=2,max_steps=4,warmup=1,eval_every=2,"
               "eval_batches=2]")


THESIS_SOLVER_KEYS = {
    "adamw": ("beta1", "beta2"),
    "innaprop": ("alpha", "beta", "sigma"),
    "sophia": ("beta1", "beta2", "rho", "lr", "weight_decay",
               "hessian_interval"),
    "inna": ("alpha", "beta", "lr"),
}
GPT2_SOLVERS = {("adamw", 0.9, 0.95), ("innaprop", 0.1, 0.9, 0.99),
                ("innaprop", 2.0, 2.0, 0.99)}
THESIS_GPT2_SOLVERS = {
    "mini": GPT2_SOLVERS | {("inna", 0.5, 0.1, 0.1)},
    "small": GPT2_SOLVERS | {("sophia", 0.965, 0.99, 0.05, 6e-4, 0.2, 10)},
    "medium": GPT2_SOLVERS,
}


def check_lm_curves(df, tokens_per_step, steps):
    starts = []
    for name, curve in df.groupby("solver_name"):
        assert list(curve["objective_step"]) == steps, name
        assert np.isfinite(curve["objective_value"]).all(), name
        assert (curve["objective_diverged"] == 0).all(), name
        assert list(curve["objective_tokens"]) == [
            s * tokens_per_step for s in steps]
        assert (curve["objective_tokens_per_second"].iloc[1:] > 0).all()
        np.testing.assert_allclose(curve["objective_val_perplexity"],
                                   np.exp(curve["objective_value"]))
        starts.append(curve["objective_value"].iloc[0])
    # Same initial weights and same validation windows for every solver.
    assert len(set(starts)) == 1, starts


def run_benchopt(bench, monkeypatch, *args):
    """`benchopt run` in this process (no interpreter start-up) on the copy
    of the benchmark, errors raised, on the CPU; returns the results."""
    from benchopt.cli.main import run
    monkeypatch.setenv("INNAPROP_DEVICE", "cpu")
    monkeypatch.setenv("BENCHOPT_RAISE_ON_ERROR", "1")
    out = bench / "outputs" / "lm.parquet"
    run([str(bench), *args, "--no-plot", "--no-display", "--no-cache",
         "--output", str(out)], standalone_mode=False)
    return pd.read_parquet(out)


@pytest.mark.parametrize("size", ["mini", "small", "medium"])
def test_reduced_run_of_each_gpt2_config(bench, tmp_path, monkeypatch,
                                         size):
    config = yaml.safe_load((bench / "configs" / f"owt_gpt2_{size}.yml")
                            .read_text())
    assert config["dataset"] == [f"openwebtext[model={size}]"]
    write_owt(tmp_path / "data" / "openwebtext")
    config["dataset"] = [REDUCED_OWT]
    (bench / "reduced.yml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("BENCHOPT_DATA_HOME", str(tmp_path / "data"))
    df = run_benchopt(bench, monkeypatch, "--config",
                      str(bench / "reduced.yml"))
    check_lm_curves(df, tokens_per_step=2 * 2 * 16, steps=[0, 2, 4])
    # The thesis's solvers and settings (section 4.3.3, 4.9.4).
    ran = set()
    for _, row in df.drop_duplicates("solver_name").iterrows():
        name = row["solver_name"].split("[")[0]
        keys = THESIS_SOLVER_KEYS[name]
        ran.add((name,) + tuple(row[f"p_solver_{k}"] for k in keys))
    assert ran == THESIS_GPT2_SOLVERS[size]


def test_tokens_dataset_through_benchopt(bench, tmp_path, monkeypatch):
    path = tmp_path / "corpus.txt"
    path.write_text("Some real text would do; this one repeats. " * 200)
    df = run_benchopt(
        bench, monkeypatch, "-s", "adamw", "-s", "innaprop", "-d",
        f"tokens[path={path},block_size=16,batch_size=4,max_steps=3,"
        "warmup=1,eval_every=3,eval_batches=2]")
    check_lm_curves(df, tokens_per_step=4 * 16, steps=[0, 3])
    assert set(df["p_dataset_path"]) == {str(path)}
