"""Tests for jaxnas.models: the fused search cell equals the textbook mixed cell, a one-hot
supernet equals the standalone network, shapes, errors, and the parameter count."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_variables

from jaxnas.models import Network, init, kernel_fan_in, supernet_to_per_edge
from jaxnas.spaces.nb201 import SPACE

one_hot = SPACE.one_hot

C, N, K, HW, B = 4, 1, 10, 8, 4
TOL = dict(rtol=1e-5, atol=1e-5)


def _np_variables(net: Network, hw: int, seed: int) -> dict:
    """Variables of ``net`` filled from NumPy (scaled normal kernels, non-trivial BatchNorm affine
    parameters and running statistics, so that train=False really tests them). ``eval_shape``
    traces ``init`` without compiling it: compiling the threefry initialisers takes seconds."""
    return random_variables(jax.eval_shape(lambda: init(jax.random.key(0), net, (hw, hw, 3))),
                            seed)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _apply(net, v, x, w, train):
    if train:
        return net.apply(v, x, w, train=True, mutable=["batch_stats"])
    return net.apply(v, x, w, train=False), None


@pytest.fixture(scope="module")
def fused():
    net = Network(C, N, K, cell="fused")
    v = _np_variables(net, HW, 0)
    x = jax.random.normal(jax.random.key(2, impl="rbg"), (B, HW, HW, 3))
    return net, v, x


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def _trees_close(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(_close, a, b)


def test_per_edge_layout_matches_mixed_init(fused):
    net, v, _ = fused
    pe = supernet_to_per_edge(v, C)
    ref = jax.eval_shape(lambda: init(jax.random.key(0), Network(C, N, K, cell="mixed"),
                                      (HW, HW, 3)))
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
        yf, sf = _apply(net, v, x, w, True)
        ym, sm = _apply(mixed, pe, x, w, True)
        # The updated running statistics agree too, after unfusing.
        sf_pe = supernet_to_per_edge({"params": v["params"], **sf}, C)["batch_stats"]
        _trees_close(sf_pe, sm["batch_stats"])
    else:
        yf, ym = _apply(net, v, x, w, False)[0], _apply(mixed, pe, x, w, False)[0]
    assert yf.shape == (B, K)
    assert float(jnp.std(yf)) > 1e-3  # a non-degenerate output
    _close(yf, ym)


def test_scanned_stages_equal_unrolled_cells():
    """With N=2 in training mode, the scanned fused supernet (parameters stacked per stage)
    equals the unrolled mixed network on the unstacked, unfused parameters, outputs and running
    statistics; the stacked layout is what ``supernet_to_per_edge`` expects. (Evaluation mode of
    the scanned layout: the N=1 tests above.)"""
    net = Network(C, 2, K, cell="fused")
    v = _np_variables(net, HW, 4)
    assert v["params"]["stage1_cells"]["cell"]["node0_conv3x3"]["kernel"].shape == (2, 3, 3, 2 * C,
                                                                                   6 * C)
    assert kernel_fan_in((2, 3, 3, 2 * C, 6 * C)) == kernel_fan_in((3, 3, 2 * C, 6 * C)) == 18 * C
    unrolled = Network(C, 2, K, cell="fused", scan=False)
    assert "stage1_cell1" in jax.eval_shape(lambda: init(jax.random.key(0), unrolled,
                                                         (HW, HW, 3)))["params"]
    x = jax.random.normal(jax.random.key(5, impl="rbg"), (B, HW, HW, 3))
    w = jax.nn.softmax(jax.random.normal(jax.random.key(6), (6, 5)) * 2, -1)
    mixed = Network(C, 2, K, cell="mixed")
    ys, ss = _apply(net, v, x, w, True)
    ym, sm = _apply(mixed, supernet_to_per_edge(v, C), x, w, True)
    assert float(jnp.std(ys)) > 1e-3
    _close(ys, ym)
    _trees_close(supernet_to_per_edge({"params": v["params"], **ss}, C)["batch_stats"],
                 sm["batch_stats"])


@pytest.mark.slow  # two gradient compilations: ~100 s on a contended 2-core CPU
def test_fused_equals_mixed_gradients(fused):
    """Gradients w.r.t. alpha and w.r.t. the weights (unfused) agree."""
    net, v, x = fused
    mixed = Network(C, N, K, cell="mixed")
    alpha = jnp.asarray(np.random.default_rng(3).normal(size=(6, 5)), jnp.float32)

    @functools.partial(jax.jit, static_argnums=0)
    def grads(model, variables, a):
        def loss(params, a):
            y, _ = model.apply({**variables, "params": params}, x, jax.nn.softmax(a, -1),
                               train=True, mutable=["batch_stats"])
            return jnp.sum(jnp.sin(y))
        return jax.grad(loss, argnums=(0, 1))(variables["params"], a)

    pe = supernet_to_per_edge(v, C)
    gp_f, ga_f = grads(net, v, alpha)
    gp_m, ga_m = grads(mixed, pe, alpha)
    assert float(jnp.abs(ga_f).max()) > 1e-4
    _close(ga_f, ga_m)
    gp_f_pe = supernet_to_per_edge({"params": gp_f, "batch_stats": v["batch_stats"]}, C)["params"]
    _trees_close(gp_f_pe, gp_m)


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
    _close(_apply(net, v, x, w, False)[0], _apply(standalone, pe, x, None, False)[0])
    ys, _ = _apply(net, v, x, w, True)
    yd, _ = _apply(standalone, pe, x, None, True)
    _close(ys, yd)


def test_standalone_has_only_its_edges():
    v = jax.eval_shape(lambda: init(jax.random.key(0), Network(C, N, K, arch=(0, 1, 2, 3, 4, 0)),
                                    (HW, HW, 3)))
    cell = v["params"]["stage0_cell0"]
    assert sorted(cell) == ["edge2_conv1x1", "edge3_conv3x3"]


def test_shapes_and_errors(fused):
    net, v, x = fused
    w = jnp.full((6, 5), 0.2)
    assert _apply(net, v, x, w, False)[0].shape == (B, K)
    x16 = jnp.ones((2, 16, 16, 3))
    big = Network(C, N, 7)
    assert jax.eval_shape(big.apply, _np_variables(big, 16, 1), x16, w).shape == (2, 7)
    with pytest.raises(ValueError, match=r"op_weights of shape \[6, 5\], got \(5, 5\)"):
        net.apply(v, x, jnp.ones((5, 5)))
    with pytest.raises(ValueError, match="got None"):
        net.apply(v, x, None)
    with pytest.raises(ValueError, match="unknown cell 'bogus'"):
        jax.eval_shape(lambda: init(jax.random.key(0), Network(C, N, K, cell="bogus"), (HW, HW, 3)))


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


@pytest.mark.parametrize("kernel,stride,batch,relu", [
    (1, 1, 2, False), (3, 1, 2, False), (3, 2, 2, False), (1, 1, 12, True), (3, 1, 12, False),
    (3, 1, 12, True), (3, 2, 12, True), (3, 1, 7, True)])
def test_conv2d_matches_xla_convolution(kernel, stride, batch, relu, monkeypatch):
    """ops.conv2d (chunked im2col GEMMs) equals XLA's convolution and its gradients, with the
    batch split into several chunks (CHUNK_PIXELS lowered to 80: 2 images of 6x6 per chunk, 6
    chunks of 2 for batch 12 and 7 chunks of 1 for batch 7) or not."""
    from jaxnas.models import layers as ops
    from jaxnas.models.layers import _conv, conv2d
    monkeypatch.setattr(ops, "CHUNK_PIXELS", 80)
    assert (ops._chunks(12, 36, 9), ops._chunks(7, 36, 9), ops._chunks(12, 36, 1)) == (2, 1, 12)
    rng = np.random.default_rng(kernel + stride + batch)
    x = jnp.asarray(rng.normal(size=(batch, 6, 6, 3)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(kernel, kernel, 3, 5)), jnp.float32)
    pad = (kernel - 1) // 2
    act = jax.nn.relu if relu else (lambda a: a)
    y_ref, vjp_ref = jax.vjp(lambda a, b: _conv(act(a), b, stride, pad), x, k)
    y, vjp = jax.vjp(lambda a, b: conv2d(a, b, stride, pad, relu), x, k)
    dy = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
    _close(y, y_ref)
    for g, g_ref in zip(vjp(dy), vjp_ref(dy), strict=True):
        _close(g, g_ref)


def test_fence_is_identity_with_identity_gradient():
    from jaxnas.models.layers import fence
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 3, 5)), jnp.float32)
    g = jnp.asarray(np.random.default_rng(1).normal(size=x.shape), jnp.float32)
    y, vjp = jax.vjp(fence, x)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(vjp(g)[0]), np.asarray(g))


def test_split_batch_norm_equals_batch_norm_of_concatenation():
    from jaxnas.models.layers import SplitBatchNorm, batch_norm
    rng = np.random.default_rng(0)
    xs = [jnp.asarray(rng.normal(1.0, 2.0, size=(4, 3, 3, n)), jnp.float32) for n in (2, 5)]
    cat = jnp.concatenate(xs, -1)
    ref = batch_norm(False)
    split = SplitBatchNorm()
    v_ref = ref.init(jax.random.key(0), cat, use_running_average=False)
    v = split.init(jax.random.key(0), xs, use_running_average=False)
    assert jax.tree.map(jnp.shape, v) == jax.tree.map(jnp.shape, v_ref)
    for train in (True, False):
        out_ref, s_ref = ref.apply(v_ref, cat, use_running_average=not train, mutable=["batch_stats"])
        out, s = split.apply(v, xs, use_running_average=not train, mutable=["batch_stats"])
        _close(jnp.concatenate(out, -1), out_ref)
        for a, b in zip(jax.tree.leaves(s), jax.tree.leaves(s_ref), strict=True):
            _close(a, b)
        v_ref, v = {**v_ref, **s_ref}, {**v, **s}


def test_normalize_train_gradient_equals_autodiff_of_its_forward():
    """The closed-form BatchNorm gradient against autodiff of the same forward arithmetic, with
    cotangents on all three outputs (out, mean, var), in float64; channel 0 is constant, so its
    variance is exactly 0 (the clipped branch)."""
    from jaxnas.models.layers import BN_EPS, normalize_train

    def reference(x):
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axes)
        var = jnp.maximum(0.0, jnp.mean(jnp.square(x), axes) - jnp.square(mean))
        return (x - mean) * jax.lax.rsqrt(var + BN_EPS), mean, var

    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.normal(0.5, 2.0, size=(4, 5, 5, 6))).at[..., 0].set(1.5)
        assert float(normalize_train(x, BN_EPS)[2][0]) == 0.0
        cts = (jnp.asarray(rng.normal(size=x.shape)), jnp.asarray(rng.normal(size=6)),
               jnp.asarray(rng.normal(size=6)))
        got_out, got_vjp = jax.vjp(lambda x: normalize_train(x, BN_EPS), x)
        ref_out, ref_vjp = jax.vjp(reference, x)
        for a, b in zip(got_out, ref_out, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        for ct in (cts, (cts[0], 0 * cts[1], 0 * cts[2])):
            np.testing.assert_allclose(got_vjp(ct)[0], ref_vjp(ct)[0], rtol=1e-10, atol=1e-12)


def test_operation_semantics_none_zero_skip_identity():
    from jaxnas.models.nb201.cell import FusedSearchCell, MixedSearchCell
    from jaxnas.models.nb201.ops import apply_op

    x = jax.random.normal(jax.random.key(3), (2, 6, 6, 4))
    np.testing.assert_array_equal(apply_op(0, x, 4, False, 0), np.zeros_like(x))
    np.testing.assert_array_equal(apply_op(1, x, 4, False, 0), x)
    # A cell of skip connections only: node1 = x, node2 = x + node1, node3 = x + node1 + node2.
    skip = one_hot(jnp.ones(6, jnp.int32))
    none = one_hot(jnp.zeros(6, jnp.int32))
    for cls in (FusedSearchCell, MixedSearchCell):
        cell = cls(features=4)
        v = cell.init(jax.random.key(0), x, skip, False)
        np.testing.assert_allclose(cell.apply(v, x, skip, False), 4 * x, rtol=1e-6)
        np.testing.assert_array_equal(cell.apply(v, x, none, False), np.zeros_like(x))
