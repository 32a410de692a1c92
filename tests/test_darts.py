"""DARTS: optimizer hyper-parameters, the train step against a hand-written reference, fixed
alpha, the NA objective, compile-once, 1 vs 8 devices, and the CLI's checkpoint/resume contract.

Step-level tests use a tiny NAS-Bench-201-shaped Flax supernet (dense ops, one BatchNorm) so they
compile in seconds; the CLI tests run the real ``Network`` (C=4, N=1) on 8x8 generated images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import corrupt_newest_checkpoint, kill_at_first_checkpoint

from jaxnas import checkpoint as ckpt
from jaxnas import darts, data
from jaxnas.darts import optim
from jaxnas.darts.na_objective import sample_op_weight_neighbours
from jaxnas.spaces import nb201

REPO = Path(__file__).resolve().parent.parent
MEAN = np.array([0.49, 0.48, 0.45], np.float32)
STD = np.array([0.25, 0.24, 0.26], np.float32)


class Tiny(nn.Module):
    """The NAS-Bench-201 cell graph on pooled features; ``apply(vars, x, op_weights, train)``."""

    num_classes: int = 10

    @nn.compact
    def __call__(self, x, op_weights, train=False):
        h = nn.Dense(8)(jnp.concatenate([jnp.mean(x, (1, 2)), x[:, 0, 0], x[:, -1, -1]], -1))
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
        nodes = [h]
        for dst in range(1, 4):
            total = 0.0
            for e, (d, s) in enumerate(nb201.EDGES):
                if d == dst:
                    hs, w = nodes[s], op_weights[e]
                    total = total + (w[1] * hs + w[2] * jnp.tanh(nn.Dense(8, name=f"a{e}")(hs))
                                     + w[3] * jnp.tanh(nn.Dense(8, name=f"b{e}")(hs))
                                     + w[4] * 0.5 * (hs + jnp.roll(hs, 1, -1)))
            nodes.append(total)
        return nn.Dense(self.num_classes)(nodes[-1])


def batches(seed, n=2, b=8, hw=8):
    r = np.random.default_rng(seed)
    return [(jnp.asarray(r.integers(0, 256, (b, hw, hw, 3), dtype=np.uint8)),
             jnp.asarray(r.integers(0, 10, b).astype(np.int32))) for _ in range(n)]


def setup(epochs=4, spe=1, net=None, **kw):
    net = Tiny() if net is None else net
    wtx, atx = optim.weight_optimizer(epochs, spe), optim.alpha_optimizer()
    state = darts.init_state(jax.random.key(0), nb201.SPACE, net, wtx, atx, (8, 8, 3))
    step = darts.make_train_step(net, wtx, atx, MEAN, STD,
                                 lr_schedule=optim.weight_lr_schedule(epochs, spe), **kw)
    return net, wtx, atx, state, step


# ------------------------------------------------------------------------------------------
# Optimizers.
# ------------------------------------------------------------------------------------------


def test_weight_lr_is_cosine_from_0025_to_0001_per_epoch():
    s = optim.weight_lr_schedule(epochs=10, steps_per_epoch=3)
    lrs = np.array([float(s(t)) for t in range(33)])
    expect = [0.001 + 0.024 * (1 + np.cos(np.pi * e / 10)) / 2 for e in range(11)]
    np.testing.assert_allclose(lrs[::3], expect, rtol=1e-6)
    np.testing.assert_allclose(lrs[0:3], 0.025, rtol=1e-6)       # constant within an epoch
    np.testing.assert_allclose(lrs[30:], 0.001, rtol=1e-6)


def test_weight_optimizer_clips_decays_and_uses_momentum():
    tx = optim.weight_optimizer(epochs=2, steps_per_epoch=1)
    p = {"w": jnp.array([1.0, -2.0])}
    g = {"w": jnp.array([30.0, 40.0])}  # norm 50 -> clipped to 5: [3, 4]
    st = tx.init(p)
    u1, st = tx.update(g, st, p)
    d1 = np.array([3.0, 4.0]) + 3e-4 * np.array([1.0, -2.0])
    np.testing.assert_allclose(u1["w"], -0.025 * d1, rtol=1e-6)
    p2 = optax.apply_updates(p, u1)
    g2 = {"w": jnp.array([0.3, 0.4])}  # below the clip
    u2, st = tx.update(g2, st, p2)
    d2 = 0.9 * d1 + np.array([0.3, 0.4]) + 3e-4 * np.asarray(p2["w"])
    lr1 = 0.001 + 0.024 * (1 + np.cos(np.pi / 2)) / 2
    np.testing.assert_allclose(u2["w"], -lr1 * d2, rtol=1e-5)


def test_alpha_optimizer_is_adam_3e4_betas_05_0999_coupled_decay():
    tx = optim.alpha_optimizer()
    a = jnp.array([[0.5, -1.0]])
    gs = [jnp.array([[0.2, -0.1]]), jnp.array([[-0.3, 0.05]])]
    st = tx.init(a)
    m = v = np.zeros((1, 2))
    ref = np.asarray(a, np.float64)
    for t, g in enumerate(gs, start=1):
        gg = np.asarray(g, np.float64) + 1e-3 * ref
        m = 0.5 * m + 0.5 * gg
        v = 0.999 * v + 0.001 * gg**2
        ref = ref - 3e-4 * (m / (1 - 0.5**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        u, st = tx.update(g, st, a)
        a = optax.apply_updates(a, u)
        np.testing.assert_allclose(a, ref, rtol=1e-6, atol=1e-9)
        if t == 1:  # Adam's first step moves every entry by lr
            np.testing.assert_allclose(np.abs(a - np.array([[0.5, -1.0]])), 3e-4, rtol=1e-3)


# ------------------------------------------------------------------------------------------
# The train step.
# ------------------------------------------------------------------------------------------


def _reference_steps(net, state, data_batches, epochs=4):
    """Two first-order DARTS steps by hand: jax.grad, manual Adam, manual clip/decay/SGD."""
    params, bs, alpha = state.params, state.batch_stats, np.asarray(state.alpha, np.float64)
    m = v = np.zeros_like(alpha)
    buf = jax.tree.map(jnp.zeros_like, params)

    def loss(p, bs, ow, x, y):
        logits, new = net.apply({"params": p, "batch_stats": bs}, x, ow, train=True,
                                mutable=["batch_stats"])
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y)), new

    def alpha_loss(a, p, bs, x, y):
        return loss(p, bs, jax.nn.softmax(a, -1), x, y)[0]

    alpha_grad = jax.jit(jax.grad(alpha_loss))
    weight_grad = jax.jit(jax.value_and_grad(loss, has_aux=True))

    for t, (wb, ab) in enumerate(data_batches, start=1):
        xw, xa = data.normalize(wb[0], MEAN, STD), data.normalize(ab[0], MEAN, STD)
        ga = np.asarray(alpha_grad(jnp.asarray(alpha, jnp.float32), params, bs, xa, ab[1]))
        ga = ga + 1e-3 * alpha
        m = 0.5 * m + 0.5 * ga
        v = 0.999 * v + 0.001 * ga**2
        alpha = alpha - 3e-4 * (m / (1 - 0.5**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        (_, new), g = weight_grad(
            params, bs, jax.nn.softmax(jnp.asarray(alpha, jnp.float32), -1), xw, wb[1])
        bs = new["batch_stats"]
        norm = jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(g)))
        scale = jnp.minimum(1.0, 5.0 / norm)
        lr = 0.001 + 0.024 * (1 + np.cos(np.pi * (t - 1) / epochs)) / 2
        buf = jax.tree.map(lambda b, gg, p, s=scale: 0.9 * b + gg * s + 3e-4 * p, buf, g, params)
        params = jax.tree.map(lambda p, b, lr=lr: p - lr * b, params, buf)
    return params, bs, alpha


def test_first_order_step_equals_hand_written_reference():
    net, _, _, state, step = setup(augment=False)
    f = jax.jit(step)
    bw, ba = batches(1), batches(2)
    s = state
    for t in range(2):
        s, metrics = f(s, bw[t], ba[t])
    params, bs, alpha = _reference_steps(net, state, list(zip(bw, ba, strict=True)))
    np.testing.assert_allclose(s.alpha, alpha, rtol=1e-5, atol=1e-7)
    chex.assert_trees_all_close(s.params, params, rtol=2e-4, atol=1e-6)
    chex.assert_trees_all_close(s.batch_stats, bs, rtol=1e-5, atol=1e-6)
    assert int(s.step) == 2
    assert float(metrics["lr"]) == pytest.approx(0.001 + 0.024 * (1 + np.cos(np.pi / 4)) / 2)
    assert np.abs(np.asarray(s.alpha - state.alpha)).max() > 3e-4  # alpha moved


def test_fix_alpha_trains_only_the_weights():
    _, _, _, state, step = setup(mode="fixed")
    s, m = jax.jit(step)(state, batches(1)[0], batches(2)[0])
    np.testing.assert_array_equal(s.alpha, state.alpha)
    chex.assert_trees_all_equal(s.opt_alpha, state.opt_alpha)
    assert not np.allclose(s.params["Dense_0"]["kernel"], state.params["Dense_0"]["kernel"])
    assert np.isfinite(float(m["loss_a"]))


def test_neighborhood_arch_loss_is_mean_over_sampled_neighbours():
    net, _, atx, state, step = setup(objective="neighborhood", na_samples=3, augment=False)
    (wb,), (ab,) = batches(1, 1), batches(2, 1)
    s, m = jax.jit(step)(state, wb, ab)
    # The step's NA key: third split of fold_in(key, step).
    k_na = jax.random.split(jax.random.fold_in(jax.random.wrap_key_data(state.key), 0), 3)[2]
    xa = data.normalize(ab[0], MEAN, STD)
    loss = darts.make_loss(net)

    def manual(alpha):
        members = sample_op_weight_neighbours(k_na, jax.nn.softmax(alpha, -1), 1, 3)  # [4,6,5]
        per = [loss(state.params, state.batch_stats, members[i], xa, ab[1])[0]
               for i in range(members.shape[0])]
        return sum(per) / len(per)

    value, g = jax.jit(jax.value_and_grad(manual))(state.alpha)
    np.testing.assert_allclose(m["loss_a"], value, rtol=1e-5)
    u, _ = atx.update(g, atx.init(state.alpha), state.alpha)
    np.testing.assert_allclose(s.alpha, state.alpha + u, rtol=1e-5, atol=1e-7)
    # Not the plain DARTS objective.
    plain = loss(state.params, state.batch_stats, jax.nn.softmax(state.alpha, -1), xa, ab[1])[0]
    assert abs(float(m["loss_a"]) - float(plain)) > 1e-6


def test_second_order_matches_finite_difference_darts_gradient():
    """The step's unrolled alpha gradient vs. the paper's finite-difference Hessian-vector
    product (alpha optimizer replaced by SGD(lr=1) to read the gradient off the update), at
    step 1 with a non-zero momentum buffer (filled by a fixed-alpha step)."""
    net = Tiny()
    epochs = 4
    wtx = optim.weight_optimizer(epochs, 1)
    atx = optax.sgd(1.0)
    state = darts.init_state(jax.random.key(0), nb201.SPACE, net, wtx, atx, (8, 8, 3))
    kw = dict(augment=False, lr_schedule=optim.weight_lr_schedule(epochs, 1))
    warm = darts.make_train_step(net, wtx, atx, MEAN, STD, mode="fixed", **kw)
    step = darts.make_train_step(net, wtx, atx, MEAN, STD, mode="second", **kw)
    (wb,), (ab,) = batches(3, 1), batches(4, 1)
    state, _ = jax.jit(warm)(state, *batches(5, 2))
    trace = optax.tree_utils.tree_get(state.opt_weights, "trace")
    assert float(jnp.abs(trace["Dense_0"]["kernel"]).max()) > 0
    s, _ = jax.jit(step)(state, wb, ab)
    g_step = np.asarray(state.alpha - s.alpha)
    loss = darts.make_loss(net)
    xi, wd = 0.001 + 0.024 * (1 + np.cos(np.pi / epochs)) / 2, 3e-4

    @jax.jit
    def reference(p, bs, a):
        xw, xa = data.normalize(wb[0], MEAN, STD), data.normalize(ab[0], MEAN, STD)

        def lt(p, a):
            return loss(p, bs, jax.nn.softmax(a, -1), xw, wb[1])[0]

        def lv(p, a):
            return loss(p, bs, jax.nn.softmax(a, -1), xa, ab[1])[0]

        gw = jax.grad(lt)(p, a)
        p1 = jax.tree.map(lambda w, d, m: w - xi * (0.9 * m + d + wd * w), p, gw, trace)
        dalpha = jax.grad(lv, 1)(p1, a)
        dw = jax.grad(lv)(p1, a)
        eps = 0.01 / jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(dw)))
        plus = jax.grad(lt, 1)(jax.tree.map(lambda w, d: w + eps * d, p, dw), a)
        minus = jax.grad(lt, 1)(jax.tree.map(lambda w, d: w - eps * d, p, dw), a)
        return dalpha - xi * (plus - minus) / (2 * eps), jax.grad(lv, 1)(p, a)

    fd, first = reference(state.params, state.batch_stats, state.alpha)
    np.testing.assert_allclose(g_step, fd, rtol=0.05, atol=1e-5)
    assert np.abs(g_step - np.asarray(first)).max() > 1e-5  # not the first-order gradient


@pytest.mark.parametrize("mode,objective", [("first", "darts"), ("fixed", "darts"),
                                            ("first", "neighborhood")])
def test_step_compiles_once(mode, objective):
    chex.clear_trace_counter()
    _, _, _, state, step = setup(mode=mode, objective=objective)
    f = jax.jit(chex.assert_max_traces(step, n=1))
    bw, ba = batches(5, 3), batches(6, 3)
    for t in range(3):
        state, m = f(state, bw[t], ba[t])
    assert int(state.step) == 3 and np.isfinite(float(m["loss_w"]))


def test_magnitude_selection_and_entropy():
    alpha = np.zeros((6, 5), np.float32)
    alpha[np.arange(6), [3, 1, 0, 2, 4, 3]] = 1.0
    np.testing.assert_array_equal(nb201.SPACE.discretize(alpha), [3, 1, 0, 2, 4, 3])
    assert float(darts.alpha_entropy(np.zeros((6, 5)))) == pytest.approx(np.log(5), rel=1e-6)
    # a pytree alpha: the mean over the rows of every leaf
    tree = {"normal": np.zeros((2, 4)), "reduce": np.array([[50.0, 0, 0, 0]] * 2)}
    assert float(darts.alpha_entropy(tree)) == pytest.approx(np.log(4) / 2, rel=1e-5)
    with pytest.raises(ValueError, match=r"\[6, 5\]"):
        nb201.SPACE.discretize(np.zeros((5, 5)))


def test_checkpoint_digest_detects_changes():
    t = {"a": jnp.arange(3.0), "b": {"c": jnp.ones((2,), jnp.int32)}}
    d = ckpt.tree_sha256(t)
    assert d == ckpt.tree_sha256(jax.tree.map(jnp.array, t))
    assert d != ckpt.tree_sha256({"a": jnp.arange(3.0) + 1e-7, "b": t["b"]})


def test_config_validation():
    with pytest.raises(ValueError, match="unknown DARTS options"):
        darts.make_config(chanels=4)
    with pytest.raises(ValueError, match="objective"):
        darts.make_config(objective="nope")
    d = darts.config_differences(darts.make_config(), darts.make_config(epochs=3, ckpt_every=7))
    assert d == {"epochs": (100, 3)}


def test_config_dataclass_is_the_single_source_of_defaults():
    import dataclasses

    from jaxnas.cli import build_parser as main_parser
    from jaxnas.cli import darts as cli_darts

    cfg = darts.DartsConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.channels, cfg.cells, cfg.objective, cfg.scan,
            cfg.mode) == (100, 64, 16, 5, "darts", True, "first")
    assert darts.make_config(fix_alpha=True).mode == "fixed"
    # the CLI's flags default to the dataclass's values, field for field
    args = main_parser().parse_args(["darts", "--workdir", "w"])
    assert {f.name: getattr(args, f.name) for f in dataclasses.fields(cfg)} == cfg.to_dict()
    args = main_parser().parse_args(["darts", "--workdir", "w", "--no-scan", "--fix-alpha",
                                     "--max-examples", "7"])
    assert (args.scan, args.fix_alpha, args.max_examples) == (False, True, 7)
    assert cli_darts.run is not None
    # experiment configs list only what differs from the defaults
    sys.path.insert(0, str(REPO / "experiments"))
    import configs

    for name in ("darts_nb201", "darts_pt_full"):
        c = configs.load(name).get_config()
        search = c.get("search", c)
        assert all(v != getattr(cfg, k) for k, v in search.items()), (name, search)


@pytest.mark.parametrize("bad,match", [
    ({"epochs": 0}, r"^epochs=0 must be a positive integer$"),
    ({"channels": "4"}, r"^DARTS option channels='4' must be an integer$"),
    ({"fix_alpha": 1}, r"^DARTS option fix_alpha=1 must be true or false$"),
    ({"steps_per_epoch": -1}, r"^steps_per_epoch=-1 must be a positive integer or None$"),
    ({"objective": "nope"}, r"^unknown objective 'nope'; choose one of"),
    ({"fix_alpha": True, "second_order": True}, r"exclude each other"),
    ({"space": "nope"}, r"^space 'nope' is not a registered search space; spaces with a "
                        r"supernet: \[.*'nb201'.*\]$"),
    ({"chanels": 4}, r"^unknown DARTS options \['chanels'\]"),
    ({"alpha_lr": 0.0}, r"^alpha_lr=0.0 must be a positive number$"),
    ({"alpha_lr": "x"}, r"^DARTS option alpha_lr='x' must be a number$"),
])
def test_config_bad_values_give_one_line_errors(bad, match):
    with pytest.raises(ValueError, match=match) as e:
        darts.make_config(**bad)
    assert "\n" not in str(e.value)


def test_config_space_without_supernet_is_refused():
    import dataclasses as dc

    from jaxnas import spaces
    from jaxnas.spaces.base import ProductSpace

    @dc.dataclass(frozen=True)
    class Flat(ProductSpace):
        pass

    spaces.register(Flat("flat_no_supernet", ("a", "b"), 2))
    try:
        with pytest.raises(ValueError, match=r"^space 'flat_no_supernet' has no supernet; "
                                             r"spaces with a supernet: \[.*'nb201'.*\]$"):
            darts.make_config(space="flat_no_supernet")
    finally:
        del spaces.SPACES["flat_no_supernet"]


def test_config_json_round_trip_and_old_config_loads(tmp_path):
    cfg = darts.make_config(channels=4, cells=1, max_examples=100, fix_alpha=True)
    text = json.dumps(dict(cfg.to_dict(), derived={"steps_per_epoch": 3}))
    assert darts.DartsConfig.from_dict(json.loads(text)) == cfg
    (tmp_path / "config.json").write_text(text)
    got, derived = darts.read_config(tmp_path)
    assert got == cfg and derived == {"steps_per_epoch": 3}
    assert cfg.replace(epochs=2).epochs == 2 and cfg.epochs == 100
    # a config.json written by the code before DartsConfig (no 'scan', dict of options)
    old = {"space": "nb201", "dataset": "cifar10", "epochs": 1, "batch_size": 8, "channels": 4,
           "cells": 1, "image_dir": "/x", "data_dir": None, "fix_alpha": False,
           "second_order": False, "max_examples": 200, "steps_per_epoch": 3, "seed": 0,
           "ckpt_every": 100, "keep": 3, "objective": "darts", "na_samples": 4,
           "augment": True, "derived": {"image_shape": [32, 32, 3], "num_classes": 10}}
    (tmp_path / "config.json").write_text(json.dumps(old))
    got, derived = darts.read_config(tmp_path)
    assert got.scan is False and got.epochs == 1 and got.image_dir == "/x"
    assert got.alpha_lr == 3e-4  # directories written before the option: DARTS's rate
    assert derived["num_classes"] == 10


def test_alpha_lr_reaches_the_alpha_optimizer():
    """``--alpha-lr`` is a flag, and the search's Adam takes a first step of exactly that size
    (Adam's first update is lr * sign(gradient) up to eps; the coupled decay of 1e-3 * alpha is
    negligible against a unit gradient)."""
    from jaxnas.cli import build_parser as main_parser
    from jaxnas.darts import run as darts_run

    args = main_parser().parse_args(["darts", "--workdir", "w", "--alpha-lr", "3e-3"])
    assert args.alpha_lr == pytest.approx(3e-3)
    for lr in (3e-4, 3e-3):
        _, atx = darts_run._optimizers(darts.make_config(alpha_lr=lr), 10)
        alpha = jnp.zeros(4)
        g = jnp.asarray([1.0, -1.0, 2.0, -0.5])
        upd, _ = atx.update(g, atx.init(alpha), alpha)
        np.testing.assert_allclose(np.asarray(upd), -lr * np.sign(np.asarray(g)), rtol=1e-5)


def test_na_objective_on_a_pytree_alpha_treats_all_rows_as_edges():
    from jaxnas.darts import na_objective as na

    r = np.random.default_rng(0)
    w = {"normal": jnp.asarray(r.random((2, 3))), "reduce": jnp.asarray(r.random((1, 3)))}
    rows = np.concatenate([w["normal"], w["reduce"]])
    members = na.op_weight_neighbours(w, radius=1)
    assert members["normal"].shape == (7, 2, 3) and members["reduce"].shape == (7, 1, 3)
    got = np.concatenate([members["normal"], members["reduce"]], axis=1)  # [7, 3, 3]
    np.testing.assert_array_equal(got, np.asarray(na.op_weight_neighbours(rows, radius=1)))
    np.testing.assert_array_equal(got[0], rows)
    # member 1 + 2*e + (s-1) swaps argmax and (argmax + s) % 3 on row e only
    for e in range(3):
        for sh in (1, 2):
            expect = rows.copy()
            top = int(np.argmax(rows[e]))
            tgt = (top + sh) % 3
            expect[e, [top, tgt]] = rows[e, [tgt, top]]
            np.testing.assert_array_equal(got[1 + 2 * e + sh - 1], expect)
    assert na.neighbourhood_size(3, 3, 2) == 1 + 3 * 2 + 3 * 4
    # loss aggregated over all members, gradient routed through the swaps
    c = jnp.arange(9.0).reshape(3, 3)

    def loss(t):
        return jnp.sum(c[:2] * t["normal"]) + jnp.sum(c[2:] * t["reduce"])

    val, per = na.neighbourhood_loss(loss, w)
    np.testing.assert_allclose(per, [float(jnp.sum(c * m)) for m in got], rtol=1e-6)
    np.testing.assert_allclose(val, np.mean(per), rtol=1e-6)
    g = jax.grad(lambda t: na.neighbourhood_loss(loss, t)[0])(w)
    assert g["normal"].shape == (2, 3) and float(jnp.abs(g["reduce"]).sum()) > 0
    # sampled: the centre plus k distinct members
    s = na.sample_op_weight_neighbours(jax.random.key(1), w, 1, 3)
    assert s["normal"].shape == (4, 2, 3)
    np.testing.assert_array_equal(s["normal"][0], w["normal"])
    with pytest.raises(ValueError, match=r"k \(neighbours sampled, --na-samples\) must be in \[1, 6\]"):
        na.sample_op_weight_neighbours(jax.random.key(1), w, 1, 7)


def test_na_objective_matches_the_nb201_definition():
    """On a single [6, 5] matrix: the tabular radius-1 neighbours of the argmax architecture at
    a one-hot matrix, in the order of the space's neighbours."""
    from jaxnas.darts import na_objective as na

    arch = np.array([3, 1, 0, 2, 4, 3])
    members = np.asarray(na.op_weight_neighbours(nb201.SPACE.one_hot(arch)))
    nbrs, _ = nb201.SPACE.neighbours(arch)
    np.testing.assert_array_equal(members.argmax(-1), np.concatenate([arch[None], nbrs]))
    assert members.shape == (25, 6, 5)


