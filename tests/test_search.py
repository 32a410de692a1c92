"""Query-budgeted search algorithms: budget semantics, determinism, vmap == loop, behaviour."""

import chex
import jax
import numpy as np
import pytest

from jaxnas import benchmarks, search
from jaxnas.search import base
from jaxnas.spaces import nb201 as S

# the algorithms with a jaxnas protocol (the default); the naszilla protocol is checked against
# naszilla's loops in tests/test_naszilla.py
ALGOS = sorted(n for n in search.ALGORITHMS if "jaxnas" in search.ALGORITHM_PROTOCOLS[n])


@pytest.fixture(scope="module")
def bench(data_dir):
    return benchmarks.load("nb201", "cifar10", data_dir)


def _run(algo, key, bench, noise="standard", trials=8, budget=60):
    return jax.jit(lambda k: base.run(algo, k, bench, noise, trials, budget))(key)


@pytest.mark.parametrize("name", ALGOS)
def test_budget_counts_distinct_architectures(bench, name):
    tr = _run(search.get_algorithm(name), jax.random.key(0), bench)
    codes = np.asarray(tr.keys)
    assert codes.shape == (8, 60)
    for row in codes:
        assert len(set(row.tolist())) == 60 and row.min() >= 0  # budget spent on distinct archs
    v, t = np.asarray(tr.valid), np.asarray(tr.test)
    assert np.all(np.asarray(tr.num_steps) >= 1)
    if name.startswith("na_"):
        # ``valid`` is the best plain value until the first neighbourhood (1 + 24 queries) is
        # complete, then the best aggregated score (lower: a mean), which never decreases
        assert np.all(np.diff(v[:, 24:], axis=1) >= 0)
        return  # incumbent = best neighbourhood score; checked in tests/test_neighborhood.py
    assert np.all(np.diff(v, axis=1) >= 0)  # best-so-far never decreases
    # the trajectory's test accuracy is that of the incumbent: the best queried so far
    land = base.make_landscape(jax.random.split(jax.random.fold_in(jax.random.key(0), 3))[0],
                               bench, "standard")
    vals = np.asarray(land.valid_of_key(codes[3]))
    np.testing.assert_array_equal(vals, np.asarray(land.valid(S.all_archs()[codes[3]])))
    for q in (0, 10, 59):
        inc = codes[3][np.argmax(vals[: q + 1])]
        assert t[3, q] == pytest.approx(float(bench.test[inc]))
        assert v[3, q] == pytest.approx(vals[: q + 1].max())
    assert np.all(np.asarray(tr.num_steps) >= 60)


@pytest.mark.parametrize("name", ALGOS)
def test_vmap_equals_loop_and_determinism(bench, name):
    algo = search.get_algorithm(name)
    key = jax.random.key(5)
    tr = _run(algo, key, bench, trials=4)
    tr2 = _run(algo, key, bench, trials=4)
    np.testing.assert_array_equal(np.asarray(tr.keys), np.asarray(tr2.keys))
    one = jax.jit(lambda k: base.run_trial(algo, k, bench, "standard", 60))
    for i in range(4):
        single = one(jax.random.fold_in(key, i))
        np.testing.assert_array_equal(np.asarray(single.keys), np.asarray(tr.keys[i]))
        np.testing.assert_array_equal(np.asarray(single.test), np.asarray(tr.test[i]))
    other = _run(algo, jax.random.key(6), bench, trials=4)
    assert not np.array_equal(np.asarray(other.keys), np.asarray(tr.keys))


def test_local_search_scans_the_neighbourhood_then_moves(bench):
    tr = _run(search.local_search(), jax.random.key(1), bench, noise="denoised", budget=100)
    valid = np.asarray(bench.valid)
    for row in np.asarray(tr.keys):
        start = row[0]
        assert set(row[1:25]) == set(S.SPACE.neighbour_table()[0][start])  # Algorithm 1, line 3.i
        best_nb = row[1:25][np.argmax(valid[row[1:25]])]
        if valid[best_nb] > valid[start]:  # line 3.ii: the next centre is the best neighbour
            nxt = set(S.SPACE.neighbour_table()[0][best_nb]) - set(row[:25])
            assert set(row[25:25 + len(nxt)]) == nxt


