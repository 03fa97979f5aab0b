"""What a dataset hands to the training loop and the objective (base.py: the contract)."""
