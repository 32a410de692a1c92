"""DARTS cells: the search cell (a mixed operation on every edge) and the discrete cell of a
genotype (DARTS ``cnn/model_search.py`` and ``cnn/model.py``).

A cell has two inputs, the outputs ``c_{k-2}`` and ``c_{k-1}`` of the two previous cells
(preprocessed to ``C`` channels: a 1x1 ReLU -> Conv -> BN, or :class:`FactorizedReduce` for
``c_{k-2}`` when the previous cell halved the resolution), and ``steps = 4`` intermediate nodes.
Node ``i`` sums one edge from each of the ``2 + i`` earlier states; edge ``(i, j)`` (state ``j``
into node ``i``) has index ``EDGE_OFFSETS[i] + j``, 14 edges in all. The output concatenates the
last ``multiplier = 4`` states (the intermediate nodes) on channels. In a reduction cell the
edges from the two inputs have stride 2. Activations are channel-major ``[C, B, H, W]``
(:mod:`jaxnas.models.darts.ops`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnas.models.darts.ops import (
    FactorizedReduce,
    MixedOp,
    Op,
    ReLUConvBN,
    drop_path,
    is_identity,
)


def edge_offsets(steps: int = 4) -> tuple[int, ...]:
    """Index of the first edge into each intermediate node: ``(0, 2, 5, 9)`` for 4 steps."""
    return tuple(sum(2 + j for j in range(i)) for i in range(steps))


def num_edges(steps: int = 4) -> int:
    """Edges of a cell with ``steps`` intermediate nodes (14 for 4)."""
    return sum(2 + i for i in range(steps))


EDGE_OFFSETS = edge_offsets(4)
NUM_EDGES = num_edges(4)


def edge_stride(reduction: bool, source: int) -> int:
    """Stride of an edge from state ``source`` (0, 1: the cell inputs)."""
    return 2 if reduction and source < 2 else 1


def preprocess(s0: jax.Array, s1: jax.Array, features: int, reduction_prev: bool, affine: bool,
               train: bool) -> tuple[jax.Array, jax.Array]:
    """A cell's input preprocessing, called inside a compact module (it creates the
    sub-modules ``preprocess0`` and ``preprocess1`` there)."""
    if reduction_prev:
        s0 = FactorizedReduce(features, affine, name="preprocess0")(s0, train)
    else:
        s0 = ReLUConvBN(features, affine, name="preprocess0")(s0, train)
    s1 = ReLUConvBN(features, affine, name="preprocess1")(s1, train)
    return s0, s1


class SearchCell(nn.Module):
    """A search cell: a :class:`MixedOp` on every edge (sub-modules ``edge{e}``), affine-free
    BatchNorms.

    Attributes:
        features: ``C``, the channels of every node.
        reduction: edges from the cell inputs have stride 2.
        reduction_prev: the previous cell was a reduction cell (``c_{k-2}`` has twice the
            resolution of ``c_{k-1}``).
        ops: candidate operations of every edge, ``num_edges(steps)`` tuples of ``K`` names.
        steps: intermediate nodes.
        multiplier: states concatenated into the output (the last ``multiplier``).
    """

    features: int
    reduction: bool
    reduction_prev: bool
    ops: tuple[tuple[str, ...], ...]
    steps: int = 4
    multiplier: int = 4

    @nn.compact
    def __call__(self, s0: jax.Array, s1: jax.Array, weights: jax.Array, train: bool
                 ) -> jax.Array:
        """Args: s0, s1 ``[C', B, H', W']`` (the two previous cells' outputs); weights
        ``[E, K]``. Returns ``[multiplier * C, B, H/s, W/s]``."""
        states = list(preprocess(s0, s1, self.features, self.reduction_prev, False, train))
        offset = 0
        for _ in range(self.steps):
            total = None
            for j, h in enumerate(states):
                e = offset + j
                y = MixedOp(self.ops[e], self.features, edge_stride(self.reduction, j),
                            name=f"edge{e}")(h, weights[e], train)
                total = y if total is None else total + y
            offset += len(states)
            states.append(total)
        return jnp.concatenate(states[-self.multiplier:], 0)


def edge_list(steps: int = 4) -> tuple[tuple[int, int], ...]:
    """``(node, source state)`` of every edge, in edge order."""
    return tuple((i, j) for i in range(steps) for j in range(2 + i))


def edge_groups(steps: int = 4) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Edge indices from the cell inputs (states 0, 1) and from intermediate nodes, each in
    edge order (for 4 steps: ``(0, 1, 2, 3, 5, 6, 9, 10)`` and ``(4, 7, 8, 11, 12, 13)``)."""
    edges = edge_list(steps)
    return (tuple(e for e, (_, j) in enumerate(edges) if j < 2),
            tuple(e for e, (_, j) in enumerate(edges) if j >= 2))


