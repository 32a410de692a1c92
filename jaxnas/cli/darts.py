"""``jaxnas darts``: DARTS search on the NAS-Bench-201 supernet, resumable from its work dir."""

from __future__ import annotations

from jaxnas.cli._common import add_data_dir, add_json, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "darts",
        help="DARTS architecture search on the NAS-Bench-201 supernet (resumable)",
        description="Alternating updates of alpha (Adam) and supernet weights (SGD) on the two "
                    "halves of the train set, data parallel over all devices. Running the same "
                    "command on the same --workdir resumes from its newest checkpoint. Writes "
                    "WORKDIR/config.json, checkpoints/, metrics.jsonl, tensorboard/ and "
                    "result.json (selected architecture and its NAS-Bench-201 accuracies).",
    )
    p.add_argument("--space", default="nb201", choices=["nb201"])
    p.add_argument("--dataset", default="cifar10", help="cifar10 | cifar100 | ... (jaxnas.data)")
    p.add_argument("--workdir", required=True, help="run directory (resumed when it has one)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=64,
                   help="images per half-batch (weights and alpha each)")
    p.add_argument("--channels", type=int, default=16, help="C of the supernet")
    p.add_argument("--cells", type=int, default=5, help="N cells per stage")
    p.add_argument("--image-dir", default=None, help="folder of the dataset's images")
    p.add_argument("--max-examples", type=int, default=None,
                   help="seeded random subset of N train images")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="default: one pass over the smaller search half")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fix-alpha", action="store_true", help="train the weights only (DARTS-PT)")
    p.add_argument("--second-order", action="store_true", help="unrolled (second-order) DARTS")
    p.add_argument("--objective", default="darts", choices=["darts", "neighborhood"],
                   help="architecture loss: DARTS, or NA-DARTS's neighbourhood mean")
    p.add_argument("--na-samples", type=int, default=4,
                   help="sampled neighbours of the neighborhood objective")
    p.add_argument("--ckpt-every", type=int, default=100, help="checkpoint every K steps")
    p.add_argument("--keep", type=int, default=3, help="checkpoints kept")
    p.add_argument("--no-augment", action="store_true", help="no crop/flip augmentation")
    p.add_argument("--no-scan", action="store_true",
                   help="unroll the cells of each stage (compiles ~1.5x longer on CPU at about "
                        "the same step speed; resumes work directories written before scanned "
                        "stages)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from jaxnas import darts

    config = darts.make_config(
        space=args.space, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
        channels=args.channels, cells=args.cells, image_dir=args.image_dir,
        data_dir=args.data_dir, fix_alpha=args.fix_alpha, second_order=args.second_order,
        max_examples=args.max_examples, steps_per_epoch=args.steps_per_epoch, seed=args.seed,
        ckpt_every=args.ckpt_every, keep=args.keep, objective=args.objective,
        na_samples=args.na_samples, augment=not args.no_augment, scan=not args.no_scan)
    r = darts.train(config, args.workdir, progress=not args.no_progress)
    if args.json:
        print_json(r)
        return 0
    print(f"arch      {r['arch']}")
    if r["benchmark"] is not None:
        b = r["benchmark"]
        print("benchmark " + ", ".join(f"{k} {b[k]:.2f}" for k in
                                       ("cifar10_test_200", "cifar100_test_200",
                                        "imagenet16_test_200")))
    else:
        print(f"benchmark unavailable ({r['benchmark_reason']})")
    ips = r["images_per_second"]
    print(f"steps     {r['steps']} ({r['epochs']} epochs), "
          f"{'n/a' if ips is None else f'{ips:.1f}'} images/s, {r['wall_seconds']:.1f} s")
    print(f"params    sha256 {r['params_sha256']}")
    print(f"result    {args.workdir}/result.json")
    return 0
