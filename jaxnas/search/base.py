"""Query-budgeted search on a tabular benchmark: the oracle every algorithm queries.

Every search algorithm is a pair of pure functions on a pytree state (``init``/``step``), run
under ``lax.while_loop`` inside one ``jit`` and vmapped over seeds by :func:`run`. Each ``step``
proposes exactly one architecture and queries it through :func:`query`.

The budget counts *distinct* architectures: re-querying one already seen is free and returns the
same value (the landscape of a trial is fixed when the trial starts, see
:func:`jaxnas.benchmarks.nb201.objective`). After the ``q``-th distinct query the trajectory holds
the best validation accuracy seen so far and the test accuracy of that incumbent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxnas.benchmarks import nb201 as bench_lib
from jaxnas.spaces import nb201 as space


class Landscape(NamedTuple):
    """What a trial can query: its (noisy) validation accuracies and the true test accuracies."""

    table: bench_lib.NoisyTable  # this trial's validation landscape, queried lazily
    test: jax.Array  # [N] 200-epoch test accuracy, mean over seeds

    @property
    def num_archs(self) -> int:
        return self.test.shape[0]

    def valid(self, code: jax.Array) -> jax.Array:
        """Validation accuracy of one code in this trial."""
        return bench_lib.noisy_valid(self.table, code)


@struct.dataclass
class Oracle:
    """Book-keeping of one trial's queries: the distinct architectures in query order.

    Membership is a comparison against the query list (``O(budget)`` per query, no
    ``[N]``-sized buffer to update inside the loop).
    """

    codes: jax.Array  # [B] int32 distinct architectures queried, in order (-1: not yet)
    values: jax.Array  # [B] float32 their validation accuracies (or scores)
    num_queries: jax.Array  # [] int32
    # Optional aggregated scores (neighbourhood-aware search, see :func:`record_score`): when
    # present, the incumbent is the best *scored* architecture instead of the best value.
    scores: jax.Array | None = None  # [B] float32 best score completed at each query (-inf)
    score_codes: jax.Array | None = None  # [B] int32 architecture holding that score (-1)


def init_oracle(budget: int, scored: bool = False) -> Oracle:
    """An empty oracle for ``budget`` distinct queries.

    Args:
        scored: also keep aggregated scores (see :func:`record_score`); the trajectory's
            incumbent is then the architecture with the best score.
    """
    return Oracle(
        codes=jnp.full((budget,), -1, jnp.int32),
        values=jnp.full((budget,), -jnp.inf, jnp.float32),
        num_queries=jnp.zeros((), jnp.int32),
        scores=jnp.full((budget,), -jnp.inf, jnp.float32) if scored else None,
        score_codes=jnp.full((budget,), -1, jnp.int32) if scored else None,
    )


def record_score(oracle: Oracle, code: jax.Array, score: jax.Array, complete: jax.Array
                 ) -> Oracle:
    """Records an aggregated ``score`` of ``code``, available from the latest distinct query on.

    The score is attached to query slot ``num_queries - 1`` (the query that completed the
    evaluations it aggregates); if several scores land on one slot, the best is kept. Nothing is
    recorded unless ``complete`` (every architecture the score aggregates was paid for within
    the budget) or before any query.

    Raises:
        ValueError: if the oracle was not built with ``init_oracle(budget, scored=True)``.
    """
    if oracle.scores is None:
        raise ValueError("this oracle keeps no scores; build it with init_oracle(budget, scored=True)")
    budget = oracle.codes.shape[0]
    slot = oracle.num_queries - 1
    better = complete & (slot >= 0) & (score > oracle.scores[jnp.maximum(slot, 0)])
    slot = jnp.where(better, slot, budget)  # out of range -> dropped
    return oracle.replace(
        scores=oracle.scores.at[slot].set(score, mode="drop"),
        score_codes=oracle.score_codes.at[slot].set(code, mode="drop"),
    )


def seen(oracle: Oracle, code: jax.Array) -> jax.Array:
    return jnp.any(oracle.codes == code)


def query(oracle: Oracle, land: Landscape, code: jax.Array, value: jax.Array | None = None
          ) -> tuple[jax.Array, Oracle]:
    """Queries one architecture code: returns its validation accuracy and the updated oracle.

    Costs one unit of budget if the architecture was not seen before, nothing otherwise. Once the
    budget is spent, further queries still return values but change nothing.

    Args:
        value: the value to report for ``code`` (default: its validation accuracy);
            neighbourhood-aware algorithms pass an aggregated score here.
    """
    budget = oracle.codes.shape[0]
    v = land.valid(code) if value is None else value
    new = (~seen(oracle, code)) & (oracle.num_queries < budget)
    slot = jnp.where(new, oracle.num_queries, budget)  # out of range -> dropped
    oracle = oracle.replace(
        codes=oracle.codes.at[slot].set(code, mode="drop"),
        values=oracle.values.at[slot].set(v, mode="drop"),
        num_queries=oracle.num_queries + new.astype(jnp.int32),
    )
    return v, oracle


@struct.dataclass
class SearchState:
    algo: Any  # the algorithm's own pytree
    oracle: Oracle


class Algorithm(NamedTuple):
    """A search algorithm as pure functions.

    ``init(key, land, budget) -> SearchState`` and ``step(key, state, land) -> SearchState``,
    where each step proposes and queries exactly one architecture. Static settings (population
    size, ...) are bound with ``functools.partial`` before the algorithm is built.
    """

    name: str
    init: Callable[[jax.Array, Landscape, int], SearchState]
    step: Callable[[jax.Array, SearchState, Landscape], SearchState]


class Trajectory(NamedTuple):
    valid: jax.Array  # [..., B] best validation accuracy after each distinct query
    test: jax.Array  # [..., B] test accuracy of the incumbent after each distinct query
    best_code: jax.Array  # [...] the returned architecture (best validation accuracy)
    codes: jax.Array  # [..., B] the architectures queried, in order
    num_steps: jax.Array  # [...] steps taken (distinct + repeated queries)


def trajectory(oracle: Oracle, test: jax.Array, steps: jax.Array) -> Trajectory:
    """Incumbent after every distinct query: the first architecture reaching the running max.

    With a scored oracle (:func:`init_oracle` with ``scored=True``) the incumbent is the first
    architecture reaching the running max of the recorded scores, and ``valid`` is that score;
    before the first score is recorded it falls back to the best value (as random search).
    """
    if oracle.scores is not None:
        return _scored_trajectory(oracle, test, steps)
    vals = oracle.values
    best = jax.lax.cummax(vals)
    prev = jnp.concatenate([jnp.full((1,), -jnp.inf, vals.dtype), best[:-1]])
    pos = jnp.arange(vals.shape[0])
    inc = jax.lax.cummax(jnp.where(vals > prev, pos, 0))  # index of the incumbent
    inc_code = oracle.codes[inc]
    filled = pos < oracle.num_queries
    nan = jnp.full_like(best, jnp.nan)
    return Trajectory(
        valid=jnp.where(filled, best, nan),
        test=jnp.where(filled, test[jnp.maximum(inc_code, 0)], nan),
        best_code=inc_code[jnp.maximum(oracle.num_queries - 1, 0)],
        codes=oracle.codes,
        num_steps=steps,
    )


def _scored_trajectory(oracle: Oracle, test: jax.Array, steps: jax.Array) -> Trajectory:
    sc = oracle.scores
    best = jax.lax.cummax(sc)
    prev = jnp.concatenate([jnp.full((1,), -jnp.inf, sc.dtype), best[:-1]])
    pos = jnp.arange(sc.shape[0])
    inc = jax.lax.cummax(jnp.where(sc > prev, pos, 0))
    has = jnp.isfinite(best)
    # the plain rule's incumbent, used before the first score is recorded
    vals = oracle.values
    vbest = jax.lax.cummax(vals)
    vprev = jnp.concatenate([jnp.full((1,), -jnp.inf, vals.dtype), vbest[:-1]])
    vinc = oracle.codes[jax.lax.cummax(jnp.where(vals > vprev, pos, 0))]
    inc_code = jnp.where(has, oracle.score_codes[inc], vinc)
    filled = pos < oracle.num_queries
    nan = jnp.full_like(best, jnp.nan)
    last = jnp.maximum(oracle.num_queries - 1, 0)
    return Trajectory(
        valid=jnp.where(filled, jnp.where(has, best, vbest), nan),
        test=jnp.where(filled, test[jnp.maximum(inc_code, 0)], nan),
        best_code=inc_code[last],
        codes=oracle.codes,
        num_steps=steps,
    )


def run_one(algo: Algorithm, key: jax.Array, land: Landscape, budget: int,
            max_steps: int | None = None) -> Trajectory:
    """One trial: steps ``algo`` until ``budget`` distinct architectures are queried.

    ``max_steps`` (default ``50 * budget + 1000``) bounds the loop when an algorithm keeps
    re-querying seen architectures; unfilled trajectory entries are then NaN.
    """
    max_steps = 50 * budget + 1000 if max_steps is None else max_steps
    k_init, k_loop = jax.random.split(key)
    state = algo.init(k_init, land, budget)

    def cond(c):
        s, i = c
        return (s.oracle.num_queries < budget) & (i < max_steps)

    def body(c):
        s, i = c
        return algo.step(jax.random.fold_in(k_loop, i), s, land), i + 1

    state, steps = jax.lax.while_loop(cond, body, (state, jnp.zeros((), jnp.int32)))
    return trajectory(state.oracle, land.test, steps)


def make_landscape(key: jax.Array, bench: bench_lib.TabularBenchmark, noise: str) -> Landscape:
    """This trial's landscape under a noise model. Consumes ``key``."""
    return Landscape(bench_lib.noisy_table(key, bench, noise), bench.test)


