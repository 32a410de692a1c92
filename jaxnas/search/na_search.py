"""Neighbourhood-aware search on a tabular benchmark: NA-RS and NA local search.

Wang, Cao, Li & Kitani, "Neighborhood-Aware Neural Architecture Search" (arXiv 2105.06369).
An architecture's *score* is its validation accuracy aggregated over its neighbourhood
(:mod:`jaxnas.analysis.neighbourhood`); the returned architecture is the one with the best score.

* **NA-RS** (the paper's neighbourhood-aware random search): every step draws a uniformly
  random architecture, queries it and every member of its neighbourhood, and scores it.
* **NA local search** (our extension): local search (:mod:`jaxnas.search.local_search`) that
  compares architectures by their score instead of their value.

Budget: every architecture whose value enters a score is queried through
:func:`jaxnas.search.base.query`, so each *distinct* architecture evaluated, centre or
neighbour, costs one unit of the query budget (padding rows of a masked neighbourhood cost
nothing and are not aggregated) (re-evaluating one is free, as for every other
algorithm). A score is recorded (and its architecture can become the incumbent) only when all
the architectures it aggregates were paid for within the budget; an architecture whose
neighbourhood the budget cut short is never returned. Until the first score is complete the
incumbent is the best architecture queried (see :func:`jaxnas.search.base.trajectory`).

Sampled neighbourhoods (``k``): the ``k`` neighbours of an architecture are a fixed function of
the trial and the architecture (drawn with a key derived from the trial's landscape salt and the
architecture's key), so re-scoring an architecture gives the same score, as re-querying one gives the same
value.

With ``radius=0`` the neighbourhood is the architecture alone and NA-RS is random search
(same proposals, same trajectory; tested).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxnas.analysis import neighbourhood as nbh
from jaxnas.search.base import (
    Algorithm,
    Landscape,
    Oracle,
    SearchState,
    init_oracle,
    query,
    record_score,
    seen,
)
from jaxnas.search.local_search import init as _ls_init
from jaxnas.search.local_search import step as _ls_step


def _fold_key(key: jax.Array, arch_key: jax.Array) -> jax.Array:
    """``key`` folded with an architecture key (every word of a multi-word hash)."""
    for word in jnp.reshape(arch_key, (-1,)):
        key = jax.random.fold_in(key, word)
    return key


def members(land: Landscape, arch: jax.Array, radius: int, k: int | None
            ) -> tuple[jax.Array, jax.Array]:
    """The architectures whose values enter the score of ``arch``: ``([M, *arch_shape],
    bool[M])`` (``M = k + 1`` when sampled), row 0 ``arch``, with their validity."""
    key = None
    if k is not None:
        key = _fold_key(jax.random.key(land.salt), land.space.arch_key(arch))
    return nbh.sample_neighbourhood(land.space, key, arch, radius, k)


def na_query(oracle: Oracle, land: Landscape, arch: jax.Array, *, radius: int = 1,
             aggregation: str = "mean", k: int | None = None) -> tuple[jax.Array, Oracle]:
    """Queries ``arch`` and its neighbourhood and returns its aggregated score.

    Each distinct new architecture costs one unit of budget; padding rows of a masked
    neighbourhood are neither queried nor aggregated. The score is recorded in the (scored)
    oracle only if every valid member was paid for within the budget.

    Args:
        oracle: a scored oracle (``init_oracle(space, budget, scored=True)``).
        land: this trial's landscape.
        arch: the architecture to score, ``[*arch_shape]``.
        radius, aggregation, k: the neighbourhood and its aggregation (static).

    Returns:
        ``(score, oracle)``; the score is ``float32[]``.
    """
    space = land.space
    mem, valid = members(land, arch, radius, k)

    def body(o, xs):
        a, ok = xs
        _, o = query(o, land, a, active=ok)
        return o, None

    oracle, _ = jax.lax.scan(body, oracle, (mem, valid))
    keys = space.arch_key(mem)  # [M, *key_shape]
    paid = jax.vmap(lambda key: seen(space, oracle, key))(keys)
    complete = jnp.all(paid | ~valid)
    s = nbh.aggregate(land.valid(mem), aggregation, valid=valid)
    return s, record_score(oracle, arch, keys[0], s, complete)


def _check(space, radius: int, aggregation: str, k: int | None) -> None:
    """Checks the options against ``space`` (at the first trace, where the space is known)."""
    nbh.check_radius(space, radius)
    nbh.check_aggregation(aggregation)
    nbh.check_k(space, k, radius)


def _check_static(radius: int, aggregation: str, k: int | None) -> None:
    """Checks what can be checked before the space is known."""
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"neighbourhood radius must be a non-negative integer, got {radius!r}")
    nbh.check_aggregation(aggregation)
    if k is not None and (isinstance(k, bool) or int(k) != k or k < 1):
        raise ValueError(f"k (neighbours sampled, --na-samples) must be >= 1, got {k!r}; omit k (the CLI's "
                         f"--na-samples) to use the whole neighbourhood")


# ---------------------------------------------------------------------------------------------
# NA-RS.
# ---------------------------------------------------------------------------------------------


def rs_init(key: jax.Array, land: Landscape, budget: int, *, radius: int, aggregation: str,
            k: int | None) -> SearchState:
    del key
    _check(land.space, radius, aggregation, k)
    return SearchState(algo=(), oracle=init_oracle(land.space, budget, scored=True))


def rs_step(key: jax.Array, state: SearchState, land: Landscape, *, radius: int,
            aggregation: str, k: int | None) -> SearchState:
    """Draws one random architecture (``key`` consumed exactly as random search) and scores it."""
    _, oracle = na_query(state.oracle, land, land.space.sample(key), radius=radius,
                         aggregation=aggregation, k=k)
    return state.replace(oracle=oracle)


def na_random_search(radius: int = 1, k: int | None = None, aggregation: str = "mean"
                     ) -> Algorithm:
    """NA-RS: random search ranked by the neighbourhood-aware score.

    Args:
        radius: neighbourhood radius in edges changed (default 1: the 24 neighbours; 0 is
            plain random search).
        k: score with the architecture and ``k`` sampled neighbours (default: all of them).
        aggregation: ``mean`` (default), ``median``, ``min`` or ``max``.

    Raises:
        ValueError: for a bad radius, k or aggregation, naming it.
    """
    _check_static(radius, aggregation, k)
    opts = dict(radius=radius, aggregation=aggregation, k=k)
    return Algorithm("na_random_search", functools.partial(rs_init, **opts),
                     functools.partial(rs_step, radius=radius, aggregation=aggregation, k=k))


# ---------------------------------------------------------------------------------------------
# NA local search.
# ---------------------------------------------------------------------------------------------


def ls_init(key: jax.Array, land: Landscape, budget: int, *, num_init: int, radius: int,
            aggregation: str, k: int | None) -> SearchState:
    _check(land.space, radius, aggregation, k)
    state = _ls_init(key, land, budget, num_init=num_init)
    return state.replace(oracle=init_oracle(land.space, budget, scored=True))


def na_local_search(radius: int = 1, k: int | None = None, aggregation: str = "mean",
                    num_init: int = 1, first_improvement: bool = False) -> Algorithm:
    """Local search on the neighbourhood-aware score (our extension of the paper).

    Every architecture local search would query is scored by :func:`na_query` instead; moves,
    restarts and the scan order are those of :func:`jaxnas.search.local_search.local_search`.

    Args:
        radius, k, aggregation: the score, as in :func:`na_random_search`.
        num_init, first_improvement: as in local search.
    """
    _check_static(radius, aggregation, k)
    if num_init < 1:
        raise ValueError(f"num_init must be >= 1, got {num_init}")
    score_fn = functools.partial(na_query, radius=radius, aggregation=aggregation, k=k)
    return Algorithm(
        "na_local_search",
        functools.partial(ls_init, num_init=num_init, radius=radius, aggregation=aggregation,
                          k=k),
        functools.partial(_ls_step, num_init=num_init, first_improvement=first_improvement,
                          score_fn=score_fn),
    )


# ---------------------------------------------------------------------------------------------
# The ranking criterion in isolation (neighbour evaluations not charged).
# ---------------------------------------------------------------------------------------------


def select_among(land: Landscape, centres: jax.Array, *, radius: int = 1,
                 aggregation: str = "mean", k: int | None = None
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """What random search and NA-RS return from the same candidates when neighbours are free.

    Isolates the ranking criterion from the budget: random search returns the candidate with
    the best validation accuracy, NA-RS the one with the best neighbourhood-aware score.

    Args:
        land: this trial's landscape (an enumerable space: the cost counts distinct keys).
        centres: ``[n, *arch_shape]`` candidate architectures (e.g. ``n`` uniform samples).
        radius, aggregation, k: the score (static), as in :func:`na_random_search`.

    Returns:
        ``(rs_arch, na_arch, cost)``: the two returned architectures (``[*arch_shape]``) and the
        number of distinct architectures NA-RS would have queried (``int32[]``).
    """
    space = land.space
    _check(space, radius, aggregation, k)
    if space.num_archs is None:
        raise ValueError(f"select_among counts distinct integer keys; space {space.name!r} is "
                         f"not enumerable")
    mem, valid = jax.vmap(lambda c: members(land, c, radius, k))(centres)  # [n, M, ...], [n, M]
    scores = nbh.aggregate(land.valid(mem), aggregation, valid=valid)  # [n]
    keys = space.arch_key(mem)
    keys = jnp.where(valid, keys, keys[:, :1])  # padding counts as the (counted) centre
    flat = jnp.sort(keys.reshape(-1))
    cost = 1 + jnp.sum(flat[1:] != flat[:-1])
    return (centres[jnp.argmax(land.valid(centres))], centres[jnp.argmax(scores)],
            cost.astype(jnp.int32))
