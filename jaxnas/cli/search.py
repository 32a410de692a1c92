"""``jaxnas search``: query-budgeted NAS algorithms on a tabular benchmark, vmapped over trials."""

from __future__ import annotations

from jaxnas.cli._common import add_data_dir, add_json, print_json, print_table


def tabular_spaces() -> list[str]:
    """Names of the registered search spaces that have a registered benchmark."""
    from jaxnas import benchmarks, spaces

    return sorted(set(spaces.SPACES) & {b.space for b in benchmarks.BENCHMARKS.values()})


def register(sub) -> None:
    from jaxnas.benchmarks.tabular import NOISE_MODELS
    from jaxnas.search import ALGORITHMS, NA_ALGORITHMS, PROTOCOLS

    p = sub.add_parser(
        "search",
        help="run search algorithms over many trials at a query budget",
        description="Mean and std of the incumbent's test accuracy against the number of "
                    "queries (distinct architectures), over independent trials, and the "
                    "flatness of the returned architectures (mean and spread of their "
                    "neighbours' test accuracy). The neighbourhood-aware algorithms "
                    f"({', '.join(NA_ALGORITHMS)}; Wang et al. 2021) rank architectures by "
                    "their validation accuracy aggregated over their neighbourhood, and every "
                    "neighbour they evaluate counts against the query budget.",
    )
    from jaxnas import benchmarks

    p.add_argument("--space", default="nb201", choices=tabular_spaces(),
                   help="search space, one with a benchmark (default: nb201)")
    p.add_argument("--benchmark", default=None, choices=sorted(benchmarks.BENCHMARKS),
                   help="the benchmark queried (default: the space's first: nb201 for nb201, "
                        "nb301 for darts)")
    p.add_argument("--algo", default="local_search",
                   help=f"one or a comma list of: {', '.join(sorted(ALGORITHMS))}")
    p.add_argument("--protocol", default="jaxnas", choices=PROTOCOLS,
                   help="whose rules: jaxnas (default; the budget counts distinct "
                        "architectures, local search follows the paper's local-search map) or "
                        "naszilla (the reference code's algorithms and charging: local search "
                        "from the best of 10 random starts skipping queried neighbours, "
                        "evolution charging every child; *_continue variants)")
    p.add_argument("--test-split", default=None, metavar="SPLIT",
                   help="which test accuracy to report where the benchmark has several "
                        "(nb201 cifar100 / imagenet16-120: x-test (default) | ori-test, the "
                        "whole original test set naszilla reports; cifar10: ori-test only)")
    na = p.add_argument_group(
        "neighbourhood-aware options",
        f"passed to {', '.join(NA_ALGORITHMS)} only; with a mixed --algo list the other "
        "algorithms run unchanged; an error if --algo names no neighbourhood-aware algorithm")
    na.add_argument("--radius", type=int, default=None,
                    help="neighbourhood radius in moves of the space (default 1: the space's "
                         "neighbours; 0 is the plain algorithm)")
    na.add_argument("--na-samples", type=int, default=None, metavar="K",
                    help="score with K uniformly sampled neighbours (default: all of them)")
    na.add_argument("--aggregation", default=None,
                    help="how neighbour values are aggregated: mean (default) | median | min "
                         "| max")
    p.add_argument("--dataset", default=None,
                   help="a dataset of the space's benchmark (nb201: cifar10 (default) | cifar100 "
                        "| imagenet16-120; default: the benchmark's first)")
    p.add_argument("--noise", default=None,
                   help=f"noise model: {' | '.join([*NOISE_MODELS, 'gaussian'])} (default: "
                        "standard on tables with seeds, denoised on surrogates)")
    p.add_argument("--noise-std", type=float, default=None, metavar="S",
                   help="with --noise gaussian: the standard deviation in accuracy points, drawn "
                        "once per (trial, architecture)")
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--budget", type=int, default=300, help="distinct architectures per trial")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="plot test accuracy against queries (all algorithms on one plot)")
    p.add_argument("--full", action="store_true",
                   help="with --json: keep the per-query mean/std curves in the output")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(func=run)


