"""``jaxnas theory``: Theorem 5.1 / Lemma 5.2 (White, Nolen & Savani 2020) against measurement.

Two forms:

* ``jaxnas theory [--space nb201] --dataset D --noise N [--eps E] [--seed S] [--plot FILE]``: a
  tabular benchmark (NAS-Bench-201), loss = 100 - validation accuracy; theory from
  ``pdf_n``/``pdf_e`` estimated on all neighbour pairs, measurement by exact best-improvement
  local search from every architecture;
* ``jaxnas theory --synthetic iid|markov|heat --n N --s S [--rho R] [--steps T] [--seeds K]
  [--eps E]``: random ``s``-regular graphs, Gaussian landscapes in normal scores, theory for
  the Gaussian neighbour model, measurement with a confidence interval over seeds.

The work is done by :mod:`jaxnas.reports.theory` (drivers) on :mod:`jaxnas.analysis.theory` and
:mod:`jaxnas.analysis.synthetic` (maths).
"""

from __future__ import annotations

import sys

from jaxnas.cli._common import add_data_dir, add_json, print_json, print_table


def register(sub) -> None:
    from jaxnas.reports.landscape import tabular_spaces

    p = sub.add_parser(
        "theory",
        help="expected local minima and basins (Theorem 5.1) vs. measured local search",
        description="Theory of local search: predicted number of local minima and fraction of "
                    "starts ending within eps of the global minimum, next to the measured "
                    "values, on a tabular benchmark (--space, --dataset) or synthetic "
                    "landscapes (--synthetic).",
    )
    p.add_argument("--space", default="nb201", choices=tabular_spaces(),
                   help="benchmark form: search space with a tabular benchmark (default nb201)")
    p.add_argument("--dataset", default=None,
                   help="cifar10 | cifar100 | imagenet16-120 (default cifar10 without --synthetic)")
    p.add_argument("--noise", default="denoised", help="denoised | standard | random")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the noise draw (benchmark) or of the landscapes (synthetic)")
    p.add_argument("--eps", type=float, default=0.0,
                   help="tolerance: accuracy points (benchmark) or normal-score units "
                        "(synthetic); 0 = ends at the global minimum (default)")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="benchmark only: plot the estimated neighbourhood distributions")
    p.add_argument("--synthetic", default=None, metavar="MODEL",
                   help="iid | markov | heat: random s-regular graphs instead of a benchmark")
    p.add_argument("--n", type=int, default=2000, help="synthetic: nodes (default 2000)")
    p.add_argument("--s", type=int, default=24, help="synthetic: degree (default 24)")
    p.add_argument("--rho", type=float, default=None,
                   help="synthetic markov: edge correlation, < 1/sqrt(s-1)")
    p.add_argument("--steps", type=int, default=None, help="synthetic heat: smoothing rounds")
    p.add_argument("--seeds", type=int, default=16, help="synthetic: landscapes (default 16)")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(func=run)


def _check(args) -> None:
    from jaxnas.analysis import synthetic

    if not args.eps >= 0:
        raise ValueError(f"--eps must be >= 0, got {args.eps!r}")
    if args.plot is not None:
        from jaxnas.reports.search import check_plot_path

        check_plot_path(args.plot)  # before the computation, not after it
    if args.synthetic is None:
        extra = [f for f, v in (("--rho", args.rho), ("--steps", args.steps)) if v is not None]
        if extra:
            raise ValueError(f"{', '.join(extra)} appl{'ies' if len(extra) == 1 else 'y'} only "
                             f"with --synthetic MODEL")
        return
    if args.dataset is not None or args.plot is not None:
        raise ValueError("--synthetic cannot be combined with --dataset or --plot; pick one form")
    if args.synthetic not in synthetic.MODELS:
        raise ValueError(f"unknown --synthetic model {args.synthetic!r}; choose one of "
                         f"{', '.join(synthetic.MODELS)}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if args.rho is not None and args.synthetic != "markov":
        raise ValueError(f"--rho applies to the markov model only, not {args.synthetic!r}")
    if args.steps is not None and args.synthetic != "heat":
        raise ValueError(f"--steps applies to the heat model only, not {args.synthetic!r}")
    if args.synthetic == "markov" and args.rho is None:
        raise ValueError("--synthetic markov needs --rho R (0 <= R < 1/sqrt(s-1))")
    if args.synthetic == "heat" and args.steps is None:
        raise ValueError("--synthetic heat needs --steps T (smoothing rounds, >= 0)")
    synthetic.check_graph_size(args.n, args.s)
    synthetic.landscape_fn(args.synthetic, args.steps or 0, args.rho or 0.0)
    synthetic.check_markov_rho(args.synthetic, args.rho or 0.0, args.s)


def run(args) -> int:
    _check(args)
    if args.synthetic is not None:
        import jax

        from jaxnas.reports.theory import compare_synthetic

        if not args.json:
            print(f"simulating {args.seeds} x {args.synthetic} on random {args.s}-regular "
                  f"graphs with n={args.n} ...", file=sys.stderr, flush=True)
        r = compare_synthetic(jax.random.key(args.seed), args.synthetic, args.n, args.s,
                              args.seeds, args.eps, rho=args.rho or 0.0, steps=args.steps or 0)
        if args.json:
            print_json(r)
            return 0
        lm, fr = r["measured_local_minima_ci"], r["measured_frac_within_eps_ci"]
        rows = [["# local minima", f"{r['predicted_local_minima']:.2f}",
                 f"{r['measured_local_minima']:.2f}", f"[{lm[0]:.2f}, {lm[1]:.2f}]"],
                [f"frac within eps={args.eps:g}", f"{r['predicted_frac_within_eps']:.4f}",
                 f"{r['measured_frac_within_eps']:.4f}", f"[{fr[0]:.4f}, {fr[1]:.4f}]"]]
        print(f"model={r['model']} n={r['n']} s={r['s']} measured rho={r['measured_rho']:.3f} "
              f"(theory rho={r['theory_rho']:.3f})")
        print_table(rows, ["quantity", "theory", "simulation", "95% CI"])
        return 0

    from jaxnas.reports.theory import analyze_benchmark, benchmark_landscape

    dataset = args.dataset or "cifar10"
    r = analyze_benchmark(dataset, args.noise, args.eps, args.seed, args.data_dir,
                          space=args.space)
    if args.plot:
        import numpy as np

        from jaxnas.reports import theory_plot

        acc, nbr, _ = benchmark_landscape(dataset, args.noise, args.seed, args.data_dir,
                                          args.space)
        theory_plot.neighbourhood_figure([(f"{r['dataset']} ({args.noise})", np.asarray(acc))],
                                         nbr, args.plot)
    if args.json:
        print_json(r)
    else:
        rows = [["# local minima", f"{r['predicted_local_minima']:.2f}",
                 r["measured_local_minima"]],
                [f"frac within eps={args.eps:g}", f"{r['predicted_frac_within_eps']:.4f}",
                 f"{r['measured_frac_within_eps']:.4f}"]]
        print(f"{r['dataset']} / {r['noise']}: n={r['n']} s={r['s']} "
              f"neighbour rho={r['neighbour_rho']:.3f}")
        print_table(rows, ["quantity", "theory", "measured"])
    if args.plot:
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0

