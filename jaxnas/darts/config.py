"""The run options of a DARTS search: one frozen, validated dataclass, its JSON form
(``config.json``) and its compatibility on resume.

:class:`DartsConfig` is the single source of the defaults: the ``jaxnas darts`` flags are built
from its fields (:func:`fields_help` gives their help text), experiment configs list only what
they change, and ``config.json`` holds :meth:`DartsConfig.to_dict` plus ``derived`` values.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jaxnas import datasets
from jaxnas.darts.optim import ALPHA_LR
from jaxnas.darts.step import OBJECTIVES


def _opt(default: Any, help: str, **extra) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, **extra})


@dataclasses.dataclass(frozen=True)
class DartsConfig:
    """Every option of a DARTS search run (the issue's defaults: DARTS on NAS-Bench-201).

    Validated on construction: a bad name or value raises a one-line ``ValueError``.
    """

    space: str = _opt("nb201", "search space (a registered space with a supernet)")
    dataset: str = _opt("cifar10", "cifar10 | cifar100 | imagenet16-120 (jaxnas.datasets)")
    # DARTS-PT's reference trains the NAS-Bench-201 supernet for 100 epochs (ruocwang/darts-pt,
    # nasbench201/train_search.py, --epochs 100); 50 is NAS-Bench-201's own DARTS baseline
    # config (AutoDL-Projects configs/nas-benchmark/algos/DARTS.config), used here before
    epochs: int = _opt(100, "search epochs (DARTS-PT's reference: 100)")
    batch_size: int = _opt(64, "images per half-batch (weights and alpha each)")
    channels: int = _opt(16, "C of the supernet")
    cells: int = _opt(5, "N cells per stage (spaces sized by cells per stage)")
    layers: int | None = _opt(None, "cells in total (spaces sized by layers, the DARTS family; "
                                    "default 8), reduction cells at 1/3 and 2/3")
    image_dir: str | None = _opt(None, "folder of the dataset's images (default: TFDS)")
    image_size: int | None = _opt(None, "average-pool the images to SxS (S divides the side; "
                                        "a cheaper CPU search; default: as stored)")
    download: bool = _opt(False, "let TFDS download and prepare the dataset when it is missing "
                                 "(needs internet; without it a missing dataset is an error)")
    data_dir: str | None = _opt(None, "folder of the benchmark tables (default: "
                                      "$JAXNAS_DATA_DIR, then ../shared/data)")
    fix_alpha: bool = _opt(False, "train the weights only (DARTS-PT)")
    alpha_lr: float = _opt(ALPHA_LR, "Adam learning rate of alpha (DARTS: 3e-4; also used when "
                                 "DARTS-PT fine-tuning keeps training alpha)")
    second_order: bool = _opt(False, "unrolled (second-order) DARTS")
    max_examples: int | None = _opt(None, "seeded random subset of N train images")
    steps_per_epoch: int | None = _opt(None, "default: one pass over the smaller search half")
    seed: int = _opt(0, "seed of initialisation, data split and batches")
    ckpt_every: int = _opt(100, "checkpoint every K steps")
    keep: int = _opt(3, "checkpoints kept")
    objective: str = _opt("darts", "architecture loss: DARTS, or NA-DARTS's neighbourhood mean",
                          choices=OBJECTIVES)
    na_samples: int = _opt(4, "sampled neighbours of the neighborhood objective")
    augment: bool = _opt(True, "crop/flip augmentation (--no-augment: none)")
    scan: bool = _opt(True, "scan the cells of each stage (--no-scan: unroll them; compiles "
                            "~1.5x longer on CPU at about the same step speed; resumes work "
                            "directories written before scanned stages)")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            kind = _kind(f)
            ok = (isinstance(v, bool) if kind is bool else
                  isinstance(v, int | float) and not isinstance(v, bool) if kind is float else
                  v is None or isinstance(v, str) if kind == "str?" else
                  isinstance(v, str) if kind is str else
                  v is None or (isinstance(v, int) and not isinstance(v, bool)) if kind == "int?"
                  else isinstance(v, int) and not isinstance(v, bool))
            if not ok:
                raise ValueError(f"DARTS option {f.name}={v!r} must be {_kind_name(kind)}")
        for k in ("epochs", "batch_size", "channels", "cells", "ckpt_every", "keep",
                  "na_samples"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k}={getattr(self, k)!r} must be a positive integer")
        for k in ("max_examples", "steps_per_epoch", "image_size"):
            if getattr(self, k) is not None and getattr(self, k) < 1:
                raise ValueError(f"{k}={getattr(self, k)!r} must be a positive integer or None")
        if not self.alpha_lr > 0:
            raise ValueError(f"alpha_lr={self.alpha_lr!r} must be a positive number")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; choose one of {OBJECTIVES}")
        if self.fix_alpha and self.second_order:
            raise ValueError("--fix-alpha and --second-order exclude each other (no alpha update)")
        check_space(self.space)
        from jaxnas import spaces

        opt = spaces.get(self.space).size_option
        if opt == "layers" and self.cells != 5:
            raise ValueError(f"--cells {self.cells} sizes cells-per-stage spaces; the "
                             f"{self.space!r} supernet is sized by --layers (cells in total)")
        if opt == "cells" and self.layers is not None:
            raise ValueError(f"--layers {self.layers} sizes DARTS-style spaces; the "
                             f"{self.space!r} supernet is sized by --cells (cells per stage)")
        if self.layers is not None and self.layers < 3:
            raise ValueError(f"layers={self.layers!r} must be >= 3 (two reduction cells and a "
                             f"normal one)")
        object.__setattr__(self, "dataset", datasets.canonical(self.dataset))

    @property
    def size_kwargs(self) -> dict[str, int]:
        """The depth argument of the space's ``supernet(...)``: ``cells_per_stage`` or
        ``layers``."""
        from jaxnas import spaces

        if spaces.get(self.space).size_option == "layers":
            return {"layers": 8 if self.layers is None else self.layers}
        return {"cells_per_stage": self.cells}

    @property
    def mode(self) -> str:
        """The train-step mode (:data:`jaxnas.darts.step.MODES`): ``fixed`` | ``second`` |
        ``first``."""
        return "fixed" if self.fix_alpha else "second" if self.second_order else "first"

    def replace(self, **changes) -> DartsConfig:
        """A copy with ``changes`` (validated)."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-able dict (field order)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> DartsConfig:
        """Options from a dict (``derived`` is ignored; unknown names are an error)."""
        opts = {k: v for k, v in options.items() if k != "derived"}
        _check_names(opts)
        return cls(**opts)


# Options added after work directories were first written, with the value that reproduces what
# those directories hold (before scanned stages, the cells were unrolled).
LEGACY_DEFAULTS: dict[str, Any] = {"scan": False, "layers": None, "image_size": None,
                                   "alpha_lr": ALPHA_LR}

# Options that may change between a run and its resumption: where files live and how often to
# checkpoint. Every other option changes the computation, so a mismatch refuses to resume.
RESUMABLE_CHANGES = frozenset({"image_dir", "download", "data_dir", "ckpt_every", "keep"})

CONFIG_FILE = "config.json"


def _kind(f: dataclasses.Field) -> Any:
    t = str(f.type)
    return {"str": str, "int": int, "bool": bool, "float": float, "str | None": "str?",
            "int | None": "int?"}[t]


def _kind_name(kind: Any) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", float: "a number",
            "str?": "a string or None",
            "int?": "an integer or None"}[kind]


