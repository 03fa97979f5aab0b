"""Adapters that let third-party optimizers run in the shared loop: several
optimizers stepped as one (Muon with AdamW), and Muon on conv filters."""
