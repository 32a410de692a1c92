"""DARTS, DARTS-PT, DARTS-PT (fix alpha) and NA-DARTS on a DARTS-family space (darts, darts-7,
s1..s4), end to end: search, then magnitude and perturbation selection, resumable.

``python experiments/darts_space.py CONFIG OUTDIR [--set KEY=VALUE ...] [--results FILE.md]
[--data-dir DIR] [--json]``

``CONFIG`` names a module in ``experiments/configs`` (``darts_space_quick``,
``darts_space_full``, ``robustdarts``); ``--set`` passes keyword arguments to its
``get_config`` (e.g. ``--set space=s2 --set dataset=svhn`` for ``robustdarts``). For every
supernet variant the driver runs :func:`jaxnas.darts.train` in ``OUTDIR/<variant>`` and
:func:`jaxnas.selection.run.select` by magnitude and by perturbation; each stage resumes from
its checkpoints when the command is run again, and prints where it is. It writes
``OUTDIR/summary.json`` (one record per variant and method: the Genotype string, the run times,
the alpha entropy, and NAS-Bench-301's predicted CIFAR-10 validation accuracy of the genotype when
the space's operations allow and the surrogate's files are present) and a markdown table
(``--results``, default ``OUTDIR/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import configs  # experiments/configs (this script's directory is on sys.path)
import darts_pt

from jaxnas import darts, spaces

LABELS = {
    ("darts", "magnitude"): "DARTS (magnitude)",
    ("darts", "perturbation"): "DARTS-PT",
    ("fix_alpha", "perturbation"): "DARTS-PT (fix α)",
    ("fix_alpha", "magnitude"): "magnitude on the fix-α supernet (undefined)",
    ("na_darts", "magnitude"): "NA-DARTS (magnitude)",
    ("na_darts", "perturbation"): "NA-DARTS + perturbation selection",
}


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"darts_space.py: error: --set {item!r} must be KEY=VALUE")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def nb301_valid(arch: str, data_dir=None) -> float | None:
    """NAS-Bench-301's predicted CIFAR-10 validation accuracy (%) of a Genotype string, or
    None when the surrogate is absent or the genotype uses operations outside the DARTS space
    (S4's noise)."""
    from jaxnas.cli.evaluate import evaluate

    try:
        return float(evaluate("darts", arch, "nb301", data_dir=data_dir)["valid_accuracy"])
    except (ValueError, FileNotFoundError, KeyError):
        return None


def run(config: dict, out: Path, data_dir=None) -> list[dict]:
    """Every variant's search and both selections (:func:`darts_pt.run`), one flat record per
    (variant, method), with NAS-Bench-301's prediction for the genotype."""
    return [{"variant": r["variant"], "method": r["method"], "arch": r["result"]["arch"],
             "nb301_valid": nb301_valid(r["result"]["arch"], data_dir),
             "notes": r["result"].get("notes", []),
             **{k: r[k] for k in ("search_seconds", "select_seconds", "search_steps",
                                  "supernet_params", "final_alpha_entropy",
                                  "supernet_images_per_second")}}
            for r in darts_pt.run(config, out, data_dir)]


def markdown(rows: list[dict], name: str, config: dict, out: Path, sets: dict) -> str:
    s = darts.make_config(**config["search"]).to_dict()
    sel = config["select"]
    k = len(spaces.get(s["space"]).candidates[0][0])
    set_args = "".join(f" --set {a}={b}" for a, b in sets.items())
    lines = [
        f"# {config.get('title', name)}", "",
        f"Produced by `python experiments/darts_space.py {name} {out}{set_args}` "
        f"(config `experiments/configs/{name}.py`).", "",
        f"Search: space `{s['space']}` ({k} candidate operations per edge), {s['dataset']} "
        f"({s.get('max_examples') or 'all'} train images, halves for weights / alpha), "
        f"supernet C={s['channels']}, {s['layers']} cells, batch {s['batch_size']}, "
        f"{s['epochs']} epochs. Perturbation selection: {sel['tune_epochs']} fine-tuning "
        f"epoch(s) of {sel['steps_per_epoch'] or 'one pass'} steps between steps, candidates "
        f"scored on {sel['valid_batches'] or 'all'} validation batches, criterion "
        f"`{sel['crit']}`, {sel['order']} edge order.", "",
        "| method | search (s) | selection (s) | alpha entropy (nats) | NB301 predicted valid. "
        "acc. (%) | genotype |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        nb = "n/a" if r["nb301_valid"] is None else f"{r['nb301_valid']:.2f}"
        ent = r["final_alpha_entropy"]
        ent = "n/a" if ent is None else f"{ent:.4f}"
        lines.append(f"| {LABELS[(r['variant'], r['method'])]} | {r['search_seconds']:.0f} | "
                     f"{r['select_seconds']:.0f} | {ent} | {nb} | `{r['arch']}` |")
    lines += ["", f"Uniform alpha has entropy log {k} = {math.log(k):.4f} nats per edge; a "
              "value close to it means alpha has not moved and the magnitude pick is noise.",
              "Search and selection times include compilation; a resumed stage reports only "
              "the time of its last invocation.", ""]
    notes = [n for r in rows for n in r["notes"]]
    if notes:
        lines += ["Selection notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="a module of experiments/configs, e.g. darts_space_quick")
    p.add_argument("out", type=Path, help="output directory (resumed when it has runs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="keyword argument of the config's get_config (repeatable)")
    p.add_argument("--results", type=Path, default=None, help="markdown file to write")
    p.add_argument("--data-dir", default=None, help="benchmark data folder (nb301)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args(argv)
    sets = _parse_set(args.set)
    try:
        config = configs.load(args.config).get_config(**sets)
    except (FileNotFoundError, TypeError, ValueError) as e:
        print(f"darts_space.py: error: {e}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rows = run(config, args.out, args.data_dir)
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
    md = markdown(rows, args.config, config, args.out, sets)
    (args.results or args.out / "RESULTS.md").write_text(md)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
