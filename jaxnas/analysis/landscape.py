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

**Spaces too large to enumerate** (NAS-Bench-101's 423,624 cells, the DARTS space's ~10^18
genotypes) are analysed by sampling (:func:`walk`, :func:`sample_walks`, :func:`sampled_stats`):
the same local search (same tie rule, same iteration count) runs from ``n`` uniformly random
starts (:meth:`~jaxnas.spaces.SearchSpace.sample`) on a trial's landscape (any object with
``space`` and ``valid``: a table's or a surrogate's), evaluating each neighbourhood through
:meth:`~jaxnas.spaces.SearchSpace.neighbours`. Every start's first iteration also tells whether
the start is a local optimum of its whole valid neighbourhood, so the fraction of architectures
that are local optima is estimated from the same runs, with binomial standard errors; basins
and the reach of the best optimum are estimated from where the runs end. The exact functions
above and these agree on an enumerable space (tested on NAS-Bench-201).
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


# ---------------------------------------------------------------------------------------------
# Spaces too large to enumerate: local search from sampled starts.
# ---------------------------------------------------------------------------------------------


class Walk(NamedTuple):
    """Best-improvement local search from one start (:func:`walk`); batched by
    :func:`sample_walks` (every field gains a leading ``[n]`` axis)."""

    start: jax.Array  # [*arch_shape]
    start_valid: jax.Array  # [] float32
    terminal: jax.Array  # [*arch_shape] the local optimum where the run stops
    terminal_valid: jax.Array  # [] float32
    iterations: jax.Array  # [] int32 neighbourhoods evaluated (1 at a local optimum)
    start_neighbours: jax.Array  # [] int32 valid neighbours of the start
    converged: jax.Array  # [] bool: stopped at a local optimum within ``max_iters``


def best_neighbour(land, arch: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The best valid neighbour of ``arch`` on ``land`` (the first of equals, in the space's
    neighbour order), its value (-inf without one) and the number of valid neighbours.

    A neighbour whose value is NaN (not in the benchmark) counts as invalid.
    """
    nb, valid = land.space.neighbours(arch)
    v = land.valid(nb)
    valid = valid & ~jnp.isnan(v)
    v = jnp.where(valid, v, -jnp.inf)
    j = jnp.argmax(v)
    return nb[j], v[j], jnp.sum(valid, dtype=jnp.int32)


def walk(land, start: jax.Array, max_iters: int = 1000) -> Walk:
    """Best-improvement local search from ``start`` to a local optimum (jit/vmap-able).

    The rule of :func:`all_starts`: move to the best neighbour while it is strictly better;
    ties go to the first neighbour in the space's order. ``max_iters`` (static) bounds the run
    (``converged`` is false if it stopped there).

    Args:
        land: a trial's landscape (``space`` and ``valid``, e.g. from
            :func:`jaxnas.benchmarks.make_landscape`).
        start: ``[*arch_shape]`` an architecture of ``land.space``.
    """
    start = jnp.asarray(start, land.space.arch_dtype)
    v0 = land.valid(start)
    nb, nv, count = best_neighbour(land, start)
    first = nv > v0

    def cond(c):
        _, _, it, moved = c
        return moved & (it < max_iters)

    def body(c):
        arch, val, it, _ = c
        nb, nv, _ = best_neighbour(land, arch)
        better = nv > val
        return jnp.where(better, nb, arch), jnp.where(better, nv, val), it + 1, better

    init = (jnp.where(first, nb, start), jnp.where(first, nv, v0), jnp.ones((), jnp.int32), first)
    arch, val, it, moved = jax.lax.while_loop(cond, body, init)
    return Walk(start=start, start_valid=v0, terminal=arch, terminal_valid=val,
                iterations=it, start_neighbours=count,
                converged=~moved)


def sample_walks(key: jax.Array, land, num: int, max_iters: int = 1000) -> Walk:
    """:func:`walk` from ``num`` uniformly random starts (``land.space.sample``), vmapped
    (jit with ``num`` and ``max_iters`` static). Consumes ``key``."""
    starts = jax.vmap(land.space.sample)(jax.random.split(key, num))
    return jax.vmap(lambda a: walk(land, a, max_iters))(starts)


def _se_frac(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n)) if n > 0 else float("nan")


def wilson_interval(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial fraction ``p`` of ``n`` (95% by default); unlike
    ``p +- z * se`` it does not collapse to a point when ``p`` is 0 or 1."""
    if n <= 0:
        return float("nan"), float("nan")
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return float(max(0.0, c - h)), float(min(1.0, c + h))


