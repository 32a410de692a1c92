"""``jaxnas evaluate``: one architecture's values in a benchmark (a table row or a surrogate's
prediction), by its string in the community's format."""

from __future__ import annotations

from jaxnas.cli._common import add_data_dir, add_json, print_json


def register(sub) -> None:
    from jaxnas import benchmarks

    p = sub.add_parser(
        "evaluate",
        help="look up one architecture in a benchmark",
        description="The benchmark's values for one architecture: NAS-Bench-201's table row "
                    "(validation and test accuracy after 200 and 12 epochs), or a surrogate's "
                    "predicted validation accuracy (NAS-Bench-301: --epoch, default the last).",
    )
    p.add_argument("--space", default="nb201", help="search space (default: nb201)")
    p.add_argument("--benchmark", default=None, choices=sorted(benchmarks.BENCHMARKS),
                   help="benchmark (default: the space's first)")
    p.add_argument("--arch", required=True,
                   help="the architecture in the space's string format (NB201 '|op~0|+...|', "
                        "DARTS 'Genotype(normal=[...], ...)')")
    p.add_argument("--dataset", default=None,
                   help="report this dataset only (default: every dataset of the benchmark)")
    p.add_argument("--epoch", type=int, default=None,
                   help="training epoch, for benchmarks that predict one (nb301: 1..98)")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(func=run)


def evaluate(space: str, arch: str, benchmark: str | None = None, dataset: str | None = None,
             epoch: int | None = None, data_dir=None) -> dict:
    """The benchmark record of ``arch`` (see :func:`register`'s description).

    Returns:
        ``{'space', 'benchmark', 'arch', 'record'}``, plus ``dataset``, ``valid_accuracy`` and
        (when the benchmark has them) ``test_accuracy`` in percent for ``dataset`` (default:
        the benchmark's first dataset, when it has only one).

    Raises:
        ValueError: unknown space or benchmark, a malformed architecture (one line naming the
            bad part), an unknown dataset, or ``epoch`` on a benchmark without epochs.
    """
    from jaxnas import benchmarks, spaces

    sp = spaces.get(space)
    a = sp.from_string(arch)
    loader = benchmarks.for_space(sp.name, benchmark)
    if loader.lookup is None:
        raise ValueError(f"benchmark {loader.name!r} has no per-architecture look-up")
    options = {} if epoch is None else {"epoch": epoch}
    try:
        record = loader.lookup(a, data_dir, **options)
    except TypeError:
        if options:
            raise ValueError(f"--epoch does not apply to benchmark {loader.name!r}") from None
        raise
    out = {"space": sp.name, "benchmark": loader.name, "arch": sp.to_string(a)}
    if dataset is None and len(loader.datasets) == 1:
        dataset = loader.datasets[0]
    if dataset is not None and loader.by_dataset is not None:
        d = loader.canonical_dataset(dataset)
        vals = loader.by_dataset(record)[d]
        out["dataset"] = d
        out["valid_accuracy"] = vals.get("valid")
        if "test" in vals:
            out["test_accuracy"] = vals["test"]
    out["record"] = record
    return out


def run(args) -> int:
    out = evaluate(args.space, args.arch, args.benchmark, args.dataset, args.epoch,
                   args.data_dir)
    if args.json:
        print_json(out)
        return 0
    print(f"{out['benchmark']}: {out['arch']}")
    for k, v in out["record"].items():
        if k != "arch":
            print(f"  {k}: {v}")
    return 0
