"""A space is a plug-in: the toy spaces of ``tests/fixtures/toy.py`` (a plain 3 x 3 product and
one with masked neighbourhoods) run through search, landscape statistics and neighbourhood
scores with no line of those changed; every figure equals a NumPy brute force."""

from __future__ import annotations

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import benchmarks, search
from jaxnas.analysis import landscape as L
from jaxnas.analysis import neighbourhood as N
from jaxnas.benchmarks.tabular import make_landscape, objective
from jaxnas.search import base
from tests.fixtures import toy

SPACES = toy.TOY_SPACES
IDS = [s.name for s in SPACES]
AGGS = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}


def brute_archs(space) -> np.ndarray:
    """Every allowed architecture of the toy, in key order, by enumerating the product."""
    prod = np.array(list(itertools.product(range(space.num_ops), repeat=space.num_edges)))[:, ::-1]
    ok = np.array([space.allowed(a) if hasattr(space, "allowed") else True for a in prod])
    archs = prod[ok]
    code = archs @ (space.num_ops ** np.arange(space.num_edges))
    return archs[np.argsort(code)]


def brute_ball(space, c: int, radius: int) -> np.ndarray:
    """Keys within Hamming distance ``radius`` of key ``c`` (sorted), the centre included."""
    archs = brute_archs(space)
    return np.flatnonzero(np.sum(archs != archs[c], axis=1) <= radius)


def brute_neighbours(space, c: int) -> np.ndarray:
    return np.setdiff1d(brute_ball(space, c, 1), [c])


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_the_space_is_enumerated_in_key_order(space):
    np.testing.assert_array_equal(space.all_archs(), brute_archs(space))
    np.testing.assert_array_equal(np.asarray(space.arch_key(space.all_archs())),
                                  np.arange(space.num_archs))
    nbr, valid = space.neighbour_table()
    for c in range(space.num_archs):
        assert sorted(nbr[c][valid[c]].tolist()) == brute_neighbours(space, c).tolist()
        assert np.all(nbr[c][~valid[c]] == c)  # padding holds the row's own key
    if space.name == "toy_masked":
        assert (~valid).any() and valid.sum(1).min() < valid.sum(1).max()


# ---------------------------------------------------------------------------------------------
# Search.
# ---------------------------------------------------------------------------------------------


def _run(algo, space, noise="denoised", trials=4, budget=None, key=0):
    table = toy.table(space.name)
    budget = space.num_archs if budget is None else budget
    return jax.jit(lambda k: base.run(algo, k, table, noise, trials, budget))(jax.random.key(key))


PLAIN = ["evolution", "local_search", "local_search_first", "random_search"]
# every algorithm under each of its protocols (the naszilla ones, checked against naszilla's
# loops in tests/test_naszilla.py, are slow here)
CASES = [(n, p) if p == "jaxnas" else pytest.param(n, p, marks=pytest.mark.slow)
         for n in sorted(search.ALGORITHMS) for p in search.ALGORITHM_PROTOCOLS[n]]


