"""Models of the DARTS search space (Liu, Simonyan, Yang, ICLR 2019) and its RobustDARTS
variants S1-S4 (Zela et al., ICLR 2020): operations (:mod:`.ops`), cells (:mod:`.cell`), the
search supernet and the evaluation network ``NetworkCIFAR`` (:mod:`.network`), candidate tables
and reference genotypes (:mod:`.candidates`)::

    from jaxnas.models import darts
    normal, reduce = darts.CANDIDATES["darts"]  # or "darts-7", "s1".."s4"
    net = darts.DartsSupernet(16, 8, 10, normal, reduce)
    variables = darts.init(key, net)       # {'params', 'batch_stats'}
    w = {"normal": softmax(a_normal), "reduce": softmax(a_reduce)}  # [14, K] each
    logits, upd = net.apply(variables, images, w, train=True, mutable=["batch_stats"])

    geno = darts.genotype_array(*darts.DARTS_V2)  # int32[2, 8, 2]
    eval_net = darts.NetworkCIFAR(geno, darts.DARTS_OPS, channels=36, layers=20)
    darts.param_counts(eval_net)           # {'total': 3825768, 'without_aux': 3349342}
"""

from jaxnas.models.darts.candidates import (
    CANDIDATES,
    DARTS7_OPS,
    DARTS_OPS,
    DARTS_V1,
    DARTS_V2,
    genotype_array,
    genotype_lists,
    uniform,
)
from jaxnas.models.darts.network import (
    AuxiliaryHeadCIFAR,
    DartsSupernet,
    NetworkCIFAR,
    compiler_options,
    init,
    param_count,
    param_counts,
    scan_to_per_edge,
    supernet_to_network,
    uniform_weights,
)
from jaxnas.models.darts.ops import OPS

__all__ = ["AuxiliaryHeadCIFAR", "CANDIDATES", "DARTS7_OPS", "DARTS_OPS", "DARTS_V1", "DARTS_V2",
           "DartsSupernet", "NetworkCIFAR", "OPS", "compiler_options", "genotype_array",
           "genotype_lists", "init", "param_count", "param_counts", "scan_to_per_edge",
           "supernet_to_network", "uniform", "uniform_weights"]
