"""Optimizers of the benchmark, usable outside benchopt:

    from innaprop import INNAprop

INNAprop and its family from the thesis (INNA, DINAdam, INNAprop in momentum
form), and the baselines torch.optim lacks or runs otherwise than their
authors (SophiaG, Lion, AlgoPerf's NAdamW, MARS). Each is a
torch.optim.Optimizer with parameter groups and state_dict, a per-tensor
reference (foreach=False) and a multi-tensor default path.
"""
from .dinadam import DINAdam
from .inna import INNA
from .innaprop import INNAprop
from .innaprop_momentum import INNApropMomentum
from .lion import Lion
from .mars import MARS
from .nadamw import NAdamW
from .sophia import SophiaG

__all__ = ["DINAdam", "INNA", "INNAprop", "INNApropMomentum", "Lion", "MARS",
           "NAdamW", "SophiaG"]
