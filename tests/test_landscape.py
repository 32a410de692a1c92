"""Exact landscape analysis against an independent plain-NumPy local search, on NAS-Bench-201 and
on a tiny product space built here (the analysis never names a space)."""

import itertools

import jax
import numpy as np
import pytest

from jaxnas import spaces
from jaxnas.analysis import landscape as L
from jaxnas.benchmarks import tabular
from jaxnas.reports import landscape as R
from jaxnas.spaces.base import ProductSpace


def numpy_local_search_all(values: np.ndarray, nbr: np.ndarray):
    """Oracle: walk every start one improving move at a time (no pointer doubling)."""
    n = values.shape[0]
    cur = np.arange(n)
    iters = np.ones(n, np.int64)
    while True:
        nv = values[nbr[cur]]
        j = np.argmax(nv, axis=1)  # first best neighbour in table order
        cand = nbr[cur, j]
        move = values[cand] > values[cur]
        if not move.any():
            return cur, iters
        cur = np.where(move, cand, cur)
        iters += move


@pytest.fixture(scope="module")
def nb201_nbr():
    return L.neighbour_keys(spaces.get("nb201"))


@pytest.mark.parametrize("noise", ["denoised", "standard", "random"])
def test_cifar10_landscape_matches_numpy(data_dir, nb201_nbr, noise):
    table, _ = R.load_table("nb201", "cifar10", data_dir)
    vals = np.asarray(tabular.objective(jax.random.key(7), table, noise))
    nbr = nb201_nbr
    term, iters = numpy_local_search_all(vals, nbr)
    is_min = ~(vals[nbr] > vals[:, None]).any(1)
    starts = L.all_starts_jit(vals, nbr)
    s = L.stats(vals, starts)
    assert s.num_local_minima == int(is_min.sum())
    assert s.mean_iterations == pytest.approx(iters.mean(), rel=1e-6)
    assert s.frac_reach_global == pytest.approx(np.mean(term == np.argmax(vals)))
    np.testing.assert_array_equal(np.asarray(starts.terminal), term)
    np.testing.assert_array_equal(np.asarray(starts.moves) + 1, iters)
    assert s.basin_sizes.sum() == 15625
    assert set(np.unique(term)) == set(np.flatnonzero(is_min))


def test_cifar10_denoised_figures(data_dir):
    """Our figures (the paper's are 21 minima / 5.36 iterations / 47.4%; see RESULTS.md)."""
    r = R.analyze("cifar10", "denoised", data_dir=data_dir)
    assert r["num_local_minima"] == 18
    assert r["mean_iterations"] == pytest.approx(5.4446, abs=1e-3)
    assert r["frac_reach_global"] == pytest.approx(0.50246, abs=1e-4)
    assert r["global_valid"] == pytest.approx(91.6067, abs=1e-3)
    assert r["global_arch"] == ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
                                "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    assert r["largest_basins"][:3] == [7851, 1178, 967]
    assert list(r) == ["dataset", "noise", "seed", "num_archs", "num_local_minima",
                       "mean_iterations", "frac_reach_global", "global_arch", "global_valid",
                       "largest_basins", "run_seconds", "compile_seconds"]


def test_iid_landscape_has_about_n_over_s_plus_1_minima(nb201_nbr):
    vals = jax.random.uniform(jax.random.key(0), (15625,))
    counts = []
    for i in range(4):
        v = jax.random.permutation(jax.random.key(i), vals)
        counts.append(L.stats(v, L.all_starts_jit(v, nb201_nbr)).num_local_minima)
    assert abs(np.mean(counts) - 625) < 4 * 25 / 2  # sd of one count is about 23


def test_random_restarts_are_samples_of_all_starts(nb201_nbr):
    vals = jax.random.normal(jax.random.key(1), (15625,))
    starts = L.all_starts_jit(vals, nb201_nbr)
    term, iters = L.random_restarts(jax.random.key(2), starts, 100_000)
    assert term.shape == (100_000,)
    assert bool(np.all(np.asarray(starts.is_local_opt)[np.asarray(term)]))
    assert float(np.mean(np.asarray(iters))) == pytest.approx(
        float(np.mean(np.asarray(starts.moves) + 1)), rel=0.02)


