"""The seam between this benchmark and benchopt.

Every module of ``benchmark_utils`` that imports benchopt lives here: the
solver base, the stopping rule, resume's side of benchopt's callback, the
torchrun launcher, the base of local datasets and data paths, the plot base
and the offline pages' patch. The rest (training, data, models, reporting's
numbers) is plain Python and torch, so a new benchopt release touches this
folder only.
"""
