"""The options of a from-scratch training run (``jaxnas train``): one frozen, validated
dataclass, the protocol presets it starts from, its JSON form and its compatibility on resume.

:class:`TrainConfig` is the single source of the option names; its defaults are the
NAS-Bench-201 protocol. A *protocol* (:data:`PROTOCOLS`) is a named set of option values; flags
given explicitly override it (:func:`make_config`).

Protocols (the papers' final-evaluation settings):

* ``darts`` (Liu et al., ICLR 2019, ``cnn/train.py``; darts-pt ``sota/cnn/train.py``): 20 cells,
  C=36, auxiliary head with weight 0.4, cutout 16, drop path 0.2 ramped linearly over the epochs
  (``drop_path_prob * epoch / epochs``), SGD momentum 0.9, lr 0.025 cosine-annealed to 0 per
  epoch (``CosineAnnealingLR(T_max=epochs)``), weight decay 3e-4 (coupled, after clipping the
  gradient to global norm 5), batch 96, 600 epochs. The default for DARTS-family spaces.
* ``robustdarts`` (Zela et al., ICLR 2020): ``darts`` with 8 cells and 16 channels, for S1-S4 on
  CIFAR-100 and SVHN.
* ``nb201`` (Dong & Yang, ICLR 2020; AutoDL-Projects ``configs/nas-benchmark/hyper-opts/
  200E.config``): SGD with Nesterov momentum 0.9, lr 0.1 cosine-annealed to 0 per iteration,
  weight decay 5e-4, batch 256, 200 epochs, crop and flip only, N=5 cells per stage, C=16.
  The default for ``--space nb201``.
* ``nb201-12``: its 12-epoch schedule (``12E.config``: the cosine runs over 12 epochs), the
  benchmark's ``*_12`` columns.
* ``darts-quick``, ``robustdarts-quick``, ``nb201-quick``: shrunk to run in a few minutes on a
  2-core CPU (pipeline checks; their accuracies mean nothing).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jaxnas import datasets

PRECISIONS = ("float32", "bfloat16")
SCHEDULES = ("epoch", "step")


def _opt(default: Any, help: str, **extra) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, **extra})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every option of a training run. Validated on construction: a bad name or value raises a
    one-line ``ValueError`` naming it."""

    space: str = _opt("nb201", "search space of --arch (a registered space with networks)")
    arch: str = _opt("", "the architecture: the space's string (NB201 '|op~0|+...', DARTS "
                         "'Genotype(...)')")
    dataset: str = _opt("cifar10", "cifar10 | cifar100 | svhn | imagenet16-120")
    protocol: str = _opt("nb201", "the preset these options started from (recorded only)")
    epochs: int = _opt(200, "training epochs")
    batch_size: int = _opt(256, "images per step (global, over all devices and processes)")
    channels: int = _opt(16, "C of the network")
    cells: int = _opt(5, "cells per stage (NAS-Bench-201)")
    layers: int | None = _opt(None, "cells in total (DARTS-family spaces; default 20)")
    lr: float = _opt(0.1, "initial learning rate")
    lr_min: float = _opt(0.0, "final learning rate of the cosine")
    schedule: str = _opt("step", "cosine stepped per 'epoch' (DARTS) or per 'step' (NB201)",
                         choices=SCHEDULES)
    momentum: float = _opt(0.9, "SGD momentum")
    nesterov: bool = _opt(True, "Nesterov momentum")
    weight_decay: float = _opt(5e-4, "L2 weight decay added to the gradient (PyTorch's coupled "
                                     "SGD weight decay)")
    grad_clip: float = _opt(0.0, "clip the gradient to this global norm (0: no clipping)")
    aux_weight: float = _opt(0.0, "weight of the auxiliary head's loss (0: no auxiliary head)")
    cutout: int = _opt(0, "cutout square side in pixels (0: none)")
    drop_path: float = _opt(0.0, "final drop path probability, ramped linearly from 0")
    augment: bool = _opt(True, "random crop and flip (--no-augment: none)")
    precision: str = _opt("float32", "float32 | bfloat16 (mixed: bfloat16 activations and "
                                     "weights in the forward pass, float32 master weights)",
                          choices=PRECISIONS)
    max_examples: int | None = _opt(None, "seeded random subset of N train images")
    test_max_examples: int | None = _opt(None, "seeded random subset of N test images")
    steps_per_epoch: int | None = _opt(None, "default: one pass over the train images")
    eval_batch_size: int = _opt(500, "images per evaluation batch")
    image_dir: str | None = _opt(None, "folder of the dataset's images (default: TFDS)")
    download: bool = _opt(False, "let TFDS download and prepare a missing dataset")
    data_dir: str | None = _opt(None, "folder of the benchmark tables (NB201 look-ups)")
    seed: int = _opt(0, "seed of the first run (initialisation, batches, augmentation)")
    seeds: int = _opt(1, "train K seeds (seed, seed+1, ...) in one program, vmapped")
    ckpt_every: int = _opt(500, "checkpoint every K steps")
    keep: int = _opt(3, "checkpoints kept")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            kind = str(f.type)
            ok = _kind_ok(kind, v)
            if not ok:
                raise ValueError(f"training option {f.name}={v!r} must be {_KIND_NAMES[kind]}")
            if kind == "float":
                object.__setattr__(self, f.name, float(v))
        for k in ("epochs", "batch_size", "channels", "cells", "ckpt_every", "keep", "seeds",
                  "eval_batch_size"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k}={getattr(self, k)!r} must be a positive integer")
        for k in ("max_examples", "test_max_examples", "steps_per_epoch", "layers"):
            if getattr(self, k) is not None and getattr(self, k) < 1:
                raise ValueError(f"{k}={getattr(self, k)!r} must be a positive integer or None")
        for k in ("lr", "lr_min", "momentum", "weight_decay", "grad_clip", "aux_weight",
                  "cutout"):
            if getattr(self, k) < 0:
                raise ValueError(f"{k}={getattr(self, k)!r} must be >= 0")
        if not 0 <= self.drop_path < 1:
            raise ValueError(f"drop_path={self.drop_path!r} must be in [0, 1)")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r}; choose one of {SCHEDULES}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}; choose one of {PRECISIONS}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of "
                             f"{sorted(PROTOCOLS)}")
        from jaxnas import spaces

        space = spaces.get(self.space)  # one-line ValueError listing the registered spaces
        if not has_network(space):
            raise ValueError(f"space {self.space!r} has no network to train; spaces with "
                             f"networks: {spaces_with_networks()}")
        if space.size_option == "cells" and self.layers is not None:
            raise ValueError(f"--layers {self.layers} sizes DARTS-family networks; the "
                             f"{self.space!r} network is sized by --cells (cells per stage)")
        if self.layers is not None and self.layers < 3:
            raise ValueError(f"layers={self.layers!r} must be >= 3 (two reduction cells and a "
                             "normal one)")
        object.__setattr__(self, "dataset", datasets.canonical(self.dataset))

    @property
    def size_kwargs(self) -> dict[str, int]:
        """The depth argument of ``space.network(...)``: ``cells_per_stage`` or ``layers``."""
        from jaxnas import spaces

        if spaces.get(self.space).size_option == "layers":
            return {"layers": 20 if self.layers is None else self.layers}
        return {"cells_per_stage": self.cells}

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` (validated)."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-able dict (field order)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> TrainConfig:
        """Options from a dict (``derived`` is ignored; unknown names are an error)."""
        opts = {k: v for k, v in options.items() if k != "derived"}
        _check_names(opts)
        return cls(**opts)


def _kind_ok(kind: str, v: Any) -> bool:
    is_int = isinstance(v, int) and not isinstance(v, bool)
    return {"bool": isinstance(v, bool), "str": isinstance(v, str),
            "str | None": v is None or isinstance(v, str), "int": is_int,
            "int | None": v is None or is_int,
            "float": isinstance(v, (int, float)) and not isinstance(v, bool)}[kind]


_KIND_NAMES = {"str": "a string", "int": "an integer", "bool": "true or false",
               "str | None": "a string or None", "int | None": "an integer or None",
               "float": "a number"}

_NB201 = dict(epochs=200, batch_size=256, channels=16, cells=5, layers=None, lr=0.1, lr_min=0.0,
              schedule="step", momentum=0.9, nesterov=True, weight_decay=5e-4, grad_clip=0.0,
              aux_weight=0.0, cutout=0, drop_path=0.0, augment=True)
_DARTS = dict(epochs=600, batch_size=96, channels=36, layers=20, lr=0.025, lr_min=0.0,
              schedule="epoch", momentum=0.9, nesterov=False, weight_decay=3e-4, grad_clip=5.0,
              aux_weight=0.4, cutout=16, drop_path=0.2, augment=True)
# The quick variants: a seeded 2,048-image subset, 2 epochs, small networks, 2,000 test images.
_QUICK = dict(epochs=2, batch_size=64, max_examples=2048, test_max_examples=2000,
              ckpt_every=16)

#: protocol name -> option values (:func:`make_config` applies one, then explicit options)
PROTOCOLS: dict[str, dict[str, Any]] = {
    "nb201": _NB201,
    "nb201-12": {**_NB201, "epochs": 12},
    "nb201-quick": {**_NB201, **_QUICK, "channels": 8, "cells": 1},
    "darts": _DARTS,
    "darts-quick": {**_DARTS, **_QUICK, "channels": 8, "layers": 5},
    "robustdarts": {**_DARTS, "channels": 16, "layers": 8},
    "robustdarts-quick": {**_DARTS, **_QUICK, "channels": 8, "layers": 5},
}

# Options that may change between a run and its resumption: where files live, how often to
# checkpoint, the evaluation batch. Every other option changes the computation.
RESUMABLE_CHANGES = frozenset({"image_dir", "download", "data_dir", "ckpt_every", "keep",
                               "eval_batch_size"})

CONFIG_FILE = "config.json"


def has_network(space) -> bool:
    """Whether a space builds discrete networks (overrides ``SearchSpace.network``)."""
    from jaxnas.spaces import SearchSpace

    return type(space).network is not SearchSpace.network


def spaces_with_networks() -> list[str]:
    """Names of the registered spaces that build discrete networks."""
    from jaxnas import spaces

    return sorted(n for n, s in spaces.SPACES.items() if has_network(s))


def _check_names(opts: Mapping[str, Any]) -> None:
    known = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise ValueError(f"unknown training options {unknown}; known: {sorted(known)}")


def default_protocol(space: str) -> str:
    """``nb201`` for cells-per-stage spaces (NAS-Bench-201), ``darts`` for the DARTS family."""
    from jaxnas import spaces

    return "darts" if spaces.get(space).size_option == "layers" else "nb201"


def make_config(space: str = "nb201", protocol: str | None = None, **options) -> TrainConfig:
    """A :class:`TrainConfig`: the ``protocol`` preset (default :func:`default_protocol` of
    ``space``), then ``options``: every value that is not ``None`` overrides the preset (so
    unset CLI flags, ``None``, keep it)."""
    protocol = protocol or default_protocol(space)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
    _check_names(options)
    preset = dict(PROTOCOLS[protocol])
    from jaxnas import spaces

    if spaces.get(space).size_option == "cells":
        preset.pop("layers", None)  # a DARTS protocol on NB201 keeps --cells
    given = {k: v for k, v in options.items() if v is not None}
    return TrainConfig(space=space, protocol=protocol, **{**preset, **given})


def read_config(workdir: str | Path) -> tuple[TrainConfig, dict] | None:
    """``(config, derived)`` of ``workdir/config.json``, or ``None`` when there is none."""
    p = Path(workdir) / CONFIG_FILE
    if not p.exists():
        return None
    saved = json.loads(p.read_text())
    return TrainConfig.from_dict(saved), saved.get("derived", {})


def config_differences(saved: TrainConfig, new: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """Options (other than :data:`RESUMABLE_CHANGES`) whose values differ, as
    ``{name: (saved, new)}``."""
    a, b = saved.to_dict(), new.to_dict()
    return {k: (a[k], b[k]) for k in a if k not in RESUMABLE_CHANGES and a[k] != b[k]}


def fields_help() -> list[tuple[dataclasses.Field, str]]:
    """Every option with its help text (the CLI builds its flags from these)."""
    return [(f, f.metadata.get("help", "")) for f in dataclasses.fields(TrainConfig)]


__all__ = ["CONFIG_FILE", "PRECISIONS", "PROTOCOLS", "RESUMABLE_CHANGES", "SCHEDULES",
           "TrainConfig", "config_differences", "default_protocol", "fields_help", "has_network",
           "make_config", "read_config", "spaces_with_networks"]
