"""Driver of ``jaxnas search``: runs several search algorithms at equal query budget, times
them, summarises their trajectories and plots them."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import benchmarks, spaces
from jaxnas.analysis import neighbourhood as nbh
from jaxnas.benchmarks.splits import reported_split, with_test_split
from jaxnas.benchmarks.tabular import Table
from jaxnas.search import NA_ALGORITHMS, base, check_algorithm, get_algorithm
from jaxnas.spaces.base import SearchSpace


def compile_run(algo: base.Algorithm, key: jax.Array, bench: Any, noise: Any, trials: int,
                budget: int) -> tuple[Callable, float]:
    """Compiles ``trials`` vmapped trials of ``algo`` once; returns ``(compiled, seconds)``.

    ``compiled(key, bench)`` runs them for any key and any table of the same space and shapes
    (e.g. every NAS-Bench-201 dataset), without compiling again.
    """
    fn = jax.jit(lambda k, b: base.run(algo, k, b, noise, trials, budget))
    t0 = time.perf_counter()
    compiled = fn.lower(key, bench).compile()
    return compiled, time.perf_counter() - t0


def run_timed(algo: base.Algorithm, key: jax.Array, bench: Any, noise: Any, trials: int,
              budget: int) -> tuple[base.Trajectory, float, float]:
    """Compiles and runs ``trials`` vmapped trials; returns (trajectory, compile s, run s)."""
    compiled, compile_s = compile_run(algo, key, bench, noise, trials, budget)
    t0 = time.perf_counter()
    traj = jax.block_until_ready(compiled(key, bench))
    return traj, compile_s, time.perf_counter() - t0


@functools.partial(jax.jit, static_argnames=("space", "radius"))
def _flatness(space: SearchSpace, test: jax.Array, archs: jax.Array, radius: int
              ) -> tuple[jax.Array, jax.Array]:
    return jax.vmap(lambda a: nbh.neighbour_stats(space, test, a, radius))(archs)


def flatness(space: SearchSpace, test: jax.Array, archs: jax.Array, radius: int = 1
             ) -> tuple[jax.Array, jax.Array]:
    """Mean and std of the neighbours' test accuracy of every returned architecture.

    Args:
        space: the search space (or a Table carrying it).
        test: ``[N]`` test accuracy of every architecture, in key order.
        archs: ``[T, *arch_shape]`` returned architectures (``Trajectory.best_arch``).
        radius: neighbours within this many moves (default 1: the space's neighbours).

    Returns:
        ``(mean, std)``, each ``[T]`` (see :func:`jaxnas.analysis.neighbourhood.neighbour_stats`);
        compiled once per (space, shape, radius).
    """
    space = nbh.space_of(space)
    return _flatness(space, jnp.asarray(test), jnp.asarray(archs, space.arch_dtype), radius)


def most_returned(traj: base.Trajectory) -> tuple[np.ndarray, float]:
    """The architecture returned by most trials (ties: the smallest key) and its frequency."""
    keys = np.asarray(traj.best_key)
    t = keys.shape[0]
    _, first, counts = np.unique(keys.reshape(t, -1), axis=0, return_index=True,
                                 return_counts=True)
    top = int(np.argmax(counts))
    return np.asarray(traj.best_arch)[first[top]], float(counts[top] / t)


def summarize(name: str, traj: base.Trajectory, compile_s: float, run_s: float,
              trials: int, budget: int, space: SearchSpace, test: jax.Array | None = None,
              has_test: bool = True) -> dict:
    """JSON-ready summary: mean/std of the incumbent's test accuracy after every query.

    ``metric`` names what the curves measure: ``'test'`` (``test_mean``/``test_std``,
    ``final_test_mean``/``final_test_std``) or, on a benchmark without test accuracies
    (``has_test`` false, e.g. a surrogate), ``'valid'``: the incumbent's true (noise-free)
    validation accuracy (``valid_mean``/``valid_std``); the ``final_test_*`` fields are then
    ``None``. ``final_valid_mean``/``final_valid_std`` are the incumbent's true validation
    accuracy, ``final_observed_valid_mean`` the (noisy) value the search saw.

    With ``test`` (the benchmark's ``[N]`` test accuracies) the summary also reports how flat
    the returned architectures are: ``final_neighbour_test_mean`` is the mean over trials of
    the mean test accuracy of the returned architecture's neighbours
    (``space.neighbours``), and ``final_neighbour_test_std_mean`` the mean over trials of
    their standard deviation.
    """
    test_acc = np.asarray(traj.test, np.float64)  # [T, B]
    final = test_acc[:, -1]
    true_valid = test_acc if not has_test else (
        None if traj.true_valid is None else np.asarray(traj.true_valid, np.float64))
    top_arch, top_frac = most_returned(traj)
    extra = {}
    if test is not None:
        nb_mean, nb_std = flatness(space, test, traj.best_arch)
        extra = {"final_neighbour_test_mean": float(np.mean(np.asarray(nb_mean, np.float64))),
                 "final_neighbour_test_std_mean": float(np.mean(np.asarray(nb_std, np.float64)))}
    metric = "test" if has_test else "valid"
    return {
        "algo": name,
        "trials": trials,
        "budget": budget,
        "metric": metric,
        "final_test_mean": float(np.nanmean(final)) if has_test else None,
        "final_test_std": float(np.nanstd(final)) if has_test else None,
        "final_valid_mean": None if true_valid is None else float(np.nanmean(true_valid[:, -1])),
        "final_valid_std": None if true_valid is None else float(np.nanstd(true_valid[:, -1])),
        "final_observed_valid_mean": float(np.nanmean(np.asarray(traj.valid)[:, -1])),
        f"{metric}_mean": np.nanmean(test_acc, axis=0).round(4).tolist(),
        f"{metric}_std": np.nanstd(test_acc, axis=0).round(4).tolist(),
        "most_returned_arch": space.to_string(top_arch),
        "most_returned_frac": top_frac,
        "mean_steps": float(np.mean(np.asarray(traj.num_steps))),
        "run_seconds": run_s,
        "compile_seconds": compile_s,
        **extra,
    }


def check_options(space: SearchSpace, algo_kwargs: Mapping[str, Mapping]) -> None:
    """Checks the neighbourhood-aware options (radius, k) against ``space``, before compiling."""
    for name, opts in algo_kwargs.items():
        if name in NA_ALGORITHMS:
            radius = opts.get("radius", 1)
            nbh.check_radius(space, radius)
            nbh.check_k(space, opts.get("k"), radius)


def compare(algos: Sequence[str], dataset: str | None = "cifar10", noise: str = "standard",
            trials: int = 1000, budget: int = 300, seed: int = 0, data_dir=None,
            progress: bool = True, algo_kwargs: Mapping[str, Mapping] | None = None,
            space: str | SearchSpace = "nb201", benchmark: str | None = None,
            noise_std: float | None = None, protocol: str = "jaxnas",
            test_split: str | None = None) -> list[dict]:
    """Runs every named algorithm on the same trials (same keys) and returns their summaries.

    Args:
        dataset: a dataset of the benchmark (``None``: its first).
        noise: a registered noise model; ``gaussian`` needs ``noise_std`` (accuracy points).
        algo_kwargs: keyword arguments per algorithm name (e.g.
            ``{"na_random_search": {"radius": 1, "k": 8}}``); they are passed to
            :func:`jaxnas.search.get_algorithm` and reported under ``"options"``.
        space: the search space (a registered name or a space).
        benchmark: the benchmark searched (:data:`jaxnas.benchmarks.BENCHMARKS`; default: the
            space's default one).
        protocol: ``'jaxnas'`` (default) or ``'naszilla'`` (:mod:`jaxnas.search.protocol`),
            reported under ``"protocol"``.
        test_split: the benchmark's test split to report (:mod:`jaxnas.benchmarks.splits`,
            e.g. ``'ori-test'``; default: the loader's), reported under ``"test_split"``
            (``None`` when the benchmark names none).
    """
    space = spaces.get(space)
    loader = benchmarks.for_space(space.name, benchmark)
    dataset = loader.datasets[0] if dataset is None else dataset
    algo_kwargs = dict(algo_kwargs or {})
    unknown = sorted(set(algo_kwargs) - set(algos))
    if unknown:
        raise ValueError(f"options given for {unknown}, which are not among the algorithms "
                         f"run ({list(algos)})")
    if trials < 1 or budget < 1:
        raise ValueError(f"trials and budget must be >= 1, got trials={trials}, budget={budget}")
    if space.num_archs is not None and budget > space.num_archs:
        raise ValueError(f"budget {budget} exceeds the {space.num_archs} architectures of the "
                         f"space {space.name!r}")
    loader.check_noise(noise)
    model = benchmarks.noise_model(noise, noise_std)
    for name in algos:
        check_algorithm(name, protocol)
    check_options(space, algo_kwargs)
    bench = loader.load(loader.canonical_dataset(dataset), data_dir)
    if isinstance(bench, Table):
        bench = with_test_split(bench, test_split,
                                f"{space.name} {loader.canonical_dataset(dataset)}")
        split = reported_split(bench)
    elif test_split is not None:
        raise ValueError(f"--test-split {test_split!r}: benchmark {loader.name!r} has "
                         f"no test splits")
    else:
        split = None
    if getattr(bench.space, "base", bench.space) != space:
        raise ValueError(f"the {loader.name!r} benchmark loader returned a benchmark of space "
                         f"{bench.space.name!r}, not {space.name!r}")
    dense_test = bench.test if isinstance(bench, Table) else None
    key = jax.random.key(seed)
    out = []
    for i, name in enumerate(algos, start=1):
        opts = dict(algo_kwargs.get(name, {}))
        algo = get_algorithm(name, protocol, **opts)
        if progress:
            print(f"[{i}/{len(algos)}] {name}: {trials} trials x {budget} queries ...",
                  file=sys.stderr, flush=True)
        traj, c, r = run_timed(algo, key, bench, model, trials, budget)
        s = summarize(name, traj, c, r, trials, budget, space, test=dense_test,
                      has_test=loader.has_test)
        s.update(space=space.name, benchmark=loader.name,
                 dataset=loader.canonical_dataset(dataset), noise=noise,
                 noise_std=benchmarks.tabular.noise_std(model), seed=seed, options=opts,
                 protocol=protocol, test_split=split)
        if progress:
            m = s["metric"]
            print(f"    compile {c:.2f} s, run {r:.3f} s, final {m} "
                  f"{s[f'final_{m}_mean']:.3f} +- {s[f'final_{m}_std']:.3f}",
                  file=sys.stderr, flush=True)
        out.append(s)
    return out


#: image formats the plots write
FORMATS: tuple[str, ...] = ("png", "pdf", "svg")


def plot(results: Sequence[dict], path: str | os.PathLike, title: str | None = None,
         benchmark: str = "NAS-Bench-201") -> None:
    """Test accuracy of the incumbent against queries: one line per algorithm (the mean over
    trials) with a shaded band of +-1 standard deviation over trials; the y-axis starts below
    the lowest band from the 10th query on, so no band is cut off. On a benchmark without test
    accuracies (``metric == 'valid'``) the curves are the incumbent's true validation
    accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    metric = results[0].get("metric", "test")
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for r in results:
        m, sd = np.asarray(r[f"{metric}_mean"]), np.asarray(r[f"{metric}_std"])
        q = np.arange(1, m.size + 1)
        (line,) = ax.plot(q, m, label=f"{r['algo']} ({r[f'final_{metric}_mean']:.2f})")
        ax.fill_between(q, m - sd, m + sd, alpha=0.15, color=line.get_color())
    r0 = results[0]
    # frame the curves from the 10th query on (the first few queries are far below), bands included
    tail = [slice(min(9, len(r[f"{metric}_mean"]) - 1), None) for r in results]
    lo = min(np.nanmin((np.asarray(r[f"{metric}_mean"]) - np.asarray(r[f"{metric}_std"]))[t])
             for r, t in zip(results, tail, strict=True))
    hi = max(np.nanmax((np.asarray(r[f"{metric}_mean"]) + np.asarray(r[f"{metric}_std"]))[t])
             for r, t in zip(results, tail, strict=True))
    pad = 0.05 * (hi - lo) + 0.05
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("number of queries (distinct architectures)")
    ax.set_ylabel("test accuracy of incumbent (%)" if metric == "test" else
                  "true validation accuracy of incumbent (%)")
    noise = r0["noise"] + (f" (std {r0['noise_std']:g})" if r0.get("noise_std") else "")
    ax.set_title(title or f"{benchmark} {r0['dataset']}, {noise} noise, "
                 f"{r0['trials']} trials")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="grey", alpha=0.15))
    labels.append("band: mean +- 1 std over trials")
    ax.legend(handles, labels, loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def check_plot_path(path: str | os.PathLike) -> Path:
    """Checks, before any computation, that a plot can be written to ``path``.

    Raises:
        ValueError: the folder does not exist or the extension is not an image format.
    """
    p = Path(path).expanduser()
    if p.suffix.lower().lstrip(".") not in FORMATS:
        raise ValueError(f"--plot {str(path)!r}: use one of the extensions "
                         f"{', '.join('.' + f for f in FORMATS)}")
    if not p.parent.resolve().is_dir():
        raise ValueError(f"--plot {str(path)!r}: folder {str(p.parent)!r} does not exist; "
                         f"create it first")
    if not os.access(p.parent.resolve(), os.W_OK):
        raise ValueError(f"--plot {str(path)!r}: folder {str(p.parent)!r} is not writable")
    return p
