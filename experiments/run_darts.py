"""Runs a DARTS config: ``python experiments/run_darts.py CONFIG[:VARIANT] WORKDIR``.

``CONFIG`` names a module in ``experiments/configs`` with ``get_config(variant)``; the run is
:func:`jaxnas.darts.train` (resumes when ``WORKDIR`` holds one) and prints ``result.json``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from jaxnas import darts


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    name, _, variant = argv[0].partition(":")
    path = Path(__file__).parent / "configs" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or not path.is_file():
        print(f"no config {path}", file=sys.stderr)
        return 2
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    result = darts.train(darts.make_config(**mod.get_config(variant)), argv[1])
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
