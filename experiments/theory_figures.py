"""Figures and tables for the theory of local search (issue #5; White, Nolen & Savani 2020, §5).

Produces, under ``experiments/figures/``:

* ``theory_neighbourhood.png``: "Neighborhood distributions": ``pdf_e(x, .)`` slices and the
  joint density of neighbour pairs for cifar10, cifar100, imagenet16-120 (denoised);
* ``theory_simulation.png``: "Simulation results": Theorem 5.1 against exact local search on
  random ``s``-regular graphs over the smoothness knob (95% CIs over seeds);
* ``theory_results.json``: every number, and a markdown table of theory vs NAS-Bench-201
  (3 datasets x {denoised, standard, random}) on stdout.

Command (about 10 minutes on the 2-core development CPU; ``--quick`` is about 2)::

    PYTHONPATH=$PWD python experiments/theory_figures.py [--quick] [--data-dir DIR]

All logic lives in :mod:`jaxnas.analysis.theory`, :mod:`jaxnas.analysis.synthetic` (maths) and
:mod:`jaxnas.reports.theory`, :mod:`jaxnas.reports.theory_plot` (drivers, figures).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import spaces
from jaxnas.analysis.landscape import neighbour_keys
from jaxnas.benchmarks.tabular import NOISE_MODELS
from jaxnas.reports import landscape as landscape_report
from jaxnas.reports import theory as theory_report
from jaxnas.reports import theory_plot

SPACE = "nb201"

FIG = Path(__file__).resolve().parent / "figures"


def knob_series(quick: bool) -> dict[str, list[dict]]:
    """(label, model, s, knob values) of the simulation figure."""
    if quick:
        return {
            "ring (s=2), Markov AR(1)": ("markov", 2, [0.0, 0.6, 0.9]),
            "random 4-regular, Markov GMRF": ("markov", 4, [0.0, 0.4]),
        }
    return {
        "ring (s=2), Markov AR(1): theorem's assumptions exact": (
            "markov", 2, [0.0, 0.3, 0.6, 0.8, 0.9, 0.95]),
        "random 4-regular, Markov GMRF (rho < 1/sqrt(3) = 0.58)": (
            "markov", 4, [0.0, 0.2, 0.35, 0.45, 0.52]),
        "random 24-regular, Markov GMRF (rho < 1/sqrt(23) = 0.21)": (
            "markov", 24, [0.0, 0.1, 0.15, 0.19]),
        "random 24-regular, heat smoothing (knob: steps 0..3; not Markov)": (
            "heat", 24, [0, 1, 2, 3]),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--n", type=int, default=2000, help="nodes of the random graphs")
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--eps", type=float, default=1.5,
                    help="synthetic tolerance in normal-score units (1.5: about the best 2%%)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: a,b,c")
    args = ap.parse_args(argv)
    n, seeds = (500, 8) if args.quick else (args.n, args.seeds)
    skip = set(args.skip.split(",")) - {""}
    FIG.mkdir(parents=True, exist_ok=True)
    res_path = FIG / ("theory_results_quick.json" if args.quick else "theory_results.json")
    out: dict = json.loads(res_path.read_text()) if skip and res_path.exists() else {}
    out.update({"device": str(jax.devices()[0]), "jax": jax.__version__})
    datasets = landscape_report.datasets(SPACE)

    if "a" not in skip:  # (a) neighbourhood distributions
        t0 = time.perf_counter()
        panels = [(d, np.asarray(landscape_report.load_table(SPACE, d, args.data_dir)[0].valid))
                  for d in datasets]
        nbr = neighbour_keys(spaces.get(SPACE))
        theory_plot.neighbourhood_figure(panels, nbr, FIG / "theory_neighbourhood.png")
        print(f"(a) theory_neighbourhood.png in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    if "b" not in skip:  # (b) theory vs simulation over the knob
        series = {}
        for label, (model, s, knob) in knob_series(args.quick).items():
            pts = []
            for v in knob:
                kw = {"steps": v} if model == "heat" else {"rho": v}
                p = theory_report.compare_synthetic(jax.random.key(0), model, n, s, seeds,
                                                    args.eps, **kw)
                pts.append(p)
                print(f"(b) {label} knob={v}: LM theory {p['predicted_local_minima']:.1f} "
                      f"sim {p['measured_local_minima']:.1f} {p['measured_local_minima_ci']}; "
                      f"frac theory {p['predicted_frac_within_eps']:.4f} sim "
                      f"{p['measured_frac_within_eps']:.4f} {p['measured_frac_within_eps_ci']}; "
                      f"rho {p['measured_rho']:.3f} ({p['run_seconds']:.1f}s)",
                      file=sys.stderr, flush=True)
            series[label] = pts
        theory_plot.simulation_figure(series, FIG / "theory_simulation.png")
        out["simulation"] = series

    if "c" not in skip:  # (c) NAS-Bench-201 table
        rows = []
        for d in datasets:
            for noise in NOISE_MODELS:
                for eps in (0.0, 1.0):
                    r = theory_report.analyze_benchmark(d, noise, eps, 0, args.data_dir,
                                                        space=SPACE)
                    rows.append(r)
                    print(f"(c) {d} {noise} eps={eps}: {r}", file=sys.stderr, flush=True)
        out["nb201"] = rows
        print("\n".join(theory_report.benchmark_table_rows(rows)))
    res_path.write_text(json.dumps(out, indent=1))  # parts skipped keep their old numbers
    return 0


if __name__ == "__main__":
    jnp.zeros(1)  # initialise the backend before timing
    sys.exit(main())
