"""NAS-Bench-201 search baselines under both protocols (issue 22): jaxnas's rules and naszilla's.

For every protocol, noise model (denoised, standard) and algorithm, the 1,000 vmapped trials are
compiled once and run on each dataset (cifar10, cifar100, imagenet16-120) with the same keys as
``jaxnas search --seed 0``, and the incumbent's test accuracy is reported on every named test
split of the dataset (:mod:`jaxnas.benchmarks.splits`: ori-test for cifar10; x-test and ori-test
for the others). The trajectory does not depend on the split, only the reported test accuracy.

Run (about 20-40 minutes on the 2-core development CPU, most of it compilation)::

    python experiments/naszilla_compare.py [--trials 1000] [--budget 300] \\
        [--out experiments/naszilla_compare.json]

Equivalent single commands: ``jaxnas search --algo A --protocol P --dataset D --noise N
--test-split S --trials 1000 --budget 300 --json``. Results: ``experiments/RESULTS.md``, section 5.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxnas import benchmarks
from jaxnas.benchmarks.splits import named_splits, reported_split, with_test_split
from jaxnas.reports.search import compile_run
from jaxnas.search import get_algorithm

ALGOS = {
    "jaxnas": ["local_search", "local_search_first", "random_search", "evolution"],
    "naszilla": ["local_search", "local_search_first", "local_search_continue",
                 "local_search_first_continue", "random_search", "evolution"],
}
DATASETS = ("cifar10", "cifar100", "imagenet16-120")
MARKS = (10, 50, 100, 150, 200, 300)


def summary(traj, budget: int) -> dict:
    """Mean and std over trials of the incumbent's test accuracy at the checkpoints."""
    test = np.asarray(traj.test, np.float64)
    return {
        "final_test_mean": float(np.nanmean(test[:, -1])),
        "final_test_std": float(np.nanstd(test[:, -1])),
        "checkpoints": {str(q): [round(float(np.nanmean(test[:, q - 1])), 4),
                                 round(float(np.nanstd(test[:, q - 1])), 4)]
                        for q in MARKS if q <= budget},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--protocols", default="jaxnas,naszilla")
    ap.add_argument("--out", default=str(Path(__file__).parent / "naszilla_compare.json"))
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)

    tables = {d: benchmarks.load("nb201", d, args.data_dir) for d in DATASETS}
    key = jax.random.key(args.seed)
    rows = []
    for protocol in args.protocols.split(","):
        for noise in ("denoised", "standard"):
            for name in ALGOS[protocol]:
                algo = get_algorithm(name, protocol)
                compiled, compile_s = compile_run(algo, key, tables["cifar10"], noise,
                                                  args.trials, args.budget)
                for d, table in tables.items():
                    t0 = time.perf_counter()
                    traj = jax.block_until_ready(compiled(key, table))
                    run_s = time.perf_counter() - t0
                    for split in sorted(named_splits(table)):
                        # only the reported test accuracies depend on the split
                        traj_s = traj if split == reported_split(table) else \
                            compiled(key, with_test_split(table, split))
                        rows.append({"protocol": protocol, "noise": noise, "algo": name,
                                     "dataset": d, "test_split": split, "trials": args.trials,
                                     "budget": args.budget, "seed": args.seed,
                                     "mean_steps": float(np.mean(np.asarray(traj.num_steps))),
                                     "run_seconds": run_s, "compile_seconds": compile_s,
                                     **summary(traj_s, args.budget)})
                        r = rows[-1]
                        print(f"{protocol:8s} {noise:8s} {name:27s} {d:14s} {split:8s} "
                              f"{r['final_test_mean']:.2f} +- {r['final_test_std']:.2f} "
                              f"(run {run_s:.2f} s, compile {compile_s:.1f} s)",
                              file=sys.stderr, flush=True)
                Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
