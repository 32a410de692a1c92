"""Helpers shared by the CLI subcommands."""

from __future__ import annotations

import argparse
import json
import sys

from jaxnas.jsonio import json_safe


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None,
                   help="data root holding nb201/, nb101/, nb301/ "
                        "(default: $JAXNAS_DATA_DIR, then ../shared/data)")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def print_json(obj) -> None:
    json.dump(json_safe(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_table(rows: list[list], header: list[str]) -> None:
    cells = [[str(c) for c in r] for r in [header, *rows]]
    w = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print("  ".join(c.rjust(w[i]) for i, c in enumerate(r)))
        if j == 0:
            print("  ".join("-" * x for x in w))
