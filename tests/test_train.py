"""`jaxnas train`: protocols, optimizer and augmentation against independent oracles, parameter
counts against the PyTorch references, the work directory contract, SIGKILL resume, the corrupt
checkpoint fallback, several seeds in one program, bfloat16, and two processes.

The machinery is exercised on ``toy-net`` (tests/fixtures/toy_train.py), whose step compiles in
about a second; the real networks are checked by their parameter counts here and trained in the
slow tests.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import corrupt_newest_checkpoint, kill_at_first_checkpoint

from jaxnas import train
from jaxnas.train import run as R

REPO = Path(__file__).resolve().parents[1]
NB201_ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
              "skip_connect~2|")


@pytest.fixture
def toy_space():
    from tests.fixtures import toy_train

    toy_train.register()
    yield toy_train.SPACE
    toy_train.unregister()


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    r = np.random.default_rng(0)
    for split, n in (("train", 64), ("test", 40)):
        np.savez(d / f"{split}.npz", images=r.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                 labels=r.integers(0, 10, n).astype(np.uint8))
    return d


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("jax_cache")
    return dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}", JAX_PLATFORMS="cpu",
                JAX_COMPILATION_CACHE_DIR=str(cache),
                JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")


def _toy_cmd(workdir, image_dir, *extra):
    return [sys.executable, "-m", "fixtures.toy_train", "train", "--space", "toy-net", "--arch",
            "conv,conv", "--protocol", "darts-quick", "--channels", "4", "--batch-size", "8",
            "--max-examples", "32", "--test-max-examples", "40", "--epochs", "3",
            "--ckpt-every", "2", "--image-dir", str(image_dir), "--workdir", str(workdir),
            "--no-progress", "--json", *extra]


def _json_out(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{"):])  # gloo may print a line first


def _run(cmd, env, timeout=300):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return _json_out(r.stdout), r.stderr


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, image_dir, cli_env):
    wd = tmp_path_factory.mktemp("toy") / "run"
    result, _ = _run(_toy_cmd(wd, image_dir), cli_env)
    return wd, result


# ---- oracles ------------------------------------------------------------------------------


def test_cutout_zeroes_one_clipped_square_per_image():
    from jaxnas.data import cutout

    x = jnp.ones((64, 12, 10, 3))
    key = jax.random.key(3)
    out = np.asarray(jax.jit(cutout, static_argnums=2)(key, x, 6))
    k_y, k_x = jax.random.split(key)
    cy = np.asarray(jax.random.randint(k_y, (64, 1, 1), 0, 12)).reshape(-1)
    cx = np.asarray(jax.random.randint(k_x, (64, 1, 1), 0, 10)).reshape(-1)
    for b in range(64):  # the reference's numpy slice: [clip(c - 3), clip(c + 3))
        want = np.ones((12, 10, 3))
        want[max(cy[b] - 3, 0):min(cy[b] + 3, 12), max(cx[b] - 3, 0):min(cx[b] + 3, 10)] = 0
        np.testing.assert_array_equal(out[b], want)
    assert 0 < (out == 0).mean() < 36 / 120  # clipped squares are smaller
    assert cutout(key, x, 0) is x


def test_cosine_schedules_per_epoch_and_per_step():
    ep = train.cosine_lr(0.025, 0.0, epochs=4, steps_per_epoch=10, per="epoch")
    st = train.cosine_lr(0.1, 0.0, epochs=4, steps_per_epoch=10, per="step")
    for step in (0, 5, 9, 10, 25, 39, 40, 55):
        e = min(step // 10, 4)
        np.testing.assert_allclose(float(ep(step)), 0.0125 * (1 + np.cos(np.pi * e / 4)),
                                   rtol=1e-6, atol=1e-7)
        t = min(step / 10, 4)
        np.testing.assert_allclose(float(st(step)), 0.05 * (1 + np.cos(np.pi * t / 4)),
                                   rtol=1e-6, atol=1e-7)
    dp = train.drop_path_rate(0.2, epochs=4, steps_per_epoch=10)
    assert [round(float(dp(s)), 6) for s in (0, 9, 10, 39)] == [0.0, 0.0, 0.05, 0.15]


@pytest.mark.parametrize("nesterov, clip", [(True, 0.0), (False, 0.5)])
def test_sgd_chain_matches_torch_sgd(nesterov, clip):
    """NB201's Nesterov SGD and DARTS's clip -> coupled decay -> momentum SGD, step for step
    against torch.optim.SGD with the same gradients."""
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    w0 = r.normal(size=(7,)).astype(np.float32)
    grads = [r.normal(size=(7,)).astype(np.float32) for _ in range(5)]
    lrs = [0.1, 0.08, 0.05, 0.02, 0.01]
    p = torch.nn.Parameter(torch.tensor(w0))
    opt = torch.optim.SGD([p], lr=lrs[0], momentum=0.9, weight_decay=5e-4, nesterov=nesterov)
    tx = train.sgd(lambda s: jnp.asarray(lrs)[s], 0.9, nesterov, 5e-4, clip)
    w = jnp.asarray(w0)
    s = tx.init(w)
    for g, lr in zip(grads, lrs, strict=True):
        p.grad = torch.tensor(g)
        if clip:
            torch.nn.utils.clip_grad_norm_([p], clip)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        u, s = tx.update(jnp.asarray(g), s, w)
        w = w + u
    np.testing.assert_allclose(np.asarray(w), p.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_protocol_presets_flags_and_errors():
    c = train.make_config("darts", arch="x", epochs=None)
    assert (c.protocol, c.layers, c.channels, c.aux_weight, c.cutout, c.drop_path,
            c.batch_size, c.epochs, c.lr, c.weight_decay, c.grad_clip, c.nesterov,
            c.schedule) == ("darts", 20, 36, 0.4, 16, 0.2, 96, 600, 0.025, 3e-4, 5.0, False,
                            "epoch")
    c = train.make_config("nb201", arch="x")
    assert (c.protocol, c.cells, c.channels, c.batch_size, c.epochs, c.lr, c.weight_decay,
            c.nesterov, c.schedule, c.aux_weight, c.cutout) == (
        "nb201", 5, 16, 256, 200, 0.1, 5e-4, True, "step", 0.0, 0)
    assert train.make_config("nb201", "nb201-12", arch="x").epochs == 12
    rd = train.make_config("s3", "robustdarts", arch="x", dataset="cifar100", layers=None)
    assert (rd.layers, rd.channels, rd.epochs, rd.dataset) == (8, 16, 600, "cifar100")
    over = train.make_config("darts", "darts", arch="x", layers=8, channels=16, epochs=3,
                             batch_size=32)
    assert (over.layers, over.channels, over.epochs, over.batch_size) == (8, 16, 3, 32)
    for bad, match in (({"protocol": "nope"}, "unknown protocol 'nope'"),
                       ({"epochs": 0}, "epochs=0 must be a positive"),
                       ({"drop_path": 1.5}, r"drop_path=1.5 must be in \[0, 1\)"),
                       ({"layers": 8}, "--layers 8 sizes DARTS-family"),
                       ({"dataset": "mnist"}, "unknown dataset 'mnist'")):
        space = "nb201"
        with pytest.raises(ValueError, match=match):
            train.make_config(space, **{"arch": "x", **bad})
    with pytest.raises(ValueError, match="unknown training options"):
        train.TrainConfig.from_dict({"epoch": 3})


def test_parameter_counts_equal_the_references():
    """DARTS_V2 (C=36, 20 cells): the PyTorch reference's counts (tests/fixtures/torch_darts.py,
    after DARTS's cnn/model.py); NAS-Bench-201 (C=16, N=5): the smallest and largest networks'
    published sizes, 0.073306 and 1.531546 MB on CIFAR-10, 0.079156 and 1.537396 MB on
    CIFAR-100 (the NAS-Bench-201 API's ``params``)."""
    from jaxnas.cli import train as cli
    from jaxnas.spaces.darts import DARTS_V2

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli.register(sub)
    args = parser.parse_args(["train", "--space", "darts", "--arch", DARTS_V2, "--dry-run"])
    d = train.describe(cli.config_from_args(args))
    assert (d["num_params"], d["num_params_aux"]) == (3_349_342, 476_426)
    torch = pytest.importorskip("torch")  # noqa: F841
    from jaxnas.models.darts import DARTS_V2 as V2_LISTS
    from tests.fixtures import torch_darts as T

    ref = T.NetworkCIFAR(36, 10, 20, True, V2_LISTS)
    assert T.param_count(ref, auxiliary=False) == d["num_params"]
    assert T.param_count(ref) - T.param_count(ref, auxiliary=False) == d["num_params_aux"]
    small = "|skip_connect~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|skip_connect~2|"
    large = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
             "nor_conv_3x3~2|")
    got = {(a, ds): train.describe(train.make_config("nb201", arch=a, dataset=ds))["num_params"]
           for a in (small, large) for ds in ("cifar10", "cifar100")}
    assert got == {(small, "cifar10"): 73_306, (large, "cifar10"): 1_531_546,
                   (small, "cifar100"): 79_156, (large, "cifar100"): 1_537_396}


