from functools import partial

from benchopt.config import get_data_path

from benchmark_utils.data.download import DataNotFound
from benchmark_utils.data.e2e import encode_example, load_e2e
from benchmark_utils.data.loaders import subset_indices
from benchmark_utils.bench.dataset import LocalDataset
from benchmark_utils.training.identity import data_source
from benchmark_utils.models.hf_gpt2 import build_lora_gpt2, load_gpt2
from benchmark_utils.tasks.finetune import FineTuneTask
from benchmark_utils.training import checks
from benchmark_utils.training.recipe import Recipe


class Dataset(LocalDataset):
    """E2E NLG, pretrained GPT-2 fine-tuned with LoRA (thesis section
    4.10.5, after the LoRA paper's Table 11 and microsoft/LoRA): batch 8,
    5 epochs, lr 2e-4 with a linear schedule after 500 warmup steps, weight
    decay 0.01, dropout 0.1, LoRA rank 4 and alpha 32 on the attention
    projections; only the LoRA weights train. Evaluated every epoch:
    validation and test perplexity (exp of the mean loss over the
    references' tokens); ``value`` is the validation loss.

    Data: config.yml's ``data_paths: {e2e: /folder}`` (the original CSVs or
    the Hugging Face files, see benchmark_utils/data/e2e.py). Weights:
    ``data_paths: {gpt2: /folder}`` holding save_pretrained checkpoints
    (gpt2/, gpt2-medium/, gpt2-large/), else the Hugging Face hub.
    ``n_train`` keeps a fixed subset of the training examples (quick
    checks). E2E has its own validation split: nothing is held out.
    """

    name = "e2e"
    data_key = "e2e"
    parameters = {"model": ["small"], "lora_rank": [4], "epochs": [5],
                  "batch_size": [8], "warmup": [500], "max_length": [512],
                  "n_train": [None], "precision": ["fp32"]}

    def source(self):
        return " + ".join([super().source(),
                           data_source(get_data_path("gpt2"))])

    def prepare(self):
        load_e2e(self.data_root(), download=True)
        load_gpt2(self.model, get_data_path("gpt2"))

    def get_data(self):
        checks.positive_int("lora_rank", self.lora_rank)
        checks.positive_int("max_length", self.max_length)
        # Both looked for before either is reported: a user offline learns
        # at once everything to copy.
        missing = []
        try:
            config, state, tokenizer = load_gpt2(self.model,
                                                 get_data_path("gpt2"))
        except DataNotFound as e:
            missing.append(str(e))
        try:
            raw = load_e2e(self.data_root())
        except DataNotFound as e:
            missing.append(str(e))
        if missing:
            raise DataNotFound(" ".join(missing))
        keep = subset_indices(len(raw["train"]), self.n_train)
        if keep is not None:
            raw["train"] = [raw["train"][i] for i in keep.tolist()]
        splits = {split: [encode_example(tokenizer, mr, ref, self.max_length)
                          for mr, ref in pairs]
                  for split, pairs in raw.items()}
        recipe = Recipe(batch_size=self.batch_size, epochs=self.epochs,
                        lr=2e-4, weight_decay=0.01, schedule="linear_warmup",
                        schedule_unit="step", warmup=self.warmup,
                        precision=self.precision)
        task = FineTuneTask(
            splits, recipe=recipe, pad_id=tokenizer.eos_token_id,
            build_model=partial(build_lora_gpt2, config, state,
                                rank=self.lora_rank))
        task.source = self.source()
        return dict(task=task)
