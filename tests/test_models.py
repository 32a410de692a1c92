"""Tests for jaxnas.models: the fused search cell equals the textbook mixed cell, a one-hot
supernet equals the standalone network, shapes, errors, and the parameter count."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.models import Network, init, one_hot, supernet_to_per_edge

C, N, K, HW, B = 4, 1, 10, 8, 4
TOL = dict(rtol=1e-5, atol=1e-5)


def _randomise_stats(variables: dict, key: jax.Array) -> dict:
    """Non-trivial running statistics, so that train=False really tests them."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(variables["batch_stats"])
    keys = jax.random.split(key, len(leaves))
    out = []
    for (path, x), k in zip(leaves, keys, strict=True):
        u = jax.random.uniform(k, x.shape, x.dtype)
        out.append(0.5 + u if path[-1].key == "var" else u - 0.5)
    return {**variables, "batch_stats": jax.tree_util.tree_unflatten(tree, out)}


@pytest.fixture(scope="module")
def fused():
    net = Network(C, N, K, cell="fused")
    v = _randomise_stats(init(jax.random.key(0), net, (HW, HW, 3)), jax.random.key(1))
    # Random (not He-init only) conv kernels are fine as they are; perturb BN affine params too.
    v["params"] = jax.tree.map(lambda p: p + 0.1 * jnp.sin(jnp.arange(p.size).reshape(p.shape)),
                               v["params"])
    x = jax.random.normal(jax.random.key(2), (B, HW, HW, 3))
    return net, v, x


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def _trees_close(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(_close, a, b)


def test_per_edge_layout_matches_mixed_init(fused):
    net, v, _ = fused
    pe = supernet_to_per_edge(v, C)
    ref = init(jax.random.key(0), Network(C, N, K, cell="mixed"), (HW, HW, 3))
    assert jax.tree.structure(pe) == jax.tree.structure(ref)
    shapes = jax.tree.map(lambda a, b: a.shape == b.shape, pe, ref)
    assert all(jax.tree.leaves(shapes))


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_fused_equals_mixed(fused, train, seed):
    net, v, x = fused
    w = jax.nn.softmax(jax.random.normal(jax.random.key(10 + seed), (6, 5)) * 2, -1)
    mixed = Network(C, N, K, cell="mixed")
    pe = supernet_to_per_edge(v, C)
    if train:
        yf, sf = net.apply(v, x, w, train=True, mutable=["batch_stats"])
        ym, sm = mixed.apply(pe, x, w, train=True, mutable=["batch_stats"])
        # The updated running statistics agree too, after unfusing.
        sf_pe = supernet_to_per_edge({"params": v["params"], **sf}, C)["batch_stats"]
        _trees_close(sf_pe, sm["batch_stats"])
    else:
        yf, ym = net.apply(v, x, w, train=False), mixed.apply(pe, x, w, train=False)
    assert yf.shape == (B, K)
    assert float(jnp.std(yf)) > 1e-3  # a non-degenerate output
    _close(yf, ym)


def test_fused_equals_mixed_gradients(fused):
    net, v, x = fused
    mixed = Network(C, N, K, cell="mixed")
    alpha = jax.random.normal(jax.random.key(3), (6, 5))

    def loss(model, variables, a):
        y, _ = model.apply(variables, x, jax.nn.softmax(a, -1), train=True,
                           mutable=["batch_stats"])
        return jnp.sum(jnp.sin(y))

    ga_f = jax.grad(loss, argnums=2)(net, v, alpha)
    ga_m = jax.grad(loss, argnums=2)(mixed, supernet_to_per_edge(v, C), alpha)
    assert float(jnp.abs(ga_f).max()) > 1e-4
    _close(ga_f, ga_m)


ARCHS = [
    (3, 3, 3, 3, 3, 3),
    (0, 1, 2, 3, 4, 0),
    (1, 0, 0, 4, 2, 3),
    (0, 0, 3, 0, 0, 2),  # node 1 and 2 unused
    (0, 0, 0, 0, 0, 0),  # the all-none cell outputs zeros
    (4, 4, 1, 2, 1, 1),
]


@pytest.mark.parametrize("arch", ARCHS)
def test_one_hot_supernet_equals_standalone(fused, arch):
    net, v, x = fused
    standalone = Network(C, N, K, arch=arch)
    pe = supernet_to_per_edge(v, C)
    w = one_hot(arch)
    _close(net.apply(v, x, w, train=False), standalone.apply(pe, x, train=False))
    ys, _ = net.apply(v, x, w, train=True, mutable=["batch_stats"])
    yd, _ = standalone.apply(pe, x, train=True, mutable=["batch_stats"])
    _close(ys, yd)


def test_standalone_has_only_its_edges():
    v = init(jax.random.key(0), Network(C, N, K, arch=(0, 1, 2, 3, 4, 0)), (HW, HW, 3))
    cell = v["params"]["stage0_cell0"]
    assert sorted(cell) == ["edge2_conv1x1", "edge3_conv3x3"]


def test_shapes_and_errors(fused):
    net, v, x = fused
    w = jnp.full((6, 5), 0.2)
    assert net.apply(v, x, w).shape == (B, K)
    x16 = jnp.ones((2, 16, 16, 3))
    big = Network(C, N, 7)
    vb = init(jax.random.key(0), big, (16, 16, 3))
    assert big.apply(vb, x16, w).shape == (2, 7)
    with pytest.raises(ValueError, match=r"op_weights of shape \[6, 5\], got \(5, 5\)"):
        net.apply(v, x, jnp.ones((5, 5)))
    with pytest.raises(ValueError, match="got None"):
        net.apply(v, x, None)
    with pytest.raises(ValueError, match="unknown cell 'bogus'"):
        init(jax.random.key(0), Network(C, N, K, cell="bogus"), (HW, HW, 3))


def expected_supernet_params(c: int, n: int, k: int) -> int:
    """Independent count: NAS-Bench-201 search network, affine-free BatchNorms in cells."""
    stem = 3 * 3 * 3 * c + 2 * c
    cells = n * sum(6 * (ch * ch + 9 * ch * ch) for ch in (c, 2 * c, 4 * c))

    def reduce(cin, cout):  # ReLUConvBN3x3 s2 + ReLUConvBN3x3 (affine BN) + 1x1 shortcut
        return 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout + cin * cout

    return stem + cells + reduce(c, 2 * c) + reduce(2 * c, 4 * c) + 2 * 4 * c + 4 * c * k + k


@pytest.mark.parametrize("cell", ["fused", "mixed"])
def test_parameter_count(cell):
    net = Network(16, 5, 10, cell=cell)
    shapes = jax.eval_shape(lambda: init(jax.random.key(0), net))
    count = sum(math.prod(p.shape) for p in jax.tree.leaves(shapes["params"]))
    assert count == expected_supernet_params(16, 5, 10) == 1_686_106
