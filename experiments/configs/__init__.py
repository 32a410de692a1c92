"""Experiment configurations: one module per run, each with a ``get_config(...)``.

Scripts in ``experiments/`` (whose directory is on ``sys.path`` when run as
``python experiments/<script>.py``) load them with :func:`load`; a config derived from another
imports it as ``configs.<name>``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType


def load(name: str) -> ModuleType:
    """The config module ``experiments/configs/<name>.py``.

    Raises:
        FileNotFoundError: no such file; the message lists the available configs.
    """
    here = Path(__file__).parent
    if not (here / f"{name}.py").is_file() or name.startswith("_"):
        known = sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))
        raise FileNotFoundError(f"no config {here / f'{name}.py'}; available: {known}")
    return importlib.import_module(f"{__name__}.{name}")
