"""``jaxnas landscape``: local-minima analysis of a benchmark (White et al. 2020), exact on an
enumerable space with a table, estimated from sampled starts on any space with a benchmark."""

from __future__ import annotations

import sys

from jaxnas.cli._common import add_data_dir, add_json, print_json, print_table


def register(sub) -> None:
    from jaxnas import benchmarks
    from jaxnas.reports.landscape import landscape_spaces

    p = sub.add_parser(
        "landscape",
        help="count local minima and run local search from every (or sampled) architecture",
        description="Landscape analysis: best-improvement local search (strict improvement; "
                    "ties to the first neighbour). Exact, from every architecture, on an "
                    "enumerable space with a table (all 15,625 for nb201); with --starts N, or "
                    "on a space too large to enumerate (nb101, darts), estimated from N "
                    "uniformly random starts, with standard errors.",
    )
    p.add_argument("--space", default="nb201", choices=landscape_spaces(),
                   help="search space with a benchmark (default nb201)")
    p.add_argument("--benchmark", default=None, choices=sorted(benchmarks.BENCHMARKS),
                   help="the benchmark (default: the space's first: nb201, nb101, nb301 for "
                        "darts); nb101-sample is the 1,000-cell shared sample, NOT NAS-Bench-101")
    p.add_argument("--dataset", default=None,
                   help="cifar10 | cifar100 | imagenet16-120 (nb201), or a comma list "
                        "(default: the benchmark's first)")
    p.add_argument("--noise", default="denoised",
                   help="denoised | standard | random | gaussian, or a comma list")
    p.add_argument("--noise-std", type=float, default=None, metavar="S",
                   help="with --noise gaussian: standard deviation in accuracy points")
    p.add_argument("--starts", type=int, default=None, metavar="N",
                   help="estimate from N uniformly random starts (default: exact on an "
                        "enumerable space with a table, else 1000)")
    p.add_argument("--max-iters", type=int, default=1000,
                   help="with sampled starts: bound on the neighbourhoods one run evaluates")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the noise draw (standard, random, gaussian) and of the starts")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from jaxnas import benchmarks
    from jaxnas.reports import landscape as report

    loader = benchmarks.for_space(args.space, args.benchmark)
    datasets = (args.dataset or loader.datasets[0]).split(",")
    pairs = [(d, n) for d in datasets for n in args.noise.split(",")]
    exact = args.starts is None and args.space in report.tabular_spaces() and (
        args.benchmark is None or args.benchmark == benchmarks.default_for(args.space).name)
    for d, n in pairs:  # every name checked before any work
        loader.canonical_dataset(d)
        loader.check_noise(n)
    if args.noise_std is not None and "gaussian" not in args.noise.split(","):
        raise ValueError(f"--noise-std applies to --noise gaussian only, got --noise "
                         f"{args.noise!r}; drop --noise-std or add gaussian")
    starts = 1000 if args.starts is None else args.starts
    if not exact:
        report.check_sampling(starts, args.max_iters)
    results = []
    for i, (d, n) in enumerate(pairs, start=1):
        if not args.json:
            print(f"[{i}/{len(pairs)}] {d} / {n} ...", file=sys.stderr, flush=True)
        if exact:
            results.append(report.analyze(d, n, args.seed, args.data_dir, space=args.space,
                                          noise_std=args.noise_std if n == "gaussian" else None))
        else:
            results.append(report.analyze_sampled(
                args.space, loader.name, d, n, args.seed, starts, args.data_dir,
                noise_std=args.noise_std if n == "gaussian" else None,
                max_iters=args.max_iters))
    if args.json:
        print_json(results[0] if len(results) == 1 else results)
        return 0
    if exact:
        header, rows, note = report.table(results, args.space)
        print_table(rows, header)
        if note:
            print(note)
        return 0
    r0 = results[0]
    print(f"{loader.title}: best-improvement local search from {r0['num_starts']} uniformly "
          f"random starts, estimate +- standard error")
    print_table(report.sampled_table_rows(results), report.SAMPLED_HEADER)
    for r in results:
        if r["num_not_converged"]:
            print(f"warning: {r['num_not_converged']} runs stopped at --max-iters "
                  f"{r['max_iters']} before a local optimum ({r['dataset']} / {r['noise']})")
    if r0["frac_isolated"] > 0:
        print(f"{100 * r0['frac_isolated']:.1f}% of the starts have no valid neighbour in the "
              f"benchmark (counted as local optima)")
    return 0