def test_from_workdir_reads_darts_and_select_results(tmp_path):
    from jaxnas.cli import train as cli

    search = tmp_path / "search"
    (search / "select_magnitude").mkdir(parents=True)
    (search / "config.json").write_text(json.dumps({"space": "nb201", "dataset": "cifar100"}))
    (search / "result.json").write_text(json.dumps({"arch": NB201_ARCH}))
    other = NB201_ARCH.replace("avg_pool_3x3~1", "none~1")
    (search / "select_magnitude" / "result.json").write_text(json.dumps({"arch": other}))
    assert train.arch_from_workdir(search) == {"arch": NB201_ARCH, "space": "nb201",
                                               "dataset": "cifar100"}
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    base = ["train", "--protocol", "nb201-quick", "--epochs", "1"]
    c = cli.config_from_args(parser.parse_args(
        [*base, "--from-workdir", str(search / "select_magnitude"), "--dataset", "cifar10"]))
    assert (c.arch, c.space, c.dataset, c.epochs, c.channels) == (other, "nb201", "cifar10", 1, 8)
    with pytest.raises(ValueError, match="differs from the search's space 'nb201'"):
        cli.config_from_args(parser.parse_args([*base, "--from-workdir", str(search),
                                                "--space", "darts"]))
    with pytest.raises(FileNotFoundError, match="result.json does not exist"):
        train.arch_from_workdir(tmp_path)


