"""The DARTS-family spaces (jaxnas.spaces.darts): genotype strings, keys, naszilla's
neighbourhood, RobustDARTS's S1-S4 tables and DARTS's genotype rule. The generic contract
(round trips, masks, sampling, tracing) is in test_space_contract.py."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import spaces
from jaxnas.spaces import darts as D

DARTS = spaces.get("darts")


def test_registered_spaces_and_their_operations():
    assert {"darts", "darts-7", "s1", "s2", "s3", "s4"} <= set(spaces.SPACES)
    assert DARTS.ops == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                         "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
    assert spaces.get("darts-7").ops == DARTS.ops[1:]
    assert DARTS.alpha_shapes == {"normal": (14, 8), "reduce": (14, 8)}
    assert spaces.get("darts-7").alpha_shapes == {"normal": (14, 7), "reduce": (14, 7)}
    for name, k in (("s1", 2), ("s2", 2), ("s3", 3), ("s4", 2)):
        assert spaces.get(name).alpha_shapes == {"normal": (14, k), "reduce": (14, k)}
    assert spaces.get("s2").candidate_ops("reduce", 13) == ("skip_connect", "sep_conv_3x3")
    assert spaces.get("s3").candidate_ops("normal", 0) == ("none", "skip_connect", "sep_conv_3x3")
    assert spaces.get("s4").candidate_ops("normal", 7) == ("noise", "sep_conv_3x3")


def test_s1_tables_spot_checked_against_robustdarts():
    """RobustDARTS src/spaces.py / darts-pt sota/cnn/spaces.py primitives_1, a few edges of
    each cell type (normal and reduction differ)."""
    s1 = spaces.get("s1")
    assert s1.candidate_ops("normal", 0) == ("skip_connect", "dil_conv_3x3")
    assert s1.candidate_ops("normal", 5) == ("max_pool_3x3", "skip_connect")
    assert s1.candidate_ops("normal", 12) == ("dil_conv_3x3", "dil_conv_5x5")
    assert s1.candidate_ops("reduce", 0) == ("max_pool_3x3", "avg_pool_3x3")
    assert s1.candidate_ops("reduce", 6) == ("max_pool_3x3", "sep_conv_3x3")
    assert s1.candidate_ops("reduce", 13) == ("skip_connect", "dil_conv_5x5")
    # darts-pt's published S1 genotype (CIFAR-10, seed 1) is a member of the space
    g = ("Genotype(normal=[('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), "
         "('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), ('dil_conv_3x3', 3), "
         "('dil_conv_5x5', 4)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
         "('dil_conv_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_3x3', 1), "
         "('skip_connect', 3), ('skip_connect', 2), ('dil_conv_5x5', 3)], "
         "reduce_concat=range(2, 6))")
    a = s1.from_string(g)
    assert s1.to_string(a) == g
    with pytest.raises(ValueError, match=r"normal\[0\].*'sep_conv_3x3'.*offers"):
        s1.from_string(g.replace("('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0)",
                                 "('sep_conv_3x3', 0), ('skip_connect', 1), ('skip_connect', 0)",
                                 1))


def test_darts_v2_round_trip_and_edges():
    a = DARTS.from_string(D.DARTS_V2)
    assert a.shape == (2, 8, 2) and a.dtype == np.int32
    # normal slot 5 is ('skip_connect', 0): input 0, op skip_connect
    assert tuple(a[0, 5]) == (0, DARTS.ops.index("skip_connect"))
    s = DARTS.to_string(a)
    assert s.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)")
    assert "normal_concat=range(2, 6)" in s and s.endswith("reduce_concat=range(2, 6))")
    np.testing.assert_array_equal(DARTS.from_string(s), a)
    # DARTS's namedtuple repr (PyTorch world) reads back identically
    from collections import namedtuple

    genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    g = eval(s, {"Genotype": genotype})  # noqa: S307 -- our own string
    assert repr(g) == s
    assert g.normal[7] == ("dil_conv_3x3", 2)


@pytest.mark.parametrize(("bad", "match"), [
    ("Genotype(normal=[], reduce=[])", r"normal has 0 \(op, input\) pairs"),
    (D.DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_9x9', 2)"), r"'dil_conv_9x9'"),
    (D.DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), r"input 5 of node 5"),
    (D.DARTS_V2.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1)",
                        "('sep_conv_3x3', 1), ('sep_conv_3x3', 1)", 1), r"both inputs"),
    (D.DARTS_V2.replace("('dil_conv_3x3', 2)", "('none', 2)"), r"'none' is not an operation"),
    (D.DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3]"), r"concat"),
    (D.DARTS_V2.replace("Genotype(", "Genotype(foo=1, "), r"unknown Genotype field 'foo'"),
    (D.DARTS_V2[:-5], r"malformed genotype"),
    ("|nor_conv_3x3~0|+|", r"malformed genotype|expected Genotype"),
    (D.DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3',)"), r"normal\[7\]"),
])
def test_malformed_genotypes_get_one_line_errors(bad, match):
    with pytest.raises(ValueError, match=match) as e:
        DARTS.from_string(bad)
    assert "\n" not in str(e.value)


def test_genotype_accepts_positional_fields_and_module_prefix():
    a = DARTS.from_string(D.DARTS_V2)
    g = DARTS.to_genotype(a)
    s = f"genotypes.Genotype({g['normal']!r}, range(2, 6), {g['reduce']!r}, [2, 3, 4, 5])"
    np.testing.assert_array_equal(DARTS.from_string(s), a)


def test_key_is_exact_order_free_and_invertible():
    archs = np.asarray(jax.vmap(DARTS.sample)(jax.random.split(jax.random.key(0), 500)))
    keys = np.asarray(DARTS.arch_key(jnp.asarray(archs)))
    assert keys.shape == (500, 2) and keys.dtype == np.uint32
    # swapping the two slots of any node keeps the key; the canonical form is recovered
    swapped = archs.copy()
    swapped[:, :, [0, 1, 4, 5]] = archs[:, :, [1, 0, 5, 4]]
    np.testing.assert_array_equal(np.asarray(DARTS.arch_key(jnp.asarray(swapped))), keys)
    np.testing.assert_array_equal(np.asarray(DARTS.arch_of_key(jnp.asarray(keys))),
                                  np.asarray(DARTS.canonical(jnp.asarray(swapped))))
    # distinct genotypes, distinct keys (500 random ones: all distinct)
    assert len({k.tobytes() for k in keys}) == len({a.tobytes() for a in
                                                    np.asarray(DARTS.canonical(archs))})
    # the packing is exact: the largest cell code fits uint32 (180 * 7**8 codes per cell)
    assert 180 * len(DARTS.genotype_ops) ** 8 < 2**32


def test_naszilla_neighbourhood_of_the_darts_space():
    """Per cell and slot: 6 other operations, and node i's slots i other inputs each:
    2 * (8 * 6 + 2 * (0 + 1 + 2 + 3)) = 120 neighbours, all distinct and one change away."""
    a = DARTS.from_string(D.DARTS_V2)
    nb, ok = DARTS.neighbours(jnp.asarray(a))
    nb, ok = np.asarray(nb), np.asarray(ok)
    assert nb.shape == (120, 2, 8, 2) and ok.all()
    diff = (nb != a[None]).reshape(120, -1).sum(1)
    assert (diff == 1).all()
    ops_changed = (nb[..., 1] != a[None, ..., 1]).reshape(120, -1).any(1)
    assert ops_changed.sum() == 2 * 8 * 6
    # expected set, built independently: every single-slot change that stays a genotype
    want = set()
    for c, j in itertools.product(range(2), range(8)):
        inp, op = a[c, j]
        for o in range(1, 8):
            if o != op:
                b = a.copy(); b[c, j, 1] = o; want.add(b.tobytes())  # noqa: E702
        for i in range(j // 2 + 2):
            if i not in (inp, a[c, j ^ 1, 0]):
                b = a.copy(); b[c, j, 0] = i; want.add(b.tobytes())  # noqa: E702
    assert {r.tobytes() for r in nb} == want


def test_sampling_covers_pairs_and_ops_uniformly():
    archs = np.asarray(jax.vmap(DARTS.sample)(jax.random.split(jax.random.key(1), 6000)))
    # node 3 (i = 3) takes one of 10 input pairs, each ~10%
    pairs = archs[:, 0, 6, 0] * 5 + archs[:, 0, 7, 0]
    _, counts = np.unique(pairs, return_counts=True)
    assert len(counts) == 10 and np.all(np.abs(counts / 6000 - 0.1) < 0.02)
    ops = np.bincount(archs[..., 1].ravel(), minlength=8)
    assert ops[0] == 0  # never 'none'
    assert np.all(np.abs(ops[1:] / ops.sum() - 1 / 7) < 0.01)


def test_discretize_follows_dartss_genotype_rule():
    rng = np.random.default_rng(0)
    alpha = {c: rng.normal(size=(14, 8)) for c in D.CELLS}
    arch = DARTS.discretize(alpha)
    for c, cell in enumerate(D.CELLS):
        w = np.exp(alpha[cell])
        w /= w.sum(-1, keepdims=True)
        for i in range(4):
            edges = range(D.EDGE_OFFSET[i], D.EDGE_OFFSET[i] + i + 2)
            strength = {e: w[e, 1:].max() for e in edges}  # 'none' is column 0
            keep = sorted(sorted(edges, key=lambda e: -strength[e])[:2])
            assert [int(x) for x in arch[c, 2 * i:2 * i + 2, 0]] == [
                e - D.EDGE_OFFSET[i] for e in keep]
            for s, e in enumerate(keep):
                assert arch[c, 2 * i + s, 1] == 1 + int(np.argmax(w[e, 1:]))
    # 'none' winning an edge by magnitude does not stop the edge's best other op being used
    alpha["normal"][0] = [10, 1, 0, 0, 0, 0, 0, 0]
    assert DARTS.discretize(alpha)[0, 0, 1] == DARTS.ops.index("max_pool_3x3")


def test_discretize_never_emits_an_edge_fixed_to_none():
    """S3 corner the reference parser gets wrong: once projection fixes 'none' on an edge, the
    edge is de-selected and must not come back; with the mask, its strength is -inf."""
    s3 = spaces.get("s3")
    alpha = {c: np.zeros((14, 3)) for c in D.CELLS}
    # node 3 (edges 2, 3, 4): edge 2 had 'none' fixed (only column 0 available), yet its raw
    # alpha is the largest on a non-none op -- without the mask it would be kept
    alpha["normal"][2] = [0.0, 5.0, 5.0]
    mask = {c: np.ones((14, 3), bool) for c in D.CELLS}
    mask["normal"][2] = [True, False, False]
    unmasked = s3.discretize(alpha)
    assert 0 in unmasked[0, 2:4, 0]  # the reference rule keeps edge 2 (input 0)
    arch = s3.discretize(alpha, mask)
    assert 0 not in arch[0, 2:4, 0] and sorted(arch[0, 2:4, 0]) == [1, 2]
    # a node left with fewer than 2 edges: a one-line error, not a silent de-selected edge
    mask["normal"][0] = [True, False, False]
    with pytest.raises(ValueError, match="node 2: fewer than 2"):
        s3.discretize(alpha, mask)


def test_one_hot_selects_exactly_the_genotype():
    a = DARTS.from_string(D.DARTS_V2)
    w = DARTS.one_hot(a)
    assert set(w) == {"normal", "reduce"} and w["normal"].shape == (14, 8)
    assert float(w["normal"].sum()) == 8 and float(w["reduce"].sum()) == 8
    # normal node 5 (i = 3) slot 7 is ('dil_conv_3x3', 2): edge 9 + 2 = 11
    assert float(w["normal"][11, DARTS.ops.index("dil_conv_3x3")]) == 1.0
    # discretizing the one-hot (as alpha) gives the genotype back (canonical order)
    back = DARTS.discretize({k: np.where(v > 0, 10.0, 0.0) for k, v in w.items()})
    np.testing.assert_array_equal(back, np.asarray(DARTS.canonical(a)))


def test_decisions_and_edge_names():
    d = DARTS.decisions()
    assert len(d) == 28 and d[0] == ("normal", 0) and d[-1] == ("reduce", 13)
    assert DARTS.edge_name("normal", 11) == "normal:node5<-2"
    assert DARTS.edge_name("reduce", 0) == "reduce:node2<-0"


def test_space_builds_its_supernet_and_network():
    """The space hands out the DARTS models with its own candidate tables (exact PyTorch
    parameter counts: tests/test_darts_models.py)."""
    from jaxnas.models import darts as M

    net = DARTS.supernet(channels=16, layers=8, num_classes=10)
    assert net.normal_ops == DARTS.candidates[0] and net.reduce_ops == DARTS.candidates[1]
    assert M.param_counts(net)["total"] == 1_930_618
    s1 = spaces.get("s1").supernet(channels=16, layers=8)
    assert s1.normal_ops[0] == ("skip_connect", "dil_conv_3x3")
    evnet = DARTS.network(DARTS.from_string(D.DARTS_V2), channels=36, layers=20)
    assert M.param_counts(evnet)["without_aux"] == 3_349_342
