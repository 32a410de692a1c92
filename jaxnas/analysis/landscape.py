"""Exact landscape analysis of an enumerable search space (White, Nolen, Savani 2020, Section 4).

Local search here maximises validation accuracy (the paper minimises loss = 100 - accuracy).
From an architecture ``v`` it moves to its best neighbour while that neighbour is *strictly*
better; ``v`` is a **local optimum** ("local minimum" of the loss) when no neighbour is strictly
better. Ties between equally good neighbours go to the first in the fixed neighbour order of the
space (the columns of its :meth:`~jaxnas.spaces.SearchSpace.neighbour_table`). Plateaus (equal
neighbours) therefore stop the search, as in the paper's Algorithm 1
(``while l(v_i) < l(v_{i-1})``).

Every function takes the landscape as values in the space's key order and its neighbour table
``int32[N, S]`` (:func:`neighbour_keys`); nothing here names a particular space. Padding entries
of the table hold the row's own key, so they never win a strict comparison.

Because best-improvement local search is deterministic given the landscape, the run from every
start is a walk along the pointer ``next[v] = best improving neighbour of v`` (or ``v``). All
``N`` walks are resolved at once by pointer doubling (``log2(longest walk)`` gathers), so the
whole-space analysis (15,625 architectures for NAS-Bench-201) and any number of random restarts
cost a few milliseconds. Drivers (loading a benchmark, timing, tables) live in
:mod:`jaxnas.reports.landscape`.

**Iterations** of a run count evaluated neighbourhoods, as Algorithm 1 does: a run from a local
optimum takes 1 iteration; each improving move adds one.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def neighbour_keys(space) -> np.ndarray:
    """The neighbour table of an enumerable space, ``int32[N, S]`` in key order.

    Args:
        space: a :class:`jaxnas.spaces.SearchSpace` with ``num_archs`` not ``None``.

    Raises:
        ValueError: if the space is not enumerable.
    """
    if getattr(space, "num_archs", None) is None:
        raise ValueError(f"landscape analysis needs an enumerable space (num_archs not None), "
                         f"got {getattr(space, 'name', space)!r}")
    keys, _ = space.neighbour_table()  # invalid entries already hold the row's own key
    return np.asarray(keys, np.int32)


class AllStarts(NamedTuple):
    """Best-improvement local search from every architecture (all arrays in key order)."""

    next: jax.Array  # [N] best strictly improving neighbour, or itself at a local optimum
    terminal: jax.Array  # [N] where local search started at v stops
    moves: jax.Array  # [N] number of improving moves from v
    is_local_opt: jax.Array  # [N] bool


def best_improving_neighbour(values: jax.Array, nbr: jax.Array) -> jax.Array:
    """``next[v]``: the best neighbour of ``v`` if strictly better than ``v``, else ``v``.

    Args:
        values: accuracy of every architecture (higher is better).  # [N]
        nbr: neighbour table.  # [N, S]
    """
    nv = values[nbr]  # [N, S]
    j = jnp.argmax(nv, axis=-1)
    best = jnp.take_along_axis(nbr, j[:, None], axis=-1)[:, 0]
    v = jnp.arange(values.shape[0], dtype=nbr.dtype)
    return jnp.where(values[best] > values, best, v)


def resolve_walks(nxt: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Follows ``nxt`` from every node to its fixed point by pointer doubling.

    Returns:
        ``(terminal, moves)``: the fixed point reached from every node and the number of steps.
    """
    n = nxt.shape[0]
    moves0 = (nxt != jnp.arange(n, dtype=nxt.dtype)).astype(jnp.int32)

    def cond(c):
        ptr, _ = c
        return jnp.any(ptr[ptr] != ptr)

    def body(c):
        ptr, d = c
        return ptr[ptr], d + d[ptr]

    terminal, moves = jax.lax.while_loop(cond, body, (nxt, moves0))
    return terminal, moves


def all_starts(values: jax.Array, nbr: jax.Array) -> AllStarts:
    """Best-improvement local search from every architecture (jit-able).

    Args:
        values: accuracy of every architecture in key order (higher is better).  # [N]
        nbr: neighbour table (:func:`neighbour_keys`).  # [N, S]
    """
    nbr = jnp.asarray(nbr)
    nxt = best_improving_neighbour(values, nbr)
    terminal, moves = resolve_walks(nxt)
    is_opt = nxt == jnp.arange(values.shape[0], dtype=nxt.dtype)
    return AllStarts(nxt, terminal, moves, is_opt)


all_starts_jit = jax.jit(all_starts)


def random_restarts(key: jax.Array, starts: AllStarts, num: int) -> tuple[jax.Array, jax.Array]:
    """Outcome of ``num`` local-search runs from uniformly random starts.

    Returns:
        ``(terminal, iterations)`` per run.  # [num], [num]
    """
    v = jax.random.randint(key, (num,), 0, starts.terminal.shape[0])
    return starts.terminal[v], starts.moves[v] + 1


class LandscapeStats(NamedTuple):
    """Host-side summary of one landscape (:func:`stats`)."""

    num_archs: int
    num_local_minima: int
    mean_iterations: float
    frac_reach_global: float
    global_arch: int  # key of the global optimum
    basin_sizes: np.ndarray  # [num_local_minima] starts ending at each local optimum, descending
    minima_values: np.ndarray  # [num_local_minima] accuracy of each local optimum, same order


def stats(values: jax.Array, starts: AllStarts) -> LandscapeStats:
    """Summary of the landscape: counts, mean iterations, reach of the global optimum, basins.

    Args:
        values: accuracy of every architecture in key order.  # [N]
        starts: :func:`all_starts` of ``values`` on the space's neighbour table.
    """
    values = jnp.asarray(values)
    terminal = np.asarray(starts.terminal)
    vals = np.asarray(values)
    g = int(np.argmax(vals))
    minima = np.flatnonzero(np.asarray(starts.is_local_opt))
    basin = np.bincount(terminal, minlength=vals.shape[0])[minima]
    order = np.argsort(-basin, kind="stable")
    return LandscapeStats(
        num_archs=int(vals.shape[0]),
        num_local_minima=int(minima.size),
        mean_iterations=float(np.mean(np.asarray(starts.moves) + 1)),
        frac_reach_global=float(np.mean(terminal == g)),
        global_arch=g,
        basin_sizes=basin[order],
        minima_values=vals[minima][order],
    )
