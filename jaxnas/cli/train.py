"""``jaxnas train``: train a discovered architecture from scratch with a paper's protocol.

The option flags are built from :class:`jaxnas.train.TrainConfig`'s fields with no default of
their own: an unset flag keeps the ``--protocol`` preset's value (:func:`jaxnas.train.make_config`).
"""

from __future__ import annotations

import argparse

from jaxnas.cli._common import add_json, print_json

# fields set by dedicated arguments below, or recorded only
_SPECIAL = {"space", "arch", "protocol", "dataset"}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    from jaxnas.train.config import fields_help

    types = {"int": int, "int | None": int, "str": str, "str | None": str, "float": float}
    for f, help_text in fields_help():
        if f.name in _SPECIAL:
            continue
        flag = "--" + f.name.replace("_", "-")
        if str(f.type) == "bool":
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                           default=None, help=help_text)
            continue
        p.add_argument(flag, dest=f.name, type=types[str(f.type)], default=None,
                       choices=f.metadata.get("choices"), help=help_text)


def register(sub) -> None:
    from jaxnas.train.config import PROTOCOLS, spaces_with_networks

    p = sub.add_parser(
        "train",
        help="train an architecture from scratch (NB201 / DARTS protocols, resumable)",
        description="Trains the discrete network of an architecture (NAS-Bench-201's "
                    "standalone network, DARTS's NetworkCIFAR) from scratch with a paper's "
                    "protocol, evaluates it on the test split and writes WORKDIR/result.json "
                    "(test_accuracy in percent, num_params, images_per_second, config, "
                    "params_sha256), metrics.jsonl, tensorboard/ and checkpoints/. Running the "
                    "same command on the same --workdir resumes from its newest checkpoint. "
                    "Options left unset take the --protocol preset's values.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--arch", default=None,
                     help="the architecture string (NB201 '|op~0|+...|', DARTS 'Genotype(...)')")
    src.add_argument("--from-workdir", default=None,
                     help="take the architecture, space and dataset of a `jaxnas darts` work "
                          "directory or a `jaxnas select` output folder")
    p.add_argument("--space", default=None,
                   choices=spaces_with_networks(),
                   help="search space of the architecture (default: nb201, or the search's)")
    p.add_argument("--dataset", default=None,
                   help="cifar10 | cifar100 | svhn | imagenet16-120 (default: cifar10, or the "
                        "search's)")
    p.add_argument("--protocol", default=None, choices=sorted(PROTOCOLS),
                   help="training preset (default: darts for DARTS-family spaces, nb201 for "
                        "nb201)")
    p.add_argument("--workdir", default=None, help="run directory (resumed when it has one); "
                                                   "required unless --dry-run")
    _add_config_flags(p)
    p.add_argument("--dry-run", action="store_true",
                   help="build the network and print its parameter counts; no data, no training")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json(p)
    p.set_defaults(func=run)


def config_from_args(args) -> object:
    """The :class:`jaxnas.train.TrainConfig` of parsed arguments (reads ``--from-workdir``)."""
    import dataclasses

    from jaxnas import train

    space, dataset, arch = args.space, args.dataset, args.arch
    if args.from_workdir is not None:
        found = train.arch_from_workdir(args.from_workdir)
        if space is not None and space != found["space"]:
            raise ValueError(f"--space {space} differs from the search's space "
                             f"{found['space']!r} in {args.from_workdir}; drop --space")
        space, arch = found["space"], found["arch"]
        dataset = dataset or found["dataset"]
    names = {f.name for f in dataclasses.fields(train.TrainConfig)} - _SPECIAL
    options = {k: getattr(args, k) for k in names}
    return train.make_config(space or "nb201", args.protocol, arch=arch,
                             dataset=dataset or "cifar10", **options)


def run(args) -> int:
    from jaxnas import train

    config = config_from_args(args)
    if args.dry_run:
        d = train.describe(config)
        if args.json:
            print_json(d)
            return 0
        print(f"arch            {d['arch']}")
        print(f"space, dataset  {d['space']}, {d['dataset']} (protocol {d['protocol']})")
        print(f"num_params      {d['num_params']:,} (without the auxiliary head)")
        print(f"num_params_aux  {d['num_params_aux']:,}")
        return 0
    if args.workdir is None:
        raise ValueError("--workdir is required (or pass --dry-run)")
    r = train.train(config, args.workdir, progress=not args.no_progress)
    if args.json:
        print_json(r)
        return 0
    std = r["test_accuracy_std"]
    acc = f"{r['test_accuracy']:.2f}%" + ("" if std is None else f" ± {std:.2f} "
                                           f"({r['seeds']} seeds)")
    print(f"arch       {r['arch']}")
    print(f"test acc.  {acc} on {r['test_examples']} test images")
    print(f"params     {r['num_params']:,} (+{r['num_params_aux']:,} auxiliary head)")
    ips = r["images_per_second"]
    print(f"steps      {r['steps']} ({r['epochs']} epochs), "
          f"{'n/a' if ips is None else f'{ips:.1f}'} images/s, {r['wall_seconds']:.1f} s")
    print(f"result     {args.workdir}/result.json")
    return 0
