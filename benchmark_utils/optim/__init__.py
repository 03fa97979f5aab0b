"""Optimizers of the benchmark, usable outside benchopt:

    from benchmark_utils.optim import INNAprop
"""
from .innaprop import INNAprop

__all__ = ["INNAprop"]
