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
