"""Performance versus noise (White, Nolen, Savani 2020, "Performance vs. Noise" figures).

For each benchmark dataset and each noise standard deviation (accuracy points, the ``gaussian``
noise model: the denoised value plus noise drawn once per (trial, architecture)), run every
algorithm for ``--trials`` trials of ``--budget`` queries and record the true (noise-free)
validation accuracy of the returned architecture (and its test accuracy where the benchmark
has one), mean and std over trials. ``std = 0`` is the ``denoised`` landscape.

Resumable: every finished (dataset, std) cell is appended to ``--out`` at once and skipped when
the script runs again; progress goes to stderr.

    python experiments/noise_sweep.py --benchmark nb201 --space nb201 \\
        --datasets cifar10,cifar100,imagenet16-120 --out experiments/results/noise_nb201.json
    python experiments/noise_sweep.py --benchmark nb301 --space darts --datasets cifar10 \\
        --out experiments/results/noise_nb301.json
    python experiments/noise_sweep.py --plot-only --out experiments/results/noise_nb201.json \\
        --plot experiments/figures/noise_nb201.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ALGOS = "local_search,local_search_first,random_search,evolution"


def cell_key(dataset: str, std: float) -> str:
    return f"{dataset}@{std:g}"


def load_results(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"cells": {}}


def save_results(path: Path, res: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, path)


def run(args) -> dict:
    from jaxnas.reports.search import compare

    out = Path(args.out)
    res = load_results(out)
    res.update(benchmark=args.benchmark, space=args.space, trials=args.trials,
               budget=args.budget, seed=args.seed, algos=args.algos.split(","))
    stds = [float(s) for s in args.stds.split(",")]
    datasets = args.datasets.split(",")
    todo = [(d, s) for d in datasets for s in stds if cell_key(d, s) not in res["cells"]]
    print(f"{len(todo)} of {len(datasets) * len(stds)} (dataset, std) cells to run",
          file=sys.stderr, flush=True)
    for i, (d, s) in enumerate(todo, 1):
        t0 = time.perf_counter()
        noise, std = ("denoised", None) if s == 0 else ("gaussian", s)
        rows = compare(args.algos.split(","), d, noise, args.trials, args.budget, args.seed,
                       args.data_dir, progress=False, space=args.space,
                       benchmark=args.benchmark, noise_std=std)
        res["cells"][cell_key(d, s)] = [
            {k: r[k] for k in ("algo", "dataset", "noise", "noise_std", "final_valid_mean",
                               "final_valid_std", "final_test_mean", "final_test_std",
                               "final_observed_valid_mean", "run_seconds", "compile_seconds")}
            for r in rows]
        save_results(out, res)
        print(f"[{i}/{len(todo)}] {d} std {s:g}: " + ", ".join(
            f"{r['algo']} {r['final_valid_mean']:.3f}" for r in rows)
            + f"  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return res


def table(res: dict) -> str:
    """Markdown: true validation accuracy (and test, where there is one) per algorithm and std."""
    cells = res["cells"]
    datasets = sorted({c.split("@")[0] for c in cells}, key=lambda d: list(cells).index(
        next(c for c in cells if c.startswith(d + "@"))))
    lines = []
    for d in datasets:
        keys = sorted((c for c in cells if c.split("@")[0] == d), key=lambda c: float(
            c.split("@")[1]))
        algos = [r["algo"] for r in cells[keys[0]]]
        has_test = cells[keys[0]][0]["final_test_mean"] is not None
        lines.append(f"\n**{res['benchmark']} {d}**, {res['trials']} trials x {res['budget']} "
                     f"queries: true validation accuracy (%) of the returned architecture"
                     + (" / its test accuracy" if has_test else "") + ", mean ± std\n")
        lines.append("| noise std | " + " | ".join(algos) + " |")
        lines.append("|---" * (len(algos) + 1) + "|")
        for k in keys:
            row = []
            for r in cells[k]:
                v = f"{r['final_valid_mean']:.2f} ± {r['final_valid_std']:.2f}"
                if has_test:
                    v += f" / {r['final_test_mean']:.2f}"
                row.append(v)
            lines.append(f"| {float(k.split('@')[1]):g} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot(res: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = res["cells"]
    datasets = list(dict.fromkeys(c.split("@")[0] for c in cells))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6), dpi=120,
                             squeeze=False)
    for ax, d in zip(axes[0], datasets, strict=True):
        keys = sorted((c for c in cells if c.split("@")[0] == d),
                      key=lambda c: float(c.split("@")[1]))
        stds = [float(k.split("@")[1]) for k in keys]
        for j, algo in enumerate(r["algo"] for r in cells[keys[0]]):
            m = np.array([cells[k][j]["final_valid_mean"] for k in keys])
            sd = np.array([cells[k][j]["final_valid_std"] for k in keys])
            sem = sd / np.sqrt(res["trials"])
            (line,) = ax.plot(stds, m, marker="o", label=algo)
            ax.fill_between(stds, m - sem, m + sem, alpha=0.2, color=line.get_color())
        ax.set_title(f"{res['benchmark']} {d}")
        ax.set_xlabel("noise std (accuracy points)")
        ax.set_ylabel("true valid. acc. of returned arch (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(f"{res['trials']} trials x {res['budget']} queries; band: ±1 standard error",
                 fontsize="small")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--benchmark", default="nb201")
    p.add_argument("--space", default="nb201")
    p.add_argument("--datasets", default="cifar10")
    p.add_argument("--stds", default="0,0.5,1,2,4")
    p.add_argument("--algos", default=ALGOS)
    p.add_argument("--trials", type=int, default=500)
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", required=True, help="results JSON (resumed when it exists)")
    p.add_argument("--plot", default=None, help="figure path (png/pdf/svg)")
    p.add_argument("--plot-only", action="store_true", help="only redraw from --out")
    p.add_argument("--json", action="store_true", help="print the results JSON on stdout")
    args = p.parse_args(argv)
    res = load_results(Path(args.out)) if args.plot_only else run(args)
    if args.plot:
        plot(res, args.plot)
    if args.json:
        json.dump(res, sys.stdout, indent=1)
    else:
        print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
