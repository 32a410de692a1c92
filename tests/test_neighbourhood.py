"""Neighbourhood-aware NAS: scores, NA-RS / NA local search, and the NA-DARTS objective.

Every value is checked against an independent plain-NumPy computation that enumerates
neighbourhoods by brute force (Hamming distance over all 15,625 encodings).
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnas.analysis import neighbourhood as N
from jaxnas import search
from jaxnas.benchmarks import nb201 as B
from jaxnas.search import base
from jaxnas.spaces import nb201 as S

ALL = S.all_archs()  # [15625, 6] in code order


@functools.cache
def np_neighbourhood(code: int, radius: int) -> np.ndarray:
    """Brute force: all codes within Hamming distance ``radius`` of ``code`` (sorted)."""
    dist = np.sum(ALL != ALL[code], axis=1)
    return np.flatnonzero(dist <= radius)


def np_agg(x: np.ndarray, how: str) -> float:
    return float({"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}[how](x))


@pytest.fixture(scope="module")
def bench(data_dir):
    return B.load("cifar10", data_dir)


# ---------------------------------------------------------------------------------------------
# Tabular neighbourhoods and scores.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_neighbourhood_codes_equal_brute_force(radius):
    codes = np.array([0, 1234, 6111, 15624, 7777])
    got = np.asarray(N.neighbourhood_codes(jnp.asarray(codes), radius))
    assert got.shape == (5, N.neighbourhood_size(radius))
    for c, row in zip(codes, got, strict=True):
        assert row[0] == c
        assert len(set(row.tolist())) == row.size  # distinct
        np.testing.assert_array_equal(np.sort(row), np_neighbourhood(c, radius))


def test_radius_one_order_matches_the_space_neighbours():
    codes = jnp.arange(0, S.NUM_ARCHS, 97)
    np.testing.assert_array_equal(np.asarray(N.neighbourhood_codes(codes, 1))[:, 1:],
                                  np.asarray(S.neighbour_codes(codes)))
    assert [N.neighbourhood_size(r) for r in range(7)] == [1, 25, 265, 1545, 5385, 11529, 15625]


@pytest.mark.parametrize("how", N.AGGREGATIONS)
@pytest.mark.parametrize("radius", [1, 2])
def test_score_equals_aggregate_over_enumerated_neighbours(bench, how, radius):
    valid = np.asarray(bench.valid)
    codes = np.array([6111, 0, 3, 15000, 4242, 9876])
    f = jax.jit(jax.vmap(lambda c: N.score(bench.valid, c, radius, how)))
    got = np.asarray(f(jnp.asarray(codes)))
    want = [np_agg(valid[np_neighbourhood(c, radius)], how) for c in codes]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # a value function (e.g. a trial's landscape) gives the same as the table
    land = base.make_landscape(jax.random.key(0), bench, "denoised")
    np.testing.assert_allclose(np.asarray(jax.vmap(lambda c: N.score(land.valid, c, radius, how))(
        jnp.asarray(codes))), want, rtol=1e-6)


def test_score_all_is_exact_over_the_whole_space(bench):
    valid = np.asarray(bench.valid, np.float64)
    nbr = np.concatenate([np.arange(S.NUM_ARCHS)[:, None], S.neighbour_table()], axis=1)
    got = np.asarray(jax.jit(lambda v: N.score_all(v, 1))(bench.valid))
    np.testing.assert_allclose(got, valid[nbr].mean(1), rtol=1e-5)
    got_min = np.asarray(jax.jit(lambda v: N.score_all(v, 1, "min"))(bench.valid))
    np.testing.assert_array_equal(got_min, np.asarray(bench.valid)[nbr].min(1))
    # radius 2 on a sample of codes; radius 6 is the whole space: the global mean everywhere
    got2 = np.asarray(jax.jit(lambda v: N.score_all(v, 2, "median"))(bench.valid))
    for c in (5, 777, 6111, 15624):
        assert got2[c] == pytest.approx(np.median(valid[np_neighbourhood(c, 2)]), rel=1e-6)
    got3 = np.asarray(jax.jit(lambda v: N.score_all(v, 3, "max"))(bench.test))
    for c in (5, 6111):
        assert got3[c] == np.asarray(bench.test)[np_neighbourhood(c, 3)].max()


def test_flattest_architecture_is_not_the_best_one(bench):
    """The score changes the ranking: the best-valid architecture is not the best-scored."""
    sc = np.asarray(N.score_all(bench.valid, 1))
    assert int(np.argmax(sc)) != int(np.argmax(np.asarray(bench.valid)))


def test_sampled_neighbourhood(bench):
    key = jax.random.key(3)
    mem = np.asarray(jax.jit(lambda k: N.sample_neighbourhood(k, 6111, 2, 10))(key))
    assert mem[0] == 6111 and mem.size == 11 and len(set(mem.tolist())) == 11
    assert set(mem.tolist()) <= set(np_neighbourhood(6111, 2).tolist())
    s = float(N.score(bench.valid, 6111, 2, "mean", k=10, key=key))
    assert s == pytest.approx(float(np.mean(np.asarray(bench.valid)[mem])), rel=1e-6)
    other = np.asarray(N.sample_neighbourhood(jax.random.key(4), 6111, 2, 10))
    assert not np.array_equal(np.sort(other), np.sort(mem))
    # every neighbour is drawn with about equal probability
    draws = np.asarray(jax.jit(jax.vmap(lambda k: N.sample_neighbourhood(k, 6111, 1, 6)))(
        jax.random.split(jax.random.key(0), 4000)))[:, 1:]
    nb = np.asarray(N.neighbourhood_codes(6111, 1))[1:]
    freq = np.array([(draws == c).sum() for c in nb]) / 4000
    np.testing.assert_allclose(freq, 6 / 24, atol=0.03)


@pytest.mark.parametrize("call, msg", [
    (lambda: N.neighbourhood_codes(0, 7), "radius must be an integer in \\[0, 6\\].*got 7"),
    (lambda: N.score(jnp.zeros(15625), 0, 1, "avg"), "unknown aggregation 'avg'"),
    (lambda: N.sample_neighbourhood(jax.random.key(0), 0, 1, 25), "k .* must be in \\[1, 24\\].*got 25"),
    (lambda: N.score(jnp.zeros(15625), 0, 1, k=3), "needs a PRNG key"),
    (lambda: N.score_all(jnp.zeros(100)), "got shape \\(100,\\)"),
    (lambda: N.op_weight_neighbours(jnp.zeros((6, 4))), "shape \\[6, 5\\].*got \\(6, 4\\)"),
    (lambda: search.na_random_search(radius=-1), "got -1"),
    (lambda: search.get_algorithm("na_local_search", aggregation="avg"), "unknown aggregation"),
])
def test_errors_name_the_bad_value(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


# ---------------------------------------------------------------------------------------------
# NA-RS and NA local search.
# ---------------------------------------------------------------------------------------------


def _run(algo, key, bench, noise="standard", trials=6, budget=120):
    return jax.jit(lambda k: base.run(algo, k, bench, noise, trials, budget))(key)


def test_radius_zero_reduces_na_rs_to_random_search(bench):
    key = jax.random.key(11)
    na = _run(search.na_random_search(radius=0), key, bench)
    rs = _run(search.random_search(), key, bench)
    for a, b in zip(na, rs, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _land_values(bench, key, trial, noise="standard"):
    k_land = jax.random.split(jax.random.fold_in(key, trial))[0]
    return np.asarray(base.make_landscape(k_land, bench, noise).valid(jnp.arange(S.NUM_ARCHS)))


@pytest.mark.parametrize("name, kw", [("na_random_search", {}), ("na_local_search", {}),
                                      ("na_random_search", {"aggregation": "min"}),
                                      ("na_local_search", {"radius": 2, "k": 8})])
def test_na_incumbent_is_best_complete_neighbourhood_score(bench, name, kw):
    """NumPy oracle: among queried codes whose whole neighbourhood was queried, the returned
    one has the best aggregated validation accuracy, and every trajectory value matches."""
    key = jax.random.key(2)
    budget = 150
    algo = search.get_algorithm(name, **kw)
    tr = _run(algo, key, bench, trials=3, budget=budget)
    radius, k, how = kw.get("radius", 1), kw.get("k"), kw.get("aggregation", "mean")
    test = np.asarray(bench.test)
    for t in range(tr.codes.shape[0]):
        codes = np.asarray(tr.codes[t])
        assert len(set(codes.tolist())) == budget  # every neighbour costs budget
        vals = _land_values(bench, key, t)
        land = base.make_landscape(jax.random.split(jax.random.fold_in(key, t))[0], bench,
                                   "standard")
        best_code = int(tr.best_code[t])
        if k is not None:  # the fixed per-trial sample of each centre
            sampled = np.asarray(jax.jit(jax.vmap(
                lambda c, land=land: search.na_search.members(land, c, radius, k)))(codes))
        for q in (49, 99, budget - 1):
            seen = set(codes[: q + 1].tolist())
            scores = {}
            for i, c in enumerate(codes[: q + 1]):
                mem = np_neighbourhood(int(c), radius) if k is None else sampled[i]
                if set(mem.tolist()) <= seen:
                    scores[c] = np_agg(vals[mem], how)
            if not scores:
                continue
            best = max(scores.values())
            assert float(tr.valid[t, q]) == pytest.approx(best, rel=1e-6)
            winners = [c for c, v in scores.items() if np.isclose(v, best, rtol=1e-6)]
            assert any(float(tr.test[t, q]) == pytest.approx(test[c]) for c in winners)
        assert best_code in winners


def test_na_rs_queries_whole_neighbourhoods(bench):
    tr = _run(search.na_random_search(), jax.random.key(0), bench, budget=100)
    for row in np.asarray(tr.codes):
        centre = row[0]
        np.testing.assert_array_equal(np.sort(row[:25]), np_neighbourhood(centre, 1))


@pytest.mark.parametrize("k", [None, 8])
def test_na_rs_budget_is_the_union_of_the_centres_neighbourhoods(bench, k):
    """Budget accounting, exactly: NA-RS draws its centres as random search draws its queries,
    so its query list is the first ``budget`` distinct codes of the concatenated neighbourhoods
    (centre first) of random search's distinct proposals, in order; every neighbour costs one
    query and a neighbour already queried costs nothing."""
    key, budget, trials = jax.random.key(21), 130, 4
    na = _run(search.na_random_search(k=k), key, bench, trials=trials, budget=budget)
    rs = _run(search.random_search(), key, bench, trials=trials, budget=40)
    for t in range(trials):
        land = base.make_landscape(jax.random.split(jax.random.fold_in(key, t))[0], bench,
                                   "standard")
        centres = rs.codes[t]
        if k is None:  # in the order checked against brute force above
            blocks = np.asarray(N.neighbourhood_codes(centres, 1))
        else:
            blocks = np.asarray(jax.vmap(
                lambda c, land=land: search.na_search.members(land, c, 1, k))(centres))
        want, seen = [], set()
        for mem in blocks:
            for m in mem.tolist():
                if m not in seen:
                    seen.add(m)
                    want.append(m)
        got = np.asarray(na.codes[t]).tolist()
        assert len(want) >= budget
        assert got == want[:budget]


@pytest.mark.parametrize("name, kw", [("na_random_search", {"k": 6, "aggregation": "median"}),
                                      ("na_local_search", {"radius": 2, "k": 10})])
def test_na_vmap_over_seeds_equals_separate_runs(bench, name, kw):
    algo = search.get_algorithm(name, **kw)
    key, budget = jax.random.key(9), 90
    tr = jax.jit(lambda k: base.run(algo, k, bench, "standard", 3, budget))(key)
    one = jax.jit(lambda k: base.run_trial(algo, k, bench, "standard", budget))
    for i in range(3):
        single = one(jax.random.fold_in(key, i))
        for a, b in zip(single, tr, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b[i]))
    assert not np.array_equal(np.asarray(tr.codes[0]), np.asarray(tr.codes[1]))


def test_na_rs_prefers_flatter_architectures(bench):
    """Given the same random centres (same keys: NA-RS draws its centres as random search draws
    its queries), NA-RS returns architectures whose neighbours have better test accuracy than
    the ones random search returns (the point of the method), and both see the same centres."""
    key, n = jax.random.key(0), 10
    na = _run(search.na_random_search(), key, bench, "denoised", trials=300, budget=25 * n)
    rs = _run(search.random_search(), key, bench, "denoised", trials=300, budget=n)
    np.testing.assert_array_equal(np.asarray(na.codes[:, 0]), np.asarray(rs.codes[:, 0]))
    flat = jax.vmap(lambda c: N.neighbour_stats(bench.test, c)[0])
    diff = np.asarray(flat(na.best_code)) - np.asarray(flat(rs.best_code))
    assert diff.mean() > 3 * diff.std() / np.sqrt(diff.size)


def test_neighbour_stats(bench):
    test = np.asarray(bench.test)
    m, s = N.neighbour_stats(bench.test, jnp.int32(6111), radius=1)
    nb = S.neighbour_table()[6111]
    assert float(m) == pytest.approx(test[nb].mean(), rel=1e-6)
    assert float(s) == pytest.approx(test[nb].std(), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# NA-DARTS: the differentiable neighbourhood.
# ---------------------------------------------------------------------------------------------


def np_swap_neighbours(w: np.ndarray, radius: int) -> np.ndarray:
    """NumPy oracle of the swap representation, enumerated in the code-neighbourhood order."""
    top = w.argmax(1)
    code = int((top * 5 ** np.arange(6)).sum())
    out = []
    for c in np.asarray(N.neighbourhood_codes(code, radius)):
        arch = ALL[c]
        v = w.copy()
        for e in range(6):
            if arch[e] != top[e]:
                v[e, top[e]], v[e, arch[e]] = w[e, arch[e]], w[e, top[e]]
        out.append(v)
    return np.stack(out)


@pytest.mark.parametrize("radius", [1, 2])
def test_op_weight_neighbours_equal_numpy_swaps_and_discrete_neighbours(radius):
    w = np.asarray(jax.nn.softmax(jax.random.normal(jax.random.key(0), (6, 5)) * 2, axis=-1))
    got = np.asarray(N.op_weight_neighbours(jnp.asarray(w), radius))
    np.testing.assert_array_equal(got, np_swap_neighbours(w, radius))
    # at a one-hot architecture the members are the one-hot discrete neighbours, in order
    arch = np.array([3, 3, 0, 1, 3, 2])
    onehot = np.eye(5, dtype=np.float32)[arch]
    members = np.asarray(N.op_weight_neighbours(jnp.asarray(onehot), radius))
    codes = np.asarray(N.neighbourhood_codes(S.to_code(arch), radius))
    np.testing.assert_array_equal(members, np.eye(5, dtype=np.float32)[ALL[codes]])


def _toy(key, n=32, d=8, classes=3):
    """A linear 'supernet': edge e, op o contributes op_weights[e, o] * x @ W[e, o]."""
    kx, ky, kw = jax.random.split(key, 3)
    x = jax.random.normal(kx, (n, d))
    y = jax.random.randint(ky, (n,), 0, classes)
    params = jax.random.normal(kw, (6, 5, d, classes)) * 0.3

    def apply(params, images, op_weights):
        return jnp.einsum("eo,nd,eodc->nc", op_weights, images, params)

    def loss_of(op_weights, params=params, x=x, y=y):
        logits = apply(params, x, op_weights)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return apply, params, x, y, loss_of


def test_na_darts_loss_is_the_mean_of_per_neighbour_losses():
    _, params, x, y, loss_of = _toy(jax.random.key(1))
    alpha = jax.random.normal(jax.random.key(2), (6, 5))
    w = jax.nn.softmax(alpha, -1)
    loss, per = jax.jit(lambda w: N.neighbourhood_loss(loss_of, w, radius=1))(w)
    # independent: NumPy swaps, each member's loss evaluated on its own
    members = np_swap_neighbours(np.asarray(w), 1)
    one = jax.jit(loss_of)
    want = np.array([float(one(jnp.asarray(m))) for m in members])
    np.testing.assert_allclose(np.asarray(per), want, rtol=1e-5)
    assert float(loss) == pytest.approx(want.mean(), rel=1e-5)
    # lax.map in chunks gives the same; worst-neighbour aggregation is the max
    chunked, _ = jax.jit(lambda w: N.neighbourhood_loss(loss_of, w, radius=1, batch_size=7))(w)
    assert float(chunked) == pytest.approx(want.mean(), rel=1e-5)
    worst, _ = jax.jit(lambda w: N.neighbourhood_loss(loss_of, w, aggregation="max"))(w)
    assert float(worst) == pytest.approx(want.max(), rel=1e-5)
    # sampled: the member set is w plus k distinct members, and the loss is their mean
    ls, per_k = jax.jit(lambda w, key: N.neighbourhood_loss(loss_of, w, k=6, key=key))(
        w, jax.random.key(0))
    assert per_k.shape == (7,) and float(per_k[0]) == pytest.approx(want[0], rel=1e-5)
    assert all(np.isclose(want, v, rtol=1e-5).any() for v in np.asarray(per_k))
    assert float(ls) == pytest.approx(float(np.mean(per_k)), rel=1e-6)


def test_na_darts_gradient_routes_through_the_swaps():
    """For a linear loss L(w) = <c, w>, grad of the mean over swaps is the mean of P^T c."""
    c = np.asarray(jax.random.normal(jax.random.key(5), (6, 5)))
    w = np.asarray(jax.nn.softmax(jax.random.normal(jax.random.key(6), (6, 5)), -1))
    g = np.asarray(jax.grad(lambda w: N.neighbourhood_loss(lambda v: jnp.sum(c * v), w)[0])(
        jnp.asarray(w)))
    want = np.zeros_like(w)
    top = w.argmax(1)
    code = int((top * 5 ** np.arange(6)).sum())
    members = np.asarray(N.neighbourhood_codes(code, 1))
    for m in members:  # d/dw <c, P w>: entry (e, j) moved to position p(j) receives c[e, p(j)]
        arch = ALL[m]
        gm = c.copy()
        for e in range(6):
            if arch[e] != top[e]:
                gm[e, top[e]], gm[e, arch[e]] = c[e, arch[e]], c[e, top[e]]
        want += gm / members.size
    np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


def test_na_darts_arch_step_compiles_once_and_lowers_the_na_loss():
    apply, params, x, y, _ = _toy(jax.random.key(7), n=64)
    opt = optax.adam(0.05)

    def na_loss(alpha, params, images, labels, key):
        def loss_of(w):
            logits = apply(params, images, w)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return N.neighbourhood_loss(loss_of, jax.nn.softmax(alpha, -1), k=8, key=key)[0]

    def arch_step(alpha, opt_state, params, images, labels, key):
        loss, g = jax.value_and_grad(na_loss)(alpha, params, images, labels, key)
        upd, opt_state = opt.update(g, opt_state, alpha)
        return optax.apply_updates(alpha, upd), opt_state, loss

    step = jax.jit(chex.assert_max_traces(arch_step, n=1))
    alpha = jnp.zeros((6, 5)) + 1e-3 * jax.random.normal(jax.random.key(8), (6, 5))
    opt_state = opt.init(alpha)
    full = lambda a: N.neighbourhood_loss(  # noqa: E731
        lambda w: optax.softmax_cross_entropy_with_integer_labels(apply(params, x, w), y).mean(),
        jax.nn.softmax(a, -1))[0]
    before = float(full(alpha))
    for i in range(30):
        alpha, opt_state, _ = step(alpha, opt_state, params, x, y, jax.random.key(i))
    assert float(full(alpha)) < before - 0.05


# ---------------------------------------------------------------------------------------------
# Rank correlations and the criterion in isolation.
# ---------------------------------------------------------------------------------------------


def _np_kendall_b(x, y):
    n = len(x)
    c = d = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            c += sx * sy > 0
            d += sx * sy < 0
            tx += sx == 0
            ty += sy == 0
    pairs = n * (n - 1) / 2
    return (c - d) / np.sqrt((pairs - tx) * (pairs - ty))


def _np_spearman(x, y):
    def ranks(v):  # average ranks by brute force
        return np.array([np.sum(v < a) + (np.sum(v == a) - 1) / 2 for a in v])
    return np.corrcoef(ranks(x), ranks(y))[0, 1]


def test_rank_correlations_equal_brute_force_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 70).astype(np.float32)  # many ties
    y = (x + rng.integers(0, 4, 70)).astype(np.float32)
    assert float(N.kendall_tau(x, y, batch_size=16)) == pytest.approx(_np_kendall_b(x, y),
                                                                       rel=1e-5)
    assert float(N.spearman(x, y)) == pytest.approx(_np_spearman(x, y), rel=1e-5)
    z = rng.normal(size=50).astype(np.float32)
    assert float(N.kendall_tau(z, z)) == pytest.approx(1.0)
    assert float(N.spearman(z, -z)) == pytest.approx(-1.0)


def test_select_among_ranks_the_same_candidates_by_value_and_by_score(bench):
    land = base.make_landscape(jax.random.key(1), bench, "standard")
    centres = jax.random.randint(jax.random.key(2), (40,), 0, S.NUM_ARCHS)
    rs, na, cost = jax.jit(lambda c: search.na_search.select_among(land, c))(centres)
    vals = np.asarray(land.valid(jnp.arange(S.NUM_ARCHS)))
    cs = np.asarray(centres)
    assert int(rs) == cs[np.argmax(vals[cs])]
    sc = [vals[np_neighbourhood(int(c), 1)].mean() for c in cs]
    assert int(na) == cs[int(np.argmax(sc))]
    assert int(cost) == len(set(np.concatenate([np_neighbourhood(int(c), 1) for c in cs])))


def test_summary_flatness_equals_numpy(bench):
    from jaxnas.search.compare import summarize

    tr = _run(search.na_random_search(k=4), jax.random.key(4), bench, trials=5, budget=40)
    s = summarize("x", tr, 0.0, 0.0, 5, 40, test=bench.test)
    nb = np.asarray(bench.test)[S.neighbour_table()[np.asarray(tr.best_code)]]  # [5, 24]
    assert s["final_neighbour_test_mean"] == pytest.approx(nb.mean(1).mean(), rel=1e-5)
    assert s["final_neighbour_test_std_mean"] == pytest.approx(nb.std(1).mean(), rel=1e-4)
    assert "final_neighbour_test_mean" not in summarize("x", tr, 0.0, 0.0, 5, 40)