def test_local_search_converges_to_local_optima(bench):
    """With a large budget on the denoised landscape, incumbents are local optima (unless the
    budget ran out in the middle of a climb) and most runs find the global optimum (each start
    reaches it with probability 0.5, and restarts add more chances)."""
    tr = _run(search.local_search(), jax.random.key(2), bench, noise="denoised", trials=64,
              budget=400)
    valid = np.asarray(bench.valid)
    nbr = S.SPACE.neighbour_table()[0]
    best = np.asarray(tr.best_key)
    assert np.mean(valid[nbr[best]].max(1) <= valid[best]) > 0.9
    assert np.mean(best == np.argmax(valid)) > 0.8


def test_first_improvement_moves_at_first_better_neighbour(bench):
    tr = _run(search.local_search(first_improvement=True), jax.random.key(3), bench,
              noise="denoised", trials=16, budget=40)
    valid = np.asarray(bench.valid)
    nbr = S.SPACE.neighbour_table()[0]
    for row in np.asarray(tr.keys):
        start = row[0]
        k = next((i for i in range(1, 25) if valid[row[i]] > valid[start]), None)
        if k is None or k + 1 >= 40:
            continue
        assert row[k] in nbr[start]
        assert row[k + 1] in nbr[row[k]]  # the scan continues around the new centre


def test_evolution_children_are_mutations(bench):
    tr = _run(search.evolution(), jax.random.key(4), bench, trials=8, budget=80)
    nbr = S.SPACE.neighbour_table()[0]
    for row in np.asarray(tr.keys):
        for i in range(10, 80):
            assert np.isin(row[i], nbr[row[:i]]).any()


def test_local_search_beats_random_search_on_denoised(bench):
    """The paper's headline on NAS-Bench-201: local search is the stronger baseline at 300."""
    key = jax.random.key(0)
    ls = _run(search.local_search(), key, bench, noise="denoised", trials=300, budget=300)
    rs = _run(search.random_search(), key, bench, noise="denoised", trials=300, budget=300)
    assert float(np.mean(ls.test[:, -1])) > float(np.mean(rs.test[:, -1])) + 0.2


# Every registered algorithm, NA local search with sampled neighbourhoods, and the naszilla
# protocol's own step functions.
TRACE_CASES = [(name, {}) for name in ALGOS] + [("na_local_search", {"k": 5})] + [
    (name, {"protocol": "naszilla"}) for name in ("local_search_continue", "evolution")]


@pytest.mark.parametrize("name, kw", TRACE_CASES, ids=[f"{n}{kw or ''}" for n, kw in TRACE_CASES])
def test_step_traces_once(bench, name, kw):
    chex.clear_trace_counter()
    algo = search.get_algorithm(name, **kw)
    land = base.make_landscape(jax.random.key(0), bench, "standard")
    state = algo.init(jax.random.key(0), land, 80)

    def step_fn(key, state, land):
        return algo.step(key, state, land)

    step = jax.jit(chex.assert_max_traces(step_fn, n=1))
    for i in range(5):
        state = step(jax.random.key(i), state, land)
    q = int(state.oracle.num_queries)
    assert q >= 1
    if name == "local_search" or kw.get("protocol") == "naszilla":
        assert q == 5  # one query per step (naszilla: a random start or a new neighbour)
    if name.startswith("na_"):
        assert q > 5  # every step pays for (part of) a neighbourhood


def test_bad_arguments(bench):
    with pytest.raises(ValueError, match="unknown search algorithm 'hill'"):
        search.get_algorithm("hill")
    with pytest.raises(ValueError, match="num_init must be >= 1"):
        search.local_search(num_init=0)
    with pytest.raises(ValueError, match="population_size must be >= 1, got 0"):
        search.evolution(population_size=0)
    from jaxnas.reports.search import compare
    with pytest.raises(ValueError, match="budget 20000 exceeds"):
        compare(["random_search"], budget=20000)


def test_trajectory_archs_decode_the_keys(bench):
    tr = _run(search.evolution(), jax.random.key(7), bench, trials=3, budget=40)
    assert tr.archs is None  # enumerable space: the keys say it all
    np.testing.assert_array_equal(np.asarray(S.SPACE.arch_key(tr.best_arch)),
                                  np.asarray(tr.best_key))
    assert tr.keys.dtype == np.int32 and tr.keys.shape == (3, 40)


def test_search_code_names_no_space():
    """The search package is generic: no module of it imports a particular space or benchmark
    (the comparison's default space is a registry name)."""
    import pathlib

    import jaxnas.search

    for f in pathlib.Path(jaxnas.search.__file__).parent.glob("*.py"):
        src = f.read_text()
        assert "import nb201" not in src and ".nb201" not in src, f"{f.name} imports nb201"
        assert "NEIGHBOURS" not in src