def _se_mean(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")


class SampledStats(NamedTuple):
    """Host-side estimates from sampled walks (:func:`sampled_stats`); ``*_se`` are standard
    errors (binomial for fractions, of the mean for means)."""

    num_starts: int
    frac_local_optima: float  # starts with no strictly better valid neighbour
    frac_local_optima_se: float
    frac_local_optima_ci95: tuple[float, float]  # Wilson interval (informative at 0 or 1)
    frac_isolated: float  # starts without any valid neighbour (counted as local optima)
    mean_iterations: float
    mean_iterations_se: float
    mean_start_valid: float
    mean_terminal_valid: float
    mean_terminal_valid_se: float
    num_distinct_optima: int  # distinct local optima the runs reached
    best_optimum_valid: float  # the best of them
    frac_reach_best_optimum: float  # runs ending there
    frac_reach_best_optimum_se: float
    largest_basins: list[float]  # fractions of runs ending at the 10 most reached optima
    largest_basins_valid: list[float]  # their values
    num_not_converged: int  # runs stopped by max_iters
    frac_reach_global: float | None  # runs ending at the landscape's optimum, when known
    frac_reach_global_se: float | None
    est_num_local_minima: float | None  # frac_local_optima * the number of architectures
    est_num_local_minima_se: float | None


def sampled_stats(walks: Walk, terminal_keys: jax.Array, global_key: jax.Array | None = None,
                  num_archs: int | None = None) -> SampledStats:
    """Estimates of the landscape statistics from :func:`sample_walks` (host side).

    Args:
        walks: ``n`` walks from uniform starts.
        terminal_keys: ``space.arch_key(walks.terminal)``, ``[n, *key_shape]`` (identifies the
            local optima, for basins).
        global_key: key of the landscape's best architecture, when known (a table), for
            ``frac_reach_global``.
        num_archs: the number of architectures, when known, to scale the fraction of local
            optima to a count.
    """
    it = np.asarray(walks.iterations)
    n = int(it.size)
    opt = it == 1
    p = float(opt.mean())
    tv = np.asarray(walks.terminal_valid, np.float64)
    keys = np.asarray(terminal_keys).reshape(n, -1)
    uniq, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    uval = np.zeros(len(uniq))
    uval[inverse] = tv
    order = np.lexsort((-uval, -counts))  # most reached first, then the better
    best = int(np.argmax(uval))
    reach_best = float(counts[best] / n)
    glob = glob_se = None
    if global_key is not None:
        g = np.asarray(global_key).reshape(1, -1)
        glob = float(np.mean(np.all(keys == g, axis=1)))
        glob_se = _se_frac(glob, n)
    est = est_se = None
    if num_archs is not None:
        est, est_se = p * num_archs, _se_frac(p, n) * num_archs
    return SampledStats(
        num_starts=n,
        frac_local_optima=p,
        frac_local_optima_se=_se_frac(p, n),
        frac_local_optima_ci95=wilson_interval(p, n),
        frac_isolated=float(np.mean(np.asarray(walks.start_neighbours) == 0)),
        mean_iterations=float(it.mean()),
        mean_iterations_se=_se_mean(it.astype(np.float64)),
        mean_start_valid=float(np.mean(np.asarray(walks.start_valid, np.float64))),
        mean_terminal_valid=float(tv.mean()),
        mean_terminal_valid_se=_se_mean(tv),
        num_distinct_optima=int(len(uniq)),
        best_optimum_valid=float(uval[best]),
        frac_reach_best_optimum=reach_best,
        frac_reach_best_optimum_se=_se_frac(reach_best, n),
        largest_basins=[float(c / n) for c in counts[order][:10]],
        largest_basins_valid=[float(v) for v in uval[order][:10]],
        num_not_converged=int(np.sum(~np.asarray(walks.converged))),
        frac_reach_global=glob,
        frac_reach_global_se=glob_se,
        est_num_local_minima=est,
        est_num_local_minima_se=est_se,
    )
