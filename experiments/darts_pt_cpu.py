"""Issue 20: DARTS vs DARTS-PT vs DARTS-PT (fix alpha) vs NA-DARTS (both selections) on
NAS-Bench-201 CIFAR-10 at the CPU protocol of ``experiments/configs/darts_pt_cpu.py``, several
seeds, resumable, with alpha trajectories.

``python experiments/darts_pt_cpu.py [--seeds 0 1 2] [--variants darts fix_alpha na_darts]
[--out runs/darts_pt_cpu] [--config darts_pt_cpu] [--json-out
experiments/results/darts_pt_cpu.json] [--data-dir DIR] [--plot FILE.png]``

For every variant, then every seed, :func:`darts_pt.run` trains the supernet in
``OUT/seed<S>/<variant>`` and selects by magnitude and perturbation (every stage resumes from its
checkpoints). After each (variant, seed) the per-run records are (re)written to ``--json-out``: a list of objects with ``method``
(``darts``, ``darts-pt``, ``darts-pt-fix-alpha``, ``na-darts``, ``na-darts-pt``), ``seed``,
``arch``, ``cifar10_test``, ``cifar100_test``, ``imagenet16_test`` (NAS-Bench-201, %),
``final_alpha_entropy`` (mean over edges, nats) and ``epochs``, plus ``alpha_trajectory`` (per
epoch: entropy and the mean weight of every operation). ``--plot FILE.png`` draws the
trajectories.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import configs  # experiments/configs
import darts_pt

METHOD = {("darts", "magnitude"): "darts", ("darts", "perturbation"): "darts-pt",
          ("fix_alpha", "perturbation"): "darts-pt-fix-alpha",
          ("na_darts", "magnitude"): "na-darts", ("na_darts", "perturbation"): "na-darts-pt"}


def _trajectory(workdir: Path) -> list[dict]:
    out = []
    for line in (workdir / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        out.append({"epoch": r["epoch"], "alpha_entropy": r.get("alpha_entropy"),
                    "op_weight": r.get("op_weight")})
    return out


def _test(b: dict, name: str) -> float | None:
    v = (b or {}).get(name)
    return None if v is None else v.get("test")


def records(rows: list[dict], seed: int, out: Path, epochs: int) -> list[dict]:
    recs = []
    for r in rows:
        m = METHOD.get((r["variant"], r["method"]))
        if m is None:  # magnitude on the fix-alpha supernet is undefined
            continue
        traj = _trajectory(out / r["variant"])
        b = r["result"]["benchmark"]
        recs.append({"method": m, "seed": seed, "arch": r["result"]["arch"],
                     "cifar10_test": _test(b, "cifar10"), "cifar100_test": _test(b, "cifar100"),
                     "imagenet16_test": _test(b, "imagenet16-120"),
                     "final_alpha_entropy": traj[-1]["alpha_entropy"] if traj else None,
                     "epochs": epochs, "alpha_trajectory": traj})
    return recs


def plot(recs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    for r in recs:
        if r["method"] not in ("darts", "na-darts"):
            continue
        t = r["alpha_trajectory"]
        ep = [x["epoch"] for x in t]
        lab = f"{r['method']} s{r['seed']}"
        ax[0].plot(ep, [x["alpha_entropy"] for x in t], ".-", label=lab)
        ax[1].plot(ep, [x["op_weight"].get("skip_connect", 0) for x in t], ".-", label=lab)
        free = ("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3")
        ax[2].plot(ep, [sum(v for k, v in x["op_weight"].items() if k in free) for x in t],
                   ".-", label=lab)
    for a, title in zip(ax, ("alpha entropy (nats, mean over edges)", "mean skip_connect weight",
                             "mean weight of parameter-free ops"), strict=True):
        a.set_title(title)
        a.set_xlabel("epoch")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=Path("runs/darts_pt_cpu"))
    p.add_argument("--config", default="darts_pt_cpu")
    p.add_argument("--json-out", type=Path,
                   default=Path(__file__).parent / "results" / "darts_pt_cpu.json")
    p.add_argument("--plot", type=Path, default=None, help="alpha-trajectory figure (PNG)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--variants", nargs="+", default=None,
                   help="supernet variants to run (default: all of the config's, in order)")
    args = p.parse_args(argv)
    base = configs.load(args.config).get_config()
    variants = args.variants or list(base["variants"])
    unknown = [v for v in variants if v not in base["variants"]]
    if unknown:
        p.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(base['variants'])}")
    # records of earlier invocations (other seeds or variants) are kept, this run's replaced
    all_recs = json.loads(args.json_out.read_text()) if args.json_out.exists() else []
    for variant in variants:  # variant-major: every seed of one method pair before the next
        for seed in args.seeds:
            config = configs.load(args.config).get_config()
            config["variants"] = {variant: config["variants"][variant]}
            config["search"]["seed"] = seed
            config["select"]["seed"] = seed
            out = args.out / f"seed{seed}"
            print(f"=== {variant} seed {seed} in {out}", file=sys.stderr, flush=True)
            rows = darts_pt.run(config, out, args.data_dir)
            new = records(rows, seed, out, config["search"]["epochs"])
            done = {(r["method"], r["seed"]) for r in new}
            all_recs = [r for r in all_recs if (r["method"], r["seed"]) not in done] + new
            all_recs.sort(key=lambda r: (r["method"], r["seed"]))
            args.json_out.parent.mkdir(parents=True, exist_ok=True)
            args.json_out.write_text(json.dumps(all_recs, indent=1))
            print(f"=== {variant} seed {seed} done; {len(all_recs)} records in "
                  f"{args.json_out}", file=sys.stderr, flush=True)
    if args.plot:
        plot(all_recs, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
