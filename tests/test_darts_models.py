"""Tests for jaxnas.models.darts (issue 16): the DARTS-space operations against NumPy and PyTorch
references, parameter counts equal to a PyTorch implementation's, the supernet and the
evaluation network against PyTorch, a one-hot supernet against the discrete network, the
scanned cell against the unrolled one, the candidate tables, noise and drop path randomness, and
a train step that compiles once.

Shapes are tiny (C=4, 1-3 cells, 8x8 images, batch 2); the PyTorch reference is
``tests/fixtures/torch_darts.py`` (skipped without torch, except under CI=true).
"""

from __future__ import annotations

import functools
import os

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import random_variables

from jaxnas.models.darts import (
    CANDIDATES,
    DARTS_OPS,
    DARTS_V2,
    DartsSupernet,
    NetworkCIFAR,
    genotype_array,
    genotype_lists,
    init,
    param_counts,
    supernet_to_network,
    uniform,
)
from jaxnas.models.darts import ops as O
from jaxnas.models.darts.cell import EDGE_OFFSETS, EvalCell
from jaxnas.models.darts.network import scan_to_per_edge

C, HW, B = 4, 8, 2



@pytest.fixture(scope="module")
def T():
    """The PyTorch reference module; skipped without torch (a failure under CI=true)."""
    try:
        import torch  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true needs torch for the DARTS reference tests ({e})")
        pytest.skip(f"torch not installed ({e})")
    from tests.fixtures import torch_darts

    return torch_darts


def net_variables(net, seed: int, hw: int = HW) -> dict:
    """Random variables of a network (``eval_shape`` traces ``init`` without compiling it)."""
    return random_variables(jax.eval_shape(lambda: init(jax.random.key(0), net, (hw, hw, 3))),
                            seed)


def images(seed: int, hw: int = HW, b: int = B) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(b, hw, hw, 3)).astype(np.float32)


