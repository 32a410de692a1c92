"""The NA-DARTS objective, generic over the alpha pytree of a search space.

Neighbourhood-aware DARTS (after Wang, Cao, Li & Kitani, "Neighborhood-Aware Neural
Architecture Search", arXiv 2105.06369) minimises the validation loss aggregated over the
neighbourhood of the continuous architecture instead of the loss at that architecture alone.

The continuous architecture is an operation-weight pytree whose leaves are ``[E_i, K]`` matrices
(``softmax(alpha)``); the rows of all leaves, in ``jax.tree`` order, form one list of
``E = sum E_i`` edges (a single ``[E, K]`` matrix is that list). The neighbour that changes edge
``e`` from its current operation ``o* = argmax w[e]`` to operation ``o`` is ``w`` with entries
``o*`` and ``o`` of row ``e`` *swapped*: at a one-hot ``w`` (a discrete architecture) the
neighbours are the one-hot encodings of the discrete Hamming neighbours; a swap is a permutation,
linear in ``w``, so every neighbour's loss is differentiable in ``w`` (the argmax is piecewise
constant and carries no gradient).

**Spaces whose nodes keep some of their inputs** (the DARTS family: a node keeps 2 of its
incoming edges) have a richer discrete neighbourhood (naszilla's DARTS / NAS-Bench-301
neighbourhood): change the operation of a *kept* edge, or change one input of a node. With a
:class:`RowStructure` (from :func:`row_structure`), the radius-1 members are (a) the operation
swaps above on the edges the genotype rule keeps (the ``keep`` strongest incoming edges of each
node, strength the largest weight over operations other than ``none``) and (b) *row swaps*: the
whole weight rows of a kept and a dropped input of the same node exchanged, so at a one-hot
``w`` the node takes the dropped input with the kept edge's operation. Both are permutations of
``w``'s entries, differentiable in ``w``; the members are sampled uniformly among the valid ones.

Members of the radius-``r`` neighbourhood are ordered as :func:`shift_patterns`: row 0 is ``w``
itself, then members by distance, within one distance edge subsets in lexicographic order with
the last edge's shift varying fastest (for NAS-Bench-201 the order of
:meth:`jaxnas.spaces.base.ProductSpace.neighbourhood`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.analysis.neighbourhood import AGGREGATIONS, aggregate, check_aggregation, check_k
from jaxnas.spaces.base import ProductSpace, SearchSpace


class RowStructure(NamedTuple):
    """Which rows (edges) of the op weights compete for a node's inputs.

    Attributes:
        node: node of every row; rows whose node keeps all its inputs get a node of their
            own.  # int32[E]
        keep: inputs a node keeps.
        zero: True on the zero operation's column of every row (``none``), which does not
            count for an edge's strength.  # bool[E, K]
        pairs: row pairs ``(a, b)`` of the same node, ``a < b``: the candidate row swaps.  # [P, 2]
    """

    node: np.ndarray
    keep: int
    zero: np.ndarray
    pairs: np.ndarray


def row_structure(space: SearchSpace) -> RowStructure | None:
    """The :class:`RowStructure` of a space with topology decisions
    (:meth:`~jaxnas.spaces.base.SearchSpace.topology`), ``None`` for one without (NB201)."""
    groups, keep = space.topology()
    if not groups:
        return None
    decisions = space.decisions()
    num = len(decisions)
    node = np.arange(num, dtype=np.int32)
    pairs = []
    for i, rows in enumerate(n for g in groups for n in g):
        node[list(rows)] = num + i
        pairs += [(a, b) for a in rows for b in rows if a < b]
    zero = np.array([[op == "none" for op in space.candidate_ops(*d)] for d in decisions], bool)
    return RowStructure(node=node, keep=int(keep), zero=zero,
                        pairs=np.asarray(pairs, np.int32).reshape(-1, 2))


def kept_rows(rows: jax.Array, structure: RowStructure) -> jax.Array:
    """``bool[E]``: the edges the genotype rule keeps at ``rows`` (the ``keep`` strongest of
    each node, strength the largest non-zero-op weight; ties: the lower index)."""
    s = jnp.max(jnp.where(jnp.asarray(structure.zero), -jnp.inf, rows), axis=-1)  # [E]
    node = jnp.asarray(structure.node)
    idx = jnp.arange(rows.shape[0])
    same = node[:, None] == node[None, :]
    ahead = (s[None, :] > s[:, None]) | ((s[None, :] == s[:, None]) & (idx[None, :] < idx[:, None]))
    return jnp.sum(same & ahead, axis=1) < structure.keep


def structured_members(weights: Any, structure: RowStructure) -> tuple[Any, jax.Array]:
    """The radius-1 neighbourhood of a space with node inputs (module docstring):
    ``(members, valid)``: the pytree with a leading member axis ``[1 + E (K - 1) + P]`` (the
    centre, every operation swap, every row swap) and ``bool[...]`` marking the members that
    are neighbours at ``weights`` (the centre is not)."""
    rows, split = _rows(weights)
    num_edges, num_ops = rows.shape
    ops = op_weight_neighbours(rows, 1)  # [1 + E (K - 1), E, K], edge-major after the centre
    kept = kept_rows(jax.lax.stop_gradient(rows), structure)
    op_valid = jnp.concatenate([jnp.zeros((1,), bool), jnp.repeat(kept, num_ops - 1)])
    pairs = jnp.asarray(structure.pairs)
    perm = jnp.broadcast_to(jnp.arange(num_edges), (pairs.shape[0], num_edges))
    perm = perm.at[jnp.arange(pairs.shape[0]), pairs[:, 0]].set(pairs[:, 1])
    perm = perm.at[jnp.arange(pairs.shape[0]), pairs[:, 1]].set(pairs[:, 0])
    swaps = rows[perm]  # [P, E, K]
    swap_valid = kept[pairs[:, 0]] != kept[pairs[:, 1]]
    members = jnp.concatenate([ops, swaps], axis=0)
    return split(members), jnp.concatenate([op_valid, swap_valid])


def _rows(weights: Any) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    """``(rows [E, K], split)``: the rows of every leaf stacked, and the inverse that splits
    ``[..., E, K]`` back into the pytree (leading axes kept on every leaf)."""
    leaves, treedef = jax.tree.flatten(weights)
    leaves = [jnp.asarray(x) for x in leaves]
    if not leaves or any(x.ndim != 2 for x in leaves):
        raise ValueError("operation weights must be a pytree of [edges, operations] matrices, "
                         f"got shapes {[x.shape for x in leaves]}")
    if len({x.shape[-1] for x in leaves}) != 1:
        raise ValueError("every leaf of the operation weights needs the same number of "
                         f"operations, got shapes {[x.shape for x in leaves]}")
    if len(leaves) == 1:
        return leaves[0], lambda r: jax.tree.unflatten(treedef, [r])
    bounds = np.cumsum([x.shape[0] for x in leaves])[:-1].tolist()
    return (jnp.concatenate(leaves, axis=0),
            lambda r: jax.tree.unflatten(treedef, jnp.split(r, bounds, axis=-2)))


def _edge_space(num_edges: int, num_ops: int) -> ProductSpace:
    """The discrete space of ``num_edges`` edges x ``num_ops`` operations whose Hamming balls
    the swapped neighbours follow (its radius checks, sizes and shift patterns are theirs)."""
    return ProductSpace("op_weights", tuple(str(o) for o in range(num_ops)), num_edges)


def neighbourhood_size(num_edges: int, num_ops: int, radius: int) -> int:
    """``sum_{j<=r} C(E, j) (K - 1)^j``: the centre and its neighbours within ``radius``."""
    return _edge_space(num_edges, num_ops).neighbourhood_size(radius)


def shift_patterns(num_edges: int, num_ops: int, radius: int) -> np.ndarray:
    """Per-edge operation shifts of every member, ``int32[M, E]`` (row 0: zeros, the centre):
    the Hamming-ball order of :meth:`jaxnas.spaces.ProductSpace.shift_patterns`."""
    return _edge_space(num_edges, num_ops).shift_patterns(radius)


def op_weight_neighbours(weights: Any, radius: int = 1) -> Any:
    """The neighbourhood of a continuous architecture as swapped operation weights.

    Member ``m``: on every edge ``e`` with ``shift[m, e] != 0`` the weights of
    ``o* = argmax w[e]`` and of ``(o* + shift[m, e]) % K`` are swapped.

    Args:
        weights: operation weights, a pytree of ``[E_i, K]`` leaves (e.g. ``softmax(alpha)``).
        radius: neighbourhood radius (static).

    Returns:
        The pytree with a leading member axis ``[M]`` on every leaf; differentiable in
        ``weights`` (each output entry is one input entry).
    """
    rows, split = _rows(weights)
    num_edges, num_ops = rows.shape
    shifts = jnp.asarray(shift_patterns(num_edges, num_ops, radius))  # [M, E]
    top = jnp.argmax(jax.lax.stop_gradient(rows), axis=-1)  # [E]
    target = (top + shifts) % num_ops  # [M, E]
    j = jnp.arange(num_ops)
    # source index of every output entry: the swap (top <-> target) as a permutation
    src = jnp.where(j == top[:, None], target[..., None],
                    jnp.where(j == target[..., None], top[:, None], j))  # [M, E, K]
    return split(jnp.take_along_axis(jnp.broadcast_to(rows, src.shape), src, axis=-1))


def sample_op_weight_neighbours(key: jax.Array | None, weights: Any, radius: int = 1,
                                k: int | None = None) -> Any:
    """``weights`` plus ``k`` neighbours drawn uniformly without replacement (leading axis
    ``[k + 1]``, member 0 is ``weights``); ``k=None``: all ``M`` members. Consumes ``key``."""
    rows, split = _rows(weights)
    k = check_k(_edge_space(*rows.shape), k, radius)
    members = op_weight_neighbours(rows, radius)
    if k is not None:
        pick = jax.random.choice(key, members.shape[0] - 1, (k,), replace=False) + 1
        members = jnp.concatenate([members[:1], members[pick]])
    return split(members)


def neighbourhood_loss(loss_fn: Callable[[Any], jax.Array], weights: Any, radius: int = 1,
                       aggregation: str = "mean", k: int | None = None,
                       key: jax.Array | None = None, batch_size: int | None = None,
                       structure: RowStructure | None = None
                       ) -> tuple[jax.Array, jax.Array]:
    """The NA-DARTS objective: ``loss_fn`` aggregated over the neighbourhood of ``weights``.

    Args:
        loss_fn: maps operation weights (``weights``' pytree layout) to a scalar loss.
        weights: the continuous architecture.
        radius: neighbourhood radius (static).
        aggregation: one of :data:`AGGREGATIONS` (of losses: ``mean``, or ``max`` for the worst
            neighbour).
        k: aggregate over the centre and ``k`` sampled neighbours; ``None``: all ``M`` members.
        key: needed when ``k`` is given; consumed.
        batch_size: members evaluated at once (``lax.map``); default all at once (``vmap``).
        structure: the space's node inputs (:func:`row_structure`): the neighbourhood of a
            DARTS-family space (operation swaps on kept edges and input swaps; radius 1); with
            ``k=None`` the aggregate runs over the centre and every valid member.

    Returns:
        ``(loss, per_member)``: the aggregated scalar and the ``[M]`` (or ``[k + 1]``) losses
        (with ``structure`` and ``k=None``, invalid members' losses are computed and ignored).
    """
    check_aggregation(aggregation)
    if k is not None and key is None:
        raise ValueError(f"k={k} samples neighbours and needs a PRNG key; pass key=...")
    valid = None
    if structure is not None:
        if radius != 1:
            raise ValueError(f"the neighbourhood of a space with node inputs has radius 1, "
                             f"got radius={radius}")
        members, ok = structured_members(weights, structure)
        if k is None:
            valid = ok.at[0].set(True)
        else:
            pick = jax.random.choice(key, ok.shape[0], (k,), replace=False,
                                     p=ok / jnp.maximum(jnp.sum(ok), 1))
            members = jax.tree.map(lambda m: jnp.concatenate([m[:1], m[pick]]), members)
    else:
        members = sample_op_weight_neighbours(key, weights, radius, k)
    if batch_size is None:
        losses = jax.vmap(loss_fn)(members)
    else:
        losses = jax.lax.map(loss_fn, members, batch_size=batch_size)
    return aggregate(losses, aggregation, valid=valid), losses


__all__ = ["AGGREGATIONS", "RowStructure", "aggregate", "kept_rows", "neighbourhood_loss",
           "neighbourhood_size", "row_structure", "structured_members",
           "op_weight_neighbours", "sample_op_weight_neighbours", "shift_patterns"]
