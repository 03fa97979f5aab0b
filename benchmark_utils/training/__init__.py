"""The one training loop every solver shares, its checkpoints and its data parallelism."""
