"""DARTS vs DARTS-PT vs DARTS-PT (fix alpha) on NAS-Bench-201 (Wang et al., ICLR 2021, Table 3).

``python experiments/darts_pt.py CONFIG OUTDIR [--results FILE.md] [--data-dir DIR]``

``CONFIG`` names a module in ``experiments/configs`` (``darts_pt_quick``, ``darts_pt_full``)
with ``get_config()``. For each supernet variant (``darts``: alpha trained; ``fix_alpha``: alpha
frozen) the driver trains the supernet with :func:`jaxnas.darts.train` in ``OUTDIR/<variant>``
(resumed if it is there), then selects an architecture by magnitude and by perturbation
(:func:`jaxnas.selection.run.select`, itself resumable), and writes a markdown table of the
selected architectures and their NAS-Bench-201 test accuracies next to the published figures
(default ``experiments/RESULTS_darts_pt_quick.md``). Phase times are printed, not written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import configs  # experiments/configs (this script's directory is on sys.path)
import numpy as np

from jaxnas import darts
from jaxnas.selection.run import select

# Wang et al. 2021, Table 3: NAS-Bench-201 CIFAR-10 test accuracy (%), mean +- std over seeds.
PUBLISHED_C10 = {
    ("darts", "magnitude"): "54.30 (all skip connections)",
    ("darts", "perturbation"): "88.11 ± 1.80",
    ("fix_alpha", "perturbation"): "93.80 ± 0.08",
    ("fix_alpha", "magnitude"): "— (alpha untrained: undefined)",
}
LABELS = {
    ("darts", "magnitude"): "DARTS (magnitude)",
    ("darts", "perturbation"): "DARTS-PT",
    ("fix_alpha", "perturbation"): "DARTS-PT (fix α)",
    ("fix_alpha", "magnitude"): "magnitude on the fix-α supernet",
    ("na_darts", "magnitude"): "NA-DARTS (magnitude)",
    ("na_darts", "perturbation"): "NA-DARTS + perturbation selection",
}
BEST_C10 = 94.37  # the best CIFAR-10 test accuracy in NAS-Bench-201


def load_config(name: str) -> dict:
    return configs.load(name).get_config()


def _last_metrics(workdir: Path) -> dict:
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1]) if lines else {}


def run(config: dict, out: Path, data_dir=None) -> list[dict]:
    """Trains every supernet variant of ``config`` in ``out/<variant>`` and runs both
    selections on it (each stage resumes from its checkpoints); one row per (variant, method)
    with the selection's result, the search's steps, parameter count, speed and run times.
    Progress goes to stderr."""
    rows = []
    for variant, opts in config["variants"].items():
        wd = out / variant
        t = time.time()
        print(f"== {variant}: search in {wd}", file=sys.stderr, flush=True)
        trained = darts.train(darts.make_config(**config["search"], **opts), wd)
        t_search = time.time() - t
        print(f"   search: {t_search:.0f} s, {trained['steps']} steps", file=sys.stderr,
              flush=True)
        last = _last_metrics(wd)
        for method in ("magnitude", "perturbation"):
            t = time.time()
            kw = config["select"] if method == "perturbation" else {}
            r = select(wd, method=method, data_dir=data_dir, **kw)
            print(f"   {method}: {time.time() - t:.0f} s -> {r['arch']}", file=sys.stderr,
                  flush=True)
            rows.append({"variant": variant, "method": method, "result": r,
                         "search_steps": trained["steps"], "search_acc_a": last.get("acc_a"),
                         "final_alpha_entropy": last.get("alpha_entropy"),
                         "search_seconds": t_search, "select_seconds": time.time() - t,
                         "supernet_params": trained.get("num_params"),
                         "supernet_images_per_second": trained.get("images_per_second")})
    return rows


def _acc(b: dict, name: str) -> str:
    return "n/a" if b.get(name) is None else f"{b[name]['test']:.2f}"


def markdown(rows: list[dict], name: str, config: dict, out: Path) -> str:
    # the search options in full (a config lists only what differs from DartsConfig's defaults)
    s, sel = darts.make_config(**config["search"]).to_dict(), config["select"]
    lines = [
        "# " + config.get("title", "DARTS-PT on NAS-Bench-201: DARTS vs DARTS-PT vs DARTS-PT (fix α)"),
        "",
        f"Produced by `python experiments/darts_pt.py {name} {out}` "
        f"(config `experiments/configs/{name}.py`).",
        "",
        f"Search: CIFAR-10 ({s.get('max_examples') or 'all 50,000'} train images, halves for "
        f"weights / alpha), supernet C={s['channels']}, N={s['cells']}, batch {s['batch_size']}, "
        f"{s['epochs']} epochs. Perturbation selection: {sel['tune_epochs']} fine-tuning "
        f"epoch(s) of {sel['steps_per_epoch'] or 'one pass'} steps between decisions, "
        f"candidates scored on {sel['valid_batches'] or 'all'} validation batches, criterion "
        f"`{sel['crit']}`, {sel['order']} edge order.",
        "",
        "NAS-Bench-201 test accuracy (%) of the selected architecture (200-epoch training, mean "
        "over the benchmark's seeds):",
        "",
        "| method | selected architecture | CIFAR-10 | CIFAR-100 | ImageNet16-120 "
        "| published CIFAR-10 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        key = (r["variant"], r["method"])
        b = r["result"]["benchmark"]
        lines.append(f"| {LABELS[key]} | `{r['result']['arch']}` | {_acc(b, 'cifar10')} | "
                     f"{_acc(b, 'cifar100')} | {_acc(b, 'imagenet16-120')} | "
                     f"{PUBLISHED_C10.get(key, '— (not available to us)')} |")
    lines += ["", "Published: Wang et al., ICLR 2021, Table 3 (C=16, N=5, 100 search epochs on "
              "25,000 + 25,000 images, 5 fine-tuning epochs per edge, 4 seeds). The best "
              f"architecture in NAS-Bench-201 reaches {BEST_C10} on CIFAR-10.", ""]
    lines += ["## Decisions of the perturbation selection", ""]
    for r in rows:
        if r["method"] != "perturbation":
            continue
        lines += [f"{LABELS[(r['variant'], r['method'])]} (supernet accuracy on the alpha half "
                  f"at the end of search: {100 * (r['search_acc_a'] or float('nan')):.1f}%):", "",
                  "| step | edge | kept | val. acc. (%) with none / skip / conv1x1 / conv3x3 / "
                  "avgpool removed |", "| --- | --- | --- | --- |"]
        for d in r["result"]["decisions"]:
            accs = " / ".join(f"{100 * a:.1f}" for a in d["removed_acc"])
            lines.append(f"| {d['step'] + 1} | {d['edge_name']} | {d['op_name']} | {accs} |")
        lines.append("")
    steps = rows[0]["search_steps"] if rows else 0
    darts_alpha = [np.asarray(r["result"]["alpha"]) for r in rows
                   if r["variant"] == "darts" and r["method"] == "magnitude"]
    moved = (f"the largest |alpha| is {np.abs(darts_alpha[0]).max():.3f}"
             if darts_alpha else "alpha has barely moved")
    lines += [
        "## Why these numbers differ from the paper",
        "",
        f"This run trained each supernet for {steps} steps ({s['epochs']} epochs) on "
        f"{s.get('max_examples') or 50000} images with C={s['channels']}, N={s['cells']}; the "
        "paper trains C=16, N=5 for 100 epochs on 50,000 images (39,000 steps) and fine-tunes 5 "
        "full epochs per edge. With so few steps: (1) alpha (Adam, lr 3e-4, initialised at "
        f"1e-3 scale) has hardly moved ({moved}), so the magnitude pick reflects the first "
        "few hundred steps, where parametric operations still lead; DARTS's collapse to skip "
        "connections (the published 54.30 is the all-skip cell) sets in only after long "
        "training; (2) the supernet is far from trained (accuracy on the alpha half in the "
        "sections above), so removing one operation changes the validation accuracy by a few "
        "images and the perturbation scores are dominated by noise (where a node's only input "
        "is `none`, every candidate on the edges leaving it scores the same and the tie goes to "
        "`none`); (3) one seed instead of four. The rows above therefore "
        "check that the pipeline runs end to end on real images (search, magnitude and "
        "perturbation selection with fine-tuning, benchmark lookup), not the paper's claim; "
        "`darts_pt_full` is the configuration that tests it (about a GPU-day).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="darts_pt_quick | darts_pt_full")
    p.add_argument("out", help="output folder (one work directory per supernet variant)")
    p.add_argument("--results", default=str(Path(__file__).parent / "RESULTS_darts_pt_quick.md"))
    p.add_argument("--data-dir", default=None, help="folder with nb201/accuracies.csv")
    p.add_argument("--seed", type=int, default=None,
                   help="override the config's search and selection seed")
    p.add_argument("--table-only", action="store_true",
                   help="rewrite the table from OUT/darts_pt_rows.json without running")
    args = p.parse_args(argv)
    config = load_config(args.config)
    if args.seed is not None:
        config["search"]["seed"] = args.seed
        config["select"]["seed"] = args.seed
    out = Path(args.out)
    t0 = time.time()
    if args.table_only:
        rows = json.loads((out / "darts_pt_rows.json").read_text())
    else:
        rows = run(config, out, args.data_dir)
    text = markdown(rows, args.config, config, out)
    Path(args.results).write_text(text)
    (out / "darts_pt_rows.json").write_text(json.dumps(rows, indent=1))
    print(text)
    print(f"total wall time {time.time() - t0:.0f} s; results in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
