"""The NAS-Bench-101 search space on real cells: the official md5 hash of every graph of the
shared sample, isomorphism-invariant keys (hypothesis), naszilla's neighbourhood against a
plain-Python oracle, and the distributions of the two samplers against exact counts.

The generic contract (encodings, masks, jit/vmap) is in ``test_space_contract.py``.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnas.spaces import nb101 as S
from tests.conftest import require_data

#: op codes of sample.npz -> official names
SAMPLE_NAMES = {0: S.INPUT, 1: S.CONV1X1, 2: S.CONV3X3, 3: S.MAXPOOL3X3, 4: S.OUTPUT}
#: distinct cells by number of vertices after pruning (sums to the official 423,624)
CELLS_BY_VERTICES = {2: 1, 3: 6, 4: 84, 5: 2441, 6: 62010, 7: 359082}


@pytest.fixture(scope="module")
def sample():
    """The 1,000 real graphs of nb101/sample.npz: (matrices, op names, stored md5, encodings)."""
    with np.load(require_data("nb101/sample.npz")) as z:
        adj, ops, nv, md5 = z["adjacency"], z["ops"], z["num_vertices"], z["hash"][:1000]
    mats = [adj[i][:v, :v] for i, v in enumerate(nv.astype(int))]
    names = [[SAMPLE_NAMES[int(o)] for o in ops[i][:v]] for i, v in enumerate(nv.astype(int))]
    archs = np.stack([S.from_spec(m, n) for m, n in zip(mats, names, strict=True)])
    return mats, names, [h.decode() for h in md5], archs


@pytest.fixture(scope="module")
def sample_keys(sample):
    return np.asarray(S.arch_key(jnp.asarray(sample[3])))


# ---- the official hash and our key on real cells -------------------------------------------


def test_every_sample_graph_hashes_to_its_official_key(sample):
    mats, names, md5, archs = sample
    assert [S.module_hash(m, n) for m, n in zip(mats, names, strict=True)] == md5
    # through our encoding and back (to_spec prunes as the official ModelSpec)
    for i in range(0, 1000, 50):
        assert S.module_hash(*S.to_spec(archs[i])) == md5[i]
        m, n = S.to_spec(archs[i])
        assert np.array_equal(m, mats[i]) and n == names[i]  # the file stores pruned cells
    assert S.SPACE.module_hash(archs[0]) == "00005c142e6f48ac74fdcf73e3439874"


def test_keys_are_distinct_across_the_sample_cells(sample_keys):
    assert sample_keys.shape == (1000, 2) and sample_keys.dtype == np.uint32
    assert len({tuple(k) for k in sample_keys.tolist()}) == 1000
    assert not np.any(np.all(sample_keys == S.INVALID_KEY, 1))


@st.composite
def relabelled(draw):
    """A sample row and a random isomorphic re-encoding of it: the operation vertices in a
    random topological order, placed in random slots, with unused 'garbage' vertices that get
    random operations and random edges that leave them off every input -> output path."""
    i = draw(st.integers(0, 999))
    rnd = draw(st.randoms(use_true_random=False))
    return i, rnd


def reencode(mat: np.ndarray, names: list[str], rnd) -> np.ndarray:
    v = mat.shape[0]
    order, left = [0], set(range(1, v - 1))
    while left:  # a random linear extension of the DAG on the operation vertices
        ready = sorted(u for u in left if all(w in order for w in np.flatnonzero(mat[:, u])))
        u = rnd.choice(ready)
        order.append(u)
        left.remove(u)
    slots = sorted(rnd.sample(range(1, 6), v - 2))
    place = {0: 0, v - 1: 6, **{u: s for u, s in zip(order[1:], slots, strict=True)}}
    full = np.zeros((7, 7), np.int8)
    ops = [rnd.randrange(3) for _ in range(5)]
    for a in range(v):
        for b in range(v):
            if mat[a, b]:
                full[place[a], place[b]] = 1
    for u in range(1, v - 1):
        ops[place[u] - 1] = S.OPS.index(names[u])
    garbage = [s for s in range(1, 6) if s not in slots]
    for g in garbage:  # no edge into g from a used vertex: g stays unreachable, hence pruned
        for t in range(g + 1, 7):
            full[g, t] = rnd.random() < 0.5
        for h in garbage:
            if h < g:
                full[h, g] = rnd.random() < 0.5
    arch = np.zeros(26, np.int32)
    arch[:21] = full[S._PI, S._PJ]
    arch[21:] = ops
    return arch


@given(relabelled())
@settings(max_examples=60, deadline=None)
def test_relabelled_cells_keep_their_hash_and_key(sample, sample_keys, case):
    i, rnd = case
    mats, names, md5, _ = sample
    arch = reencode(mats[i], names[i], rnd)
    assert S.module_hash(*S.to_spec(arch)) == md5[i]
    assert S.module_hash(*S.to_spec(arch, prune=False)) == md5[i]  # md5 prunes itself
    np.testing.assert_array_equal(np.asarray(S.arch_key(arch)), sample_keys[i])


def test_module_hash_refuses_malformed_specs():
    with pytest.raises(ValueError, match="upper triangular"):
        S.module_hash(np.array([[0, 0], [1, 0]]), [S.INPUT, S.OUTPUT])
    with pytest.raises(ValueError, match="no input -> output path"):
        S.module_hash(np.zeros((3, 3), int), [S.INPUT, S.CONV3X3, S.OUTPUT])
    with pytest.raises(ValueError, match="unknown operation 'conv5x5'"):
        S.module_hash(np.eye(3, k=1, dtype=int), [S.INPUT, "conv5x5", S.OUTPUT])


# ---- encodings -----------------------------------------------------------------------------


def test_encoding_layout_and_strings():
    m = np.zeros((4, 4), int)
    m[0, 1] = m[1, 2] = m[2, 3] = m[0, 3] = 1
    a = S.from_spec(m, [S.INPUT, S.MAXPOOL3X3, S.CONV1X1, S.OUTPUT])
    # compact layout: vertices 0..2 in slots 0..2, the output in slot 6
    assert a[S.PAIRS.index((0, 1))] == a[S.PAIRS.index((1, 2))] == 1
    assert a[S.PAIRS.index((2, 6))] == a[S.PAIRS.index((0, 6))] == 1 and a[:21].sum() == 4
    assert a[21:].tolist() == [2, 1, 0, 0, 0]
    s = S.to_string(a)
    assert s.endswith("|input,maxpool3x3,conv1x1-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,"
                      "conv3x3-bn-relu,output") and len(s.split("|")[0]) == 49
    np.testing.assert_array_equal(S.from_string(s), a)
    # the official record's pruned form parses to the same encoding
    raw = "".join(str(x) for x in m.ravel()) + "|input,maxpool3x3,conv1x1-bn-relu,output"
    np.testing.assert_array_equal(S.from_string(raw), a)


@pytest.mark.parametrize("arch, match", [
    ([0] * 25, "int\\[26\\]"),
    ([2] + [0] * 25, "adjacency bit 0 \\(edge \\(0, 1\\)\\) is 2"),
    ([0] * 5 + [1] + [0] * 15 + [0, 0, 3, 0, 0], "operation 3 of vertex 3"),
    ([0] * 26, "no path from the input to the output"),
    ([1] * 21 + [0] * 5, "21 edges after pruning, at most 9"),
])
def test_validate_errors_name_the_culprit(arch, match):
    with pytest.raises(ValueError, match=match) as e:
        S.validate(arch)
    assert "\n" not in str(e.value)


def test_jit_validity_agrees_with_the_host():
    rng = np.random.default_rng(0)
    archs = np.concatenate([rng.integers(0, 2, (300, 21)), rng.integers(0, 3, (300, 5))], 1)
    ok = np.asarray(jax.vmap(S.is_valid)(jnp.asarray(archs)))
    host = []
    for a in archs:
        try:
            S.validate(a)
            host.append(True)
        except ValueError:
            host.append(False)
    np.testing.assert_array_equal(ok, host)
    assert 0.6 < ok.mean() < 0.85  # the official random spec is valid 73% of the time
    keys = np.asarray(S.arch_key(jnp.asarray(archs)))
    assert np.all(np.all(keys == S.INVALID_KEY, 1) == ~ok)
    # batch shapes: keys keep the leading axes, also when empty
    np.testing.assert_array_equal(np.asarray(S.arch_key(archs[:6].reshape(2, 3, 26))),
                                  keys[:6].reshape(2, 3, 2))
    assert S.arch_key(np.zeros((0, 26), np.int32)).shape == (0, 2)


# ---- the neighbourhood against naszilla's definition ---------------------------------------


def _paths_edges(m: np.ndarray) -> set[tuple[int, int]]:
    """Edges on input -> output paths, by enumerating the paths (naszilla's get_utilized)."""
    n = m.shape[0]
    paths: list[list[list[tuple[int, int]]]] = [[] for _ in range(n)]
    for j in range(1, n):
        if m[0, j]:
            paths[j].append([(0, j)])
    for i in range(1, n - 1):
        for j in range(i + 1, n):
            if m[i, j]:
                paths[j] += [[*p, (i, j)] for p in paths[i]]
    return {e for p in paths[-1] for e in p}


def _official_valid(m: np.ndarray, names: list[str]) -> bool:
    pruned = S.prune_spec(m, names)
    return pruned is not None and pruned[0].sum() <= 9


def naszilla_neighbours(arch: np.ndarray) -> list[str]:
    """md5 hashes of naszilla's adj_neighborhood of a cell (its order; duplicates kept)."""
    m, names = S.to_spec(arch, prune=False)
    edges = _paths_edges(m)
    nodes = {v for e in edges for v in e}
    out = []
    for v in range(1, 6):
        if v in nodes:
            for op in S.OPS:
                if op != names[v]:
                    out.append((m, [*names[:v], op, *names[v + 1:]]))
    for i in range(6):
        for j in range(i + 1, 7):
            new = m.copy()
            new[i, j] = 1 - new[i, j]
            on_path = (i, j) in (edges if m[i, j] else _paths_edges(new))
            if on_path and _official_valid(new, names):
                out.append((new, names))
    return [S.module_hash(mm, nn) for mm, nn in out]


def raw_cells(n: int, seed: int) -> np.ndarray:
    """``n`` valid raw encodings (uniform bits and operations, unused vertices kept)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        a = np.concatenate([rng.integers(0, 2, 21), rng.integers(0, 3, 5)])
        try:
            out.append(S.validate(a))
        except ValueError:
            pass
    return np.stack(out)


def test_neighbours_match_naszilla(sample):
    archs = sample[3]
    raw = raw_cells(11, seed=7)
    two = S.from_spec(np.array([[0, 1], [0, 0]]), [S.INPUT, S.OUTPUT])  # input -> output
    # 20 real cells, 11 raw ones, the 2-vertex cell: 32 rows, the contract test's batch shape
    cells = np.concatenate([archs[::50], raw, two[None]])
    nbrs, valid = jax.vmap(S.neighbours)(jnp.asarray(cells))
    nbrs, valid = np.asarray(nbrs), np.asarray(valid)
    sizes = []
    for a, rows, ok in zip(cells, nbrs, valid, strict=True):
        expect = naszilla_neighbours(a)
        got = [S.module_hash(*S.to_spec(r)) for r in rows[ok]]
        assert len(set(got)) == len(got)  # duplicates masked
        assert set(got) == set(expect)
        assert S.module_hash(*S.to_spec(a)) not in got
        sizes.append(len(got))
    assert max(sizes) > 15 and sizes[-1] == 0  # sizes vary; the 2-vertex cell has none
    # mutate: a valid neighbour, or the cell itself when it has none
    kids = np.asarray(jax.vmap(S.mutate)(jax.random.split(jax.random.key(8), len(cells)),
                                         jnp.asarray(cells)))
    for kid, rows, ok in zip(kids[:-1], nbrs[:-1], valid[:-1], strict=True):
        assert any(np.array_equal(kid, r) for r in rows[ok])
    np.testing.assert_array_equal(kids[-1], two)


# ---- cell counts and sampling --------------------------------------------------------------


def test_canonical_shapes_count_the_official_cells():
    t = S.canonical_adjacencies()
    assert t["bits"].size == 2494 and int(t["num_cells"].sum()) == S.NUM_CELLS == 423_624
    by_k = {int(k): int(t["num_cells"][t["k"] == k].sum()) for k in np.unique(t["k"])}
    assert by_k == CELLS_BY_VERTICES


def full_dags(k: int) -> np.ndarray:
    """Every compact adjacency of a k-vertex cell (all vertices on input -> output paths, at
    most 9 edges) as 21 bits: an independent enumeration with boolean matrix products."""
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    codes = np.arange(1 << len(pairs))
    m = np.zeros((codes.size, k, k), bool)
    for q, (a, b) in enumerate(pairs):
        m[:, a, b] = (codes >> q) & 1
    reach = m | np.eye(k, dtype=bool)
    for _ in range(k):
        reach = np.einsum("nij,njk->nik", reach, reach) > 0
    keep = reach[:, 0, :].all(1) & reach[:, :, -1].all(1) & (m.sum((1, 2)) <= 9)
    slot = [*range(k - 1), 6]
    out = np.zeros((int(keep.sum()), 21), np.int32)
    for a, b in pairs:
        out[:, S.PAIRS.index((slot[a], slot[b]))] = m[keep, a, b]
    return out


@pytest.mark.parametrize("k", [2, 3, 4, 5, *(pytest.param(k, marks=pytest.mark.slow) for k in (6, 7))])
def test_cell_counts_by_brute_force(k):
    """Every compact encoding of a k-vertex cell (125,145 for k = 6), deduplicated by key,
    gives the counts of :func:`canonical_adjacencies` (Burnside over canonical shapes)."""
    adj = full_dags(k)
    ops = np.array(list(itertools.product(range(3), repeat=k - 2)), np.int32)  # [3**(k-2), k-2]
    archs = np.zeros((len(adj), len(ops), 26), np.int32)
    archs[:, :, :21] = adj[:, None]
    archs[:, :, 21:21 + k - 2] = ops[None]
    keys = np.asarray(S.arch_key(jnp.asarray(archs.reshape(-1, 26))))
    assert len({tuple(x) for x in keys.tolist()}) == CELLS_BY_VERTICES[k], k


@pytest.mark.slow
def test_every_cell_once_with_distinct_keys():
    cells = S.enumerate_cells()
    assert cells.shape == (S.NUM_CELLS, 26)
    keys = np.asarray(S.arch_key(cells))
    assert len(np.unique(keys, axis=0)) == S.NUM_CELLS  # no two cells share a key
    assert not np.any(np.all(keys == S.INVALID_KEY, 1))
    nv = np.asarray(jax.vmap(S.used_vertices)(jnp.asarray(cells))).sum(1)
    assert {k: int(np.sum(nv == k)) for k in range(2, 8)} == CELLS_BY_VERTICES
    md5 = {S.module_hash(*S.to_spec(a)) for a in cells[::211]}
    assert len(md5) == len(cells[::211])


def test_the_real_sample_has_the_vertex_counts_of_uniform_cells(sample):
    """The sample's first 1,000 rows (sorted md5 order: a uniform draw of cells) against the
    exact shares of cells by vertex count (chi-square, 6- and 7-vertex cells vs the rest)."""
    nv = np.array([m.shape[0] for m in sample[0]])
    obs = np.array([(nv <= 5).sum(), (nv == 6).sum(), (nv == 7).sum()])
    p = np.array([sum(CELLS_BY_VERTICES[k] for k in range(2, 6)), CELLS_BY_VERTICES[6],
                  CELLS_BY_VERTICES[7]]) / S.NUM_CELLS
    chi2 = float(np.sum((obs - 1000 * p) ** 2 / (1000 * p)))
    assert chi2 < 18.4, (obs, 1000 * p)  # p = 1e-4 with 2 degrees of freedom


def test_sample_is_uniform_over_cells():
    n = 8000 - 8000 % 64
    # in batches of 64 (the shape other tests compile), batch i from seed 1000 + i
    archs = np.concatenate([np.asarray(jax.vmap(S.sample)(jax.random.split(
        jax.random.key(1000 + i), 64))) for i in range(n // 64)])
    keys = np.asarray(S.arch_key(archs))
    assert not np.any(np.all(keys == S.INVALID_KEY, 1))
    nv = np.asarray(jax.vmap(S.used_vertices)(jnp.asarray(archs))).sum(1)
    # vertex counts: chi-square against the exact shares
    obs = np.array([(nv <= 5).sum(), (nv == 6).sum(), (nv == 7).sum()])
    p = np.array([sum(CELLS_BY_VERTICES[k] for k in range(2, 6)), CELLS_BY_VERTICES[6],
                  CELLS_BY_VERTICES[7]]) / S.NUM_CELLS
    assert float(np.sum((obs - n * p) ** 2 / (n * p))) < 18.4, (obs, n * p)
    # repeats: a uniform draw of n from N cells has C(n, 2) / N equal pairs on average (75.5);
    # any non-uniform distribution has more (the official random spec: about 280,000)
    _, counts = np.unique(keys, axis=0, return_counts=True)
    pairs = int(np.sum(counts * (counts - 1) // 2))
    expect = math.comb(n, 2) / S.NUM_CELLS
    assert abs(pairs - expect) < 5 * math.sqrt(expect), (pairs, expect)
    # samples are compact (unused slots empty) and valid
    for a in archs[:100]:
        S.validate(a)


@pytest.mark.slow
def test_random_spec_follows_the_official_distribution():
    """The official random spec (uniform over valid encodings) against the exact share of
    2-vertex cells and of cells with >= 6 vertices, counted over all 2**21 adjacency bits."""
    bits = np.arange(1 << 21, dtype=np.uint32)
    pred, succ = [np.zeros(bits.size, np.uint32) for _ in range(7)], [
        np.zeros(bits.size, np.uint32) for _ in range(7)]
    for b, (i, j) in enumerate(S.PAIRS):
        e = (bits >> b) & 1
        pred[j] |= e << i
        succ[i] |= e << j
    fwd = np.ones(bits.size, np.uint32)
    for j in range(1, 7):
        fwd |= ((fwd & pred[j]) != 0).astype(np.uint32) << j
    bwd = np.full(bits.size, 1 << 6, np.uint32)
    for i in range(5, -1, -1):
        bwd |= ((bwd & succ[i]) != 0).astype(np.uint32) << i
    used = fwd & bwd
    edges = sum(((bits >> b) & 1) * ((used >> i) & 1) * ((used >> j) & 1)
                for b, (i, j) in enumerate(S.PAIRS))
    ok = ((fwd >> 6) & 1).astype(bool) & (edges <= 9)
    nv = sum((used >> v) & 1 for v in range(7))[ok]
    p = np.array([np.mean(nv == 2), np.mean(nv >= 6)])  # exact: 0.0973, 0.1227
    n = 4000
    archs = jax.jit(jax.vmap(S.random_spec))(jax.random.split(jax.random.key(3), n))
    got = np.asarray(jax.vmap(S.used_vertices)(archs)).sum(1)
    obs = np.array([np.sum(got == 2), np.sum(got >= 6)])
    assert np.all(np.abs(obs - n * p) < 5 * np.sqrt(n * p * (1 - p))), (obs, n * p)
    assert np.asarray(jax.vmap(S.is_valid)(archs)).all()