def na_options(args, algos: list[str]) -> dict[str, dict]:
    """``--radius/--na-samples/--aggregation`` as keyword arguments of each NA algorithm.

    Raises:
        ValueError: if one is given but ``algos`` holds no neighbourhood-aware algorithm.
    """
    from jaxnas.search import NA_ALGORITHMS

    opts = {k: v for k, v in (("radius", args.radius), ("k", args.na_samples),
                              ("aggregation", args.aggregation)) if v is not None}
    na = [a for a in algos if a in NA_ALGORITHMS]
    if opts and not na:
        given = [f for f, v in (("--radius", args.radius), ("--na-samples", args.na_samples),
                                ("--aggregation", args.aggregation)) if v is not None]
        raise ValueError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} only to "
                         f"neighbourhood-aware algorithms "
                         f"({', '.join(NA_ALGORITHMS)}), but --algo is {','.join(algos)!r}; "
                         "add one of them or drop the option")
    return {a: dict(opts) for a in na}


def run(args) -> int:
    from jaxnas import benchmarks
    from jaxnas.reports.search import check_plot_path, compare, plot

    algos = [a.strip() for a in args.algo.split(",") if a.strip()]
    loader = benchmarks.for_space(args.space, args.benchmark)
    dataset = args.dataset or loader.datasets[0]
    noise = args.noise or ("standard" if loader.noises is None or "standard" in loader.noises
                           else "denoised")
    if args.plot:
        check_plot_path(args.plot)  # before the computation, not after it
    results = compare(algos, dataset, noise, args.trials, args.budget, args.seed,
                      args.data_dir, progress=True, algo_kwargs=na_options(args, algos),
                      space=args.space, benchmark=loader.name, noise_std=args.noise_std,
                      protocol=args.protocol, test_split=args.test_split)
    m = results[0]["metric"]
    if args.plot:
        plot(results, args.plot, benchmark=loader.title)
    if args.json:
        if not args.full:
            marks = sorted({q for q in (10, 25, 50, 100, 150, 200, 300, 500, args.budget)
                            if q <= args.budget})
            for r in results:
                r["checkpoints"] = {str(q): [r[f"{m}_mean"][q - 1], r[f"{m}_std"][q - 1]]
                                    for q in marks}
                del r[f"{m}_mean"], r[f"{m}_std"]
        print_json(results[0] if len(results) == 1 else results)
        return 0
    marks = [q for q in (10, 25, 50, 100, 150, 200, 300, 500) if q < args.budget] + [args.budget]
    rows = []
    for q in marks:
        rows.append([q] + [f"{r[f'{m}_mean'][q - 1]:.2f} +- {r[f'{m}_std'][q - 1]:.2f}"
                           for r in results])
    what = "test accuracy" if m == "test" else "true validation accuracy"
    std = f" (std {args.noise_std:g})" if args.noise_std is not None else ""
    split = results[0]["test_split"]
    print(f"{what} (%) of the incumbent, mean +- std over {args.trials} trials "
          f"({loader.title} {results[0]['dataset']}, {noise} noise{std}, {args.protocol} "
          f"protocol{', ' + split + ' test split' if split else ''})")
    print_table(rows, ["queries"] + [r["algo"] for r in results])
    if "final_neighbour_test_mean" in results[0]:
        print("flatness of the returned architectures (mean over trials of their neighbours' "
              "test accuracy, mean / std): " + ", ".join(
                  f"{r['algo']} {r['final_neighbour_test_mean']:.2f} / "
                  f"{r['final_neighbour_test_std_mean']:.2f}" for r in results))
    print("run seconds: " + ", ".join(f"{r['algo']} {r['run_seconds']:.3f}" for r in results))
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0
