"""A real check of ``jaxnas train`` against NAS-Bench-201 (issue 18): train a handful of NB201
architectures that span the accuracy range on the shared CIFAR-10 images with the 12-epoch
protocol (``nb201-12``, or a documented reduced variant), and compare with the benchmark's
``cifar10_test_12`` column: Spearman and Kendall rank correlation, absolute differences.

The architectures are the ones at evenly spaced quantiles (2% .. 98%) of ``cifar10_test_12``
over the 15,625 architectures (deterministic). Each trains in its own work directory
``OUT/nb201_<index>`` and is skipped when its ``result.json`` exists, so rerunning the same
command resumes an interrupted check (a half-trained architecture resumes from its newest
checkpoint). ``OUT/summary.json`` holds the comparison.

What can make the numbers differ from the table, besides seed noise (the table is a mean over
seeds): the shared images are JPEG re-encodings (quality about 75) of CIFAR-10, so accuracies
are a little lower; the table's ``test_12`` models were trained on the 50,000 train images and
tested on the 10,000 test images, as here, but with torchvision's data loader order and
augmentation RNG; a reduced variant (fewer channels/cells/images) shifts every accuracy down and
compresses the range.

Run (the real check; hours on a 2-core CPU, see experiments/RESULTS_train.md)::

    PYTHONPATH=. python experiments/nb201_train_check.py runs/nb201_check --num-archs 8

Smoke (minutes)::

    PYTHONPATH=. python experiments/nb201_train_check.py /tmp/nb201_smoke --num-archs 2 \\
        --channels 4 --cells 1 --epochs 1 --batch-size 64 --max-examples 256 \\
        --test-max-examples 256
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jaxnas import train  # noqa: E402
from jaxnas.benchmarks import nb201  # noqa: E402
from jaxnas.spaces import nb201 as space  # noqa: E402


def pick_archs(num: int, data_dir: str | None) -> list[dict]:
    """The architectures at ``num`` evenly spaced quantiles of ``cifar10_test_12``."""
    b = nb201.load("cifar10", data_dir)
    acc = np.asarray(b.test_12)
    codes = np.argsort(acc, kind="stable")
    codes = codes[np.isfinite(acc[codes])]
    picks = codes[np.round(np.linspace(0.02, 0.98, num) * (len(codes) - 1)).astype(int)]
    out = []
    for c in picks:
        arch = space.to_string(space.from_code(int(c)))
        rec = nb201.lookup(arch, data_dir)
        out.append({"index": rec["index"], "arch": arch, "table_test_12": rec["cifar10_test_12"],
                    "table_test_200": rec["cifar10_test_200"]})
    return out


def ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):
        m = x == v
        r[m] = r[m].mean()
    return r


def spearman(a, b) -> float:
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def kendall(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    s = sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
            for i in range(len(a)) for j in range(i + 1, len(a)))
    return float(s / (len(a) * (len(a) - 1) / 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder of the work directories and summary.json")
    ap.add_argument("--num-archs", type=int, default=8)
    ap.add_argument("--protocol", default="nb201-12")
    ap.add_argument("--image-dir", default=str(ROOT.parent / "shared" / "data" / "cifar10"))
    ap.add_argument("--data-dir", default=None, help="NB201 tables (default: jaxnas's)")
    for flag in ("channels", "cells", "epochs", "batch-size", "max-examples",
                 "test-max-examples", "seed"):
        ap.add_argument(f"--{flag}", type=int, default=None, help="override the protocol")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = {k: getattr(args, k) for k in ("channels", "cells", "epochs", "batch_size",
                                               "max_examples", "test_max_examples", "seed")}
    rows = pick_archs(args.num_archs, args.data_dir)
    for i, row in enumerate(rows):
        wd = out / f"nb201_{row['index']}"
        res = wd / "result.json"
        if not res.is_file():
            print(f"[{i + 1}/{len(rows)}] {row['arch']} (table test_12 "
                  f"{row['table_test_12']:.2f}%)", file=sys.stderr, flush=True)
            config = train.make_config("nb201", args.protocol, arch=row["arch"],
                                       image_dir=args.image_dir, data_dir=args.data_dir,
                                       **overrides)
            train.train(config, wd, progress=not args.no_progress)
        r = json.loads(res.read_text())
        row.update(test_accuracy=r["test_accuracy"], diff=r["test_accuracy"] -
                   row["table_test_12"], wall_seconds=r["wall_seconds"],
                   num_params=r["num_params"], config={k: r["config"][k] for k in (
                       "protocol", "channels", "cells", "epochs", "batch_size", "max_examples",
                       "test_max_examples")})
    ours = [r["test_accuracy"] for r in rows]
    table = [r["table_test_12"] for r in rows]
    summary = {"archs": rows, "spearman": spearman(ours, table), "kendall": kendall(ours, table),
               "mean_abs_diff": float(np.mean(np.abs(np.subtract(ours, table)))),
               "mean_diff": float(np.mean(np.subtract(ours, table)))}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("| index | arch | table test_12 | ours | diff | wall s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['index']} | `{r['arch']}` | {r['table_test_12']:.2f} | "
              f"{r['test_accuracy']:.2f} | {r['diff']:+.2f} | {r['wall_seconds']:.0f} |")
    print(f"Spearman {summary['spearman']:.3f}, Kendall {summary['kendall']:.3f}, mean |diff| "
          f"{summary['mean_abs_diff']:.2f}, mean diff {summary['mean_diff']:+.2f} points")


if __name__ == "__main__":
    main()