# ---- a space that is not NAS-Bench-201 ----------------------------------------------------


def brute_force(space: ProductSpace, values: np.ndarray):
    """Oracle built from the space's definition alone (Hamming-1 neighbours in the order of
    ``ProductSpace.neighbours``), not from its tables: local optima, each start's end point and
    its number of evaluated neighbourhoods."""
    k, e = space.num_ops, space.num_edges
    archs = list(itertools.product(range(k), repeat=e))
    key = {a: sum(op * k**i for i, op in enumerate(a)) for a in archs}

    def nbrs(a):
        for edge in range(e):
            for shift in range(1, k):
                b = list(a)
                b[edge] = (a[edge] + shift) % k
                yield key[tuple(b)]

    by_key = {key[a]: a for a in archs}
    n = len(archs)
    is_opt = np.array([all(values[j] <= values[v] for j in nbrs(by_key[v])) for v in range(n)])
    end, iters = np.empty(n, np.int64), np.empty(n, np.int64)
    for v0 in range(n):
        v, it = v0, 1
        while True:
            best = max(nbrs(by_key[v]), key=lambda j: values[j])  # first of the maxima
            if not values[best] > values[v]:
                break
            v, it = best, it + 1
        end[v0], iters[v0] = v, it
    return is_opt, end, iters


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_product_space_matches_brute_force(seed):
    space = ProductSpace(name="tiny3x3", ops=("a", "b", "c"), num_edges=3)
    rng = np.random.default_rng(seed)
    # few distinct values: ties and plateaus occur, and must stop the search
    values = rng.integers(0, 6, space.num_archs).astype(np.float32)
    is_opt, end, iters = brute_force(space, values)

    nbr = L.neighbour_keys(space)
    assert nbr.shape == (27, 6)
    starts = L.all_starts_jit(values, nbr)
    np.testing.assert_array_equal(np.asarray(starts.is_local_opt), is_opt)
    np.testing.assert_array_equal(np.asarray(starts.terminal), end)
    np.testing.assert_array_equal(np.asarray(starts.moves) + 1, iters)

    s = L.stats(values, starts)
    minima = np.flatnonzero(is_opt)
    basins = np.bincount(end, minlength=27)[minima]
    assert s.num_archs == 27
    assert s.num_local_minima == int(is_opt.sum()) > 0
    np.testing.assert_array_equal(s.basin_sizes, np.sort(basins)[::-1])
    assert s.basin_sizes.sum() == 27
    assert s.mean_iterations == pytest.approx(iters.mean())
    assert s.frac_reach_global == pytest.approx(np.mean(end == np.argmax(values)))

    # the report's summary names the optimum with the space's own strings
    r = R.summarize(values, nbr, space)
    assert r["global_arch"] == space.to_string(space.arch_of_key(int(np.argmax(values))))
    assert r["num_local_minima"] == s.num_local_minima
    assert r["largest_basins"] == [int(b) for b in np.sort(basins)[::-1][:10]]


def test_tiny_space_strict_optima_count_on_distinct_values():
    """Distinct values: a local optimum is exactly a node better than all its neighbours."""
    space = ProductSpace(name="tiny3x3", ops=("a", "b", "c"), num_edges=3)
    values = np.random.default_rng(5).permutation(27).astype(np.float32)
    nbr = L.neighbour_keys(space)
    expected = sum(all(values[j] < values[v] for j in nbr[v]) for v in range(27))
    s = L.stats(values, L.all_starts_jit(values, nbr))
    assert s.num_local_minima == expected >= 1


def test_reports_list_tabular_spaces_and_reject_others():
    from jaxnas import benchmarks, spaces

    names = R.tabular_spaces()  # test fixtures may have registered toy spaces in this process
    assert "nb201" in names and "tiny3x3" not in names
    assert all(n in benchmarks.BENCHMARKS and spaces.get(n).num_archs for n in names)
    with pytest.raises(ValueError, match="no tabular benchmark"):
        R.analyze(space="tiny3x3")
    with pytest.raises(ValueError, match="enumerable"):
        L.neighbour_keys(type("Big", (), {"name": "big", "num_archs": None})())