def test_generic_code_does_not_name_nb201():
    """The trainer, selection and generic layers name no space: every ``nb201`` that git grep
    finds there is in a comment or docstring, except the documented default of
    ``DartsConfig.space``."""
    import io
    import tokenize

    out = subprocess.run(["git", "grep", "-l", "-i", "nb201", "--", "jaxnas/darts",
                          "jaxnas/selection", "jaxnas/models/layers.py"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    files = out.split()
    assert "jaxnas/models/layers.py" in files  # docs mention jaxnas.models.nb201
    code = []
    for f in files:
        prev = tokenize.NEWLINE
        for tok in tokenize.generate_tokens(io.StringIO((REPO / f).read_text()).readline):
            if "nb201" in tok.string.lower():
                docstring = tok.type == tokenize.STRING and prev in (
                    tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL)
                if tok.type != tokenize.COMMENT and not docstring:
                    code.append((f, tok.string))
            if tok.type not in (tokenize.COMMENT, tokenize.NL):
                prev = tok.type
    assert code == [("jaxnas/darts/config.py", '"nb201"')], code


def test_workdir_from_before_scanned_stages_resumes_only_unrolled(tmp_path):
    """A config.json without 'scan' holds the unrolled parameter layout: resuming it with the
    default (scanned) network is refused, naming the option, before any work is done."""
    old = darts.make_config(channels=4, cells=1, epochs=3).to_dict()
    del old["scan"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match=r"'scan': \(False, True\)"):
        darts.train(darts.make_config(channels=4, cells=1, epochs=3), tmp_path)
    assert darts.make_config().scan is True
    assert darts.read_config(tmp_path)[0].scan is False  # the legacy default


# ------------------------------------------------------------------------------------------
# Multi-device.
# ------------------------------------------------------------------------------------------

_DEVICES_SCRIPT = r"""
import sys, jax, numpy as np
sys.path.insert(0, {tests!r})
import test_darts as T
from jaxnas.darts import parallel
assert jax.device_count() == 8, jax.devices()
from jaxnas.models import Network
_, _, _, state, step = T.setup(net=Network(4, 1, 10) if {real} else None)
bw, ba = T.batches(1, 2, b=16), T.batches(2, 2, b=16)
out = []
for devs in (jax.devices()[:1], jax.devices()):
    mesh = parallel.make_mesh(devs)
    f = parallel.jit_step(step, mesh, donate=False)
    s = parallel.replicate(state, mesh)
    for t in range(2):
        put = lambda b: jax.device_put(b, parallel.batch_sharded(mesh))
        s, m = f(s, put(bw[t]), put(ba[t]))
    assert len(s.alpha.sharding.device_set) == len(devs)
    out.append(jax.device_get((s.params, s.batch_stats, s.alpha, m)))
chex_ok = jax.tree.map(lambda a, b: np.allclose(a, b, rtol=1e-5, atol=1e-6), out[0], out[1])
assert all(jax.tree.leaves(chex_ok)), chex_ok
print("SAME", float(np.abs(out[0][2] - out[1][2]).max()))
"""


@pytest.mark.parametrize("real", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_one_and_eight_devices_give_the_same_step(real):
    """The tiny supernet by default; the real NAS-Bench-201 Network (C=4, N=1) when slow."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-c", _DEVICES_SCRIPT.format(tests=str(REPO / "tests"), real=real)],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "SAME" in r.stdout


# ------------------------------------------------------------------------------------------
# CLI: result.json, SIGKILL resume, corrupt-checkpoint fallback, config mismatch.
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    r = np.random.default_rng(0)
    np.savez(d / "train.npz", images=r.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8),
             labels=r.integers(0, 10, 64).astype(np.uint8))
    return d


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("jax_cache")
    return dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu",
                JAX_COMPILATION_CACHE_DIR=str(cache),
                JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")


def _cmd(workdir, image_dir, *extra):
    return [sys.executable, "-m", "jaxnas.cli", "darts", "--workdir", str(workdir),
            "--image-dir", str(image_dir), "--channels", "4", "--cells", "1", "--batch-size",
            "8", "--epochs", "3", "--ckpt-every", "2", "--no-progress", "--json", *extra]


def _run(cmd, env):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout), r.stderr


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, image_dir, cli_env):
    wd = tmp_path_factory.mktemp("full")
    result, _ = _run(_cmd(wd, image_dir), cli_env)
    return wd, result


def test_cli_result_and_workdir_contract(full_run, data_dir):
    wd, r = full_run
    assert r["steps"] == 12 and r["epochs"] == 3 and r["steps_per_epoch"] == 4
    assert nb201.to_string(nb201.from_string(r["arch"])) == r["arch"]
    assert np.array_equal(np.argmax(np.array(r["alpha"]), -1), nb201.from_string(r["arch"]))
    assert r["benchmark"]["arch"] == r["arch"] and 0 < r["benchmark"]["cifar10_test_200"] < 100
    assert len(r["params_sha256"]) == 64 and r["images_per_second"] > 0
    assert json.loads((wd / "result.json").read_text())["params_sha256"] == r["params_sha256"]
    cfg = json.loads((wd / "config.json").read_text())
    assert cfg["channels"] == 4 and cfg["derived"]["image_shape"] == [8, 8, 3]
    lines = [json.loads(x) for x in (wd / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2, 3]
    assert {"loss_w", "acc_w", "loss_a", "acc_a", "alpha_entropy", "arch"} <= set(lines[0])
    assert lines[-1]["images_per_second"] == r["images_per_second"]  # one figure per run
    events = [p for p in (wd / "tensorboard").iterdir() if p.name.startswith("events")]
    assert events and events[0].stat().st_size > 100  # scalars were written, not just a header
    assert sorted(int(p.name) for p in (wd / "checkpoints").iterdir() if p.name.isdigit()) == \
        [8, 10, 12]
    config, state = darts.load_run(wd)
    assert int(state.step) == 12 and state.alpha.shape == (6, 5)
    assert darts.params_sha256(state) == r["params_sha256"]
    net, (w_half, a_half) = darts.build(config)
    assert config.channels == 4 and net.channels == 4 and len(w_half.labels) == len(a_half.labels) == 32


@pytest.mark.slow
def test_cli_neighborhood_objective(tmp_path, image_dir, cli_env):
    """NA-DARTS through the CLI: the run records objective/na_samples and still derives a cell."""
    wd = tmp_path / "na"
    r, _ = _run(_cmd(wd, image_dir, "--objective", "neighborhood", "--na-samples", "2",
                     "--epochs", "1"), cli_env)
    saved = json.loads((wd / "result.json").read_text())
    assert saved["config"]["objective"] == r["config"]["objective"] == "neighborhood"
    assert saved["config"]["na_samples"] == 2 and r["steps"] == 4
    assert nb201.to_string(nb201.from_string(r["arch"])) == r["arch"]
    assert np.isfinite(np.array(r["alpha"])).all()


def test_cli_refuses_a_different_config(tmp_path, image_dir, cli_env):
    wd = tmp_path / "run"
    wd.mkdir()
    saved = darts.make_config(channels=4, cells=1, batch_size=8, epochs=3, ckpt_every=2,
                              image_dir=str(image_dir))
    (wd / "config.json").write_text(json.dumps(saved.to_dict()))
    cmd = _cmd(wd, image_dir)
    cmd[cmd.index("--epochs") + 1] = "4"
    r = subprocess.run(cmd, env=cli_env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "different options" in r.stderr
    assert "'epochs': (3, 4)" in r.stderr


def test_sigkill_then_resume_is_bit_exact(full_run, tmp_path, image_dir, cli_env):
    _, r_full = full_run
    wd = tmp_path / "killed"
    kill_at_first_checkpoint(_cmd(wd, image_dir), cli_env, wd)
    r, _ = _run(_cmd(wd, image_dir), cli_env)
    assert r["resumed_from"] is not None and 0 < r["resumed_from"] < 12
    assert r["params_sha256"] == r_full["params_sha256"]
    assert r["alpha"] == r_full["alpha"]


def test_corrupt_newest_checkpoint_falls_back(full_run, tmp_path, image_dir, cli_env):
    src, r_full = full_run
    wd = tmp_path / "corrupt"
    corrupt_newest_checkpoint(src, wd, 12)
    r, err = _run(_cmd(wd, image_dir), cli_env)
    assert "checkpoint step 12" in err and "falling back" in err
    assert r["resumed_from"] == 10
    assert r["params_sha256"] == r_full["params_sha256"]
    assert any((wd / "corrupt_checkpoints").iterdir())


@pytest.mark.slow  # kept out of CI for time; run with -m slow
def test_short_run_on_real_cifar10_lowers_the_loss(tmp_path):
    """A few dozen DARTS steps of a tiny supernet on the shared CIFAR-10 JPEGs."""
    from conftest import require_data

    from jaxnas import darts as D

    image_dir = require_data("cifar10/train_jpeg.npz").parent
    cfg = D.make_config(image_dir=str(image_dir), max_examples=1024, channels=4, cells=1,
                        epochs=4, batch_size=32, ckpt_every=1000)
    D.train(cfg, tmp_path / "run", progress=False)
    recs = [json.loads(line)
            for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(recs) == 4
    assert recs[-1]["loss_w"] < recs[0]["loss_w"] - 0.05, [r["loss_w"] for r in recs]
    assert recs[-1]["acc_w"] > 0.15  # above chance (0.1) on real images
