"""``jaxnas darts``: DARTS search on a space's supernet, resumable from its work dir.

The run flags are built from the fields of :class:`jaxnas.darts.config.DartsConfig` (the single
source of defaults): ``--field-name`` for values, ``--flag`` for options off by default and
``--no-flag`` for options on by default.
"""

from __future__ import annotations

import argparse

from jaxnas.cli._common import add_json, print_json


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    from jaxnas import spaces
    from jaxnas.darts.config import DartsConfig, fields_help

    defaults = DartsConfig()
    types = {"int": int, "int | None": int, "str": str, "str | None": str, "float": float}
    for f, help_text in fields_help():
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if str(f.type) == "bool":
            if default:
                p.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name,
                               action="store_false", help=help_text)
            else:
                p.add_argument(flag, dest=f.name, action="store_true", help=help_text)
            continue
        choices = f.metadata.get("choices")
        if f.name == "space":
            choices = sorted(n for n, s in spaces.SPACES.items() if s.has_supernet)
        p.add_argument(flag, dest=f.name, type=types[str(f.type)], default=default,
                       choices=choices,
                       help=help_text if default is None else f"{help_text} (default: {default})")


def register(sub) -> None:
    p = sub.add_parser(
        "darts",
        help="DARTS architecture search on a space's supernet (resumable)",
        description="Alternating updates of alpha (Adam) and supernet weights (SGD) on the two "
                    "halves of the train set, data parallel over all devices. Running the same "
                    "command on the same --workdir resumes from its newest checkpoint. Writes "
                    "WORKDIR/config.json, checkpoints/, metrics.jsonl, tensorboard/ and "
                    "result.json (selected architecture and, for a space with a tabular "
                    "benchmark such as NAS-Bench-201, its accuracies).",
    )
    p.add_argument("--workdir", required=True, help="run directory (resumed when it has one)")
    _add_config_flags(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses

    from jaxnas import darts, spaces

    names = [f.name for f in dataclasses.fields(darts.DartsConfig)]
    config = darts.DartsConfig(**{k: getattr(args, k) for k in names})
    report = darts.benchmark_report(spaces.get(config.space), config.data_dir)
    r = darts.train(config, args.workdir, progress=not args.no_progress, report=report)
    if args.json:
        print_json(r)
        return 0
    print(f"arch      {r['arch']}")
    b = r.get("benchmark")
    if b is not None:
        keys = [k for k in ("cifar10_test_200", "cifar100_test_200", "imagenet16_test_200",
                            "valid_accuracy") if isinstance(b.get(k), (int, float))]
        print("benchmark " + ", ".join(f"{k} {b[k]:.2f}" for k in keys)
              + (f" (epoch {b['epoch']})" if "epoch" in b else ""))
    else:
        print(f"benchmark unavailable ({r.get('benchmark_reason')})")
    ips = r["images_per_second"]
    print(f"steps     {r['steps']} ({r['epochs']} epochs), "
          f"{'n/a' if ips is None else f'{ips:.1f}'} images/s, {r['wall_seconds']:.1f} s")
    print(f"params    {r['num_params']:,} weights, sha256 {r['params_sha256']}")
    print(f"result    {args.workdir}/result.json")
    return 0
