"""The NAS-Bench-201 supernet and discrete networks: operations, cells, network."""

from jaxnas.models.nb201.cell import (
    DiscreteCell,
    FusedSearchCell,
    MixedSearchCell,
    unfuse_cell_params,
)
from jaxnas.models.nb201.network import Network, init, supernet_to_per_edge
from jaxnas.models.nb201.ops import ResNetBasicBlock, apply_op

__all__ = ["DiscreteCell", "FusedSearchCell", "MixedSearchCell", "Network", "ResNetBasicBlock",
           "apply_op", "init", "supernet_to_per_edge", "unfuse_cell_params"]
