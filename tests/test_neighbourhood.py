"""Neighbourhood-aware NAS on NAS-Bench-201: scores and NA-RS / NA local search.

Every value is checked against an independent plain-NumPy computation that enumerates
neighbourhoods by brute force (Hamming distance over all 15,625 encodings). The same functions
on the toy spaces (one with masked neighbourhoods) are checked in tests/test_toy_space.py; the
NA-DARTS objective's tests live with jaxnas.darts.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import benchmarks, search
from jaxnas.analysis import neighbourhood as N
from jaxnas.search import base
from jaxnas.spaces import nb201 as S

ALL = S.all_archs()  # [15625, 6] in code order
SP = S.SPACE


def keys_of(codes, radius):
    """Keys of the radius-``r`` ball rows (centre first), through the generic space method."""
    archs, valid = jax.vmap(lambda a: SP.neighbourhood(a, radius))(SP.arch_of_key(codes))
    assert bool(jnp.all(valid))
    return SP.arch_key(archs)


@functools.cache
def np_neighbourhood(code: int, radius: int) -> np.ndarray:
    """Brute force: all codes within Hamming distance ``radius`` of ``code`` (sorted)."""
    dist = np.sum(ALL != ALL[code], axis=1)
    return np.flatnonzero(dist <= radius)


def np_agg(x: np.ndarray, how: str) -> float:
    return float({"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}[how](x))


@pytest.fixture(scope="module")
def bench(data_dir):
    return benchmarks.load("nb201", "cifar10", data_dir)


# ---------------------------------------------------------------------------------------------
# Tabular neighbourhoods and scores.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_neighbourhood_codes_equal_brute_force(radius):
    codes = np.array([0, 1234, 6111, 15624, 7777])
    got = np.asarray(keys_of(jnp.asarray(codes), radius))
    assert got.shape == (5, SP.neighbourhood_size(radius))
    np.testing.assert_array_equal(got, np.asarray(SP.neighbourhood_keys(jnp.asarray(codes), radius)))
    for c, row in zip(codes, got, strict=True):
        assert row[0] == c
        assert len(set(row.tolist())) == row.size  # distinct
        np.testing.assert_array_equal(np.sort(row), np_neighbourhood(c, radius))


def test_radius_one_order_matches_the_space_neighbours():
    codes = jnp.arange(0, S.NUM_ARCHS, 97)
    np.testing.assert_array_equal(np.asarray(keys_of(codes, 1))[:, 1:],
                                  np.asarray(S.neighbour_codes(codes)))
    assert [SP.neighbourhood_size(r) for r in range(7)] == [1, 25, 265, 1545, 5385, 11529, 15625]


@pytest.mark.parametrize("how", N.AGGREGATIONS)
@pytest.mark.parametrize("radius", [1, 2])
def test_score_equals_aggregate_over_enumerated_neighbours(bench, how, radius):
    valid = np.asarray(bench.valid)
    codes = np.array([6111, 0, 3, 15000, 4242, 9876])
    f = jax.jit(jax.vmap(lambda a: N.score(SP, bench.valid, a, radius, how)))
    got = np.asarray(f(SP.arch_of_key(codes)))
    want = [np_agg(valid[np_neighbourhood(c, radius)], how) for c in codes]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # a value function (e.g. a trial's landscape) gives the same as the table
    land = base.make_landscape(jax.random.key(0), bench, "denoised")
    np.testing.assert_allclose(np.asarray(jax.vmap(lambda a: N.score(land, land.valid, a, radius,
                                                                     how))(
        SP.arch_of_key(codes))), want, rtol=1e-6)


def test_score_all_is_exact_over_the_whole_space(bench):
    valid = np.asarray(bench.valid, np.float64)
    nbr = np.concatenate([np.arange(S.NUM_ARCHS)[:, None], S.neighbour_table()], axis=1)
    got = np.asarray(jax.jit(lambda v: N.score_all(SP, v, 1))(bench.valid))
    np.testing.assert_allclose(got, valid[nbr].mean(1), rtol=1e-5)
    got_min = np.asarray(jax.jit(lambda v: N.score_all(SP, v, 1, "min"))(bench.valid))
    np.testing.assert_array_equal(got_min, np.asarray(bench.valid)[nbr].min(1))
    # radius 2 on a sample of codes; radius 6 is the whole space: the global mean everywhere
    got2 = np.asarray(jax.jit(lambda v: N.score_all(SP, v, 2, "median"))(bench.valid))
    for c in (5, 777, 6111, 15624):
        assert got2[c] == pytest.approx(np.median(valid[np_neighbourhood(c, 2)]), rel=1e-6)
    got3 = np.asarray(jax.jit(lambda v: N.score_all(bench, v, 3, "max"))(bench.test))
    for c in (5, 6111):
        assert got3[c] == np.asarray(bench.test)[np_neighbourhood(c, 3)].max()


def test_flattest_architecture_is_not_the_best_one(bench):
    """The score changes the ranking: the best-valid architecture is not the best-scored."""
    sc = np.asarray(N.score_all(bench, bench.valid, 1))
    assert int(np.argmax(sc)) != int(np.argmax(np.asarray(bench.valid)))


def test_sampled_neighbourhood(bench):
    key = jax.random.key(3)
    a = SP.arch_of_key(6111)
    mem_a, ok = jax.jit(lambda k: N.sample_neighbourhood(SP, k, a, 2, 10))(key)
    assert bool(jnp.all(ok))
    mem = np.asarray(SP.arch_key(mem_a))
    assert mem[0] == 6111 and mem.size == 11 and len(set(mem.tolist())) == 11
    assert set(mem.tolist()) <= set(np_neighbourhood(6111, 2).tolist())
    # the same draw as jax.random.choice over rows 1..M-1 (the streams of earlier versions)
    rows = jax.random.choice(key, SP.neighbourhood_size(2) - 1, (10,), replace=False) + 1
    np.testing.assert_array_equal(mem[1:], np.asarray(SP.neighbourhood_keys(6111, 2))[rows])
    s = float(N.score(SP, bench.valid, a, 2, "mean", k=10, key=key))
    assert s == pytest.approx(float(np.mean(np.asarray(bench.valid)[mem])), rel=1e-6)
    other = np.asarray(SP.arch_key(N.sample_neighbourhood(SP, jax.random.key(4), a, 2, 10)[0]))
    assert not np.array_equal(np.sort(other), np.sort(mem))
    # every neighbour is drawn with about equal probability
    draws = np.asarray(SP.arch_key(jax.jit(jax.vmap(
        lambda k: N.sample_neighbourhood(SP, k, a, 1, 6)[0]))(
        jax.random.split(jax.random.key(0), 4000))))[:, 1:]
    nb = np.asarray(SP.neighbourhood_keys(6111, 1))[1:]
    freq = np.array([(draws == c).sum() for c in nb]) / 4000
    np.testing.assert_allclose(freq, 6 / 24, atol=0.03)


A0 = np.zeros(6, np.int32)


@pytest.mark.parametrize("call, msg", [
    (lambda: N.score_all(SP, jnp.zeros(15625), 7), "radius must be an integer in \\[0, 6\\].*got 7"),
    (lambda: N.score(SP, jnp.zeros(15625), A0, 1, "avg"), "unknown aggregation 'avg'"),
    (lambda: N.sample_neighbourhood(SP, jax.random.key(0), A0, 1, 25),
     "k .* must be in \\[1, 24\\].*got 25"),
    (lambda: N.score(SP, jnp.zeros(15625), A0, 1, k=3), "needs a PRNG key"),
    (lambda: N.score_all(SP, jnp.zeros(100)), "got shape \\(100,\\)"),
    (lambda: search.na_random_search(radius=-1), "got -1"),
    (lambda: search.get_algorithm("na_local_search", aggregation="avg"), "unknown aggregation"),
])
def test_errors_name_the_bad_value(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_radius_beyond_the_space_fails_when_the_search_is_built(bench):
    algo = search.na_random_search(radius=7)  # the space is not known yet
    with pytest.raises(ValueError, match="radius must be an integer in \\[0, 6\\].*got 7"):
        _run(algo, jax.random.key(0), bench, trials=1, budget=10)
    with pytest.raises(ValueError, match="k .* must be in \\[1, 24\\].*got 30"):
        _run(search.na_local_search(k=30), jax.random.key(0), bench, trials=1, budget=10)


def test_removed_na_darts_helpers_live_elsewhere():
    for name in ("op_weight_neighbours", "sample_op_weight_neighbours", "neighbourhood_loss",
                 "neighbourhood_codes", "shift_patterns", "MAX_RADIUS"):
        assert not hasattr(N, name)


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
        if b is not None:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _land_values(bench, key, trial, noise="standard"):
    k_land = jax.random.split(jax.random.fold_in(key, trial))[0]
    return np.asarray(base.make_landscape(k_land, bench, noise).valid_of_key(
        jnp.arange(S.NUM_ARCHS)))


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
    for t in range(tr.keys.shape[0]):
        codes = np.asarray(tr.keys[t])
        assert len(set(codes.tolist())) == budget  # every neighbour costs budget
        vals = _land_values(bench, key, t)
        land = base.make_landscape(jax.random.split(jax.random.fold_in(key, t))[0], bench,
                                   "standard")
        best_code = int(tr.best_key[t])
        if k is not None:  # the fixed per-trial sample of each centre
            sampled = np.asarray(SP.arch_key(jax.jit(jax.vmap(
                lambda c, land=land: search.na_search.members(land, SP.arch_of_key(c), radius,
                                                              k)[0]))(codes)))
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
    for row in np.asarray(tr.keys):
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
        centres = rs.keys[t]
        if k is None:  # in the order checked against brute force above
            blocks = np.asarray(keys_of(centres, 1))
        else:
            blocks = np.asarray(SP.arch_key(jax.vmap(
                lambda c, land=land: search.na_search.members(land, SP.arch_of_key(c), 1, k)[0])(
                centres)))
        want, seen = [], set()
        for mem in blocks:
            for m in mem.tolist():
                if m not in seen:
                    seen.add(m)
                    want.append(m)
        got = np.asarray(na.keys[t]).tolist()
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
            if b is not None:  # archs: None in an enumerable space
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b[i]))
    assert not np.array_equal(np.asarray(tr.keys[0]), np.asarray(tr.keys[1]))


def test_na_rs_prefers_flatter_architectures(bench):
    """Given the same random centres (same keys: NA-RS draws its centres as random search draws
    its queries), NA-RS returns architectures whose neighbours have better test accuracy than
    the ones random search returns (the point of the method), and both see the same centres."""
    key, n = jax.random.key(0), 10
    na = _run(search.na_random_search(), key, bench, "denoised", trials=300, budget=25 * n)
    rs = _run(search.random_search(), key, bench, "denoised", trials=300, budget=n)
    np.testing.assert_array_equal(np.asarray(na.keys[:, 0]), np.asarray(rs.keys[:, 0]))
    flat = jax.vmap(lambda c: N.neighbour_stats(SP, bench.test, SP.arch_of_key(c))[0])
    diff = np.asarray(flat(na.best_key)) - np.asarray(flat(rs.best_key))
    assert diff.mean() > 3 * diff.std() / np.sqrt(diff.size)


def test_neighbour_stats(bench):
    test = np.asarray(bench.test)
    m, s = N.neighbour_stats(SP, bench.test, SP.arch_of_key(6111), radius=1)
    nb = S.neighbour_table()[6111]
    assert float(m) == pytest.approx(test[nb].mean(), rel=1e-6)
    assert float(s) == pytest.approx(test[nb].std(), rel=1e-5)


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
    rs, na, cost = jax.jit(lambda c: search.na_search.select_among(land, SP.arch_of_key(c)))(
        centres)
    rs, na = SP.arch_key(rs), SP.arch_key(na)
    vals = np.asarray(land.valid_of_key(jnp.arange(S.NUM_ARCHS)))
    cs = np.asarray(centres)
    assert int(rs) == cs[np.argmax(vals[cs])]
    sc = [vals[np_neighbourhood(int(c), 1)].mean() for c in cs]
    assert int(na) == cs[int(np.argmax(sc))]
    assert int(cost) == len(set(np.concatenate([np_neighbourhood(int(c), 1) for c in cs])))


def test_summary_flatness_equals_numpy(bench):
    from jaxnas.reports.search import summarize

    tr = _run(search.na_random_search(k=4), jax.random.key(4), bench, trials=5, budget=40)
    s = summarize("x", tr, 0.0, 0.0, 5, 40, SP, test=bench.test)
    nb = np.asarray(bench.test)[S.neighbour_table()[np.asarray(tr.best_key)]]  # [5, 24]
    assert s["final_neighbour_test_mean"] == pytest.approx(nb.mean(1).mean(), rel=1e-5)
    assert s["final_neighbour_test_std_mean"] == pytest.approx(nb.std(1).mean(), rel=1e-4)
    assert "final_neighbour_test_mean" not in summarize("x", tr, 0.0, 0.0, 5, 40, SP)
