"""GPT-2 fine-tuned with LoRA on E2E, on a tiny random GPT-2 saved with
save_pretrained (the hub's file layout) and small generated E2E CSV files in
the original release's layout. No test reaches the network."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from benchopt.cli.main import run

transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from benchmark_utils.data.e2e import encode_example, format_mr, load_e2e  # noqa: E402,E501
from benchmark_utils.models.hf_gpt2 import (HUB_NAMES, build_lora_gpt2,  # noqa: E402,E501
                                            load_gpt2)
from benchmark_utils.tasks.finetune import FineTuneTask, collate  # noqa: E402
from benchmark_utils.training.recipe import Recipe  # noqa: E402
from benchmark_utils.training.method import Method  # noqa: E402
from benchmark_utils.training.trainer import Trainer  # noqa: E402

# Its module fixture runs once: its tests stay on one xdist worker.
pytestmark = pytest.mark.xdist_group("e2e")

NAMES = ["The Vaults", "The Eagle", "Blue Spice", "Cotto", "Zizzi"]
FOODS = ["French", "Italian", "Chinese", "English"]


def rows(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        name, food = rng.choice(NAMES), rng.choice(FOODS)
        mr = (f"name[{name}], eatType[pub], food[{food}], "
              f"priceRange[more than £30], customer rating[5 out of 5], "
              f"familyFriendly[yes], near[Café Adriatic]")
        ref = f"{name} is a family friendly pub serving {food} food."
        out.append((mr, ref))
    return out


def write_e2e(folder):
    folder.mkdir(parents=True)
    for name, n, seed in (("trainset.csv", 24, 0), ("devset.csv", 6, 1),
                          ("testset_w_refs.csv", 6, 2)):
        pd.DataFrame(rows(n, seed), columns=["mr", "ref"]).to_csv(
            folder / name, index=False)


def write_tiny_gpt2(folder):
    """A random 2-layer GPT-2 and a byte-level BPE tokenizer trained on E2E
    text, saved in the hub's layout (config.json, model.safetensors,
    tokenizer files)."""
    from tokenizers import ByteLevelBPETokenizer
    text = [format_mr(mr) + " " + ref for mr, ref in rows(60, 5)]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(text, vocab_size=400,
                            special_tokens=["<|endoftext|>"])
    tokenizer = transformers.GPT2TokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>",
        bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2,
        n_head=2, bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id)
    model = transformers.GPT2LMHeadModel(config)
    for size in HUB_NAMES.values():
        model.save_pretrained(folder / size)
        tokenizer.save_pretrained(folder / size)


@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e_home")
    write_e2e(home / "e2e")
    write_tiny_gpt2(home / "gpt2")
    return home


@pytest.fixture
def offline(monkeypatch):
    """No hub access: huggingface_hub reads HF_HUB_OFFLINE once, at import,
    so the environment variable alone (set after the import) would leave it
    trying the network (46 s of retries here before failing)."""
    import huggingface_hub.constants
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_meaning_representations_read_as_the_lora_codebase_writes_them():
    # data/e2e/train.txt of microsoft/LoRA, first line's context.
    mr = ("name[The Vaults], eatType[pub], priceRange[more than £30], "
          "customer rating[5 out of 5], near[Café Adriatic]")
    assert format_mr(mr) == ("name : The Vaults | Type : pub | price : more "
                             "than £30 | customer rating : 5 out of 5 | "
                             "near : Café Adriatic")
    with pytest.raises(ValueError, match="Not an E2E meaning"):
        format_mr("just words")


def test_an_example_is_context_eot_space_reference_eot(data_home):
    _, _, tok = load_gpt2("small", data_home / "gpt2")
    mr, ref = rows(1, 3)[0]
    ids, mask = encode_example(tok, mr, ref)
    eot = tok.eos_token_id
    context = tok.encode(format_mr(mr))
    completion = tok.encode(" " + ref)
    assert ids == context + [eot] + completion + [eot]
    assert mask == [0] * (len(context) + 1) + [1] * (len(completion) + 1)
    ids, mask = encode_example(tok, mr, ref, max_length=5)
    assert len(ids) == len(mask) == 5


def test_the_reader_takes_the_original_and_the_hub_layouts(data_home,
                                                           tmp_path):
    original = load_e2e(data_home / "e2e", download=False)
    assert [len(original[s]) for s in ("train", "validation", "test")] == \
        [24, 6, 6]
    hub = tmp_path / "hub"
    hub.mkdir()
    for split, pairs in original.items():
        pd.DataFrame(pairs, columns=["meaning_representation",
                                     "human_reference"]).to_parquet(
            hub / f"{split}.parquet")
    assert load_e2e(hub, download=False) == original


def tiny_task(home, epochs=1):
    config, state, tok = load_gpt2("small", home / "gpt2")
    raw = load_e2e(home / "e2e", download=False)
    splits = {s: [encode_example(tok, mr, ref) for mr, ref in pairs]
              for s, pairs in raw.items()}
    recipe = Recipe(batch_size=8, epochs=epochs, lr=1e-2, weight_decay=0.01,
                    schedule="linear_warmup", schedule_unit="step", warmup=1)
    return FineTuneTask(splits, recipe=recipe, pad_id=tok.eos_token_id,
                        build_model=lambda: build_lora_gpt2(config, state),
                        eval_batch_size=4)


def test_only_the_lora_weights_change(data_home):
    task = tiny_task(data_home)
    trainer = Trainer(task, Method(lambda p, lr, wd, run: torch.optim.AdamW(
        p, lr=lr, weight_decay=wd), 1e-2, 0.01), 0)
    before = {n: p.detach().clone()
              for n, p in trainer.model.named_parameters()}
    trainer.train_stage()
    changed = {n for n, p in trainer.model.named_parameters()
               if not torch.equal(p, before[n])}
    lora = {n for n in before if "lora_" in n}
    assert changed and changed <= lora
    assert "lora_B" in " ".join(changed)
    trainable = {n for n, p in trainer.model.named_parameters()
                 if p.requires_grad}
    assert trainable == lora


def test_perplexity_is_the_exponential_of_the_mean_token_loss(data_home):
    task = tiny_task(data_home)
    torch.manual_seed(0)
    model = task.build_model().eval()
    total = count = 0.0
    with torch.no_grad():
        for ids, mask in task.splits["test"]:       # one at a time
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
            losses = torch.nn.functional.cross_entropy(
                logits, torch.tensor(ids[1:]), reduction="none")
            m = torch.tensor(mask[1:], dtype=torch.float32)
            total += float((losses * m).sum())
            count += float(m.sum())
    metrics = task.evaluate(model)
    assert metrics["test_loss"] == pytest.approx(total / count, rel=1e-5)
    assert metrics["test_perplexity"] == pytest.approx(
        math.exp(total / count), rel=1e-5)


def test_padding_does_not_change_the_loss(data_home):
    task = tiny_task(data_home)
    torch.manual_seed(0)
    model = task.build_model().eval()
    from benchmark_utils.tasks.finetune import token_losses
    a, b = task.splits["validation"][:2]
    with torch.no_grad():
        alone = sum(token_losses(model, collate([e], 0, "cpu"))[0]
                    for e in (a, b))
        together = token_losses(model, collate([a, b], 0, "cpu"))[0]
    assert float(together) == pytest.approx(float(alone), rel=1e-5)


def test_missing_weights_offline_say_which_files_to_put_where(tmp_path,
                                                             offline):
    with pytest.raises(RuntimeError) as info:
        load_gpt2("small", tmp_path / "weights")
    text = str(info.value)
    assert "config.json" in text and "model.safetensors" in text
    assert str(tmp_path / "weights" / "gpt2") in text
    assert "data_paths" in text


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_config_is_valid_and_a_reduced_run_completes(root, data_home, size,
                                                     tmp_path, monkeypatch,
                                                     offline):
    config = yaml.safe_load((root / "configs" /
                             f"e2e_gpt2_{size}.yml").read_text())
    assert config["dataset"] == [f"e2e[model={size}]"]
    assert config["n-repetitions"] == 3 and config["no-timeout"] is True
    assert config["max-runs"] >= 6
    assert any("sigma=0.98" in s for s in config["solver"])
    assert any("beta2=0.98" in s for s in config["solver"])
    monkeypatch.setenv("BENCHOPT_DATA_HOME", str(data_home))
    monkeypatch.setenv("INNAPROP_DEVICE", "cpu")
    config["dataset"] = [f"e2e[model={size},epochs=1,n_train=16]"]
    if size != "small":       # the small config runs both solvers
        config["solver"] = config["solver"][-1:]
    path = tmp_path / "e2e.yml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out.parquet"
    run([str(root), "--config", str(path), "-r", "1", "--no-plot",
         "--no-display", "--no-cache", "--output", str(out)],
        standalone_mode=False)
    df = pd.read_parquet(out)
    for _, runs in df.groupby("solver_name"):
        assert list(runs["objective_epoch"]) == [0.0, 1.0]
    for col in ("objective_val_perplexity", "objective_test_perplexity"):
        assert np.isfinite(df[col]).all() and (df[col] > 1).all()
    assert df["objective_tokens"].iloc[-1] > 0
    if size == "small":
        check_speedup_on_perplexities(df)


def check_speedup_on_perplexities(df):
    """Table 4.4's speedup on the run's perplexity columns: each solver's
    best is the mean over seeds of its best epoch (minimum), the baseline
    (AdamW) matches itself at its own best step."""
    from benchmark_utils.reporting.results import speedup_table
    assert df["solver_name"].nunique() == 2
    for col in ("objective_val_perplexity", "objective_test_perplexity"):
        table = speedup_table(df, col)
        adamw = table.index[0]
        assert adamw.startswith("adamw")
        runs = df[df["solver_name"] == adamw]
        assert table.loc[adamw, "best_mean"] == pytest.approx(
            runs.groupby("idx_rep")[col].min().mean())
        best = runs.loc[runs[col].idxmin()]         # one seed
        assert table.attrs["target"] == pytest.approx(best[col])
        assert table.attrs["base_step"] == best["objective_step"]
        if best["objective_step"] > 0:
            assert table.loc[adamw, "speedup_steps"] == 1.0
        other = table.index[1]
        runs = df[df["solver_name"] == other].sort_values("stop_val")
        hit = runs[runs[col] <= best[col]]
        if hit.empty:
            assert np.isnan(table.loc[other, "step"])
        else:
            assert table.loc[other, "step"] == hit["objective_step"].iloc[0]