# ---- the work directory ---------------------------------------------------------------------


def test_result_metrics_checkpoints_and_test_accuracy(toy_run, image_dir, toy_space):
    wd, r = toy_run
    assert (r["steps"], r["epochs"], r["steps_per_epoch"], r["resumed_from"]) == (12, 3, 4, None)
    assert (r["num_params"], r["num_params_aux"]) == (470, 50) and r["images_per_second"] > 0
    assert r["test_examples"] == 40 and r["config"]["aux_weight"] == 0.4
    assert json.loads((wd / "result.json").read_text())["params_sha256"] == r["params_sha256"]
    recs = [json.loads(x) for x in (wd / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in recs] == [1, 2, 3]
    lr = [0.025 * (1 + np.cos(np.pi * e / 3)) / 2 for e in range(3)]
    np.testing.assert_allclose([x["lr"] for x in recs], lr, rtol=1e-6)  # per-epoch cosine
    np.testing.assert_allclose([x["drop_path"] for x in recs], [0, 0.2 / 3, 0.4 / 3], rtol=1e-6)
    assert all(np.isfinite(x["loss"]) for x in recs)
    assert any(p.name.startswith("events") and p.stat().st_size > 100
               for p in (wd / "tensorboard").iterdir())
    assert sorted(int(p.name) for p in (wd / "checkpoints").iterdir()) == [8, 10, 12]
    # the test accuracy, recomputed from the final checkpoint with plain numpy
    config = train.read_config(wd)[0]
    run = R.setup(config, wd)
    assert R.params_sha256(run.state) == r["params_sha256"]
    test = np.load(image_dir / "test.npz")
    x = (test["images"] / 255.0 - run.test.mean) / run.test.std
    logits, _ = run.net.apply({"params": run.state.params,
                               "batch_stats": run.state.batch_stats}, jnp.asarray(x, jnp.float32))
    acc = 100 * np.mean(np.argmax(np.asarray(logits), -1) == test["labels"])
    assert r["test_accuracy"] == pytest.approx(acc, abs=1e-9)
    run.mgr.close()


def test_sigkill_then_resume_is_bit_exact(toy_run, tmp_path, image_dir, cli_env):
    _, full = toy_run
    wd = tmp_path / "killed"
    kill_at_first_checkpoint(_toy_cmd(wd, image_dir), cli_env, wd, timeout=300)
    r, _ = _run(_toy_cmd(wd, image_dir), cli_env)
    assert r["resumed_from"] is not None and 0 < r["resumed_from"] < 12
    assert r["params_sha256"] == full["params_sha256"]
    assert r["test_accuracy"] == full["test_accuracy"]
    assert len((wd / "metrics.jsonl").read_text().splitlines()) == 3


def test_corrupt_newest_checkpoint_falls_back_with_a_warning(toy_run, tmp_path, image_dir,
                                                             cli_env):
    src, full = toy_run
    wd = tmp_path / "corrupt"
    corrupt_newest_checkpoint(src, wd, 12)
    r, err = _run(_toy_cmd(wd, image_dir), cli_env)
    assert "checkpoint step 12" in err and "falling back" in err
    assert r["resumed_from"] == 10 and r["params_sha256"] == full["params_sha256"]
    assert any((wd / "corrupt_checkpoints").iterdir())


def test_a_different_config_is_refused_in_one_line(toy_run, image_dir, toy_space, capsys):
    from jaxnas import cli

    wd, _ = toy_run
    cmd = _toy_cmd(wd, image_dir)[3:]
    cmd[cmd.index("--epochs") + 1] = "4"
    assert cli.main(cmd) == 2
    err = capsys.readouterr().err.strip()
    assert "different options" in err and "'epochs': (3, 4)" in err and len(err.splitlines()) == 1


# ---- seeds, precision ---------------------------------------------------------------------


def test_seeds_train_in_one_vmapped_program(toy_run, tmp_path, image_dir, toy_space):
    """Seed k of a --seeds 2 run is the single run with seed k (up to vmap's rounding); the
    BatchNorm statistics carry the seed axis; mean and std are over the seeds."""
    wd1, one = toy_run
    c1 = train.read_config(wd1)[0]
    run = R.setup(c1.replace(seeds=2), tmp_path / "k2")
    r = R.finish(R.run_loop(run, progress=False))
    accs = r["test_accuracies"]
    assert len(accs) == 2 and r["seeds"] == 2 and r["steps"] == one["steps"]
    assert r["test_accuracy"] == pytest.approx(np.mean(accs))
    assert r["test_accuracy_std"] == pytest.approx(np.std(accs, ddof=1))
    stats = jax.tree.leaves(run.state.batch_stats)
    assert all(s.shape[0] == 2 for s in stats)
    assert not np.allclose(stats[0][0], stats[0][1])  # different seeds, different statistics
    single = R.setup(c1, wd1)  # restores the single run's final checkpoint (nothing compiled)
    single.mgr.close()
    seed0 = jax.tree.map(lambda a: a[0], run.state.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5),
                 seed0, single.state.params)
    assert not np.allclose(jax.tree.leaves(run.state.params)[0][1],
                           jax.tree.leaves(single.state.params)[0])


