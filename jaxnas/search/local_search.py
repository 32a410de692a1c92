"""Local search (White, Nolen, Savani 2020, Algorithm 1) with random restarts, under two
protocols (:mod:`jaxnas.search.protocol`).

``jaxnas`` protocol (:func:`init`/:func:`step`): start at a random architecture (the best of
``num_init`` random ones, default 1), evaluate its neighbourhood one architecture per step in a
random order, move to the best strictly improving neighbour (``first_improvement=False``) or to
the first improving one found (``True``), and when no neighbour improves, restart from new
random architectures until the budget runs out. Neighbours already queried are evaluated again
(free) and may be moved to, so a run follows the paper's local-search map, the one whose trees
``jaxnas landscape`` counts.

``naszilla`` protocol (:func:`naszilla_init`/:func:`naszilla_step`), as
``naszilla/nas_algorithms.py:local_search``: start from the best of ``num_init`` (default 10)
*new* random architectures (a draw already queried is drawn again, free); scan the centre's
neighbours in a random order, skipping every one queried before (not charged, not compared, not
a move target); move to the first strictly better new neighbour (first improvement, naszilla's
default ``query_full_nbhd=False``) or, after the scan, to the best new neighbour if it is
strictly better (best improvement, ``query_full_nbhd=True``, realityengines' default); at a
centre without one, restart from ``num_init`` new random architectures
(``stop_at_minimum=True``) or, with ``stop_at_minimum=False``, after *every* scan continue from
the best queried architecture not yet expanded (ties: the earliest queried). naszilla would
raise an IndexError if every queried architecture had been expanded (possible only when the
trial has queried a whole connected part of the space); here the search restarts.

The neighbourhood is ``land.space.neighbours(centre)``: ``[S, *arch_shape]`` rows and their
validity mask. Only valid rows (under naszilla: valid and not yet queried) are scanned: they take
the scan positions ``0..n-1`` in a random order (the rest rank last), which is the order of a
uniform shuffle of the whole neighbourhood restricted to them; a centre without such rows is a
local optimum.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from jaxnas.search.base import (
    Algorithm,
    Landscape,
    Scan,
    SearchState,
    init_oracle,
    query,
    scan_advance,
    scan_row,
    scan_start,
    seen,
)
from jaxnas.search.protocol import check_protocol, seen_each, slot_arch


@struct.dataclass
class LSState:
    current: jax.Array  # [*arch_shape] centre of the neighbourhood being scanned
    current_val: jax.Array  # [] float32 (-inf before a start)
    # the neighbourhood being scanned is space.neighbours(current), rebuilt row by row
    # (space.neighbour) instead of stored: a DARTS genotype has 120 neighbours
    scan: Scan  # the scan of the valid neighbours of ``current``, in a random order
    best_nb: jax.Array  # [*arch_shape] best neighbour scanned so far
    best_nb_val: jax.Array  # [] float32
    init_left: jax.Array  # [] int32 random starting architectures still to draw


def _no_scan(space) -> Scan:
    """A placeholder scan (nothing to scan) for the state before the first centre."""
    return scan_start(jax.random.key(0), jnp.zeros((space.max_neighbours,), bool))


def init(key: jax.Array, land: Landscape, budget: int, *, num_init: int = 1) -> SearchState:
    del key
    space = land.space
    arch = jnp.zeros(space.arch_shape, space.arch_dtype)
    algo = LSState(
        current=arch,
        current_val=jnp.full((), -jnp.inf, jnp.float32),
        scan=_no_scan(space),
        best_nb=arch,
        best_nb_val=jnp.full((), -jnp.inf, jnp.float32),
        init_left=jnp.full((), num_init, jnp.int32),
    )
    return SearchState(algo=algo, oracle=init_oracle(space, budget))


def _select(pred: jax.Array, a, b):
    """``a`` where ``pred`` else ``b``, leaf by leaf (two pytrees of one structure)."""
    return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


def step(key: jax.Array, state: SearchState, land: Landscape, *, num_init: int = 1,
         first_improvement: bool = False, score_fn=None) -> SearchState:
    """One query. ``score_fn(oracle, land, arch) -> (value, oracle)`` replaces the plain query
    (neighbourhood-aware local search passes an aggregated score). Consumes ``key``."""
    space = land.space
    score_fn = query if score_fn is None else score_fn
    s: LSState = state.algo
    k_start, k_perm = jax.random.split(key)

    starting = s.init_left > 0
    row = scan_row(s.scan)
    cand = jnp.where(starting, space.sample(k_start), space.neighbour(s.current, row))
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
    scan = scan_advance(s.scan, row, scanning)
    scan_done = scanning & scan.done
    if first_improvement:
        move = scanning & (v > current_val)
    else:
        move = scan_done & (best_nb_val > current_val)
    target = cand if first_improvement else best_nb
    target_val = v if first_improvement else best_nb_val
    current = jnp.where(move, target, current)
    current_val = jnp.where(move, target_val, current_val)

    new_nbhd = move | start_done
    scan = _select(new_nbhd, scan_start(k_perm, space.neighbour_mask(current)), scan)
    # a local optimum (or a centre without valid neighbours): restart
    stuck = (scan_done & ~move) | (new_nbhd & (scan.num_valid == 0))
    reset_scan = new_nbhd | stuck
    algo = LSState(
        current=current,
        current_val=jnp.where(stuck, -jnp.inf, current_val),
        scan=scan,
        best_nb=best_nb,
        best_nb_val=jnp.where(reset_scan, -jnp.inf, best_nb_val),
        init_left=jnp.where(stuck, num_init, init_left),
    )
    return SearchState(algo=algo, oracle=oracle)


@struct.dataclass
class NaszillaLSState:
    current: jax.Array  # [*arch_shape] centre (during a start: best new random one so far)
    current_val: jax.Array  # [] float32 (-inf before a start)
    # the scan of the neighbours of ``current`` not queried before it began (rows rebuilt with
    # space.neighbour, as under the jaxnas protocol)
    scan: Scan
    best_nb: jax.Array  # [*arch_shape] best neighbour queried in this scan
    best_nb_val: jax.Array  # [] float32
    init_left: jax.Array  # [] int32 new random architectures still to query for this start
    # [B] bool: query slots already expanded (naszilla's iter_dict); None when restarting
    expanded: jax.Array | None


def naszilla_init(key: jax.Array, land: Landscape, budget: int, *, num_init: int,
                  stop_at_minimum: bool) -> SearchState:
    del key
    space = land.space
    arch = jnp.zeros(space.arch_shape, space.arch_dtype)
    algo = NaszillaLSState(
        current=arch,
        current_val=jnp.full((), -jnp.inf, jnp.float32),
        scan=_no_scan(space),
        best_nb=arch,
        best_nb_val=jnp.full((), -jnp.inf, jnp.float32),
        init_left=jnp.full((), num_init, jnp.int32),
        expanded=None if stop_at_minimum else jnp.zeros((budget,), bool),
    )
    return SearchState(algo=algo, oracle=init_oracle(space, budget))


def naszilla_step(key: jax.Array, state: SearchState, land: Landscape, *, num_init: int,
                  first_improvement: bool, stop_at_minimum: bool) -> SearchState:
    """One step: one new random start architecture, or the next unqueried neighbour of the
    centre (or nothing, for a centre whose neighbours were all queried before); at most one
    query, always of an architecture not queried before, so the budget is charged by every
    query. Consumes ``key``."""
    space = land.space
    s: NaszillaLSState = state.algo
    k_start, k_perm = jax.random.split(key)
    oracle = state.oracle

    starting = s.init_left > 0
    scan_active = ~starting & ~s.scan.done
    row = scan_row(s.scan)
    cand = jnp.where(starting, space.sample(k_start), space.neighbour(s.current, row))
    # a random draw queried before is drawn again (free); a scanned neighbour is new by
    # construction (its mask was taken when the scan began, and a scan queries distinct rows)
    counted = starting & ~seen(space, oracle, space.arch_key(cand))
    v, oracle = query(oracle, land, cand, active=counted | scan_active)

    # Start: keep the best (the first of equals) of this start's new random architectures.
    take = counted & (v > s.current_val)
    current = jnp.where(take, cand, s.current)
    current_val = jnp.where(take, v, s.current_val)
    init_left = s.init_left - counted.astype(jnp.int32)
    start_done = counted & (init_left == 0)

    # Scan.
    scanning = ~starting
    scan = scan_advance(s.scan, row, scan_active)
    nb_better = scan_active & (v > s.best_nb_val)
    best_nb = jnp.where(nb_better, cand, s.best_nb)
    best_nb_val = jnp.where(nb_better, v, s.best_nb_val)
    if first_improvement:
        move = scan_active & (v > current_val)
        target, target_val = cand, v
    else:
        move = scanning & scan.done & (best_nb_val > current_val)
        target, target_val = best_nb, best_nb_val
    scan_done = scanning & (scan.done | move)

    expanded = s.expanded
    if stop_at_minimum:
        # a move, or a restart from num_init new random architectures
        new_centre = move | start_done
        restart = scan_done & ~move
        current = jnp.where(move, target, current)
        current_val = jnp.where(move, target_val, current_val)
    else:
        # after every scan (and after the start): the best queried, not expanded architecture
        pick = scan_done | start_done
        budget = oracle.values.shape[0]
        open_ = (jnp.arange(budget) < oracle.num_queries) & ~expanded
        slot = jnp.argmax(jnp.where(open_, oracle.values, -jnp.inf))  # first of the best
        restart = pick & ~jnp.any(open_)  # everything expanded: naszilla fails; restart
        new_centre = pick & ~restart
        current = jnp.where(new_centre, slot_arch(space, oracle, slot), current)
        current_val = jnp.where(new_centre, oracle.values[slot], current_val)
        expanded = expanded.at[jnp.where(new_centre, slot, budget)].set(True, mode="drop")

    nb, valid = space.neighbours(current)
    fresh = valid & ~seen_each(space, oracle, nb)
    scan = _select(new_centre, scan_start(k_perm, fresh),
                   _select(restart, _no_scan(space), scan))
    algo = NaszillaLSState(
        current=current,
        current_val=jnp.where(restart, -jnp.inf, current_val),
        scan=scan,
        best_nb=best_nb,
        best_nb_val=jnp.where(new_centre | restart, -jnp.inf, best_nb_val),
        init_left=jnp.where(restart, num_init, init_left),
        expanded=expanded,
    )
    return SearchState(algo=algo, oracle=oracle)


def local_search(num_init: int | None = None, first_improvement: bool = False, *,
                 protocol: str = "jaxnas", stop_at_minimum: bool = True) -> Algorithm:
    """Best-improvement (default) or first-improvement local search.

    Args:
        num_init: random architectures per start, the best of which is the first centre
            (default: 1 under ``jaxnas``, naszilla's 10 under ``naszilla``).
        first_improvement: move at the first strictly better neighbour instead of after the
            scan to the best one.
        protocol: ``'jaxnas'`` or ``'naszilla'`` (see the module docstring).
        stop_at_minimum: at a local optimum restart from new random architectures (default);
            ``False`` is naszilla's variant that continues from the best queried architecture not
            yet expanded (``naszilla`` protocol only).

    Raises:
        ValueError: for ``num_init < 1``, an unknown protocol, or ``stop_at_minimum=False``
            under the ``jaxnas`` protocol.
    """
    check_protocol(protocol)
    if num_init is None:
        num_init = 10 if protocol == "naszilla" else 1
    if num_init < 1:
        raise ValueError(f"num_init must be >= 1, got {num_init}")
    name = "local_search_first" if first_improvement else "local_search"
    if protocol == "naszilla":
        if not stop_at_minimum:
            name += "_continue"
        opts = dict(num_init=num_init, stop_at_minimum=stop_at_minimum)
        return Algorithm(name, functools.partial(naszilla_init, **opts),
                         functools.partial(naszilla_step, first_improvement=first_improvement,
                                           **opts))
    if not stop_at_minimum:
        raise ValueError("stop_at_minimum=False (continue from the best unexpanded "
                         "architecture) is naszilla's variant; use protocol='naszilla' "
                         "(jaxnas search --protocol naszilla)")
    return Algorithm(
        name,
        functools.partial(init, num_init=num_init),
        functools.partial(step, num_init=num_init, first_improvement=first_improvement),
    )