@pytest.mark.parametrize("space", SPACES, ids=IDS)
@pytest.mark.parametrize("name, protocol", CASES)
def test_every_algorithm_with_the_whole_space_as_budget_finds_the_optimum(space, name,
                                                                          protocol):
    table = toy.table(space.name)
    valid = np.asarray(table.valid)
    best = int(np.argmax(valid))
    if protocol == "naszilla":
        tr = _run(search.get_algorithm(name, protocol), space)
        keys = np.asarray(tr.keys)
        if name == "evolution":  # every child charged: repeats, so the budget may not cover
            np.testing.assert_allclose(np.asarray(tr.valid)[:, -1], valid[keys].max(1))
        else:  # distinct queries only: the whole space
            assert all(sorted(r.tolist()) == list(range(space.num_archs)) for r in keys)
            np.testing.assert_array_equal(np.asarray(tr.best_key), best)
        return
    if name in PLAIN:
        tr = _run(search.get_algorithm(name), space)
        np.testing.assert_array_equal(np.asarray(tr.best_key), best)
        np.testing.assert_array_equal(np.asarray(tr.best_arch), np.broadcast_to(
            space.all_archs()[best], tr.best_arch.shape))
        if name != "evolution":  # evolution's children may never reach every architecture
            keys = np.asarray(tr.keys)
            assert all(sorted(r.tolist()) == list(range(space.num_archs)) for r in keys)
            np.testing.assert_allclose(np.asarray(tr.test)[:, -1], float(table.test[best]))
        return
    # neighbourhood-aware: radius 0 is the plain algorithm ...
    tr0 = _run(search.get_algorithm(name, radius=0), space)
    np.testing.assert_array_equal(np.asarray(tr0.best_key), best)
    # ... radius 1 returns the architecture with the best score among those scored completely
    tr = _run(search.get_algorithm(name), space)
    sc = np.array([valid[brute_ball(space, c, 1)].mean() for c in range(space.num_archs)])
    for key, v in zip(np.asarray(tr.best_key), np.asarray(tr.valid)[:, -1], strict=True):
        assert v == pytest.approx(sc[key], rel=1e-6)
    # an exhaustive NA-RS (every centre scored) returns the best score of the space
    many = _run(search.na_random_search(), space, trials=4, budget=space.num_archs)
    assert np.all(np.asarray(many.valid)[:, -1] <= sc.max() + 1e-4)


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_local_search_scans_only_valid_neighbours(space):
    tr = _run(search.local_search(), space, budget=space.num_archs // 2, trials=8, key=3)
    nbr, valid = space.neighbour_table()
    vals = np.asarray(toy.table(space.name).valid)
    for row in np.asarray(tr.keys):
        start = row[0]
        n = int(valid[start].sum())
        nb = set(nbr[start][valid[start]].tolist())
        assert set(row[1:1 + n].tolist()) == nb  # exactly the valid neighbours, first
        best_nb = max(nb, key=vals.__getitem__)
        if vals[best_nb] > vals[start] and 1 + n < row.size:
            assert row[1 + n] in set(nbr[best_nb][valid[best_nb]].tolist()) - {start} | set()


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_evolution_children_are_valid_neighbours(space):
    tr = _run(search.evolution(population_size=6, tournament_size=3, num_init=3), space,
              noise="standard", trials=4, budget=space.num_archs - 4)
    nbr, valid = space.neighbour_table()
    for row in np.asarray(tr.keys):
        for i in range(3, row.size):
            if row[i] < 0:
                break
            par = row[:i]
            assert np.isin(row[i], np.where(valid[par], nbr[par], -2)).any()


def test_the_cli_searches_a_registered_toy(capsys):
    from jaxnas.cli import main

    assert main(["search", "--space", "toy_masked", "--algo", "random_search,local_search",
                 "--trials", "5", "--budget", "8", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert [x["algo"] for x in r] == ["random_search", "local_search"]
    assert r[0]["dataset"] == "toy"
    toy.TOY_MASKED.from_string(r[0]["most_returned_arch"])
    assert set(r[0]["checkpoints"]) == {"8"}
    assert main(["search", "--space", "toy", "--budget", "28", "--trials", "2"]) == 2
    assert "budget 28 exceeds the 27 architectures" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Landscape statistics (jaxnas.analysis.landscape, unchanged) against a brute force.
# ---------------------------------------------------------------------------------------------


def np_walk(vals: np.ndarray, space, start: int) -> tuple[int, int]:
    """Best-improvement local search from ``start`` over the brute-force neighbourhoods."""
    cur, moves = start, 0
    while True:
        nb = brute_neighbours(space, cur)
        if nb.size == 0:
            return cur, moves
        best = nb[np.argmax(vals[nb])]
        if vals[best] <= vals[cur]:
            return cur, moves
        cur, moves = best, moves + 1


@pytest.mark.parametrize("noise", ["denoised", "standard", "random"])
@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_exhaustive_landscape_statistics_equal_brute_force(space, noise):
    vals = objective(jax.random.key(5), toy.table(space.name), noise)
    nbr = jnp.asarray(space.neighbour_table()[0])
    starts = jax.jit(L.all_starts)(vals, nbr)
    v = np.asarray(vals)
    walks = [np_walk(v, space, c) for c in range(space.num_archs)]
    np.testing.assert_array_equal(np.asarray(starts.terminal), [t for t, _ in walks])
    np.testing.assert_array_equal(np.asarray(starts.moves), [m for _, m in walks])
    opt = [all(v[n] <= v[c] for n in brute_neighbours(space, c)) for c in range(space.num_archs)]
    np.testing.assert_array_equal(np.asarray(starts.is_local_opt), opt)
    st = L.stats(vals, starts)
    assert st.num_local_minima == sum(opt)
    assert st.global_arch == int(np.argmax(v))
    assert st.frac_reach_global == pytest.approx(np.mean([t == np.argmax(v) for t, _ in walks]))
    assert st.mean_iterations == pytest.approx(np.mean([m + 1 for _, m in walks]))
    assert sorted(st.basin_sizes.tolist()) == sorted(
        np.bincount([t for t, _ in walks])[np.flatnonzero(opt)].tolist())


# ---------------------------------------------------------------------------------------------
# Neighbourhood-aware scores (jaxnas.analysis.neighbourhood, unchanged) against a brute force.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", SPACES, ids=IDS)
@pytest.mark.parametrize("radius", [0, 1, 2, 3])
@pytest.mark.parametrize("how", N.AGGREGATIONS)
def test_scores_equal_brute_force(space, radius, how):
    table = toy.table(space.name)
    v = np.asarray(table.valid)
    want = [AGGS[how](v[brute_ball(space, c, radius)]) for c in range(space.num_archs)]
    got = jax.jit(N.score_all, static_argnums=(0, 2, 3))(space, table.valid, radius, how)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)
    archs = jnp.asarray(space.all_archs())
    one = jax.jit(jax.vmap(lambda a: N.score(space, table.valid, a, radius, how)))(archs)
    np.testing.assert_allclose(np.asarray(one), want, rtol=1e-6)
    # values as a function of architectures (a trial's landscape) give the same scores
    land = make_landscape(jax.random.key(0), table, "denoised")
    fn = jax.vmap(lambda a: N.score(land, land.valid, a, radius, how))(archs)
    np.testing.assert_allclose(np.asarray(fn), want, rtol=1e-6)


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_neighbour_stats_and_samples_equal_brute_force(space):
    test = np.asarray(toy.table(space.name).test)
    archs = jnp.asarray(space.all_archs())
    mean, std = jax.vmap(lambda a: N.neighbour_stats(space, test, a))(archs)
    for c in range(space.num_archs):
        nb = test[brute_neighbours(space, c)]
        assert float(mean[c]) == pytest.approx(nb.mean(), rel=1e-6)
        assert float(std[c]) == pytest.approx(nb.std(), rel=1e-4, abs=1e-5)
    # k sampled members: distinct valid members of the ball, the centre first
    k = 3
    for c in range(space.num_archs):
        mem, ok = N.sample_neighbourhood(space, jax.random.key(c), archs[c], 2, k)
        keys = np.asarray(space.arch_key(mem))[np.asarray(ok)]
        ball = brute_ball(space, c, 2)
        assert keys[0] == c and set(keys.tolist()) <= set(ball.tolist())
        assert len(set(keys.tolist())) == keys.size == min(k, ball.size - 1) + 1


def test_radius_checks_go_through_the_space():
    with pytest.raises(ValueError, match="radius must be an integer in \\[0, 3\\].*got 4"):
        N.score_all(toy.TOY, jnp.zeros(27), radius=4)
    with pytest.raises(ValueError, match="k .* must be in \\[1, 6\\].*got 7"):
        N.check_k(toy.TOY, 7, 1)
    with pytest.raises(ValueError, match="got shape \\(15625,\\)"):
        N.score_all(toy.TOY_MASKED, jnp.zeros(15625))
    assert benchmarks.load("toy", "toy").space == toy.TOY