class _EdgeStep(nn.Module):
    """One edge as an ``nn.scan`` body: ``buf[dst] += MixedOp(source)``, the source read from
    the carried buffer ``buf`` (``from_buf``) or from the broadcast cell inputs."""

    ops: tuple[str, ...]
    features: int
    stride: int
    train: bool
    from_buf: bool

    @nn.compact
    def __call__(self, buf: jax.Array, inputs: jax.Array | None, src: jax.Array,
                 dst: jax.Array, w: jax.Array) -> tuple[jax.Array, None]:
        # MixedOp fences x: that also materialises its gradient before the loop's transpose adds
        # it into the source buffer's cotangent (a fusion over the whole buffer, which otherwise
        # recomputed the mixed operation's input gradient for every state in the buffer).
        x = jax.lax.dynamic_index_in_dim(buf if self.from_buf else inputs, src, 0, False)
        # Rematerialised except for the GEMM outputs: the loop stores fewer residuals (stacked
        # over the edges) and recomputes the cheap rest in the backward pass (5% faster).
        mixed = nn.remat(MixedOp, static_argnums=(3,),
                         policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable)
        y = mixed(self.ops, self.features, self.stride, name="op")(x, w, self.train)
        acc = jax.lax.dynamic_index_in_dim(buf, dst, 0, False) + y
        return jax.lax.dynamic_update_index_in_dim(buf, acc, dst, 0), None