@pytest.mark.slow
def test_bfloat16_step_keeps_float32_master_weights(toy_space):
    net = train.build_network("toy-net", "conv,conv", 4, {"cells_per_stage": 1}, 10, True)
    tx = train.sgd(0.05, 0.9, False, 3e-4, 5.0)
    state = train.init_state(jax.random.key(0), net, tx, (32, 32, 3))
    r = np.random.default_rng(1)
    batch = (jnp.asarray(r.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)),
             jnp.asarray(r.integers(0, 10, 8), jnp.int32))
    out = {}
    for p in ("float32", "bfloat16"):
        step = train.make_train_step(net, tx, [0.5] * 3, [0.25] * 3, lr_schedule=lambda s: 0.05,
                                     epochs=2, steps_per_epoch=4, aux_weight=0.4, cutout=8,
                                     drop_path=0.2, precision=p)
        out[p] = jax.jit(step)(state, batch)
    s16, m16 = out["bfloat16"]
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(s16.params))
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(s16.batch_stats))
    assert abs(float(m16["loss"]) - float(out["float32"][1]["loss"])) < 0.05
    d = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), s16.params,
                     out["float32"][0].params)
    assert 0 < max(jax.tree.leaves(d)) < 0.05  # bf16 rounding, not a different step


# ---- two processes (slow) -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path, image_dir,
                                                                   cli_env):
    """Two processes (one CPU device each, coordinator on 127.0.0.1, gloo collectives) sharing
    one work directory end with the parameters of one process over two devices with the same
    global batch of 8, bit for bit."""
    port = _free_port()
    wd = tmp_path / "mp"
    procs = [subprocess.Popen(_toy_cmd(wd, image_dir, "--epochs", "1"),
                              env=dict(cli_env, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                                       JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    multi = [_json_out(o) for o, _ in outs]
    assert [m["num_processes"] for m in multi] == [2, 2]
    assert multi[0]["params_sha256"] == multi[1]["params_sha256"]
    single, _ = _run(_toy_cmd(tmp_path / "sp", image_dir, "--epochs", "1"),
                     dict(cli_env, XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    assert (single["num_processes"], single["num_devices"]) == (1, 2)
    assert multi[0]["params_sha256"] == single["params_sha256"]
    assert multi[0]["test_accuracy"] == single["test_accuracy"]


def test_experiment_configs_name_the_protocols():
    sys.path.insert(0, str(REPO / "experiments"))
    import configs

    expected = {"train_darts": "darts", "train_darts_quick": "darts-quick",
                "train_robustdarts": "robustdarts", "train_nb201": "nb201",
                "train_nb201_12": "nb201-12", "train_nb201_quick": "nb201-quick"}
    for name, protocol in expected.items():
        mod = configs.load(name)
        c = mod.get_config()
        got = train.make_config(c["space"], c["protocol"], arch="", **c["options"])
        assert got.protocol == protocol
        assert got.epochs == train.PROTOCOLS[protocol]["epochs"]
        assert all(w in mod.__doc__ for w in ("Command", "Expected result", "Run time"))
