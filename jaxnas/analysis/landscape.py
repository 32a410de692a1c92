"""Exact landscape analysis of a tabular search space (White, Nolen, Savani 2020, Section 4).

Local search here maximises validation accuracy (the paper minimises loss = 100 - accuracy).
From an architecture ``v`` it moves to its best neighbour while that neighbour is *strictly*
better; ``v`` is a **local optimum** ("local minimum" of the loss) when no neighbour is strictly
better. Ties between equally good neighbours go to the first in the fixed neighbour order of
:func:`jaxnas.spaces.nb201.neighbour_codes`. Plateaus (equal neighbours) therefore stop the
search, as in the paper's Algorithm 1 (``while l(v_i) < l(v_{i-1})``).

Because best-improvement local search is deterministic given the landscape, the run from every
start is a walk along the pointer ``next[v] = best improving neighbour of v`` (or ``v``). All
15,625 walks are resolved at once by pointer doubling (``log2(longest walk)`` gathers), so the
whole-space analysis and any number of random restarts cost a few milliseconds.

**Iterations** of a run count evaluated neighbourhoods, as Algorithm 1 does: a run from a local
optimum takes 1 iteration; each improving move adds one.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces import nb201 as space


class AllStarts(NamedTuple):
    """Best-improvement local search from every architecture (all arrays in code order)."""

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


def all_starts(values: jax.Array, nbr: jax.Array | None = None) -> AllStarts:
    """Best-improvement local search from every architecture (jit-able)."""
    nbr = jnp.asarray(space.neighbour_table() if nbr is None else nbr)
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
    num_archs: int
    num_local_minima: int
    mean_iterations: float
    frac_reach_global: float
    global_arch: int  # code of the global optimum
    basin_sizes: np.ndarray  # [num_local_minima] starts ending at each local optimum, descending
    minima_values: np.ndarray  # [num_local_minima] accuracy of each local optimum, same order


def stats(values: jax.Array, starts: AllStarts | None = None) -> LandscapeStats:
    """Summary of the landscape: counts, mean iterations, reach of the global optimum, basins."""
    values = jnp.asarray(values)
    starts = all_starts_jit(values) if starts is None else starts
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


def timed_all_starts(values: jax.Array, repeats: int = 5) -> tuple[AllStarts, float, float]:
    """Runs :func:`all_starts` under jit: returns the result, compile seconds, best run seconds."""
    import time

    values = jnp.asarray(values)
    t0 = time.perf_counter()
    compiled = jax.jit(all_starts).lower(values).compile()
    compile_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(values))
        best = min(best, time.perf_counter() - t0)
    return out, compile_s, best


def analyze(dataset: str = "cifar10", noise: str = "denoised", seed: int = 0,
            data_dir=None) -> dict:
    """Exact landscape figures of one NAS-Bench-201 dataset under one noise model (a dict).

    Keys: ``dataset``, ``noise``, ``seed``, ``num_archs``, ``num_local_minima``,
    ``mean_iterations``, ``frac_reach_global``, ``global_arch`` (official string),
    ``global_valid``, ``largest_basins``, ``run_seconds`` (the jitted all-starts local search
    after compilation, best of 5), ``compile_seconds``.
    """
    from jaxnas.benchmarks import nb201 as bench_lib

    bench = bench_lib.load(dataset, data_dir)
    values = bench_lib.objective(jax.random.key(seed), bench, noise)
    starts, compile_s, run_s = timed_all_starts(values)
    s = stats(values, starts)
    return {
        "dataset": bench_lib.canonical_dataset(dataset),
        "noise": noise,
        "seed": seed,
        "num_archs": s.num_archs,
        "num_local_minima": s.num_local_minima,
        "mean_iterations": s.mean_iterations,
        "frac_reach_global": s.frac_reach_global,
        "global_arch": space.to_string(space.all_archs()[s.global_arch]),
        "global_valid": float(np.asarray(values)[s.global_arch]),
        "largest_basins": [int(b) for b in s.basin_sizes[:10]],
        "run_seconds": run_s,
        "compile_seconds": compile_s,
    }
