"""Equal-budget tuning studies: quasi-random trials for every solver, run
through ``benchopt run``, selection on the validation split, confirmation
with fresh seeds, and a report. ``python -m benchmark_utils.tuning
studies/digits.yml``."""
