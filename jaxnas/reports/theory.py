"""Drivers for the theory of local search (:mod:`jaxnas.analysis.theory`): Theorem 5.1 next to the
exact measurement on a tabular benchmark and on simulated landscapes (:mod:`jaxnas.analysis.synthetic`),
with timing and confidence intervals, as plain dicts for ``jaxnas theory`` and
``experiments/theory_figures.py``; and the data behind the neighbourhood figure.

Benchmarks are loaded through :func:`jaxnas.reports.landscape.load_table`, so nothing here names a
particular space.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import spaces
from jaxnas.analysis import landscape, synthetic, theory
from jaxnas.benchmarks import tabular
from jaxnas.reports import landscape as landscape_report


def benchmark_landscape(dataset: str, noise: str, seed: int = 0,
                        data_dir: str | os.PathLike | None = None,
                        space: str = "nb201") -> tuple[jax.Array, np.ndarray, str]:
    """One trial's validation accuracies on a space's tabular benchmark and the space's graph.

    Returns:
        ``(accuracy, nbr, dataset)``: ``[N]`` in key order, the neighbour table ``int32[N, S]``
        and the dataset's canonical name.

    Raises:
        ValueError: unknown space, dataset or noise model.
    """
    sp = spaces.get(landscape_report.check_tabular_space(space))
    tabular.check_noise(noise)
    table, name = landscape_report.load_table(space, dataset, data_dir)
    acc = tabular.objective(jax.random.key(seed), table, noise)
    return acc, landscape.neighbour_keys(sp), name


def analyze_benchmark(
    dataset: str = "cifar10",
    noise: str = "denoised",
    eps: float = 0.0,
    seed: int = 0,
    data_dir=None,
    num: int = 256,
    space: str = "nb201",
) -> dict:
    """Theorem 5.1 next to the exact measurement on one tabular landscape (a dict).

    The loss is ``100 - validation accuracy`` under the noise model (seed ``seed`` for its
    draw); the theory uses ``pdf_n``/``pdf_e`` estimated from all neighbour pairs
    (:func:`jaxnas.analysis.theory.predict_landscape`), the measurement is best-improvement
    local search from every architecture (:func:`jaxnas.analysis.synthetic.measure`, strict
    improvement).

    Args:
        dataset: a dataset of the space's benchmark (nb201: ``cifar10``, ``cifar100``,
            ``imagenet16-120``).
        noise: ``denoised``, ``standard`` or ``random``.
        eps: tolerance in accuracy points: a start counts when its search ends at a loss
            ``<= l* + eps``; ``0`` is "reaches the global optimum".
        seed: seed of the noise draw.
        data_dir: folder of the benchmark's tables (default: the shared data).
        num: quadrature grid cells.
        space: a space with a tabular benchmark
            (:func:`jaxnas.reports.landscape.tabular_spaces`).

    Returns:
        Keys ``dataset, noise, seed, eps, n, s, predicted_local_minima,
        measured_local_minima, predicted_frac_within_eps, measured_frac_within_eps,
        predicted_mean_basin, measured_mean_basin, neighbour_rho, recursion_depth,
        run_seconds`` (theory + measurement, compilation included).

    Raises:
        ValueError: unknown space, dataset or noise model, negative ``eps``.
    """
    tabular.check_noise(noise)
    if not float(eps) >= 0:
        raise ValueError(f"eps must be >= 0 accuracy points, got {eps!r}")
    sp = spaces.get(landscape_report.check_tabular_space(space))
    table, name = landscape_report.load_table(space, dataset, data_dir)
    t0 = time.perf_counter()
    acc = tabular.objective(jax.random.key(seed), table, noise)
    loss = 100.0 - acc
    nbr = jnp.asarray(landscape.neighbour_keys(sp))
    th = theory.predict_landscape(loss, nbr, eps, num)
    meas = synthetic.measure_jit(loss, nbr, jnp.float32(eps))
    measured_lm = int(meas.local_minima)
    n, s = nbr.shape
    return {
        "dataset": name, "noise": noise, "seed": int(seed),
        "eps": float(eps), "n": int(n), "s": int(s),
        "predicted_local_minima": th.local_minima,
        "measured_local_minima": measured_lm,
        "predicted_frac_within_eps": th.frac_within_eps,
        "measured_frac_within_eps": float(meas.frac_within_eps),
        "predicted_mean_basin": float(n / th.local_minima),
        "measured_mean_basin": float(n / measured_lm),
        "neighbour_rho": th.rho,
        "recursion_depth": int(th.prediction.depth),
        "run_seconds": time.perf_counter() - t0,
    }


def compare_synthetic(
    key: jax.Array,
    model: str,
    n: int,
    s: int,
    num_seeds: int,
    eps: float,
    *,
    rho: float = 0.0,
    steps: int = 0,
    num: int = 256,
    level: float = 0.95,
) -> dict:
    """Theory against simulation on random ``s``-regular graphs (one point of the knob).

    Simulates ``num_seeds`` landscapes (a fresh graph each,
    :func:`jaxnas.analysis.synthetic.simulate`) and evaluates Theorem 5.1 for the Gaussian
    neighbour model (:func:`jaxnas.analysis.theory.gaussian_model`) at the model's correlation:
    the nominal ``rho`` for ``iid``/``markov``, the measured mean neighbour correlation for
    ``heat`` (which has no nominal one). The theory is also evaluated on the densities
    estimated from the first seed's landscape (:func:`jaxnas.analysis.theory.predict_landscape`).
    Losses are normal scores, so ``eps`` is in normal-score units and the threshold
    ``l* + eps`` is the same for every seed. Consumes ``key``.

    Returns:
        A dict of plain numbers: ``model, n, s, rho, steps, seeds, eps``,
        ``predicted_local_minima``, ``measured_local_minima`` (mean over seeds) and
        ``measured_local_minima_ci`` ([lo, hi]), the same three for ``frac_within_eps``,
        ``predicted_*_estimated`` (from estimated densities), ``theory_rho`` (the rho fed to
        the Gaussian model), ``measured_rho``, ``mean_moves``, ``run_seconds`` (wall time of
        simulation + theory, compilation included).

    Raises:
        ValueError: as :func:`jaxnas.analysis.synthetic.simulate`; ``eps < 0``.
    """
    if not float(eps) >= 0:
        raise ValueError(f"eps must be >= 0 (normal-score units), got {eps!r}")
    t0 = time.perf_counter()
    meas, loss = synthetic.simulate(key, model, num_seeds, eps, n=n, s=s, rho=rho, steps=steps)
    meas = jax.tree.map(np.asarray, meas)
    measured_rho = float(np.mean(meas.rho))
    theory_rho = measured_rho if model == "heat" else float(rho)
    grid = theory.normal_grid(n, num)
    pn, pe = theory.gaussian_model(max(theory_rho, 0.0), grid)
    pred = theory.predict(pn, pe, grid.h, n, s)
    thr = theory.threshold_score(loss, jnp.min(loss) + eps)
    frac = float(theory.frac_ending_below(pred, grid, thr))
    # the first seed's graph, re-drawn with the key :func:`simulate` used for it
    g0 = synthetic.random_regular_graph(
        jax.random.split(jax.random.split(key, num_seeds)[0])[0], n, s)
    est = theory.predict_landscape(loss, g0, eps, num)
    lm = synthetic.confidence_interval(meas.local_minima, level)
    fr = synthetic.confidence_interval(meas.frac_within_eps, level)
    return {
        "model": model, "n": int(n), "s": int(s), "rho": float(rho), "steps": int(steps),
        "seeds": int(num_seeds), "eps": float(eps), "level": float(level),
        "theory_rho": theory_rho, "measured_rho": measured_rho,
        "predicted_local_minima": float(pred.local_minima),
        "measured_local_minima": lm[0], "measured_local_minima_ci": [lm[1], lm[2]],
        "predicted_frac_within_eps": frac,
        "measured_frac_within_eps": fr[0], "measured_frac_within_eps_ci": [fr[1], fr[2]],
        "predicted_local_minima_estimated": est.local_minima,
        "predicted_frac_within_eps_estimated": est.frac_within_eps,
        "threshold_score": float(thr),
        "mean_moves": float(np.mean(meas.mean_moves)),
        "run_seconds": time.perf_counter() - t0,
    }


def benchmark_table_rows(rows: list[dict]) -> list[str]:
    """Markdown table of :func:`analyze_benchmark` dicts in pairs ``(eps=0, eps=1)`` per
    dataset and noise (the table of ``experiments/RESULTS_theory.md``)."""
    out = ["| dataset | noise | # local min. theory | measured | % within 0 theory | measured "
           "| % within 1 pt theory | measured | neighbour rho |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i in range(0, len(rows), 2):
        a, b = rows[i], rows[i + 1]
        out.append(f"| {a['dataset']} | {a['noise']} | {a['predicted_local_minima']:.1f} | "
                   f"{a['measured_local_minima']} | {100 * a['predicted_frac_within_eps']:.2f} | "
                   f"{100 * a['measured_frac_within_eps']:.2f} | "
                   f"{100 * b['predicted_frac_within_eps']:.2f} | "
                   f"{100 * b['measured_frac_within_eps']:.2f} | {a['neighbour_rho']:.3f} |")
    return out
