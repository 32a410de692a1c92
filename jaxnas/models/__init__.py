"""Flax models: NAS-Bench-201 operations, cells, and the search / discrete network."""

from jaxnas.models.cell import DiscreteCell, FusedSearchCell, MixedSearchCell, unfuse_cell_params
from jaxnas.models.network import Network, init, kernel_fan_in, one_hot, supernet_to_per_edge

__all__ = ["DiscreteCell", "FusedSearchCell", "MixedSearchCell", "Network", "init",
           "kernel_fan_in", "one_hot", "supernet_to_per_edge", "unfuse_cell_params"]
