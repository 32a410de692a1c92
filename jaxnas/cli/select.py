"""``jaxnas select``: architecture selection on a trained DARTS supernet (DARTS-PT / magnitude)."""

from __future__ import annotations

from pathlib import Path

from jaxnas.cli._common import add_data_dir, add_json, print_json, print_table


def register(sub) -> None:
    p = sub.add_parser(
        "select",
        help="select an architecture from a `jaxnas darts` supernet (DARTS-PT or magnitude)",
        description="Perturbation-based selection (DARTS-PT, Wang et al. ICLR 2021): edge by "
                    "edge, keep the operation whose removal hurts the supernet most, then "
                    "fine-tune; or DARTS's magnitude selection (argmax alpha). A workdir trained "
                    "with --fix-alpha gives DARTS-PT fix-alpha. Perturbation runs are "
                    "checkpointed per decision in WORKDIR/select_perturbation/ and resume there.",
    )
    p.add_argument("--workdir", required=True, help="directory of a `jaxnas darts` run")
    p.add_argument("--method", default="perturbation", help="perturbation | magnitude")
    p.add_argument("--tune-epochs", type=int, default=5,
                   help="fine-tuning epochs between decisions (reference: 5)")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="fine-tuning steps per epoch (default: one pass over the weights half)")
    p.add_argument("--valid-batches", type=int, default=None,
                   help="score candidates on this many validation batches (default: all)")
    p.add_argument("--crit", default="acc", help="acc | loss")
    p.add_argument("--edge-order", default="random",
                   help="random | fixed | a comma list of the 6 edges")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default=None,
                   help="checkpoints and result.json (default: WORKDIR/select_METHOD)")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from jaxnas.selection.run import select

    r = select(args.workdir, method=args.method, tune_epochs=args.tune_epochs,
               steps_per_epoch=args.steps_per_epoch, crit=args.crit, order=args.edge_order,
               seed=args.seed, data_dir=args.data_dir, progress=True,
               valid_batches=args.valid_batches, out_dir=args.out_dir)
    if args.json:
        print_json(r)
        return 0
    print(f"{r['variant']}: {r['arch']}")
    magnitude = r["method"] == "magnitude"
    key = "alpha" if magnitude else "removed_acc"
    fmt = (lambda v: f"{v:+.4f}") if magnitude else (lambda v: f"{100 * v:.2f}%")
    cands = [tuple(d["candidates"]) for d in r["decisions"]]
    same = bool(cands) and len(set(cands)) == 1
    rows = []
    for d in r["decisions"]:
        vals = [fmt(v) for v in d[key]]
        if not same:
            vals = [" ".join(f"{c}={v}" for c, v in zip(d["candidates"], vals, strict=True))]
        rows.append([d["step"], f"{d['edge']} ({d['edge_name']})", d["op_name"], *vals])
    what = "alpha" if magnitude else "val. acc. with op removed"
    head = [f"{what}: {c}" for c in cands[0]] if same else [what]
    print_table(rows, ["step", "edge", "kept op", *head])
    b = r["benchmark"]
    if b.get("reason"):
        print(f"benchmark: unavailable ({b['reason']})")
    else:
        print("benchmark test accuracy: " + ", ".join(
            f"{k} {v['test']:.2f}%" for k, v in b.items() if isinstance(v, dict) and "test" in v))
    if r.get("note"):
        print(f"note: {r['note']}")
    print(f"result: {Path(r['out_dir']) / 'result.json'}")
    return 0
