"""The experiment configurations in experiments/configs load, derive from one another as their
docstrings say, and are valid DARTS run options."""

from __future__ import annotations

import json
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
    assert (cfg.image_size, cfg.channels, cfg.cells, cfg.max_examples, cfg.epochs,
            cfg.alpha_lr) == (16, 8, 1, 20000, 50, 3e-3)
    assert set(c["variants"]) == {"darts", "fix_alpha", "na_darts"}


def test_darts_pt_cpu_driver_runs_variant_major_and_merges_records(tmp_path, monkeypatch):
    """The issue-20 driver's bookkeeping, with the supernet runs replaced by a recorder: every
    seed of one variant runs before the next variant, and a later invocation replaces only the
    (method, seed) records it produced."""
    import darts_pt
    import darts_pt_cpu

    calls = []

    def fake_run(config, out, data_dir=None):
        (variant,) = config["variants"]
        seed = config["search"]["seed"]
        assert config["select"]["seed"] == seed
        calls.append((variant, seed))
        (out / variant).mkdir(parents=True)
        (out / variant / "metrics.jsonl").write_text(
            json.dumps({"epoch": 1, "alpha_entropy": 1.5 - seed, "op_weight": {"none": 0.2}})
            + "\n")
        bench = {"cifar10": {"test": 90.0 + seed}, "cifar100": {"test": 70.0},
                 "imagenet16-120": {"test": 40.0}}
        # darts_pt.run's row contract: the selection's result and the search's last entropy
        return [{"variant": variant, "method": m, "final_alpha_entropy": 1.5 - seed,
                 "result": {"arch": f"|{variant}-{m}-{seed}|", "benchmark": bench}}
                for m in ("magnitude", "perturbation")]

    monkeypatch.setattr(darts_pt, "run", fake_run)
    js = tmp_path / "r.json"
    md = tmp_path / "R.md"
    md.write_text("# hand-written title\n\nverdict text\n")
    argv = ["--out", str(tmp_path / "a"), "--json-out", str(js), "--seeds", "0", "1",
            "--results", str(md)]
    assert darts_pt_cpu.main([*argv, "--variants", "darts", "fix_alpha"]) == 0
    assert calls == [("darts", 0), ("darts", 1), ("fix_alpha", 0), ("fix_alpha", 1)]
    recs = json.loads(js.read_text())
    # magnitude on the fix-alpha supernet is undefined and not recorded
    assert sorted((r["method"], r["seed"]) for r in recs) == [
        ("darts", 0), ("darts", 1), ("darts-pt", 0), ("darts-pt", 1),
        ("darts-pt-fix-alpha", 0), ("darts-pt-fix-alpha", 1)]
    r = next(r for r in recs if (r["method"], r["seed"]) == ("darts-pt", 1))
    assert (r["arch"], r["cifar10_test"], r["final_alpha_entropy"], r["epochs"]) == (
        "|darts-perturbation-1|", 91.0, 0.5, 50)
    # A second invocation (another variant, one seed) keeps the earlier records.
    text = md.read_text()
    assert text.startswith("# hand-written title\n\nverdict text\n") and text.count("<!--") == 2
    # mean ± sample std over the two seeds (90 and 91), next to the published figure
    assert "| darts-pt | 0, 1 | 90.50 ± 0.71 | 70.00 ± 0.00 | 40.00 ± 0.00 | 88.11 ± 1.80 |" \
        in text
    assert "| darts-pt | 1 | `\\|darts-perturbation-1\\|` | 91.00 | 50 | 0.5000 |" in text
    traj = [{"epoch": e, "arch": a} for e, a in enumerate("aabbab", 1)]
    assert darts_pt_cpu.stable_from(traj) == 6
    assert darts_pt_cpu.stable_from(traj[:4]) == 3 and darts_pt_cpu.stable_from([]) is None
    assert darts_pt_cpu.main(["--out", str(tmp_path / "b"), "--json-out", str(js),
                              "--seeds", "1", "--variants", "na_darts",
                              "--results", str(md)]) == 0
    text = md.read_text()  # the block is replaced in place, the hand-written text kept
    assert text.count("<!--") == 2 and "| na-darts-pt | 1 |" in text and "verdict text" in text
    methods = sorted((r["method"], r["seed"]) for r in json.loads(js.read_text()))
    assert len(methods) == 8 and ("na-darts", 1) in methods and ("na-darts-pt", 1) in methods
    # A concurrent invocation that finishes after this one's last run: its record lands in the
    # JSON between this run's in-loop write and its final tables, and the tables keep it.
    write = darts_pt_cpu.write_results
    other = {**json.loads(js.read_text())[0], "method": "darts", "seed": 7}

    def write_then_other_finishes(recs, path):
        write(recs, path)
        if not any(r["seed"] == 7 for r in json.loads(js.read_text())):
            js.write_text(json.dumps([*json.loads(js.read_text()), other]))

    monkeypatch.setattr(darts_pt_cpu, "write_results", write_then_other_finishes)
    assert darts_pt_cpu.main(["--out", str(tmp_path / "c"), "--json-out", str(js), "--seeds",
                              "2", "--variants", "darts", "--results", str(md)]) == 0
    assert "| darts | 7 |" in md.read_text()
    with pytest.raises(SystemExit):
        darts_pt_cpu.main([*argv, "--variants", "nope"])


def test_darts_pt_cpu_results_are_the_committed_json():
    """Issue 20's record: every number in RESULTS_darts_pt.md's generated tables is what the
    driver makes of experiments/results/darts_pt_cpu.json, each record has the fields the
    issue names, and the README's summary quotes the tables' means."""
    import darts_pt_cpu

    root = Path(__file__).resolve().parents[1]
    recs = json.loads((root / "experiments/results/darts_pt_cpu.json").read_text())
    need = {"method", "seed", "arch", "cifar10_test", "cifar100_test", "imagenet16_test",
            "final_alpha_entropy", "epochs"}
    assert recs and all(need <= set(r) for r in recs)
    assert {r["method"] for r in recs} == set(darts_pt_cpu.ORDER)
    assert all(len({r["seed"] for r in recs if r["method"] == m}) >= 3
               for m in darts_pt_cpu.ORDER)
    text = (root / "experiments/RESULTS_darts_pt.md").read_text()
    block = text[text.index(darts_pt_cpu.BEGIN) + len(darts_pt_cpu.BEGIN):
                 text.index(darts_pt_cpu.END)]
    assert block.strip() == darts_pt_cpu.tables(recs)
    readme = " ".join((root / "README.md").read_text().split())
    for m, name in (("darts", "DARTS"), ("darts-pt", "DARTS-PT"),
                    ("darts-pt-fix-alpha", "fix-α"), ("na-darts", "NA-DARTS"),
                    ("na-darts-pt", "NA-DARTS with perturbation")):
        mean = darts_pt_cpu._mean_std([r["cifar10_test"] for r in recs if r["method"] == m])
        assert f"{name} {mean}" in readme, (name, mean)