def run(algo: Algorithm, key: jax.Array, bench: bench_lib.TabularBenchmark, noise: str,
        trials: int, budget: int) -> Trajectory:
    """``trials`` independent trials, vmapped (call under ``jax.jit`` with static ints).

    Trial ``i`` uses ``fold_in(key, i)``: its landscape draw (for the ``standard`` and ``random``
    noise models) and its search randomness both derive from it, so trial ``i`` of a batch equals
    :func:`run_one` with that key.
    """
    bench_lib.check_noise(noise)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(trials))
    return jax.vmap(lambda k: run_trial(algo, k, bench, noise, budget))(keys)


def run_trial(algo: Algorithm, key: jax.Array, bench: bench_lib.TabularBenchmark, noise: str,
              budget: int) -> Trajectory:
    """One trial from its key: landscape draw then search."""
    k_land, k_search = jax.random.split(key)
    return run_one(algo, k_search, make_landscape(k_land, bench, noise), budget)


def random_code(key: jax.Array, land: Landscape) -> jax.Array:
    return jax.random.randint(key, (), 0, land.num_archs, dtype=jnp.int32)


def fast_uniform(key: jax.Array, n: int) -> jax.Array:
    """``n`` uniform floats in ``[0, 1)`` from one PRNG draw expanded by an integer hash.

    Inside a search step vmapped over thousands of trials, a full threefry draw per number is
    most of a step's cost on a CPU; one 64-bit draw hashed with the counter is ~10x cheaper and
    amply random for choosing neighbours and tournaments. Consumes ``key``.
    """
    from jaxnas.benchmarks.tabular import hash32 as _hash32

    b = jax.random.bits(key, (2,), jnp.uint32)
    i = jnp.arange(n, dtype=jnp.uint32)
    h = _hash32(_hash32(i * jnp.uint32(0x9E3779B9) + b[0]) ^ b[1])
    return (h >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def random_ranks(key: jax.Array, n: int) -> jax.Array:
    """A uniformly random permutation of ``range(n)`` as ranks, ``int32[n]``, without a sort.

    ``rank[i]`` counts the items whose random key comes before item ``i``'s (ties broken by
    index). ``O(n^2)`` comparisons beat a sort by far for the small ``n`` here (24 neighbours, a
    population of 30) when vmapped over thousands of trials on a CPU. Consumes ``key``.
    """
    u = fast_uniform(key, n)
    i = jnp.arange(n)
    before = (u[None, :] < u[:, None]) | ((u[None, :] == u[:, None]) & (i[None, :] < i[:, None]))
    return jnp.sum(before, axis=1, dtype=jnp.int32)


NEIGHBOURS = space.neighbour_codes  # code -> [24] neighbour codes
