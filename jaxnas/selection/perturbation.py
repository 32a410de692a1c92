"""Perturbation-based architecture selection (DARTS-PT) as pure functions over a scoring function.

Wang, Cheng, Chen, Tang, Hsieh, "Rethinking Architecture Selection in Differentiable NAS",
ICLR 2021. The magnitude of an architecture parameter does not say how much its operation
contributes to the supernet; DARTS-PT instead *removes* each candidate operation of an edge
(sets its weight to zero, the others unchanged, already decided edges one-hot) and keeps the
operation whose removal hurts the supernet's validation accuracy most (or raises its loss most).

Everything here is generic over a supernet: an *evaluation function*

    eval_fn(params, op_weights) -> (accuracy, loss)      # op_weights: [E, K]

evaluates the supernet with explicit per-edge operation weights (e.g. ``softmax(alpha)``) on the
validation data that ``params`` carries. :func:`score_candidates` ``vmap``s it over the ``K``
candidate removals of one edge, so all removals are scored in one jitted call.

Conventions: ``decided`` is ``int32[E]`` holding the chosen operation of every decided edge and
``-1`` for undecided edges; ``edge_on`` is ``float32[E]``, 0 on edges removed by topology
selection (DARTS-PT's second phase on cells whose nodes keep 2 of their inputs), else 1. A
:class:`Projection` bundles both with the op weights of undecided edges. Scores follow the reference implementation's criterion: with
``crit='acc'`` the kept operation is the one whose removal gives the *lowest* accuracy; with
``crit='loss'`` the one whose removal gives the *highest* loss; ties go to the lowest index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

CRITERIA: tuple[str, ...] = ("acc", "loss")
UNDECIDED = -1

EvalFn = Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]


class Scores(NamedTuple):
    """Supernet validation metrics with one candidate operation removed.

    Attributes:
        acc: accuracy (fraction in [0, 1]) with operation k removed.  # [K]
        loss: mean cross-entropy with operation k removed.  # [K]
    """

    acc: jax.Array
    loss: jax.Array


class Projection(NamedTuple):
    """The supernet's op weights as selection has shaped them so far.

    Attributes:
        weights: op weights of undecided edges (``softmax(alpha)``, or uniform).  # [E, K]
        decided: chosen operation per edge, -1 where undecided.  # [E]
        edge_on: 1 on present edges, 0 on edges removed by topology selection.  # [E]
    """

    weights: jax.Array
    decided: jax.Array
    edge_on: jax.Array


def projected(p: Projection) -> jax.Array:
    """The op weights the supernet runs with: decided edges one-hot, removed edges zero.

    Returns:
        ``[E, K]`` weights.
    """
    return project(p.weights, p.decided) * p.edge_on[:, None].astype(p.weights.dtype)


def check_crit(crit: str) -> str:
    if crit not in CRITERIA:
        raise ValueError(f"unknown selection criterion {crit!r}; choose one of {CRITERIA}")
    return crit


def project(weights: jax.Array, decided: jax.Array) -> jax.Array:
    """Replaces the weights of decided edges by the one-hot vector of their operation.

    Args:
        weights: operation weights, e.g. ``softmax(alpha)``.  # [E, K]
        decided: chosen operation per edge, ``-1`` where undecided.  # [E]

    Returns:
        ``[E, K]`` weights; rows of decided edges are one-hot, the others unchanged.
    """
    num_ops = weights.shape[-1]
    onehot = jax.nn.one_hot(jnp.maximum(decided, 0), num_ops, dtype=weights.dtype)
    return jnp.where((decided >= 0)[:, None], onehot, weights)


def candidate_masks(decided: jax.Array, edge: jax.Array, num_ops: int) -> jax.Array:
    """Multiplicative op-weight masks of the ``num_ops`` candidate removals on ``edge``.

    Mask ``k`` zeroes operation ``k`` of ``edge``, keeps every other undecided edge as it is
    (ones) and makes decided edges one-hot. ``edge`` may be traced, so one compilation serves
    every edge. ``edge`` must be undecided (the driver checks this on the host).

    Args:
        decided: chosen operation per edge, ``-1`` where undecided.  # [E]
        edge: index of the edge being decided.  # []
        num_ops: number of candidate operations ``K``.

    Returns:
        ``float32[K, E, K]`` masks.
    """
    num_edges = decided.shape[0]
    base = jnp.where(
        (decided >= 0)[:, None],
        jax.nn.one_hot(jnp.maximum(decided, 0), num_ops, dtype=jnp.float32),
        jnp.ones((num_edges, num_ops), jnp.float32),
    )  # [E, K]
    removed = 1.0 - jnp.eye(num_ops, dtype=jnp.float32)  # [K(candidate), K]
    on_edge = (jnp.arange(num_edges) == edge)[None, :, None]  # [1, E, 1]
    return jnp.where(on_edge, removed[:, None, :], base[None])


def candidate_weights(weights: jax.Array, decided: jax.Array, edge: jax.Array,
                      edge_on: jax.Array | None = None) -> jax.Array:
    """Op weights of every candidate removal on ``edge``: ``project(weights) * masks``.

    Returns:
        ``[K, E, K]``: candidate ``k`` has operation ``k`` of ``edge`` zeroed, decided edges
        one-hot, edges with ``edge_on == 0`` zero, all other weights unchanged.
    """
    masks = candidate_masks(decided, edge, weights.shape[-1]).astype(weights.dtype)
    out = project(weights, decided)[None] * masks
    if edge_on is not None:
        out = out * edge_on[None, :, None].astype(weights.dtype)
    return out


def removal_weights(p: Projection, candidates: jax.Array) -> jax.Array:
    """Op weights with each candidate *edge* removed in turn (topology selection).

    Args:
        p: the current projection.
        candidates: edges to try removing, padded with -1 (a padded row removes nothing). # [M]

    Returns:
        ``[M, E, K]``: row ``m`` is :func:`projected` with edge ``candidates[m]`` zeroed.
    """
    base = projected(p)
    off = jnp.arange(base.shape[0])[None, :] == candidates[:, None]  # [M, E]
    return jnp.where(off[..., None], jnp.zeros((), base.dtype), base[None])


def score_candidates(eval_fn: EvalFn, params: Any, weights_batch: jax.Array) -> Scores:
    """Scores a batch of op weights with one ``vmap``ped supernet evaluation.

    Args:
        eval_fn: ``eval_fn(params, op_weights[E, K]) -> (acc, loss)``.
        params: everything the evaluation needs (variables, validation batches), shared.
        weights_batch: candidate op weights, e.g. from :func:`candidate_weights`.  # [K, E, K]

    Returns:
        :class:`Scores` with ``[K]`` arrays.
    """
    acc, loss = jax.vmap(eval_fn, in_axes=(None, 0))(params, weights_batch)
    return Scores(acc=acc, loss=loss)


def score_candidates_sequential(eval_fn: EvalFn, params: Any, weights_batch: jax.Array) -> Scores:
    """The same as :func:`score_candidates` with a Python loop; the oracle for tests."""
    out = [eval_fn(params, w) for w in weights_batch]
    return Scores(acc=jnp.stack([a for a, _ in out]), loss=jnp.stack([v for _, v in out]))


def choose_removal(scores: Scores, valid: jax.Array, crit: str = "acc") -> jax.Array:
    """The candidate edge whose removal hurts least: the highest accuracy (``'acc'``) or the
    lowest loss (``'loss'``) without it, among ``valid`` candidates (ties: the lowest index).
    DARTS-PT's topology step removes it."""
    check_crit(crit)
    if crit == "acc":
        return jnp.argmax(jnp.where(valid, scores.acc, -jnp.inf))
    return jnp.argmin(jnp.where(valid, scores.loss, jnp.inf))


