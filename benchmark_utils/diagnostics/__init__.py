"""Measurements of the ground under every optimizer (thesis chapters 2 and 3)."""
