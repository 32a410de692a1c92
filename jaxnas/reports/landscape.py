"""Driver of ``jaxnas landscape``: load a benchmark of a registered space, run the landscape
analysis of :mod:`jaxnas.analysis.landscape` on it, time it, and tabulate the results.

Two modes: **exact** (:func:`analyze`: local search from every architecture of an enumerable
space with a table, e.g. NAS-Bench-201) and **sampled** (:func:`analyze_sampled`: local search
from uniformly random starts, on any space with a benchmark, e.g. NAS-Bench-101 or the DARTS
space with the NB301 surrogate; estimates with standard errors).

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


def landscape_spaces() -> list[str]:
    """Names of the registered spaces with any benchmark (the sampled analysis runs on all of
    them; the exact one on :func:`tabular_spaces`)."""
    return sorted(set(spaces.SPACES) & {b.space for b in benchmarks.BENCHMARKS.values()})


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
            space: str = "nb201", noise_std: float | None = None) -> dict:
    """Exact landscape figures of one dataset of a space's tabular benchmark under one noise model.

    Keys: ``dataset``, ``noise``, ``seed``, ``num_archs``, ``num_local_minima``,
    ``mean_iterations``, ``frac_reach_global``, ``global_arch`` (the space's string),
    ``global_valid``, ``largest_basins``, ``run_seconds`` (the jitted all-starts local search
    after compilation, best of 5), ``compile_seconds``.

    ``noise_std``: the standard deviation of the ``gaussian`` noise model (accuracy points).

    Raises:
        ValueError: unknown space, dataset or noise model.
    """
    sp = spaces.get(check_tabular_space(space))
    model = tabular.noise_model(noise, noise_std)
    table, name = load_table(space, dataset, data_dir)
    values = tabular.objective(jax.random.key(seed), table, model)
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


# ---------------------------------------------------------------------------------------------
# Sampled analysis: spaces too large to enumerate.
# ---------------------------------------------------------------------------------------------

#: the estimates of :func:`analyze_sampled`, in the order the JSON gives them
SAMPLED_FIELDS = tuple(landscape.SampledStats._fields)


def check_sampling(starts: int, max_iters: int) -> None:
    """ValueError (one line) unless ``starts`` and ``max_iters`` are positive integers."""
    for flag, v in (("--starts", starts), ("--max-iters", max_iters)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{flag} must be a positive integer, got {v!r}")


def analyze_sampled(space: str, benchmark: str | None = None, dataset: str | None = None,
                    noise: str = "denoised", seed: int = 0, starts: int = 1000, data_dir=None,
                    noise_std: float | None = None, max_iters: int = 1000) -> dict:
    """Landscape statistics estimated from best-improvement local search from ``starts``
    uniformly random architectures (:func:`jaxnas.analysis.landscape.sample_walks`).

    The landscape is the one the exact analysis uses for the same ``seed``
    (``make_landscape(jax.random.key(seed), ...)``); the starts are drawn with
    ``fold_in(jax.random.key(seed), 1)``.

    Returns:
        ``mode`` ('sampled'), ``space``, ``benchmark``, ``dataset``, ``noise``, ``noise_std``,
        ``seed``, ``max_iters``, the fields of :class:`jaxnas.analysis.landscape.SampledStats`
        (``frac_reach_global``/``est_num_local_minima`` are ``None`` where the landscape does
        not know its optimum or its size, e.g. a surrogate), ``best_optimum_arch`` (the space's
        string), ``global_valid`` (``None`` where unknown), ``run_seconds`` (after
        compilation), ``compile_seconds``.

    Raises:
        ValueError: an unknown space, benchmark, dataset or noise model, or ``starts < 1``.
    """
    check_sampling(starts, max_iters)
    if space not in landscape_spaces():
        raise ValueError(f"no benchmark for search space {space!r}; spaces with one: "
                         f"{landscape_spaces()}")
    loader = benchmarks.for_space(space, benchmark)
    name = loader.canonical_dataset(loader.datasets[0] if dataset is None else dataset)
    loader.check_noise(noise)
    model = tabular.noise_model(noise, noise_std)
    bench = loader.load(name, data_dir)
    key = jax.random.key(seed)
    land = benchmarks.make_landscape(key, bench, model)
    k_starts = jax.random.fold_in(key, 1)
    fn = jax.jit(landscape.sample_walks, static_argnums=(2, 3))
    t0 = time.perf_counter()
    compiled = fn.lower(k_starts, land, int(starts), int(max_iters)).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    walks = jax.block_until_ready(compiled(k_starts, land))
    run_s = time.perf_counter() - t0
    sp = land.space
    terminal_keys = sp.arch_key(walks.terminal)
    optimum = getattr(land, "optimum", None)
    gkey, gval = optimum() if optimum is not None else (None, None)
    st = landscape.sampled_stats(walks, terminal_keys, gkey, getattr(land, "num_archs", None))
    best = int(np.argmax(np.asarray(walks.terminal_valid)))
    return {"mode": "sampled", "space": space, "benchmark": loader.name, "dataset": name,
            "noise": noise, "noise_std": noise_std, "seed": seed, "max_iters": int(max_iters),
            **st._asdict(),
            "best_optimum_arch": sp.to_string(np.asarray(walks.terminal)[best]),
            "global_valid": None if gval is None else float(gval),
            "run_seconds": run_s, "compile_seconds": compile_s}


SAMPLED_HEADER = ["dataset", "noise", "starts", "% local optima [95% CI]", "# iters",
                  "# optima reached", "% reach best reached", "% reach global", "run s"]


def _pm(x: float | None, se: float | None, scale: float = 1.0, fmt: str = ".2f") -> str:
    if x is None:
        return "-"
    return f"{scale * x:{fmt}} +- {scale * se:{fmt}}"


def sampled_table_rows(results: list[dict]) -> list[list]:
    """Rows of the sampled ``jaxnas landscape`` table (:data:`SAMPLED_HEADER`)."""
    return [[r["dataset"], r["noise"], r["num_starts"],
             f"{100 * r['frac_local_optima']:.2f} [{100 * r['frac_local_optima_ci95'][0]:.2f}, "
             f"{100 * r['frac_local_optima_ci95'][1]:.2f}]",
             _pm(r["mean_iterations"], r["mean_iterations_se"]),
             r["num_distinct_optima"],
             _pm(r["frac_reach_best_optimum"], r["frac_reach_best_optimum_se"], 100),
             _pm(r["frac_reach_global"], r["frac_reach_global_se"], 100),
             f"{r['run_seconds']:.2f}"] for r in results]
