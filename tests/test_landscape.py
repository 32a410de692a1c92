"""Exact landscape analysis against an independent plain-NumPy local search."""

import jax
import numpy as np
import pytest

from jaxnas.analysis import landscape as L
from jaxnas.benchmarks import nb201 as B
from jaxnas.spaces import nb201 as S


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


@pytest.mark.parametrize("noise", ["denoised", "standard", "random"])
def test_cifar10_landscape_matches_numpy(data_dir, noise):
    bench = B.load("cifar10", data_dir)
    vals = np.asarray(B.objective(jax.random.key(7), bench, noise))
    nbr = S.neighbour_table()
    term, iters = numpy_local_search_all(vals, nbr)
    is_min = ~(vals[nbr] > vals[:, None]).any(1)
    s = L.stats(vals)
    assert s.num_local_minima == int(is_min.sum())
    assert s.mean_iterations == pytest.approx(iters.mean(), rel=1e-6)
    assert s.frac_reach_global == pytest.approx(np.mean(term == np.argmax(vals)))
    starts = L.all_starts_jit(vals)
    np.testing.assert_array_equal(np.asarray(starts.terminal), term)
    np.testing.assert_array_equal(np.asarray(starts.moves) + 1, iters)
    assert s.basin_sizes.sum() == 15625
    assert set(np.unique(term)) == set(np.flatnonzero(is_min))


def test_cifar10_denoised_figures(data_dir):
    """Our figures (the paper's are 21 minima / 5.36 iterations / 47.4%; see RESULTS.md)."""
    r = L.analyze("cifar10", "denoised", data_dir=data_dir)
    assert r["num_local_minima"] == 18
    assert r["mean_iterations"] == pytest.approx(5.4446, abs=1e-3)
    assert r["frac_reach_global"] == pytest.approx(0.50246, abs=1e-4)
    assert r["global_valid"] == pytest.approx(91.6067, abs=1e-3)


def test_iid_landscape_has_about_n_over_s_plus_1_minima():
    vals = jax.random.uniform(jax.random.key(0), (15625,))
    counts = [L.stats(jax.random.permutation(jax.random.key(i), vals)).num_local_minima
              for i in range(4)]
    assert abs(np.mean(counts) - 625) < 4 * 25 / 2  # sd of one count is about 23


def test_random_restarts_are_samples_of_all_starts():
    vals = jax.random.normal(jax.random.key(1), (15625,))
    starts = L.all_starts_jit(vals)
    term, iters = L.random_restarts(jax.random.key(2), starts, 100_000)
    assert term.shape == (100_000,)
    assert bool(np.all(np.asarray(starts.is_local_opt)[np.asarray(term)]))
    assert float(np.mean(np.asarray(iters))) == pytest.approx(
        float(np.mean(np.asarray(starts.moves) + 1)), rel=0.02)
