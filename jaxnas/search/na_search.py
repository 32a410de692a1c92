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
neighbour, costs one unit of the query budget (re-evaluating one is free, as for every other
algorithm). A score is recorded (and its architecture can become the incumbent) only when all
the architectures it aggregates were paid for within the budget; an architecture whose
neighbourhood the budget cut short is never returned. Until the first score is complete the
incumbent is the best architecture queried (see :func:`jaxnas.search.base.trajectory`).

Sampled neighbourhoods (``k``): the ``k`` neighbours of an architecture are a fixed function of
the trial and the architecture (drawn with a key derived from the trial's landscape salt and the
code), so re-scoring an architecture gives the same score, as re-querying one gives the same
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
    random_code,
    record_score,
)
from jaxnas.search.local_search import init as _ls_init
from jaxnas.search.local_search import step as _ls_step


def members(land: Landscape, code: jax.Array, radius: int, k: int | None) -> jax.Array:
    """The codes whose values enter the score of ``code``: ``int32[M]`` (``[k + 1]``)."""
    key = None
    if k is not None:
        key = jax.random.fold_in(jax.random.key(land.table.salt), code)
    return nbh.sample_neighbourhood(key, code, radius, k)


def na_query(oracle: Oracle, land: Landscape, code: jax.Array, *, radius: int = 1,
             aggregation: str = "mean", k: int | None = None) -> tuple[jax.Array, Oracle]:
    """Queries ``code`` and its neighbourhood and returns its aggregated score.

    Each distinct new architecture costs one unit of budget. The score is recorded in the
    (scored) oracle only if every member was paid for within the budget.

    Args:
        oracle: a scored oracle (``init_oracle(budget, scored=True)``).
        land: this trial's landscape.
        code: the architecture to score, ``int32[]``.
        radius, aggregation, k: the neighbourhood and its aggregation (static).

    Returns:
        ``(score, oracle)``; the score is ``float32[]``.
    """
    mem = members(land, code, radius, k)

    def body(o, c):
        _, o = query(o, land, c)
        return o, None

    oracle, _ = jax.lax.scan(body, oracle, mem)
    complete = jnp.all(jnp.any(mem[:, None] == oracle.codes[None, :], axis=1))
    s = nbh.aggregate(land.valid(mem), aggregation)
    return s, record_score(oracle, code, s, complete)


def _check(radius: int, aggregation: str, k: int | None) -> None:
    nbh.check_radius(radius)
    nbh.check_aggregation(aggregation)
    nbh.check_k(k, radius)


# ---------------------------------------------------------------------------------------------
# NA-RS.
# ---------------------------------------------------------------------------------------------


def rs_init(key: jax.Array, land: Landscape, budget: int) -> SearchState:
    del key, land
    return SearchState(algo=(), oracle=init_oracle(budget, scored=True))


def rs_step(key: jax.Array, state: SearchState, land: Landscape, *, radius: int,
            aggregation: str, k: int | None) -> SearchState:
    """Draws one random architecture (``key`` consumed exactly as random search) and scores it."""
    _, oracle = na_query(state.oracle, land, random_code(key, land), radius=radius,
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
    _check(radius, aggregation, k)
    return Algorithm("na_random_search", rs_init,
                     functools.partial(rs_step, radius=radius, aggregation=aggregation, k=k))


# ---------------------------------------------------------------------------------------------
# NA local search.
# ---------------------------------------------------------------------------------------------


def ls_init(key: jax.Array, land: Landscape, budget: int, *, num_init: int) -> SearchState:
    state = _ls_init(key, land, budget, num_init=num_init)
    return state.replace(oracle=init_oracle(budget, scored=True))


def na_local_search(radius: int = 1, k: int | None = None, aggregation: str = "mean",
                    num_init: int = 1, first_improvement: bool = False) -> Algorithm:
    """Local search on the neighbourhood-aware score (our extension of the paper).

    Every architecture local search would query is scored by :func:`na_query` instead; moves,
    restarts and the scan order are those of :func:`jaxnas.search.local_search.local_search`.

    Args:
        radius, k, aggregation: the score, as in :func:`na_random_search`.
        num_init, first_improvement: as in local search.
    """
    _check(radius, aggregation, k)
    if num_init < 1:
        raise ValueError(f"num_init must be >= 1, got {num_init}")
    score_fn = functools.partial(na_query, radius=radius, aggregation=aggregation, k=k)
    return Algorithm(
        "na_local_search",
        functools.partial(ls_init, num_init=num_init),
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
        land: this trial's landscape.
        centres: ``int32[n]`` candidate architectures (e.g. ``n`` uniformly random codes).
        radius, aggregation, k: the score (static), as in :func:`na_random_search`.

    Returns:
        ``(rs_code, na_code, cost)``: the two returned codes (``int32[]``) and the number of
        distinct architectures NA-RS would have queried (``int32[]``).
    """
    _check(radius, aggregation, k)
    mem = jax.vmap(lambda c: members(land, c, radius, k))(centres)  # [n, M]
    scores = nbh.aggregate(land.valid(mem), aggregation)  # [n]
    flat = jnp.sort(mem.reshape(-1))
    cost = 1 + jnp.sum(flat[1:] != flat[:-1])
    return (centres[jnp.argmax(land.valid(centres))], centres[jnp.argmax(scores)],
            cost.astype(jnp.int32))