class ScanSearchCell(nn.Module):
    """The search cell with its edges run as ``nn.scan`` loops (same function as
    :class:`SearchCell`; every edge must have the same candidates).

    A normal cell runs its 14 edges as one loop over a buffer of the 6 states, in edge order
    (an edge reads a node only after every edge into that node). In a reduction cell the 8
    edges from the cell inputs (stride 2) are one loop and the 6 edges between intermediate
    nodes (half the resolution) another. XLA compiles one mixed operation per loop instead of
    one per edge, and the loop boundaries keep it from fusing (and recomputing) work across
    edges: the 8-cell training step compiled in 15 minutes unrolled and ran 2-3x slower
    (experiments/RESULTS_darts_space.md). Parameters: ``edges/op`` (normal cells) or
    ``input_edges/op`` and ``node_edges/op`` (reduction cells), each leaf stacked over the
    loop's edges; :func:`~jaxnas.models.darts.network.scan_to_per_edge` unstacks them into
    :class:`SearchCell`'s ``edge{e}`` layout.
    """

    features: int
    reduction: bool
    reduction_prev: bool
    ops: tuple[tuple[str, ...], ...]
    steps: int = 4
    multiplier: int = 4

    def _loop(self, name: str, n: int, stride: int, train: bool, from_buf: bool):
        loop = nn.scan(_EdgeStep, variable_axes={"params": 0, "batch_stats": 0},
                       split_rngs={"params": True, "noise": True},
                       in_axes=(nn.broadcast, 0, 0, 0), length=n)
        return loop(self.ops[0], self.features, stride, train, from_buf, name=name)

    @nn.compact
    def __call__(self, s0: jax.Array, s1: jax.Array, weights: jax.Array, train: bool
                 ) -> jax.Array:
        """Same as :meth:`SearchCell.__call__`."""
        if len(set(self.ops)) != 1:
            raise ValueError("ScanSearchCell needs the same candidates on every edge; use "
                             "SearchCell for per-edge candidate sets")
        if self.multiplier > self.steps:
            raise ValueError(f"multiplier {self.multiplier} > steps {self.steps}: the output "
                             "would include cell inputs; use SearchCell")
        s0, s1 = preprocess(s0, s1, self.features, self.reduction_prev, False, train)
        edges = edge_list(self.steps)
        ints = functools.partial(jnp.asarray, dtype=jnp.int32)
        if not self.reduction:
            states = jnp.concatenate([jnp.stack([s0, s1]),
                                      jnp.zeros((self.steps, *s1.shape), s1.dtype)])
            step = self._loop("edges", len(edges), 1, train, True)
            states, _ = step(states, None, ints([j for _, j in edges]),
                             ints([2 + i for i, _ in edges]), weights)
            nodes = states[2:]
        else:
            inputs = jnp.stack([s0, s1])
            c, b, h, w = s1.shape
            nodes = jnp.zeros((self.steps, c, b, h // 2, w // 2), s1.dtype)
            for name, group, from_nodes in zip(("input_edges", "node_edges"),
                                               edge_groups(self.steps), (False, True),
                                               strict=True):
                step = self._loop(name, len(group), 1 if from_nodes else 2, train, from_nodes)
                nodes, _ = step(nodes, inputs, ints([edges[e][1] - 2 * from_nodes for e in group]),
                                ints([edges[e][0] for e in group]), weights[ints(group)])
        out = nodes[self.steps - self.multiplier:]  # [m, C, B, H, W]: concatenated channels
        return out.reshape(-1, *out.shape[2:])


class EvalCell(nn.Module):
    """The discrete cell of a genotype (DARTS's evaluation ``Cell``): node ``i`` is the sum of
    the operations of slots ``2i`` and ``2i + 1`` (sub-modules ``slot{j}``).

    Attributes:
        features: ``C``.
        reduction: see :class:`SearchCell`.
        reduction_prev: see :class:`SearchCell`.
        genotype: ``2 * steps`` pairs ``(input state, op index)`` for this cell type.
        ops: operation names that the op indices refer to.
        affine: affine BatchNorms (DARTS's evaluation network); ``False`` gives the search
            network's affine-free operations (the pools are plain either way).
    """

    features: int
    reduction: bool
    reduction_prev: bool
    genotype: tuple[tuple[int, int], ...]
    ops: tuple[str, ...]
    affine: bool = True

    @nn.compact
    def __call__(self, s0: jax.Array, s1: jax.Array, train: bool,
                 drop_path_rate: jax.Array | float = 0.0) -> jax.Array:
        """Args: s0, s1 as in :class:`SearchCell`; drop_path_rate: drop path probability of
        every non-identity operation in training (draws from the ``'drop_path'`` rng stream
        unless it is the constant 0). Returns ``[steps * C, B, H/s, W/s]``."""
        use_drop = train and not (isinstance(drop_path_rate, (int, float)) and drop_path_rate == 0)
        states = list(preprocess(s0, s1, self.features, self.reduction_prev, self.affine,
                                 train))
        for i in range(len(self.genotype) // 2):
            total = None
            for j in (2 * i, 2 * i + 1):
                src, o = self.genotype[j]
                name, stride = self.ops[o], edge_stride(self.reduction, src)
                h = Op(name, self.features, stride, self.affine, False, name=f"slot{j}")(
                    states[src], train)
                if use_drop and not is_identity(name, stride):
                    h = drop_path(self.make_rng("drop_path"), h, drop_path_rate)
                total = h if total is None else total + h
            states.append(total)
        return jnp.concatenate(states[2:], 0)


def check_genotype_cell(genotype: Sequence[Sequence[int]], num_ops: int, steps: int = 4) -> None:
    """Raises ``ValueError`` unless ``genotype`` is ``2 * steps`` valid ``(input, op)`` pairs."""
    if len(genotype) != 2 * steps:
        raise ValueError(f"a cell genotype needs {2 * steps} (input, op) slots, got "
                         f"{len(genotype)}")
    for j, (src, o) in enumerate(genotype):
        if not 0 <= src < 2 + j // 2:
            raise ValueError(f"slot {j} (node {j // 2}) reads state {src}; it can read states "
                             f"0..{1 + j // 2}")
        if not 0 <= o < num_ops:
            raise ValueError(f"slot {j} has op index {o}, outside [0, {num_ops})")


__all__ = ["EDGE_OFFSETS", "EvalCell", "NUM_EDGES", "ScanSearchCell", "SearchCell",
           "check_genotype_cell", "edge_groups", "edge_list", "edge_offsets", "edge_stride",
           "num_edges", "preprocess"]
