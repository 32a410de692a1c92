"""The selection driver and ``jaxnas select`` on a tiny NAS-Bench-201 supernet (C=4, N=1)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.cli import main
from jaxnas.models import init
from jaxnas.selection import run as sel
from jaxnas.spaces import nb201 as space


def _tiny_supernet(seed=0, fix_alpha=False, n=96, hw=8, classes=3):
    net = space.SPACE.supernet(channels=4, cells_per_stage=1, num_classes=classes)
    variables = init(jax.random.key(seed), net, (hw, hw, 3))
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, hw, hw, 3), dtype=np.uint8)
    y = rng.integers(0, classes, n).astype(np.int32)
    alpha = (jnp.zeros((6, 5)) if fix_alpha
             else jax.random.normal(jax.random.key(seed + 1), (6, 5)))
    return sel.Supernet(
        space=space.SPACE, net=net, variables=variables, alpha=alpha, fix_alpha=fix_alpha,
        train=(x[: n // 2], y[: n // 2]), valid=(x[n // 2:], y[n // 2:]),
        to_input=lambda u: u.astype(jnp.float32) / 255.0 - 0.5, augment=None, lr=0.1,
        batch_size=16)


@pytest.mark.slow  # kept out of CI for time; run with -m slow
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
    assert sum("keep" in line for line in lines) == 6  # no decision was made again
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


# ------------------------------------------------------------------------------------------
# End to end on tiny `jaxnas darts` work directories (C=4, N=1, 8x8 images).
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def darts_runs(tmp_path_factory):
    """A DARTS run trained by the trainer's library function, and a copy of it marked as a
    fix-alpha run (``fix_alpha`` in config.json; the state has the same structure), which is all
    selection reads; training a second supernet would double the test's compile time."""
    import shutil

    from jaxnas import darts

    d = tmp_path_factory.mktemp("darts")
    r = np.random.default_rng(0)
    np.savez(d / "train.npz", images=r.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8),
             labels=r.integers(0, 10, 64).astype(np.uint8))
    cfg = darts.make_config(image_dir=str(d), channels=4, cells=1, batch_size=8, epochs=1)
    from jaxnas import spaces

    report = darts.benchmark_report(spaces.get(cfg.space))
    out = {"darts": (d / "darts", darts.train(cfg, d / "darts", progress=False, report=report))}
    shutil.copytree(d / "darts", d / "fix")
    c = json.loads((d / "fix" / "config.json").read_text())
    (d / "fix" / "config.json").write_text(json.dumps(dict(c, fix_alpha=True)))
    out["fix"] = (d / "fix", None)
    return out


def test_select_on_darts_workdirs(darts_runs, tmp_path, data_dir):
    wd, trained = darts_runs["darts"]
    mag = sel.select(wd, method="magnitude", data_dir=data_dir, progress=False)
    assert mag["arch"] == trained["arch"]  # the trainer's own magnitude selection
    assert mag["benchmark"]["cifar10"]["test"] == pytest.approx(
        trained["benchmark"]["cifar10_test_200"])
    assert (wd / "select_magnitude" / "result.json").is_file()
    r = sel.select(wd, tune_epochs=1, steps_per_epoch=2, order="fixed", data_dir=data_dir,
                   progress=False)
    assert r["variant"] == "darts-pt" and not r["fix_alpha"]
    assert [d["edge"] for d in r["decisions"]] == list(range(6))
    assert r["settings"]["tune_lr"] == pytest.approx(0.0025)  # a tenth of DARTS's 0.025
    assert r["settings"]["num_valid"] == 32 and r["settings"]["num_train"] == 32
    assert json.loads((wd / "select_perturbation" / "result.json").read_text())["arch"] == \
        r["arch"]
    fwd, _ = darts_runs["fix"]
    f = sel.select(fwd, tune_epochs=0, order="fixed", data_dir=data_dir, progress=False)
    assert f["variant"] == "darts-pt fix-alpha" and f["fix_alpha"]
    assert space.to_string(np.asarray(f["arch_ops"])) == f["arch"]


