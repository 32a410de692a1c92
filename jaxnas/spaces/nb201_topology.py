"""The NAS-Bench-201 cell's topology and operations: constants only (a leaf module, imported by
the space :mod:`jaxnas.spaces.nb201` and by the networks of :mod:`jaxnas.models.nb201`)."""

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_OPS = len(OPS)
NUM_EDGES = 6
NUM_NODES = 4
# (destination node, source node) of every edge, in encoding order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

__all__ = ["EDGES", "NUM_EDGES", "NUM_NODES", "NUM_OPS", "OPS"]
