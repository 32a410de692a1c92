"""DARTS search and DARTS-PT selection on the DARTS-family spaces: operation projection edge by
edge for both cell types, then topology projection node by node, alpha trained during
fine-tuning, the ``none`` corner of the genotype, and S4's noise stream."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import spaces
from jaxnas.selection import loop
from jaxnas.selection import perturbation as pt
from jaxnas.selection import run as sel


def _images(d, n=48, hw=8, seed=0):
    r = np.random.default_rng(seed)
    np.savez(d / "train.npz", images=r.integers(0, 256, (n, hw, hw, 3), dtype=np.uint8),
             labels=r.integers(0, 10, n).astype(np.uint8))


@pytest.fixture(scope="module")
def s3_run(tmp_path_factory):
    """A two-step DARTS search on S3 ({none, skip_connect, sep_conv_3x3}: the cheapest DARTS
    supernet, and one with ``none``) at 3 cells, C=4, on 8x8 images, checkpointed every step."""
    from jaxnas import darts

    d = tmp_path_factory.mktemp("s3")
    _images(d)
    cfg = darts.make_config(space="s3", image_dir=str(d), channels=4, layers=3, batch_size=8,
                            epochs=2, steps_per_epoch=1, ckpt_every=1)
    return d / "run", darts.train(cfg, d / "run", progress=False)


def test_darts_space_search_result(s3_run):
    wd, r = s3_run
    space = spaces.get("s3")
    arch = space.from_string(r["arch"])  # a Genotype string the space reads back
    assert space.to_string(arch) == r["arch"]
    assert r["arch"].startswith("Genotype(normal=[")
    # supernet weights only: alpha (2 x 14 x 3) is not counted
    net = space.supernet(channels=4, layers=3, num_classes=10)
    from jaxnas.models.darts import param_counts

    assert r["num_params"] == param_counts(net, (8, 8, 3))["total"] > 0
    cfg = json.loads((wd / "config.json").read_text())
    assert cfg["space"] == "s3" and cfg["layers"] == 3


def test_darts_space_run_resumes_bit_exactly(s3_run, tmp_path):
    """Resume on a DARTS-family space (alpha a pytree of normal and reduction rows, the
    preprocessing and reduction cells in the state): a copy of the finished run without its
    newest checkpoint resumes from step 1 and ends with the same parameters and alpha. (The
    SIGKILL itself is tested on NAS-Bench-201, tests/test_darts.py: the loop is shared.)"""
    import shutil

    from jaxnas import darts

    wd, r = s3_run
    cp = tmp_path / "resumed"
    shutil.copytree(wd, cp)
    shutil.rmtree(cp / "checkpoints" / "2")
    (cp / "result.json").unlink()
    cfg, _ = darts.read_config(cp)
    again = darts.train(cfg, cp, progress=False)
    assert again["resumed_from"] == 1 and again["steps"] == 2
    assert again["params_sha256"] == r["params_sha256"]
    assert again["alpha"] == r["alpha"] and again["arch"] == r["arch"]


def test_perturbation_selection_projects_ops_then_topology(s3_run, tmp_path):
    wd, _ = s3_run
    space = spaces.get("s3")
    r = sel.select(wd, tune_epochs=1, steps_per_epoch=1, valid_batches=1, seed=3,
                   progress=False, out_dir=tmp_path / "pt")
    # 28 operation decisions, normal and reduction edges alternating (one of each per step)
    assert len(r["decisions"]) == 28
    cells = [d["edge_name"].split(":")[0] for d in r["decisions"]]
    assert cells == ["normal", "reduce"] * 14
    for d in r["decisions"]:
        if d["op_name"] != "none":
            # the kept operation is the one whose removal gives the lowest accuracy
            assert d["op"] == int(np.argmin(d["removed_acc"]))
    # then 6 node decisions (nodes 3..5 of each cell), each node keeping 2 of its inputs
    assert len(r["node_decisions"]) == 6
    on = np.asarray(r["edge_on"]).reshape(2, 14)
    offsets = (0, 2, 5, 9)
    for c in range(2):
        for i in range(4):
            assert on[c, offsets[i]: offsets[i] + i + 2].sum() == 2
    for nd in r["node_decisions"]:
        for rnd in nd["rounds"]:
            if rnd["removed_acc"] is not None:  # the removal that hurt least went first
                k = rnd["candidates"].index(rnd["removed"])
                assert rnd["removed_acc"][k] == max(rnd["removed_acc"])
    # the genotype holds exactly the kept edges
    arch = space.from_string(r["arch"])
    for c in range(2):
        for j in range(8):
            inp = int(arch[c, j, 0])
            assert on[c, offsets[j // 2] + inp] == 1
    assert r["settings"]["alpha_trained_in_tuning"] is True
    assert r["benchmark"] is not None  # no table for S3: a reason, not an error
    mag = sel.select(wd, method="magnitude", progress=False, out_dir=tmp_path / "mag")
    assert mag["arch"] == s3_run[1]["arch"]


def test_group_order_interleaves_cell_types():
    groups = [list(range(14)), list(range(14, 28))]
    o = np.asarray(loop.group_order(jax.random.key(0), groups))
    assert sorted(o.tolist()) == list(range(28))
    assert all(e < 14 for e in o[0::2]) and all(e >= 14 for e in o[1::2])
    assert np.asarray(loop.group_order(None, groups)).tolist()[:4] == [0, 14, 1, 15]
    # one group: jax.random.permutation itself (NAS-Bench-201 orders are unchanged)
    one = np.asarray(loop.group_order(jax.random.key(5), [list(range(6))]))
    np.testing.assert_array_equal(one, np.asarray(jax.random.permutation(jax.random.key(5), 6)))


def test_removal_weights_zero_one_edge_each():
    w = jax.nn.softmax(jax.random.normal(jax.random.key(0), (6, 3)), -1)
    p = pt.Projection(weights=w, decided=jnp.asarray([2, -1, 0, 1, -1, 2], jnp.int32),
                      edge_on=jnp.asarray([1, 1, 1, 0, 1, 1], jnp.float32))
    base = np.asarray(pt.projected(p))
    assert (base[3] == 0).all() and base[0].tolist() == [0, 0, 1]
    rw = np.asarray(pt.removal_weights(p, jnp.asarray([0, 4, -1], jnp.int32)))
    assert (rw[0, 0] == 0).all() and np.allclose(rw[0, 1:], base[1:])
    assert (rw[1, 4] == 0).all() and np.allclose(np.delete(rw[1], 4, 0), np.delete(base, 4, 0))
    np.testing.assert_allclose(rw[2], base)  # padding removes nothing
    s = pt.Scores(acc=jnp.asarray([0.3, 0.5, 0.9]), loss=jnp.asarray([2.0, 1.0, 0.1]))
    valid = jnp.asarray([True, True, False])
    assert int(pt.choose_removal(s, valid, "acc")) == 1  # padded candidate never chosen
    assert int(pt.choose_removal(s, valid, "loss")) == 1


def _state(space, decided, edge_on, acc):
    e, k = len(decided), acc.shape[1]
    return loop.SelectionState(
        num_decided=jnp.asarray(e), order=jnp.arange(e, dtype=jnp.int32),
        decided=jnp.asarray(decided, jnp.int32), weights=jnp.zeros((e, k)),
        acc=jnp.asarray(acc, jnp.float32), loss=-jnp.asarray(acc, jnp.float32),
        key=jnp.zeros(2, jnp.uint32), tune={}, edge_on=jnp.asarray(edge_on, jnp.float32),
        num_nodes=jnp.asarray(0), node_order=jnp.zeros(1, jnp.int32),
        removed=jnp.zeros((1, 1), jnp.int32), node_acc=jnp.zeros((1, 1, 1)),
        node_loss=jnp.zeros((1, 1, 1)))


def test_none_kept_on_a_two_input_node_never_brings_back_a_removed_edge():
    """S3 (none, skip_connect, sep_conv_3x3): node 2 has only edges 0 and 1; edge 0 was fixed
    to 'none'. The reference's parser would then rank a removed edge (weight 0) or emit an
    arbitrary operation; here the kept edge gets its runner-up operation and removed edges
    never appear."""
    space = spaces.get("s3")
    topo = sel.topology_of(space)
    assert topo.keep == 2 and len(topo.nodes) == 6 and topo.zero_ops[:, 0].all()
    decided = np.full(28, 2)  # sep_conv_3x3 everywhere ...
    decided[0] = 0  # ... but 'none' on normal edge 0 (node 2 <- 0)
    on = np.ones(28)
    for c in (0, 14):  # nodes 3..5 keep their first two inputs
        for first, n in ((2, 3), (5, 4), (9, 5)):
            on[c + first + 2: c + first + n] = 0
    acc = np.tile([0.5, 0.3, 0.4], (28, 1))  # removing skip hurts most: runner-up is skip
    decided2, filled = sel.fill_zero_edges(_state(space, decided, on, acc), topo, "acc")
    assert filled == [(0, 1)] and decided2[0] == 1
    arch = sel.projected_arch(space, decided2, on, 3)
    g = space.to_genotype(arch)
    assert g["normal"][:2] == [("skip_connect", 0), ("sep_conv_3x3", 1)]
    for c, cell in ((0, "normal"), (1, "reduce")):
        for j, (_, inp) in enumerate(g[cell]):
            assert on[c * 14 + (0, 2, 5, 9)[j // 2] + inp] == 1
    # without the fill, the masked genotype rule refuses instead of inventing an edge
    with pytest.raises(ValueError, match="fewer than 2"):
        sel.projected_arch(space, decided, on, 3)


def test_s4_noise_stream_reaches_the_supernet():
    """S4's ``noise`` op draws from the step's key: different keys, different losses; the
    same key, the same loss."""
    from jaxnas.darts.step import make_loss
    from jaxnas.models.layers import init_variables

    space = spaces.get("s4")
    net = space.supernet(channels=4, layers=3, num_classes=10)
    v = init_variables(jax.random.key(0), net, space.uniform_op_weights(), (8, 8, 3))
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    y = jnp.arange(4) % 10
    loss = jax.jit(make_loss(net))
    w = space.uniform_op_weights()
    a = loss(v["params"], v["batch_stats"], w, x, y, jax.random.key(2))[0]
    b = loss(v["params"], v["batch_stats"], w, x, y, jax.random.key(3))[0]
    c = loss(v["params"], v["batch_stats"], w, x, y, jax.random.key(2))[0]
    assert float(a) != float(b) and float(a) == float(c)