def test_cli_select_json(darts_runs, capsys, data_dir, tmp_path):
    wd, _ = darts_runs["fix"]
    argv = ["select", "--workdir", str(wd), "--tune-epochs", "1", "--steps-per-epoch", "1",
            "--edge-order", "5,4,3,2,1,0", "--crit", "loss", "--data-dir", str(data_dir),
            "--out-dir", str(tmp_path / "sel")]
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr()
    r = json.loads(out.out)
    assert r["method"] == "perturbation" and r["variant"] == "darts-pt fix-alpha"
    assert [d["edge"] for d in r["decisions"]] == [5, 4, 3, 2, 1, 0]
    for d in r["decisions"]:  # crit=loss keeps the op whose removal raises the loss most
        assert d["op"] == int(np.argmax(d["removed_loss"]))
    assert "keep" in out.err  # progress goes to stderr
    # each decision is printed before the fine-tuning that follows it
    lines = [ln for ln in out.err.splitlines() if "-> keep" in ln or "fine-tune epoch" in ln]
    assert "-> keep" in lines[0] and "fine-tune epoch" in lines[1], lines[:3]
    assert "%" in lines[0]  # percent, as in the table
    assert r["benchmark"]["cifar100"]["test"] > 0
    # The table output of the same (finished, restored) run.
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert r["arch"] in text and "benchmark test accuracy: cifar10" in text
    assert f"result: {tmp_path / 'sel' / 'result.json'}" in text
    assert "val. acc. with op removed: none" in text  # one column per candidate op
    row = next(ln for ln in text.splitlines() if ln.strip().startswith("0 "))
    assert f"{100 * r['decisions'][0]['removed_acc'][0]:.2f}%" in row
    assert json.loads((tmp_path / "sel" / "result.json").read_text())["arch"] == r["arch"]
    assert main(["select", "--workdir", str(wd), "--method", "magnitude", "--json"]) == 0
    assert "undefined" in json.loads(capsys.readouterr().out)["note"]
    # Other settings on a directory holding a selection: refused, naming the way out.
    assert main([*argv[:-1], str(tmp_path / "sel"), "--seed", "3"]) == 2
    assert "--out-dir" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_select_sigkill_then_resume(darts_runs, tmp_path, data_dir):
    """SIGKILL `jaxnas select` after its first decision is checkpointed; the rerun continues
    from there and selects the same architecture as an uninterrupted run."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    src, _ = darts_runs["darts"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent),
               JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax_cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    runs = {}
    for name in ("full", "killed"):
        wd = tmp_path / name
        shutil.copytree(src, wd, ignore=shutil.ignore_patterns("select_*"))
        runs[name] = wd
    cmd = [sys.executable, "-m", "jaxnas.cli", "select", "--tune-epochs", "2",
           "--steps-per-epoch", "2", "--seed", "1", "--data-dir", str(data_dir), "--json"]
    full = subprocess.run([*cmd, "--workdir", str(runs["full"])], env=env, capture_output=True,
                          text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    proc = subprocess.Popen([*cmd, "--workdir", str(runs["killed"])], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = runs["killed"] / "select_perturbation" / "checkpoints"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if (ck / "1").is_dir():
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the selection finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (runs["killed"] / "select_perturbation" / "result.json").exists()
    again = subprocess.run([*cmd, "--workdir", str(runs["killed"])], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming" in again.stderr
    assert again.stderr.count("keep") < 6  # decisions already made were not redone
    a, b = json.loads(full.stdout), json.loads(again.stdout)
    assert a["arch"] == b["arch"] and a["order"] == b["order"]
    assert a["decisions"][0] == b["decisions"][0]
    for x, y in zip(a["decisions"], b["decisions"], strict=True):
        assert x["removed_acc"] == pytest.approx(y["removed_acc"], abs=1e-6)


def test_validation_batches_are_shuffled():
    """Class-sorted halves must not give single-class scoring batches (BN batch statistics)."""
    x = np.arange(200, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    y = np.repeat(np.arange(10), 20).astype(np.int32)  # sorted by class
    vx, vy = sel.validation_subset((x, y), 16, None, seed=0)
    assert vx.shape[0] == 192 and len(set(vx[:, 0, 0, 0].tolist())) == 192  # no repeats
    np.testing.assert_array_equal(vy, y[vx[:, 0, 0, 0].astype(int)])  # pairs kept together
    assert all(len(set(b.tolist())) >= 5 for b in vy.reshape(-1, 16))
    sx, sy = sel.validation_subset((x, y), 16, 3, seed=0)
    assert sx.shape[0] == 48 and len(set(sy[:16].tolist())) >= 5
    np.testing.assert_array_equal(sel.validation_subset((x, y), 16, 3, seed=0)[1], sy)


@pytest.mark.slow  # ~35 s; the DARTS-space selection tests exercise a pytree alpha in CI
def test_selection_on_a_pytree_alpha_space_equals_the_stacked_rows(tmp_path):
    """A space whose alpha is a dict of two [3, 5] leaves (rows = NB201's 6 edges): selection
    decides the rows of both leaves as one list and hands the supernet its own layout, with
    the same scores and decisions as the single-matrix NB201 space."""
    import dataclasses

    import flax.linen as nn

    from jaxnas.spaces.nb201 import NB201Space

    @dataclasses.dataclass(frozen=True)
    class SplitSpace(NB201Space):
        name: str = "nb201_split_test"

        @property
        def alpha_shapes(self):
            return {"a": (3, 5), "b": (3, 5)}

        def decisions(self):
            return [("a", r) for r in range(3)] + [("b", r) for r in range(3)]

        def edge_name(self, leaf, row):
            return f"{leaf}[{row}]"

        def discretize(self, alpha, mask=None):
            a = np.concatenate([alpha["a"], alpha["b"]])
            if mask is not None:
                a = np.where(np.concatenate([mask["a"], mask["b"]]), a, -np.inf)
            return np.argmax(a, -1).astype(np.int32)

    class SplitNet(nn.Module):
        inner: nn.Module

        @nn.compact
        def __call__(self, x, op_weights, train=False):
            return self.inner(x, jnp.concatenate([op_weights["a"], op_weights["b"]]), train)

    base = _tiny_supernet(seed=1)
    v = base.variables
    split = base._replace(
        space=SplitSpace(), net=SplitNet(base.net),
        variables={"params": {"inner": v["params"]}, "batch_stats": {"inner": v["batch_stats"]}},
        alpha={"a": base.alpha[:3], "b": base.alpha[3:]})
    kw = dict(tune_epochs=1, steps_per_epoch=1, valid_batches=2, seed=5, order="fixed",
              crit="loss")
    r0 = sel.select_supernet(base, None, **kw)
    r1 = sel.select_supernet(split, None, **kw)
    assert r1["arch_ops"] == r0["arch_ops"]
    assert [d["edge_name"] for d in r1["decisions"]] == ["a[0]", "a[1]", "a[2]", "b[0]",
                                                         "b[1]", "b[2]"]
    for d0, d1 in zip(r0["decisions"], r1["decisions"], strict=True):
        assert d1["op"] == d0["op"] and d1["op_name"] == d0["op_name"]
        np.testing.assert_allclose(d1["removed_loss"], d0["removed_loss"], rtol=1e-5)
    assert max(np.ptp(d["removed_loss"]) for d in r1["decisions"]) > 1e-4
    assert set(r1["alpha"]) == {"a", "b"} and r1["benchmark"]["reason"].startswith("no tabular")
    mag = sel.select_supernet(split, None, method="magnitude")
    assert mag["arch_ops"] == np.argmax(np.asarray(base.alpha), -1).tolist()