def op_weights(net: DartsSupernet, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {k: jax.nn.softmax(jnp.asarray(rng.normal(size=s), jnp.float32), -1)
            for k, s in net.alpha_shapes.items()}


def close(a, b, tol=2e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def nchw(x) -> np.ndarray:
    """NHWC (images) -> NCHW, or channel-major [C, B, H, W] -> NCHW."""
    x = np.asarray(x)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def cm(x) -> jnp.ndarray:
    """NCHW -> channel-major [C, B, H, W]."""
    return jnp.asarray(np.ascontiguousarray(np.asarray(x).transpose(1, 0, 2, 3)))


# ---- operations against NumPy -----------------------------------------------------------------


def test_avg_pool_excludes_padding_from_the_count():
    x = np.zeros((1, 1, 5, 6), np.float32)
    x[0, 0, 0, 0] = 1.0  # a corner pixel: in 4 in-image windows of sizes 4, 6, 6, 9
    y = np.asarray(O.avg_pool_3x3(jnp.asarray(x)))[0, 0]
    assert y[0, 0] == pytest.approx(1 / 4)  # corner window: 4 pixels
    assert y[0, 1] == pytest.approx(1 / 6) and y[1, 0] == pytest.approx(1 / 6)  # edge windows
    assert y[1, 1] == pytest.approx(1 / 9)
    assert np.count_nonzero(y) == 4
    # Against a direct NumPy average over in-image pixels, stride 1 and 2.
    r = np.random.default_rng(0).normal(size=(2, 3, 6, 8)).astype(np.float32)
    ref = np.zeros_like(r)
    for i in range(6):
        for j in range(8):
            ref[..., i, j] = r[..., max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].mean((-2, -1))
    close(O.avg_pool_3x3(jnp.asarray(r)), ref, 1e-6)
    close(O.avg_pool_3x3(jnp.asarray(r), 2), ref[..., ::2, ::2], 1e-6)


def test_max_pool_pads_with_minus_infinity_and_routes_gradients_to_the_first_maximum():
    r = np.random.default_rng(1).normal(size=(2, 3, 6, 8)).astype(np.float32) - 10.0  # < 0
    r[0, 0, :3, :3] = -1.0  # a plateau of ties
    ref = np.full_like(r, -np.inf)
    first = np.zeros(r.shape, np.int64)  # flat index (row-major in the window) of the maximum
    for i in range(6):
        for j in range(8):
            win = r[..., max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
            ref[..., i, j] = win.max((-2, -1))
            k = win.reshape(*win.shape[:2], -1).argmax(-1)  # numpy: first maximum
            rows, cols = np.divmod(k, win.shape[-1])
            first[..., i, j] = (rows + max(i - 1, 0)) * 8 + cols + max(j - 1, 0)
    @functools.partial(jax.jit, static_argnums=2)
    def pool_and_grad(a, g, stride):
        y, vjp = jax.vjp(lambda b: O.max_pool_3x3(b, stride), a)
        return y, vjp(g)[0]

    for s in (1, 2):
        dy = np.random.default_rng(2).normal(size=ref[..., ::s, ::s].shape).astype(np.float32)
        y, dx = pool_and_grad(jnp.asarray(r), jnp.asarray(dy), s)
        close(y, ref[..., ::s, ::s], 0)
        want = np.zeros((2, 3, 48), np.float32)
        f = first[..., ::s, ::s].reshape(2, 3, -1)
        for a in range(2):
            for c in range(3):
                np.add.at(want[a, c], f[a, c], dy[a, c].reshape(-1))
        close(dx, want.reshape(r.shape), 1e-6)


def test_factorized_reduce_shifts_the_second_half_by_one_pixel():
    fr = O.FactorizedReduce(6)
    x = jnp.asarray(np.random.default_rng(3).normal(size=(5, B, HW, HW)), jnp.float32)
    v = random_variables(jax.eval_shape(lambda: fr.init(jax.random.key(0), x, False)), 4)
    y = np.asarray(fr.apply(v, x, False))
    r = np.maximum(np.asarray(x), 0)
    w1 = np.asarray(v["params"]["conv_1"]["kernel"])[0, 0]
    w2 = np.asarray(v["params"]["conv_2"]["kernel"])[0, 0]
    z = np.concatenate([np.einsum("cd,cbhw->dbhw", w1, r[:, :, ::2, ::2]),
                        np.einsum("cd,cbhw->dbhw", w2, r[:, :, 1::2, 1::2])])
    st = v["batch_stats"]["bn"]
    want = (z - st["mean"][:, None, None, None]) / np.sqrt(st["var"][:, None, None, None] + 1e-5)
    close(y, want, 1e-5)
    assert y.shape == (6, B, HW // 2, HW // 2)


@pytest.mark.parametrize("k,d,s,fence_input", [(5, 2, 1, True), (3, 1, 2, False)])
def test_depthwise_conv_and_its_gradients_match_xla(k, d, s, fence_input):
    rng = np.random.default_rng(k + d + s)
    x = jnp.asarray(rng.normal(size=(3, B, HW, HW)), jnp.float32)
    kern = jnp.asarray(rng.normal(size=(k, k, 1, 3)), jnp.float32)
    p = d * (k - 1) // 2

    @jax.jit
    def both(x, kk):  # of relu(x), as in the cells
        ours = jax.vjp(lambda a, b: O.depthwise_conv_sum(jnp.maximum(a, 0), b, s, d, p,
                                                        fence_input), x, kk)
        xla = jax.vjp(lambda a, b: O.depthwise_conv_xla(jnp.maximum(a, 0), b, s, d, p), x, kk)
        return ours, xla

    (ya, va), (yb, vb) = both(x, kern)
    close(ya, yb, 1e-5)
    dy = jnp.asarray(rng.normal(size=ya.shape), jnp.float32)
    for ga, gb in zip(va(dy), vb(dy), strict=True):
        close(ga, gb, 1e-4)


def test_channel_major_batchnorm_gradient_matches_autodiff():
    x = jnp.asarray(np.random.default_rng(5).normal(2.0, 3.0, size=(3, 4, 5, 6)), jnp.float32)

    def plain(x):
        m = jnp.mean(x, (1, 2, 3))
        v = jnp.maximum(jnp.mean(x * x, (1, 2, 3)) - m * m, 0)
        return (x - m[:, None, None, None]) * jax.lax.rsqrt(v + 1e-5)[:, None, None, None], m, v

    cts = tuple(jnp.asarray(np.random.default_rng(6).normal(size=a.shape), jnp.float32)
                for a in jax.eval_shape(plain, x))

    @jax.jit
    def both(x, cts):
        (oa, va), (ob, vb) = jax.vjp(O.normalize_train, x), jax.vjp(plain, x)
        return oa, ob, va(cts)[0], vb(cts)[0]

    out_a, out_b, grad_a, grad_b = both(x, cts)
    for a, b in zip(out_a, out_b, strict=True):
        close(a, b, 1e-5)
    close(grad_a, grad_b, 1e-4)


def test_noise_draws_from_the_noise_rng_in_the_strided_shape():
    op = O.Op("noise", C, stride=2)
    x = jnp.zeros((C, B, HW, HW))
    a = op.apply({}, x, True, rngs={"noise": jax.random.key(1)})
    b = op.apply({}, x, True, rngs={"noise": jax.random.key(1)})
    c = op.apply({}, x, False, rngs={"noise": jax.random.key(2)})
    assert a.shape == (C, B, HW // 2, HW // 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert abs(float(a.mean())) < 0.3 and abs(float(a.std()) - 1) < 0.3  # N(0, 1), 128 draws
    with pytest.raises(ValueError, match="rngs=\\{'noise'"):
        op.apply({}, x, True)


def test_drop_path_zeroes_whole_samples_and_rescales_the_rest():
    x = jnp.ones((3, 4000, 2, 2))
    y = np.asarray(O.drop_path(jax.random.key(0), x, 0.3))
    per_sample = y.reshape(3, 4000, 4).transpose(1, 0, 2).reshape(4000, -1)
    kept = per_sample[:, 0] > 0
    assert np.all(per_sample[kept] == pytest.approx(1 / 0.7))
    assert np.all(per_sample[~kept] == 0)
    assert kept.mean() == pytest.approx(0.7, abs=0.03)


# ---- tables and genotypes ---------------------------------------------------------------------


def test_candidate_tables_have_the_right_shapes():
    widths = {"darts": 8, "darts-7": 7, "s1": 2, "s2": 2, "s3": 3, "s4": 2}
    assert set(CANDIDATES) == set(widths)
    for name, (normal, reduce) in CANDIDATES.items():
        for table in (normal, reduce):
            assert len(table) == 14 and {len(e) for e in table} == {widths[name]}
            assert all(o in O.OPS for e in table for o in e)
        net = DartsSupernet(C, 3, 10, normal, reduce)
        assert net.alpha_shapes == {"normal": (14, widths[name]), "reduce": (14, widths[name])}
    assert CANDIDATES["darts"][0][0] == DARTS_OPS and "none" not in CANDIDATES["darts-7"][0][0]
    s1n, s1r = CANDIDATES["s1"]
    assert len(set(s1n)) > 1 and s1n != s1r  # per edge, separately per cell type
    assert s1n[5] == ("max_pool_3x3", "skip_connect") and s1r[4] == ("skip_connect", "dil_conv_5x5")
    assert CANDIDATES["s4"][0][0] == ("noise", "sep_conv_3x3")
    with pytest.raises(ValueError, match="per edge"):
        DartsSupernet(C, 3, 10, ("skip_connect",), uniform(("skip_connect",))).apply(
            {}, jnp.zeros((1, 8, 8, 3)), {})


def test_genotype_array_round_trip():
    g = genotype_array(*DARTS_V2)
    assert g.shape == (2, 8, 2) and g.dtype == np.int32
    assert g[0, 0].tolist() == [0, DARTS_OPS.index("sep_conv_3x3")]
    assert g[1, 2].tolist() == [2, DARTS_OPS.index("skip_connect")]
    assert [list(c) for c in genotype_lists(g)] == [list(c) for c in DARTS_V2]
    with pytest.raises(ValueError, match="slot 1 \\(node 0\\) reads state 2"):
        NetworkCIFAR(np.array([[[0, 1], [2, 1]] + [[0, 1]] * 6] * 2), DARTS_OPS)


# ---- PyTorch references -----------------------------------------------------------------------


class _AllOps(nn.Module):
    """Every operation at stride 1 and 2 on one input (one compilation for all)."""

    specs: tuple

    @nn.compact
    def __call__(self, x, train):
        return [O.Op(n, C, s, a, pb, name=f"op{i}")(x, train)
                for i, (n, s, a, pb) in enumerate(self.specs)]


OP_SPECS = tuple((n, s, a, n.endswith("pool_3x3"))
                 for n in ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                           "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
                 for s in (1, 2) for a in ((False, True) if "conv" in n else (False,))
                 if not (n == "skip_connect" and s == 1))


def test_operations_match_torch(T):
    import torch

    m = _AllOps(OP_SPECS)
    x = np.random.default_rng(7).normal(size=(C, B, HW, HW)).astype(np.float32)
    v = random_variables(jax.eval_shape(lambda: m.init(jax.random.key(0), jnp.asarray(x), False)),
                         8)
    run = jax.jit(lambda v, x: (m.apply(v, x, False),
                                m.apply(v, x, True, mutable=["batch_stats"])))
    evals, (trains, new) = run(v, jnp.asarray(x))
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 0, 2, 3)))
    for i, (n, s, a, pb) in enumerate(OP_SPECS):
        op = T.Op(n, C, s, a, pb)
        sub = {col: v[col][f"op{i}"] for col in v if f"op{i}" in v[col]}
        T.load_flax(op, sub)
        with torch.no_grad():
            op.eval()
            close(cm(op(xt).numpy()), evals[i], 1e-5)
            op.train()
            close(cm(op(xt).numpy()), trains[i], 1e-4)
        if f"op{i}" in new["batch_stats"]:  # running means move as in PyTorch
            for path, t_mean in ((k, b.running_mean) for k, b in op.named_modules()
                                 if isinstance(b, torch.nn.BatchNorm2d)):
                node = new["batch_stats"][f"op{i}"]
                for part in filter(None, path.split(".")):
                    node = node[part]
                close(node["mean"], t_mean.numpy(), 1e-5)


def test_parameter_counts_match_torch(T):
    normal, reduce = CANDIDATES["darts"]
    got = param_counts(DartsSupernet(16, 8, 10, normal, reduce))
    assert got == {"total": 1_930_618, "without_aux": 1_930_618}
    assert T.param_count(T.SearchNetwork(16, 10, 8, normal, reduce)) == 1_930_618
    geno = genotype_array(*DARTS_V2)
    got = param_counts(NetworkCIFAR(geno, DARTS_OPS, channels=36, layers=20, num_classes=10))
    assert got == {"total": 3_825_768, "without_aux": 3_349_342}  # DARTS reports 3.3M
    ref = T.NetworkCIFAR(36, 10, 20, True, DARTS_V2)
    assert (T.param_count(ref), T.param_count(ref, auxiliary=False)) == (3_825_768, 3_349_342)
    normal, reduce = CANDIDATES["s1"]  # per-edge candidates, separately per cell type
    got = param_counts(DartsSupernet(8, 3, 10, normal, reduce))["total"]
    assert got == T.param_count(T.SearchNetwork(8, 10, 3, normal, reduce))


@functools.partial(jax.jit, static_argnums=(0, 4))
def _apply(net, v, x, w, train):
    if train:
        return net.apply(v, x, w, train=True, mutable=["batch_stats"])
    return net.apply(v, x, w, train=False), None


@functools.partial(jax.jit, static_argnums=0)
def _apply_both(net, v, x, w):
    """Eval- and train-mode outputs in one compiled program."""
    return ((net.apply(v, x, w, train=False), None),
            net.apply(v, x, w, train=True, mutable=["batch_stats"]))


@pytest.mark.parametrize("space,layers", [("s1", 2), ("s2", 3)])
def test_supernet_matches_torch(T, space, layers):
    """S1 (per-edge candidates: unrolled cells; max and average pooling, skip, sep and dil
    convolutions) in two reduction cells (the second with FactorizedReduce preprocessing), and
    S2 (scanned cells) in a normal and two reduction cells, in eval and train mode."""
    import torch

    normal, reduce = CANDIDATES[space]
    net = DartsSupernet(C, layers, 10, normal, reduce)
    v = net_variables(net, 9)
    x, w = images(10), op_weights(net, 11)
    ref = T.SearchNetwork(C, 10, layers, normal, reduce).double()
    T.load_flax(ref, scan_to_per_edge(v))
    xt = torch.from_numpy(nchw(x)).double()
    wt = [torch.from_numpy(np.array(w[k])).double() for k in ("normal", "reduce")]
    (out_eval, _), (out_train, new) = _apply_both(net, v, x, w)
    for train, out in ((False, out_eval), (True, out_train)):
        ref.train(train)
        with torch.no_grad():
            close(out, ref(xt, *wt).numpy(), 1e-3 if train else 1e-4)
    stem_mean = ref.stem.bn.running_mean.numpy()
    close(new["batch_stats"]["stem"]["bn"]["mean"], stem_mean, 1e-5)


@pytest.mark.slow
def test_scanned_cells_equal_unrolled_cells():
    normal, reduce = CANDIDATES["s3"]  # none, skip, sep_conv_3x3
    scanned = DartsSupernet(C, 3, 10, normal, reduce, scan=True)
    unrolled = DartsSupernet(C, 3, 10, normal, reduce, scan=False)
    v = net_variables(scanned, 12)
    per_edge = scan_to_per_edge(v)
    ref = jax.eval_shape(lambda: init(jax.random.key(0), unrolled, (HW, HW, 3)))
    assert jax.tree.structure(per_edge) == jax.tree.structure(ref)
    x, w = images(13), op_weights(scanned, 14)
    for train in (False, True):
        a, sa = _apply(scanned, v, x, w, train)
        b, sb = _apply(unrolled, per_edge, x, w, train)
        close(a, b, 1e-5)
    jax.tree.map(lambda p, q: close(p, q, 1e-5), scan_to_per_edge(sa), sb)


def test_network_cifar_matches_torch_and_returns_auxiliary_logits(T):
    import torch

    geno = genotype_array(*DARTS_V2)
    net = NetworkCIFAR(geno, DARTS_OPS, channels=C, layers=3, num_classes=10)
    v = net_variables(net, 15, hw=32)
    x = images(16, hw=32)
    ref = T.NetworkCIFAR(C, 10, 3, True, DARTS_V2).double()
    T.load_flax(ref, v)
    xt = torch.from_numpy(nchw(x)).double()
    run = jax.jit(lambda v, x: (net.apply(v, x, train=False),
                                net.apply(v, x, train=True, mutable=["batch_stats"])[0]))
    (logits, aux_eval), (logits_t, aux_t) = run(v, x)
    assert aux_eval is None and aux_t.shape == (B, 10)
    with torch.no_grad():
        ref.eval()
        close(logits, ref(xt)[0].numpy(), 1e-4)
        ref.train()
        r_logits, r_aux = ref(xt)  # batch statistics of 2 images: float32 rounding grows
        close(logits_t, r_logits.numpy(), 1e-3)
        close(aux_t, r_aux.numpy(), 1e-3)


def test_drop_path_spares_identity_operations_and_follows_the_rng():
    # Node 0 sums skip connections (identities) of both inputs; nodes 1-3 sum poolings.
    cell = EvalCell(C, False, False, ((0, 0), (1, 0)) + ((0, 1), (1, 1)) * 3,
                    ("skip_connect", "avg_pool_3x3"))
    x = jnp.asarray(np.random.default_rng(17).normal(size=(C, 8, HW, HW)), jnp.float32)
    v = jax.jit(lambda x: cell.init(jax.random.key(0), x, x, False))(x)
    run = jax.jit(lambda rate, key: cell.apply(v, x, x, True, rate, rngs={"drop_path": key},
                                               mutable=["batch_stats"])[0])
    k1, k2 = jax.random.key(1), jax.random.key(2)
    off, a, b = (np.asarray(run(r, k)) for r, k in ((0.0, k1), (0.5, k1), (0.5, k2)))
    np.testing.assert_array_equal(a, np.asarray(run(0.5, k1)))  # a function of the key
    close(a[:C], off[:C], 1e-6)  # identities are never dropped
    for other in (off, b):  # the poolings' samples are
        assert not np.allclose(a[C:], other[C:])
    dropped = np.all(a[C:2 * C] == 0, axis=(0, 2, 3))  # node 1: both poolings dropped
    assert 0 < dropped.sum() < 8


# ---- one-hot supernet vs the discrete network ------------------------------------------------


def test_one_hot_supernet_equals_the_discrete_network():
    """DARTS-V2 (sep_conv_3x3, skip_connect, dil_conv_3x3, max_pool_3x3, FactorizedReduce skips)
    on a supernet whose candidates include those operations: op weights one-hot on the
    genotype's edges and zero elsewhere, evaluation mode, both networks affine-free. The
    supernet's pools are followed by a BatchNorm the discrete network does not have; its
    running statistics are set to the identity (mean 0, var 1 - eps)."""
    cands = uniform(("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3"))
    sup = DartsSupernet(C, 3, 10, cands, cands)
    v = net_variables(sup, 18)

    def identity_pool_bn(path, a):
        keys = [getattr(p, "key", None) for p in path]
        if "max_pool_3x3" in keys and "bn" in keys:
            return jnp.zeros_like(a) if keys[-1] == "mean" else jnp.full_like(a, 1 - 1e-5)
        return a

    v["batch_stats"] = jax.tree_util.tree_map_with_path(identity_pool_bn, v["batch_stats"])
    geno = genotype_array(*DARTS_V2)
    w = {"normal": np.zeros((14, 5), np.float32), "reduce": np.zeros((14, 5), np.float32)}
    for c, kind in enumerate(("normal", "reduce")):
        for j, (src, o) in enumerate(geno[c]):
            w[kind][EDGE_OFFSETS[j // 2] + src, cands[0].index(DARTS_OPS[o])] = 1.0
    out, _ = _apply(sup, v, images(19), w, False)
    disc = NetworkCIFAR(geno, DARTS_OPS, channels=C, layers=3, auxiliary=False, affine=False)
    dv = supernet_to_network(v, geno, DARTS_OPS, cands, cands)
    ref = jax.eval_shape(lambda: init(jax.random.key(0), disc, (HW, HW, 3)))
    assert jax.tree.structure(dv) == jax.tree.structure(ref)
    logits, aux = jax.jit(lambda v, x: disc.apply(v, x))(dv, images(19))
    assert aux is None
    close(out, logits, 1e-5)
    # The comparison can fail: a different op on one edge changes the output.
    w["normal"][0] = np.roll(w["normal"][0], 1)
    other, _ = _apply(sup, v, images(19), w, False)
    assert not np.allclose(np.asarray(other), np.asarray(logits), atol=1e-3)


# ---- the training step ------------------------------------------------------------------------


def test_train_step_compiles_once_and_noise_follows_the_key():
    normal, reduce = CANDIDATES["s4"]  # noise and sep_conv_3x3
    net = DartsSupernet(C, 1, 10, normal, reduce)  # one (reduction) cell, scanned
    v = net_variables(net, 20)
    tx = optax.sgd(0.1, momentum=0.9)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, stats, opt, alpha, x, y, key):
        def loss_fn(p):
            logits, new = net.apply({"params": p, "batch_stats": stats}, x,
                                    jax.tree.map(lambda a: jax.nn.softmax(a, -1), alpha),
                                    train=True, mutable=["batch_stats"], rngs={"noise": key})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new
        (loss, new), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        upd, opt = tx.update(g, opt, params)
        return optax.apply_updates(params, upd), new["batch_stats"], opt, loss

    chex.clear_trace_counter()
    x, y = jnp.asarray(images(21)), jnp.asarray([1, 7])
    alpha = {k: jnp.zeros(s) for k, s in net.alpha_shapes.items()}
    p, s, o = v["params"], v["batch_stats"], tx.init(v["params"])
    p1, s1, o1, l1 = step(p, s, o, alpha, x, y, jax.random.key(0))
    p2, s2, o2, l2 = step(p1, s1, o1, alpha, x, y, jax.random.key(0))
    _, _, _, l2b = step(p1, s1, o1, alpha, x, y, jax.random.key(5))
    assert np.isfinite(float(l1)) and float(l2) != float(l1)
    assert float(l2b) != float(l2)  # another noise draw
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), p, p2)
    assert all(jax.tree.leaves(moved))


def test_genotype_strings_build_and_run_the_pytorch_network(T):
    """A Genotype string from jaxnas goes into PyTorch code the way the DARTS references read
    one (``genotype = eval("genotypes.%s" % args.arch)`` against their ``Genotype`` namedtuple,
    quark0/darts ``train.py``): it builds and runs the PyTorch NetworkCIFAR, whose parameter
    count equals ours for the same string."""
    from collections import namedtuple

    import torch

    from jaxnas import spaces

    space = spaces.get("darts")
    genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    torch.manual_seed(0)
    for seed in range(3):
        text = space.to_string(np.asarray(space.sample(jax.random.key(seed))))
        g = eval(text, {"Genotype": genotype, "range": range})  # noqa: S307 - the references' way
        assert list(g.normal_concat) == list(g.reduce_concat) == [2, 3, 4, 5]
        ref = T.NetworkCIFAR(C, 10, 5, True, (g.normal, g.reduce)).train()
        logits, aux = ref(torch.randn(2, 3, 32, 32))
        assert logits.shape == aux.shape == (2, 10) and bool(torch.isfinite(logits).all())
        ours = param_counts(NetworkCIFAR(genotype_array(g.normal, g.reduce), DARTS_OPS,
                                         channels=C, layers=5, num_classes=10))
        assert (T.param_count(ref), T.param_count(ref, auxiliary=False)) == (
            ours["total"], ours["without_aux"]), text
