"""Runs a DARTS config: ``python experiments/run_darts.py CONFIG[:VARIANT] WORKDIR``.

``CONFIG`` names a module in ``experiments/configs`` with ``get_config(variant)``; the run is
:func:`jaxnas.darts.train` (resumes when ``WORKDIR`` holds one) and prints ``result.json``.
"""

from __future__ import annotations

import json
import sys

import configs  # experiments/configs (this script's directory is on sys.path)

from jaxnas import darts, spaces


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    name, _, variant = argv[0].partition(":")
    try:
        mod = configs.load(name)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    config = darts.make_config(**mod.get_config(variant))
    result = darts.train(config, argv[1], report=darts.benchmark_report(
        spaces.get(config.space), config.data_dir))
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
