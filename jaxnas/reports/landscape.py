"""Driver of ``jaxnas landscape``: load a tabular benchmark of a registered space, run the exact
landscape analysis of :mod:`jaxnas.analysis.landscape` on it, time it, and tabulate the results.

The analysis itself never names a space; this module picks the benchmark through the loader
registry :data:`jaxnas.benchmarks.BENCHMARKS`.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import benchmarks, spaces
from jaxnas.analysis import landscape
from jaxnas.benchmarks import tabular


def tabular_spaces() -> list[str]:
    """Names of the registered, enumerable spaces that have a tabular benchmark
    (:data:`jaxnas.benchmarks.BENCHMARKS`)."""
    return sorted(name for name, sp in spaces.SPACES.items()
                  if sp.num_archs is not None and benchmarks.default_for(name) is not None)


def check_tabular_space(space: str) -> str:
    """Returns ``space`` if :func:`tabular_spaces` lists it, else a ValueError naming them."""
    names = tabular_spaces()
    if space not in names:
        raise ValueError(f"no tabular benchmark for search space {space!r}; spaces with one: "
                         f"{names}")
    return space


def load_table(space: str, dataset: str,
               data_dir: str | os.PathLike | None = None) -> tuple[tabular.Table, str]:
    """One dataset of the tabular benchmark of ``space`` (through the loader registry), and the
    dataset's canonical name.

    Raises:
        ValueError: a space without a tabular benchmark, or an unknown dataset.
        FileNotFoundError: the benchmark's files are missing (the loader says where it looked).
    """
    check_tabular_space(space)
    loader = benchmarks.for_space(space)
    name = loader.canonical_dataset(dataset)
    return loader.load(name, data_dir), name


def datasets(space: str) -> tuple[str, ...]:
    """The datasets of the tabular benchmark of ``space``."""
    check_tabular_space(space)
    return benchmarks.for_space(space).datasets


def timed_all_starts(values: jax.Array, nbr: jax.Array,
                     repeats: int = 5) -> tuple[landscape.AllStarts, float, float]:
    """Runs :func:`jaxnas.analysis.landscape.all_starts` under jit.

    Returns:
        ``(starts, compile_seconds, run_seconds)`` with the best of ``repeats`` runs.
    """
    values, nbr = jnp.asarray(values), jnp.asarray(nbr)
    t0 = time.perf_counter()
    compiled = jax.jit(landscape.all_starts).lower(values, nbr).compile()
    compile_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(values, nbr))
        best = min(best, time.perf_counter() - t0)
    return out, compile_s, best


def summarize(values: jax.Array, nbr: jax.Array, space: spaces.SearchSpace) -> dict:
    """The landscape figures of one landscape (no timing): the JSON fields of ``jaxnas
    landscape`` from ``num_archs`` to ``largest_basins``.

    Args:
        values: accuracy of every architecture in key order.  # [N]
        nbr: the space's neighbour table.  # [N, S]
        space: the enumerable space (names the global optimum).
    """
    s = landscape.stats(values, landscape.all_starts_jit(values, nbr))
    return _fields(s, values, space)


def _fields(s: landscape.LandscapeStats, values, space: spaces.SearchSpace) -> dict:
    return {
        "num_archs": s.num_archs,
        "num_local_minima": s.num_local_minima,
        "mean_iterations": s.mean_iterations,
        "frac_reach_global": s.frac_reach_global,
        "global_arch": space.to_string(space.all_archs()[s.global_arch]),
        "global_valid": float(np.asarray(values)[s.global_arch]),
        "largest_basins": [int(b) for b in s.basin_sizes[:10]],
    }


def analyze(dataset: str = "cifar10", noise: str = "denoised", seed: int = 0, data_dir=None,
            space: str = "nb201") -> dict:
    """Exact landscape figures of one dataset of a space's tabular benchmark under one noise model.

    Keys: ``dataset``, ``noise``, ``seed``, ``num_archs``, ``num_local_minima``,
    ``mean_iterations``, ``frac_reach_global``, ``global_arch`` (the space's string),
    ``global_valid``, ``largest_basins``, ``run_seconds`` (the jitted all-starts local search
    after compilation, best of 5), ``compile_seconds``.

    Raises:
        ValueError: unknown space, dataset or noise model.
    """
    sp = spaces.get(check_tabular_space(space))
    tabular.check_noise(noise)
    table, name = load_table(space, dataset, data_dir)
    values = tabular.objective(jax.random.key(seed), table, noise)
    nbr = landscape.neighbour_keys(sp)
    starts, compile_s, run_s = timed_all_starts(values, nbr)
    s = landscape.stats(values, starts)
    return {"dataset": name, "noise": noise, "seed": seed, **_fields(s, values, sp),
            "run_seconds": run_s, "compile_seconds": compile_s}


TABLE_HEADER = ["dataset", "noise", "# iters", "# local min.", "% reach global", "run ms"]

#: White, Nolen & Savani 2020, table "NASBench-201: Computing #minima" (cifar10 only): (space,
#: dataset, noise) -> (# iterations, # local minima, % of starts reaching the global optimum)
PAPER: dict[tuple[str, str, str], tuple[float, int, float]] = {
    ("nb201", "cifar10", "denoised"): (5.36, 21, 47.4),
    ("nb201", "cifar10", "standard"): (4.97, 55, 6.71),
    ("nb201", "cifar10", "random"): (2.56, 616, 0.717),
}
PAPER_HEADER = ["paper: # iters", "paper: # local min.", "paper: % reach global"]
PAPER_NOTE = ("paper: White, Nolen & Savani 2020 (cifar10). Standard-noise counts differ because "
              "our per-seed values (2-3 seeds, grouping reconstructed) give a smoother single-seed "
              "landscape; see experiments/RESULTS.md, section 1.")


def paper_figures(space: str, result: dict) -> tuple[float, int, float] | None:
    """The paper's figures for the row of an :func:`analyze` dict, or None where it has none."""
    return PAPER.get((space, result["dataset"], result["noise"]))


def table(results: list[dict], space: str = "nb201") -> tuple[list[str], list[list], str | None]:
    """``(header, rows, note)`` of the ``jaxnas landscape`` table: our figures, and the paper's
    beside them where it reports the same row (then ``note`` says why some differ)."""
    rows = table_rows(results)
    papers = [paper_figures(space, r) for r in results]
    if not any(papers):
        return TABLE_HEADER, rows, None
    for row, pf in zip(rows, papers, strict=True):
        row += [f"{pf[0]:.2f}", pf[1], f"{pf[2]:.3f}"] if pf else ["-", "-", "-"]
    return TABLE_HEADER + PAPER_HEADER, rows, PAPER_NOTE


def table_rows(results: list[dict]) -> list[list]:
    """Rows of the ``jaxnas landscape`` table (:data:`TABLE_HEADER`) for :func:`analyze` dicts."""
    return [[r["dataset"], r["noise"], f"{r['mean_iterations']:.2f}", r["num_local_minima"],
             f"{100 * r['frac_reach_global']:.3f}", f"{1e3 * r['run_seconds']:.2f}"]
            for r in results]