def _check_names(opts: Mapping[str, Any]) -> None:
    known = [f.name for f in dataclasses.fields(DartsConfig)]
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise ValueError(f"unknown DARTS options {unknown}; known: {sorted(known)}")


def check_space(name: str) -> None:
    """Raises a one-line ValueError unless ``name`` is a registered space with a supernet."""
    from jaxnas import spaces

    space = spaces.SPACES.get(name)
    if space is None or not space.has_supernet:
        with_supernet = sorted(n for n, s in spaces.SPACES.items() if s.has_supernet)
        what = "has no supernet" if space is not None else "is not a registered search space"
        raise ValueError(f"space {name!r} {what}; spaces with a supernet: {with_supernet}")


def make_config(**overrides) -> DartsConfig:
    """:class:`DartsConfig` with ``overrides`` (validated)."""
    return DartsConfig.from_dict(overrides)


def read_config(workdir: str | Path) -> tuple[DartsConfig, dict] | None:
    """``(config, derived)`` of ``workdir/config.json``, or ``None`` when there is none.

    Work directories written before an option existed get its :data:`LEGACY_DEFAULTS` value.
    """
    p = Path(workdir) / CONFIG_FILE
    if not p.exists():
        return None
    saved = {**LEGACY_DEFAULTS, **json.loads(p.read_text())}
    return DartsConfig.from_dict(saved), saved.get("derived", {})


def config_differences(saved: DartsConfig, new: DartsConfig) -> dict[str, tuple[Any, Any]]:
    """Options (other than :data:`RESUMABLE_CHANGES`) whose values differ, as
    ``{name: (saved, new)}``."""
    a, b = saved.to_dict(), new.to_dict()
    return {k: (a[k], b[k]) for k in a if k not in RESUMABLE_CHANGES and a[k] != b[k]}


def fields_help() -> list[tuple[dataclasses.Field, str]]:
    """Every option with its help text (the CLI builds its flags from these)."""
    return [(f, f.metadata.get("help", "")) for f in dataclasses.fields(DartsConfig)]


__all__ = ["CONFIG_FILE", "DartsConfig", "LEGACY_DEFAULTS", "RESUMABLE_CHANGES", "check_space",
           "config_differences", "fields_help", "make_config", "read_config"]
