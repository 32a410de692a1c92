"""Run options of a DARTS search (a plain JSON-able dict) and their compatibility on resume."""

from __future__ import annotations

from typing import Any

from jaxnas.darts.step import OBJECTIVES

# The defaults for DARTS on NAS-Bench-201.
DEFAULTS: dict[str, Any] = {
    "space": "nb201",
    "dataset": "cifar10",
    "epochs": 50,
    "batch_size": 64,
    "channels": 16,
    "cells": 5,
    "image_dir": None,
    "data_dir": None,
    "fix_alpha": False,
    "second_order": False,
    "max_examples": None,
    "steps_per_epoch": None,
    "seed": 0,
    "ckpt_every": 100,
    "keep": 3,
    "objective": "darts",
    "na_samples": 4,
    "augment": True,
    "scan": True,
}

# Options that may change between a run and its resumption: where files live and how often to
# checkpoint. Every other option changes the computation, so a mismatch refuses to resume.
RESUMABLE_CHANGES = frozenset({"image_dir", "data_dir", "ckpt_every", "keep"})


def make_config(**overrides) -> dict[str, Any]:
    """:data:`DEFAULTS` updated with ``overrides``; validates names and values."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown DARTS options {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    c = dict(DEFAULTS, **overrides)
    if c["space"] != "nb201":
        raise ValueError(f"space {c['space']!r} is not supported; only 'nb201'")
    if c["objective"] not in OBJECTIVES:
        raise ValueError(f"unknown objective {c['objective']!r}; choose one of {OBJECTIVES}")
    if c["fix_alpha"] and c["second_order"]:
        raise ValueError("--fix-alpha and --second-order exclude each other (no alpha update)")
    for k in ("epochs", "batch_size", "channels", "cells", "ckpt_every", "keep", "na_samples"):
        if int(c[k]) < 1:
            raise ValueError(f"{k}={c[k]!r} must be a positive integer")
    for k in ("max_examples", "steps_per_epoch"):
        if c[k] is not None and int(c[k]) < 1:
            raise ValueError(f"{k}={c[k]!r} must be a positive integer or None")
    return c


def mode_of(config: dict) -> str:
    """The train-step mode: ``fixed`` | ``second`` | ``first``."""
    return "fixed" if config["fix_alpha"] else "second" if config["second_order"] else "first"


def config_differences(saved: dict, new: dict) -> dict[str, tuple[Any, Any]]:
    """Options (other than :data:`RESUMABLE_CHANGES` and ``derived``) whose values differ,
    as ``{name: (saved, new)}``."""
    keys = (set(saved) | set(new)) - RESUMABLE_CHANGES - {"derived"}
    return {k: (saved.get(k), new.get(k)) for k in sorted(keys) if saved.get(k) != new.get(k)}


__all__ = ["DEFAULTS", "RESUMABLE_CHANGES", "config_differences", "make_config", "mode_of"]
