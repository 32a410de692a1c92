"""``jaxnas landscape``: exact local-minima analysis of a tabular benchmark (White et al. 2020)."""

from __future__ import annotations

import sys

from jaxnas.cli._common import add_data_dir, add_json, print_json, print_table


def register(sub) -> None:
    from jaxnas.reports.landscape import tabular_spaces

    p = sub.add_parser(
        "landscape",
        help="count local minima and run local search from every architecture",
        description="Exact landscape analysis: best-improvement local search (strict "
                    "improvement; ties to the first neighbour) from every architecture of a "
                    "space with a tabular benchmark (all 15,625 for nb201).",
    )
    p.add_argument("--space", default="nb201", choices=tabular_spaces(),
                   help="search space with a tabular benchmark (default nb201)")
    p.add_argument("--dataset", default="cifar10",
                   help="cifar10 | cifar100 | imagenet16-120 (nb201), or a comma list")
    p.add_argument("--noise", default="denoised",
                   help="denoised | standard | random, or a comma list")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise draw (standard, random)")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from jaxnas import benchmarks
    from jaxnas.reports.landscape import analyze, check_tabular_space, table

    results = []
    pairs = [(d, n) for d in args.dataset.split(",") for n in args.noise.split(",")]
    check_tabular_space(args.space)
    for d, n in pairs:  # every name checked before any work
        benchmarks.canonical_dataset(args.space, d)
        benchmarks.check_noise(n)
    for i, (d, n) in enumerate(pairs, start=1):
        if not args.json:
            print(f"[{i}/{len(pairs)}] {d} / {n} ...", file=sys.stderr, flush=True)
        results.append(analyze(d, n, args.seed, args.data_dir, space=args.space))
    if args.json:
        print_json(results[0] if len(results) == 1 else results)
        return 0
    header, rows, note = table(results, args.space)
    print_table(rows, header)
    if note:
        print(note)
    return 0
