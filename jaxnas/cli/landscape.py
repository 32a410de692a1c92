"""``jaxnas landscape``: exact local-minima analysis of NAS-Bench-201 (White et al. 2020)."""

from __future__ import annotations

import sys

from jaxnas.cli._common import add_data_dir, add_json, print_json, print_table


def register(sub) -> None:
    p = sub.add_parser(
        "landscape",
        help="count local minima and run local search from every architecture",
        description="Exact landscape analysis: best-improvement local search (strict "
                    "improvement; ties to the first neighbour) from all 15,625 architectures.",
    )
    p.add_argument("--dataset", default="cifar10",
                   help="cifar10 | cifar100 | imagenet16-120, or a comma list")
    p.add_argument("--noise", default="denoised",
                   help="denoised | standard | random, or a comma list")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise draw (standard, random)")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from jaxnas.analysis.landscape import analyze

    results = []
    pairs = [(d, n) for d in args.dataset.split(",") for n in args.noise.split(",")]
    for i, (d, n) in enumerate(pairs, start=1):
        if not args.json:
            print(f"[{i}/{len(pairs)}] {d} / {n} ...", file=sys.stderr, flush=True)
        results.append(analyze(d, n, args.seed, args.data_dir))
    if args.json:
        print_json(results[0] if len(results) == 1 else results)
        return 0
    rows = [[r["dataset"], r["noise"], f"{r['mean_iterations']:.2f}", r["num_local_minima"],
             f"{100 * r['frac_reach_global']:.3f}", f"{1e3 * r['run_seconds']:.2f}"]
            for r in results]
    print_table(rows, ["dataset", "noise", "# iters", "# local min.", "% reach global",
                       "run ms"])
    return 0
