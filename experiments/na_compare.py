"""Neighbourhood-aware search vs plain search on NAS-Bench-201 (issue #6).

Wang, Cao, Li & Kitani, "Neighborhood-Aware Neural Architecture Search" (arXiv 2105.06369).

Three measurements per dataset (cifar10, cifar100, imagenet16-120):

1. **Equal query budgets** (100, 300, 1000 distinct architectures; every neighbour evaluation
   is charged): random search (RS) vs NA-RS, and local search (LS) vs NA local search (our
   extension), each NA algorithm with the whole radius-1 neighbourhood (24 neighbours) and with
   ``k = 8`` sampled neighbours. Final test accuracy of the returned architecture (mean +- std
   over trials), its flatness (mean over trials of the mean and of the std of its 24
   neighbours' test accuracy) and the run seconds (after compilation; all trials vmapped in one
   call). One figure per dataset and noise model: test accuracy against queries.
2. **The criterion in isolation** (neighbours free): from the same ``n`` random candidates,
   RS returns the best validation accuracy, NA-RS the best neighbourhood mean
   (:func:`jaxnas.search.na_search.select_among`); ``n`` = 10, 30, 100. This is the most
   favourable reading of NA-RS (neighbours not charged) and isolates whether ranking by the
   neighbourhood score picks better architectures.
3. **Does flatness predict generalisation?** Exactly over all 15,625 architectures: Spearman and
   Kendall tau-b between test accuracy and (a) validation accuracy, (b) the neighbourhood-aware
   score of the validation accuracy (:func:`jaxnas.analysis.neighbourhood.score_all`, radius 1 mean /
   min, radius 2 mean); and the test accuracy of the top-1 / mean of the top-10 architectures
   under each criterion. Denoised (mean over seeds) and ``standard`` (one seed per
   architecture, averaged over 5 draws).

Run (from the repository root; about 25 minutes on a contended 2-core CPU with 1000 trials)::

    PYTHONPATH=$PWD python experiments/na_compare.py --trials 1000 \\
        --json experiments/na_compare.json --figures experiments/figures

Quick variant (a minute): ``--trials 50 --budgets 100 --datasets cifar10 --noises standard``.
Prints markdown tables (pasted into ``experiments/RESULTS_na.md``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import benchmarks
from jaxnas.analysis import neighbourhood as nbh
from jaxnas.reports.search import compile_run, flatness, plot, summarize
from jaxnas.search import base, get_algorithm
from jaxnas.search.na_search import select_among
from jaxnas.spaces import nb201 as space

K = 8  # sampled neighbours of the "k" variants (a third of the 24)
#: (label, registry name, kwargs); RS/NA-RS pairs first, then LS/NA-LS
ALGOS = [
    ("RS", "random_search", {}),
    ("NA-RS", "na_random_search", {}),
    (f"NA-RS k={K}", "na_random_search", {"k": K}),
    ("LS", "local_search", {}),
    ("NA-LS", "na_local_search", {}),
    (f"NA-LS k={K}", "na_local_search", {"k": K}),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def equal_budget(benches: dict, noise: str, trials: int, budgets: list[int], seed: int
                 ) -> tuple[dict, dict]:
    """Measurement 1: summaries per dataset, (budget, algorithm); curves at the largest budget.

    Each (algorithm, budget) is compiled once and run on every dataset (same shapes).
    """
    key = jax.random.key(seed)
    rows = {ds: [] for ds in benches}
    curves = {ds: [] for ds in benches}
    for budget in budgets:
        for label, name, kw in ALGOS:
            algo = get_algorithm(name, **kw)
            compiled, c = compile_run(algo, key, next(iter(benches.values())), noise, trials,
                                      budget)
            for ds, bench in benches.items():
                t0 = time.perf_counter()
                traj = jax.block_until_ready(compiled(key, bench))
                r = time.perf_counter() - t0
                s = summarize(label, traj, c, r, trials, budget, space.SPACE, test=bench.test)
                log(f"    {ds:>14} {label:>12} B={budget:<5} test {s['final_test_mean']:.2f} +- "
                    f"{s['final_test_std']:.2f}  nb {s['final_neighbour_test_mean']:.2f} / "
                    f"{s['final_neighbour_test_std_mean']:.2f}  run {r:.2f} s "
                    f"(compile {c:.1f} s)")
                if budget == max(budgets):
                    curves[ds].append(dict(s, dataset=ds, noise=noise))
                s = {k: v for k, v in s.items() if k not in ("test_mean", "test_std")}
                rows[ds].append(dict(s, registry=name, options=kw))
    return rows, curves


def free_neighbours(benches: dict, noise: str, trials: int, ns: list[int], seed: int) -> dict:
    """Measurement 2: RS vs NA-RS choosing among the same ``n`` random candidates."""
    out = {ds: [] for ds in benches}
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed + 1), i))(
        jnp.arange(trials))
    for n in ns:
        def trial(key, bench, n=n):
            k_land, k_c = jax.random.split(key)
            land = base.make_landscape(k_land, bench, noise)
            centres = jax.random.randint(k_c, (n,), 0, space.NUM_ARCHS, dtype=jnp.int32)
            rs, na, cost = select_among(land, space.SPACE.arch_of_key(centres))
            return space.SPACE.arch_key(rs), space.SPACE.arch_key(na), cost

        fn = jax.jit(jax.vmap(trial, in_axes=(0, None)))
        for ds, bench in benches.items():
            rs, na, cost = fn(keys, bench)
            row = {"n": n, "na_queries_mean": float(np.mean(np.asarray(cost)))}
            for lab, codes in (("RS", rs), ("NA-RS", na)):
                t = np.asarray(bench.test)[np.asarray(codes)]
                m, sd = flatness(space.SPACE, bench.test, space.SPACE.arch_of_key(codes))
                row[lab] = {"test_mean": float(t.mean()), "test_std": float(t.std()),
                            "nb_mean": float(np.mean(np.asarray(m))),
                            "nb_std_mean": float(np.mean(np.asarray(sd)))}
            out[ds].append(row)
            log(f"    {ds} free neighbours n={n}: RS {row['RS']['test_mean']:.2f}, NA-RS "
                f"{row['NA-RS']['test_mean']:.2f} ({row['na_queries_mean']:.0f} queries)")
    return out


CRITERIA = [("valid", None, None), ("NA r=1 mean", 1, "mean"), ("NA r=1 min", 1, "min"),
            ("NA r=2 mean", 2, "mean")]


def correlations(bench, draws: int, seed: int) -> dict:
    """Measurement 3: rank correlation with test accuracy, exactly over the whole space."""
    test = bench.test
    tnp = np.asarray(test)
    out = {}
    tables = {"denoised": [bench.valid]}
    keys = jax.random.split(jax.random.key(seed + 2), draws)
    codes = jnp.arange(space.NUM_ARCHS)
    tables["standard"] = [base.make_landscape(k, bench, "standard").valid_of_key(codes)
                          for k in keys]
    score = jax.jit(functools.partial(nbh.score_all, space.SPACE), static_argnums=(1, 2))
    sp, kt = jax.jit(nbh.spearman), jax.jit(nbh.kendall_tau)
    for noise, vals in tables.items():
        res = {}
        for label, radius, how in CRITERIA:
            acc = {"spearman": [], "kendall": [], "top1_test": [], "top10_test": []}
            for v in vals:
                crit = v if radius is None else score(v, radius, how)
                acc["spearman"].append(float(sp(crit, test)))
                acc["kendall"].append(float(kt(crit, test)))
                order = np.argsort(-np.asarray(crit), kind="stable")
                acc["top1_test"].append(float(tnp[order[0]]))
                acc["top10_test"].append(float(tnp[order[:10]].mean()))
            res[label] = {k: float(np.mean(x)) for k, x in acc.items()}
        out[noise] = res
        log(f"    correlations {noise}: " + ", ".join(
            f"{k} rho={v['spearman']:.4f} tau={v['kendall']:.4f}" for k, v in res.items()))
    return out


def fmt_tables(results: dict) -> str:
    """Markdown tables of everything measured."""
    lines = []
    for noise, per_ds in results["equal_budget"].items():
        lines.append(f"\n### Equal query budgets, {noise} noise ({results['trials']} trials)\n")
        lines.append("| dataset | budget | algorithm | test acc. (%) | neighbours' test mean "
                     "| neighbours' test std | run s |")
        lines.append("|---|---|---|---|---|---|---|")
        for ds, rows in per_ds.items():
            for r in rows:
                lines.append(
                    f"| {ds} | {r['budget']} | {r['algo']} | {r['final_test_mean']:.2f} ± "
                    f"{r['final_test_std']:.2f} | {r['final_neighbour_test_mean']:.2f} | "
                    f"{r['final_neighbour_test_std_mean']:.2f} | {r['run_seconds']:.2f} |")
    for noise, per_ds in results["free_neighbours"].items():
        lines.append(f"\n### Same candidates, neighbours free, {noise} noise "
                     f"({results['trials']} trials)\n")
        lines.append("| dataset | candidates n | RS test | NA-RS test | RS nb. mean / std | "
                     "NA-RS nb. mean / std | NA-RS queries |")
        lines.append("|---|---|---|---|---|---|---|")
        for ds, rows in per_ds.items():
            for r in rows:
                a, b = r["RS"], r["NA-RS"]
                lines.append(
                    f"| {ds} | {r['n']} | {a['test_mean']:.2f} ± {a['test_std']:.2f} | "
                    f"{b['test_mean']:.2f} ± {b['test_std']:.2f} | {a['nb_mean']:.2f} / "
                    f"{a['nb_std_mean']:.2f} | {b['nb_mean']:.2f} / {b['nb_std_mean']:.2f} | "
                    f"{r['na_queries_mean']:.0f} |")
    lines.append("\n### Rank correlation with test accuracy over all 15,625 architectures\n")
    lines.append("| dataset | valid. | criterion | Spearman | Kendall tau-b | top-1 test | "
                 "top-10 mean test |")
    lines.append("|---|---|---|---|---|---|---|")
    for ds, per_noise in results["correlations"].items():
        for noise, res in per_noise.items():
            for crit, v in res.items():
                lines.append(f"| {ds} | {noise} | {crit} | {v['spearman']:.4f} | "
                             f"{v['kendall']:.4f} | {v['top1_test']:.2f} | "
                             f"{v['top10_test']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--budgets", default="100,300,1000")
    p.add_argument("--candidates", default="10,30,100")
    p.add_argument("--datasets", default="cifar10,cifar100,imagenet16-120")
    p.add_argument("--noises", default="standard,denoised")
    p.add_argument("--draws", type=int, default=5, help="noisy draws for the correlations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", default=None, help="write all results (without curves) here")
    p.add_argument("--figures", default=None, help="folder for na_<dataset>_<noise>.png")
    args = p.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    ns = [int(n) for n in args.candidates.split(",")]
    datasets = args.datasets.split(",")
    noises = args.noises.split(",")
    results = {"trials": args.trials, "budgets": budgets, "k": K, "seed": args.seed,
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} "
                          f"cores, jax {jax.__version__} {jax.default_backend()}",
               "equal_budget": {}, "free_neighbours": {}, "correlations": {}}
    t0 = time.perf_counter()
    benches = {benchmarks.canonical_dataset("nb201", ds): benchmarks.load("nb201", ds,
                                                                            args.data_dir)
               for ds in datasets}
    for noise in noises:
        log(f"[{noise}]")
        rows, curves = equal_budget(benches, noise, args.trials, budgets, args.seed)
        results["equal_budget"][noise] = rows
        if args.figures:
            os.makedirs(args.figures, exist_ok=True)
            for name, cur in curves.items():
                plot(cur, os.path.join(args.figures, f"na_{name}_{noise}.png"),
                     title=f"NAS-Bench-201 {name}, {noise} noise, {args.trials} trials")
        results["free_neighbours"][noise] = free_neighbours(benches, noise, args.trials, ns,
                                                            args.seed)
    for name, bench in benches.items():
        log(f"[correlations] {name}")
        results["correlations"][name] = correlations(bench, args.draws, args.seed)
    results["total_seconds"] = time.perf_counter() - t0
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"machine: {results['machine']}; total {results['total_seconds']:.0f} s")
    print(fmt_tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
