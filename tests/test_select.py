"""The selection driver and ``jaxnas select`` on a tiny NAS-Bench-201 supernet (C=4, N=1)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.cli import main
from jaxnas.models import Network, init
from jaxnas.selection import run as sel
from jaxnas.spaces import nb201 as space


def _tiny_supernet(seed=0, fix_alpha=False, n=96, hw=8, classes=3):
    net = Network(channels=4, cells_per_stage=1, num_classes=classes)
    variables = init(jax.random.key(seed), net, (hw, hw, 3))
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, hw, hw, 3), dtype=np.uint8)
    y = rng.integers(0, classes, n).astype(np.int32)
    alpha = (jnp.zeros((6, 5)) if fix_alpha
             else jax.random.normal(jax.random.key(seed + 1), (6, 5)))
    return sel.Supernet(
        net=net, variables=variables, alpha=alpha, fix_alpha=fix_alpha,
        train=(x[: n // 2], y[: n // 2]), valid=(x[n // 2:], y[n // 2:]),
        to_input=lambda u: u.astype(jnp.float32) / 255.0 - 0.5, augment=None, lr=0.1,
        batch_size=16, config={})


def test_perturbation_on_tiny_supernet(tmp_path, data_dir):
    s = _tiny_supernet()
    lines = []
    r = sel.select_supernet(s, tmp_path, tune_epochs=1, steps_per_epoch=2, seed=3,
                            data_dir=data_dir, log=lines.append)
    assert r["method"] == "perturbation" and r["variant"] == "darts-pt"
    ops = np.asarray(r["arch_ops"])
    assert r["arch"] == space.to_string(ops)
    assert sorted(d["edge"] for d in r["decisions"]) == list(range(6))
    assert [d["edge"] for d in r["decisions"]] == r["order"]
    for d in r["decisions"]:
        assert len(d["removed_acc"]) == 5 and len(d["removed_loss"]) == 5
        assert d["op"] == int(np.argmin(d["removed_acc"])) == ops[d["edge"]]
        assert d["op_name"] == space.OPS[d["op"]]
        assert all(0.0 <= a <= 1.0 for a in d["removed_acc"])
    # Candidates differ: scoring is not vacuous.
    assert max(np.ptp(d["removed_loss"]) for d in r["decisions"]) > 1e-4
    from jaxnas.benchmarks import nb201

    row = nb201.lookup(ops, data_dir)
    assert r["benchmark"]["cifar10"]["test"] == pytest.approx(row["cifar10_test_200"])
    assert r["benchmark"]["imagenet16-120"]["valid"] == pytest.approx(row["imagenet16_valid_200"])
    assert r["benchmark"]["index"] == row["index"]
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["arch"] == r["arch"] and saved["decisions"][0]["removed_acc"] == pytest.approx(
        r["decisions"][0]["removed_acc"])
    assert sum("keep" in line for line in lines) == 6
    # A finished run on the same directory is restored, not recomputed.
    again = sel.select_supernet(s, tmp_path, tune_epochs=1, steps_per_epoch=2, seed=3,
                                data_dir=data_dir, log=lines.append)
    assert again["arch"] == r["arch"] and any("resuming" in line for line in lines)
    with pytest.raises(ValueError, match="config"):
        sel.select_supernet(s, tmp_path, tune_epochs=1, steps_per_epoch=2, seed=4,
                            data_dir=data_dir)


def test_magnitude_and_missing_benchmark(tmp_path):
    s = _tiny_supernet(seed=2)
    r = sel.select_supernet(s, tmp_path, method="magnitude", data_dir=tmp_path / "nothing")
    np.testing.assert_array_equal(r["arch_ops"], np.argmax(np.asarray(s.alpha), -1))
    assert [d["edge"] for d in r["decisions"]] == list(range(6))
    assert r["decisions"][2]["alpha"] == pytest.approx(np.asarray(s.alpha[2]).tolist())
    assert r["benchmark"]["cifar10"] is None and "accuracies.csv" in r["benchmark"]["reason"]
    assert "note" not in r
    f = sel.select_supernet(_tiny_supernet(fix_alpha=True), None, method="magnitude",
                            data_dir=tmp_path / "nothing")
    assert f["arch_ops"] == [0] * 6 and "undefined" in f["note"]
    assert f["variant"] == "darts (magnitude, fix-alpha)"


def test_fix_alpha_scores_with_uniform_weights(tmp_path):
    """Fix-alpha: undecided edges weigh every op 1/5 whatever alpha holds."""
    s = _tiny_supernet(seed=5)
    a = sel.select_supernet(s._replace(fix_alpha=True), None, tune_epochs=0, order="fixed",
                            data_dir=tmp_path)
    b = sel.select_supernet(s._replace(fix_alpha=True, alpha=jnp.zeros((6, 5))), None,
                            tune_epochs=0, order="fixed", data_dir=tmp_path)
    c = sel.select_supernet(s, None, tune_epochs=0, order="fixed", data_dir=tmp_path)
    assert a["variant"] == "darts-pt fix-alpha"
    assert a["decisions"][0]["removed_loss"] == pytest.approx(b["decisions"][0]["removed_loss"])
    assert a["decisions"][0]["removed_loss"] != pytest.approx(c["decisions"][0]["removed_loss"])
    assert a["order"] == list(range(6))


@pytest.mark.parametrize("kwargs, msg", [
    ({"method": "random"}, "unknown selection method 'random'"),
    ({"crit": "auc"}, "unknown selection criterion 'auc'"),
    ({"order": "backwards"}, "unknown edge order 'backwards'"),
    ({"order": [0, 1, 2, 3, 4, 4]}, "permutation"),
])
def test_bad_arguments(tmp_path, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        sel.select(tmp_path, **kwargs)


def test_cli_without_trained_supernet(tmp_path, capsys):
    assert main(["select", "--workdir", str(tmp_path / "run"), "--json"]) == 2
    err = capsys.readouterr().err
    assert "no trained supernet" in err and "jaxnas darts --workdir" in err
