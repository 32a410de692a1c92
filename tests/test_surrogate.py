"""Surrogate benchmarks and the gaussian noise model: a toy surrogate over the DARTS space runs
the unchanged search algorithms through the benchmark registry; gaussian noise on a table."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import benchmarks, spaces
from jaxnas.benchmarks import surrogate, tabular
from jaxnas.reports.search import compare

DARTS = spaces.get("darts")


def _predict(params, archs):
    """A smooth toy surrogate: a per-(cell, op) score summed over slots plus a per-(cell, input)
    score; invariant to the order of a node's two slots, as a real one is."""
    a = jnp.asarray(archs, jnp.int32)
    cell = jnp.arange(2)[:, None]
    s = params["op"][cell, a[..., 1]] + params["inp"][cell, a[..., 0]]
    return 90.0 + jnp.sum(s, axis=(-2, -1))


def _load(dataset, data_dir=None):
    rng = np.random.default_rng(0)
    params = {"op": jnp.asarray(rng.normal(0, 0.3, (2, 8)), jnp.float32),
              "inp": jnp.asarray(rng.normal(0, 0.2, (2, 6)), jnp.float32)}
    return surrogate.Surrogate(space=DARTS, predict=_predict, params=params, name="toy-darts")


benchmarks.register("toy-darts", _load, ("toy",), space="darts",
                    noises=surrogate.SURROGATE_NOISE, has_test=False, title="toy surrogate",
                    replace=True)


def test_surrogate_landscape_denoised_and_gaussian():
    bench = _load("toy")
    archs = jax.vmap(DARTS.sample)(jax.random.split(jax.random.key(0), 2000))
    true = np.asarray(bench.valid(archs))
    land = benchmarks.make_landscape(jax.random.key(1), bench, "denoised")
    np.testing.assert_array_equal(np.asarray(land.valid(archs)), true)
    assert not land.has_test
    g = benchmarks.make_landscape(jax.random.key(1), bench, tabular.Gaussian(2.0))
    noisy = np.asarray(g.valid(archs))
    dev = noisy - true
    assert abs(dev.std() - 2.0) < 0.15 and abs(dev.mean()) < 0.15
    np.testing.assert_array_equal(np.asarray(g.test(archs)), true)  # the true value
    # fixed within a trial (same architecture, same value; slot order does not matter) ...
    swapped = np.asarray(archs)[:, :, [1, 0, 2, 3, 4, 5, 6, 7]]
    np.testing.assert_allclose(np.asarray(g.valid(jnp.asarray(swapped))), noisy, atol=1e-5)
    # ... and drawn afresh in another trial
    g2 = benchmarks.make_landscape(jax.random.key(2), bench, tabular.Gaussian(2.0))
    assert np.corrcoef(np.asarray(g2.valid(archs)) - true, dev)[0, 1] < 0.1
    with pytest.raises(ValueError, match="'standard' is not available"):
        benchmarks.make_landscape(jax.random.key(1), bench, "standard")


def test_gaussian_noise_on_a_table(data_dir):
    table = benchmarks.load("nb201", "cifar10", data_dir)
    keys = jnp.arange(table.num_archs)
    den = np.asarray(tabular.objective(jax.random.key(3), table, "denoised"))
    model = benchmarks.noise_model("gaussian", 1.0)
    g = np.asarray(tabular.objective(jax.random.key(3), table, model))
    dev = g - den
    assert abs(dev.std() - 1.0) < 0.03 and abs(dev.mean()) < 0.03
    land = benchmarks.make_landscape(jax.random.key(3), table, model)
    np.testing.assert_array_equal(np.asarray(land.valid_of_key(keys)), g)
    np.testing.assert_array_equal(np.asarray(land.true_valid(table.space.arch_of_key(keys))), den)
    with pytest.raises(ValueError, match="needs a standard deviation"):
        benchmarks.noise_model("gaussian")
    with pytest.raises(ValueError, match="applies to the gaussian noise model only"):
        benchmarks.noise_model("standard", 1.0)
    with pytest.raises(ValueError, match="finite number >= 0"):
        benchmarks.noise_model("gaussian", -1.0)


def test_search_algorithms_run_unchanged_on_a_surrogate():
    res = compare(["local_search", "random_search", "evolution"], None, "gaussian", trials=3,
                  budget=40, seed=0, progress=False, space="darts", benchmark="toy-darts",
                  noise_std=0.5)
    bench = _load("toy")
    for r in res:
        assert r["metric"] == "valid" and r["final_test_mean"] is None
        assert r["benchmark"] == "toy-darts" and r["noise"] == "gaussian"
        assert r["noise_std"] == 0.5 and len(r["valid_mean"]) == 40
        # the reported final value is the true value of the returned architecture
        arch = DARTS.from_string(r["most_returned_arch"])
        assert 85 < float(bench.valid(arch)) < 100
        assert np.all(np.diff(r["valid_mean"]) > -1.0)
    with pytest.raises(ValueError, match="'standard' is not available on toy-darts"):
        compare(["random_search"], None, "standard", trials=2, budget=5, progress=False,
                space="darts", benchmark="toy-darts")


def test_nb101_sample_is_searched_through_the_registry(data_dir):
    """nb101-sample: search draws and moves only among its 1,000 queryable cells; values are the
    table's (no test accuracy: the curves are true validation accuracy)."""
    from jaxnas.benchmarks import nb101

    b = nb101.load_sample_benchmark("cifar10", data_dir)
    res = compare(["local_search", "random_search"], None, "denoised", trials=8, budget=30,
                  progress=False, space="nb101", benchmark="nb101-sample", data_dir=data_dir)
    members = {a.tobytes() for a in np.asarray(b.space._member_archs)}
    for r in res:
        assert r["metric"] == "valid" and r["benchmark"] == "nb101-sample"
        assert np.all(np.isfinite(r["valid_mean"]))  # every query was a table cell
        arch = b.space.from_string(r["most_returned_arch"])
        assert arch.astype(np.int32).tobytes() in members
        assert float(b.table.valid[: b.table.num_queryable].max()) >= r["final_valid_mean"] > 85
    nb, ok = jax.vmap(b.space.neighbours)(jnp.asarray(b.space._member_archs[:50]))
    assert bool(jnp.all(b.space.is_member(nb) | ~ok))
    # evolution under naszilla's rules (every child charged) fills its budget here too
    (evo,) = compare(["evolution"], None, "denoised", trials=4, budget=30, progress=False,
                     space="nb101", benchmark="nb101-sample", data_dir=data_dir,
                     protocol="naszilla")
    assert np.all(np.isfinite(evo["valid_mean"]))
