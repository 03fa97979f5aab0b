from benchmark_utils.bench.plot import ResultPlot, select
from benchmark_utils.reporting.provenance import columns


class Plot(ResultPlot):
    """How these results were made (benchmark_utils/reporting/provenance.py):
    the git commit and whether the tree was dirty, the versions of Python,
    torch, CUDA, cuDNN, Triton, torchvision, benchopt and the optimizer
    packages, the device and its count, the world size, the precision and
    the command line; several values of a field are all listed."""

    name = "provenance"
    type = "table"
    options = {"dataset": ..., "objective": ...}

    def plot(self, df, dataset, objective):
        info = columns(select(df, dataset, objective))
        if not info:
            return [["(none)", "these results predate provenance records"]]
        return [[key, "; ".join(values)] for key, values in info.items()]

    def get_metadata(self, df, dataset, objective):
        return {"title": f"{objective}\nData: {dataset}\nHow these results "
                         "were made",
                "columns": ["field", "value"]}
