"""JSON output shared by the library and the CLI: strict JSON (no ``NaN``/``Infinity``)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def json_safe(x: Any) -> Any:
    """``x`` with every non-finite float (NaN, +-inf) replaced by ``None``, recursively through
    dicts, lists and tuples, so that ``json.dumps`` writes standard JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    return x


def write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Writes ``json_safe(obj)`` to ``path``, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(obj), indent=indent))


__all__ = ["json_safe", "write_json"]
