"""Models of the DARTS search space (Liu, Simonyan, Yang, ICLR 2019) and its RobustDARTS
variants S1-S4 (Zela et al., ICLR 2020): operations (:mod:`.ops`), cells (:mod:`.cell`), the
search supernet and the evaluation network ``NetworkCIFAR`` (:mod:`.network`), candidate tables
and reference genotypes (:mod:`.candidates`)."""

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
    supernet_to_network,
    uniform_weights,
)
from jaxnas.models.darts.ops import OPS

__all__ = ["AuxiliaryHeadCIFAR", "CANDIDATES", "DARTS7_OPS", "DARTS_OPS", "DARTS_V1", "DARTS_V2",
           "DartsSupernet", "NetworkCIFAR", "OPS", "compiler_options", "genotype_array", "genotype_lists", "init",
           "param_count", "param_counts", "supernet_to_network", "uniform", "uniform_weights"]
