"""Local search (White, Nolen, Savani 2020, Algorithm 1) with random restarts.

Start at a random architecture (the best of ``num_init`` random ones), evaluate its neighbourhood
one architecture per step in a random order, move to the best strictly improving neighbour
(``first_improvement=False``) or to the first improving one found (``True``), and when no
neighbour improves, restart from new random architectures until the budget runs out.

The neighbourhood is ``land.space.neighbours(centre)``: ``[S, *arch_shape]`` rows and their
validity mask. Only valid rows are scanned: they take the scan positions ``0..n_valid-1`` in a
random order (padding ranks last) and the scan of a centre ends after its valid neighbours; a
centre without valid neighbours is a local optimum.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from jaxnas.search.base import (
    Algorithm,
    Landscape,
    SearchState,
    init_oracle,
    query,
    random_ranks,
)


@struct.dataclass
class LSState:
    current: jax.Array  # [*arch_shape] centre of the neighbourhood being scanned
    current_val: jax.Array  # [] float32 (-inf before a start)
    nbhd: jax.Array  # [S, *arch_shape] neighbours of ``current``
    num_valid: jax.Array  # [] int32 valid neighbours (they hold scan positions 0..num_valid-1)
    rank: jax.Array  # [S] int32 scan position of each neighbour (a random permutation)
    pos: jax.Array  # [] int32 next neighbour to scan
    best_nb: jax.Array  # [*arch_shape] best neighbour scanned so far
    best_nb_val: jax.Array  # [] float32
    init_left: jax.Array  # [] int32 random starting architectures still to draw


def init(key: jax.Array, land: Landscape, budget: int, *, num_init: int = 1) -> SearchState:
    del key
    space = land.space
    s = space.max_neighbours
    arch = jnp.zeros(space.arch_shape, space.arch_dtype)
    algo = LSState(
        current=arch,
        current_val=jnp.full((), -jnp.inf, jnp.float32),
        nbhd=jnp.zeros((s, *space.arch_shape), space.arch_dtype),
        num_valid=jnp.full((), s, jnp.int32),
        rank=jnp.arange(s, dtype=jnp.int32),
        pos=jnp.zeros((), jnp.int32),
        best_nb=arch,
        best_nb_val=jnp.full((), -jnp.inf, jnp.float32),
        init_left=jnp.full((), num_init, jnp.int32),
    )
    return SearchState(algo=algo, oracle=init_oracle(space, budget))


def step(key: jax.Array, state: SearchState, land: Landscape, *, num_init: int = 1,
         first_improvement: bool = False, score_fn=None) -> SearchState:
    """One query. ``score_fn(oracle, land, arch) -> (value, oracle)`` replaces the plain query
    (neighbourhood-aware local search passes an aggregated score)."""
    space = land.space
    score_fn = query if score_fn is None else score_fn
    s: LSState = state.algo
    n_nb = s.nbhd.shape[0]
    k_start, k_perm = jax.random.split(key)

    starting = s.init_left > 0
    cand = jnp.where(starting, space.sample(k_start), s.nbhd[jnp.argmax(s.rank == s.pos)])
    v, oracle = score_fn(state.oracle, land, cand)

    # Start phase: keep the best of the random starting architectures as the centre.
    take = starting & (v > s.current_val)
    current = jnp.where(take, cand, s.current)
    current_val = jnp.where(take, v, s.current_val)
    init_left = s.init_left - starting.astype(jnp.int32)
    start_done = starting & (init_left == 0)

    # Scan phase (valid neighbours only).
    scanning = ~starting
    nb_better = scanning & (v > s.best_nb_val)
    best_nb = jnp.where(nb_better, cand, s.best_nb)
    best_nb_val = jnp.where(nb_better, v, s.best_nb_val)
    pos = s.pos + scanning.astype(jnp.int32)
    scan_done = scanning & (pos >= s.num_valid)
    if first_improvement:
        move = scanning & (v > current_val)
    else:
        move = scan_done & (best_nb_val > current_val)
    target = cand if first_improvement else best_nb
    target_val = v if first_improvement else best_nb_val
    current = jnp.where(move, target, current)
    current_val = jnp.where(move, target_val, current_val)

    new_nbhd = move | start_done
    nb, valid = space.neighbours(current)
    n_valid = jnp.sum(valid, dtype=jnp.int32)
    nbhd = jnp.where(new_nbhd, nb, s.nbhd)
    rank = jnp.where(new_nbhd, random_ranks(k_perm, n_nb, valid), s.rank)
    num_valid = jnp.where(new_nbhd, n_valid, s.num_valid)
    # a local optimum (or a centre without valid neighbours): restart
    stuck = (scan_done & ~move) | (new_nbhd & (n_valid == 0))
    reset_scan = new_nbhd | stuck
    algo = LSState(
        current=current,
        current_val=jnp.where(stuck, -jnp.inf, current_val),
        nbhd=nbhd,
        num_valid=num_valid,
        rank=rank,
        pos=jnp.where(reset_scan, 0, pos),
        best_nb=best_nb,
        best_nb_val=jnp.where(reset_scan, -jnp.inf, best_nb_val),
        init_left=jnp.where(stuck, num_init, init_left),
    )
    return SearchState(algo=algo, oracle=oracle)


def local_search(num_init: int = 1, first_improvement: bool = False) -> Algorithm:
    """Best-improvement (default) or first-improvement local search with random restarts."""
    if num_init < 1:
        raise ValueError(f"num_init must be >= 1, got {num_init}")
    name = "local_search_first" if first_improvement else "local_search"
    return Algorithm(
        name,
        functools.partial(init, num_init=num_init),
        functools.partial(step, num_init=num_init, first_improvement=first_improvement),
    )
