from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.optimizers.muon import hidden_matrices
from benchmark_utils.training.method import Scale


class Solver(TrainingSolver):
    """NorMuon (Li et al. 2025, "NorMuon: making Muon more efficient and
    scalable"), pytorch-optimizer's implementation: Muon's orthogonalized
    momentum (Newton-Schulz, 5 steps) with each row (neuron) divided by the
    root of its own second moment, on the hidden weight matrices (conv
    filters as matrices, as ``muon``); Adam with decoupled decay on the
    rest. Defaults are the authors' (zichongli5/NorMuon, ``normuon.py``):
    momentum 0.95 with Nesterov, beta2 0.95; the Adam part betas
    (0.9, 0.95) and eps 1e-10.

    The step is the paper's Algorithm 1: the normalized update rescaled to
    RMS 0.2 (``update_scale="match_rms"``), Moonlight's matching of AdamW's
    update RMS, so both parts take the recipe's (AdamW's) lr and decay. The
    authors' code keeps instead the Frobenius norm of the orthogonalized
    update with Muon's shape factor and lr 0.02 (``"preserve_norm"``,
    which tests/test_rivals.py checks against that code). Search space:
    AdamW's. Remaining deviation: the GPT's fused query/key/value weight
    is orthogonalized as one matrix (pytorch-optimizer takes whole
    parameters; ``muon`` splits it).
    """

    name = "normuon"
    parameters = {"momentum": [0.95], "beta2": [0.95], "lr": [None],
                  "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]}}
    scale = Scale(source="Li et al. 2025, Algorithm 1: the update has RMS "
                  "0.2, AdamW's, so it takes AdamW's lr and decay")

    def make_optimizer(self, params, lr, weight_decay, run):
        from pytorch_optimizer import NorMuon  # slow import: only when used
        hidden = {id(p) for p in hidden_matrices(run.model)}
        groups = []
        for use_muon in (True, False):
            for g in params:
                ps = [p for p in g["params"] if (id(p) in hidden) == use_muon]
                if ps:
                    groups.append(dict(params=ps, use_muon=use_muon,
                                       weight_decay=g["weight_decay"]))
        return NorMuon(groups, lr=lr, momentum=self.momentum,
                       beta2=self.beta2, nesterov=True,
                       update_scale="match_rms", adamw_lr=lr,
                       adamw_betas=(0.9, 0.95), adamw_eps=1e-10,
                       weight_decouple=True)