def choose(scores: Scores, crit: str = "acc") -> jax.Array:
    """The operation to keep: its removal gives the lowest accuracy (``'acc'``) or the highest
    loss (``'loss'``). Ties go to the lowest operation index, as in the reference loop."""
    check_crit(crit)
    return jnp.argmin(scores.acc) if crit == "acc" else jnp.argmax(scores.loss)


def make_edge_scorer(eval_fn: EvalFn) -> Callable[..., Scores]:
    """One jitted function ``(params, weights[E, K], decided[E], edge[], edge_on[E] = None) ->
    Scores``: builds the ``K`` candidate removals of ``edge`` and scores them in a single
    ``vmap``ped call.

    ``edge``, ``decided`` and ``edge_on`` are traced, so the function compiles once for the
    whole selection.
    """

    @jax.jit
    def score_edge(params: Any, weights: jax.Array, decided: jax.Array, edge: jax.Array,
                   edge_on: jax.Array | None = None) -> Scores:
        return score_candidates(eval_fn, params,
                                candidate_weights(weights, decided, edge, edge_on))

    return score_edge


def make_removal_scorer(eval_fn: EvalFn) -> Callable[..., Scores]:
    """One jitted function ``(params, projection, candidates[M]) -> Scores[M]``: the supernet
    with each candidate edge removed (:func:`removal_weights`), scored in one ``vmap``ped
    call. Compiles once per ``M`` (the padded number of a node's inputs)."""

    @jax.jit
    def score_removals(params: Any, p: Projection, candidates: jax.Array) -> Scores:
        return score_candidates(eval_fn, params, removal_weights(p, candidates))

    return score_removals


def edge_order(key: jax.Array, num_edges: int, order=None) -> jax.Array:
    """The order in which edges are decided: a random permutation (consumes ``key``) or the
    given fixed order, validated to be a permutation of ``range(num_edges)``.

    Raises:
        ValueError: if ``order`` is not a permutation of ``0..num_edges-1``.
    """
    if order is None:
        return jax.random.permutation(key, num_edges).astype(jnp.int32)
    o = [int(e) for e in order]
    if sorted(o) != list(range(num_edges)):
        raise ValueError(
            f"a fixed edge order must be a permutation of 0..{num_edges - 1}, got {o!r}"
        )
    return jnp.asarray(o, jnp.int32)
