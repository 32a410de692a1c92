"""The experiment configurations in experiments/configs load, derive from one another as their
docstrings say, and are valid DARTS run options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jaxnas import darts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import configs  # noqa: E402


def test_derived_configs_follow_their_bases():
    full = configs.load("darts_pt_full").get_config()
    quick = configs.load("darts_pt_quick").get_config()
    assert quick["search"] == {**full["search"], "max_examples": 8000, "channels": 8, "cells": 1,
                               "batch_size": 32, "epochs": 4, "ckpt_every": 125}
    na = configs.load("na_darts_quick").get_config()
    assert na["search"] == quick["search"] and na["select"] == quick["select"]
    assert na["variants"]["na_darts"] == {"objective": "neighborhood", "na_samples": 2}
    for c in (full, quick, na):
        darts.make_config(**c["search"])  # valid options (raises otherwise)


def test_unknown_config_names_the_available_ones():
    with pytest.raises(FileNotFoundError, match=r"no config .*nope\.py; available: .*darts_pt_quick"):
        configs.load("nope")


def test_darts_space_configs_are_valid_runs():
    full = configs.load("darts_space_full").get_config()
    quick = configs.load("darts_space_quick").get_config()
    assert full["search"]["space"] == "darts-7" and full["search"]["layers"] == 8
    assert quick["search"] == {**full["search"], "max_examples": 2000, "channels": 8,
                               "layers": 5, "batch_size": 32, "epochs": 2, "ckpt_every": 20}
    for c in (full, quick):
        for opts in c["variants"].values():
            darts.make_config(**c["search"], **opts)
    for space in ("s1", "s2", "s3", "s4"):
        for dataset in ("cifar10", "cifar100", "svhn"):
            c = configs.load("robustdarts").get_config(space=space, dataset=dataset)
            cfg = darts.make_config(**c["search"])
            assert (cfg.space, cfg.dataset, cfg.layers, cfg.channels) == (space, dataset, 8, 16)
    with pytest.raises(ValueError, match="s5"):
        configs.load("robustdarts").get_config(space="s5")


def test_darts_pt_cpu_config_is_the_documented_protocol():
    c = configs.load("darts_pt_cpu").get_config()
    cfg = darts.make_config(**c["search"])
    assert (cfg.image_size, cfg.channels, cfg.cells, cfg.max_examples, cfg.epochs) == (
        16, 8, 1, 20000, 50)
    assert set(c["variants"]) == {"darts", "fix_alpha", "na_darts"}
