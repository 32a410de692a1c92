"""Sampled landscape analysis (spaces too large to enumerate): local search from uniform starts,
checked against the exact analysis on NAS-Bench-201, against a plain-NumPy local search on the
real ``nb101-sample`` cells, and through ``jaxnas landscape`` on NB301."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import benchmarks
from jaxnas.analysis import landscape as L
from jaxnas.benchmarks import tabular
from jaxnas.cli import main
from tests.conftest import SHARED_DATA, linked_data, require_data


def test_estimators_on_known_walks():
    """Fractions, standard errors, the Wilson interval, basins and the count estimate on walks
    whose answer is known."""
    it = np.array([1, 1, 3, 2, 4, 1, 2, 2])
    term = np.array([[5, 0], [6, 0], [5, 0], [5, 0], [7, 0], [8, 0], [6, 0], [5, 0]], np.uint32)
    tval = np.array([90.0, 91.0, 90.0, 90.0, 93.0, 89.0, 91.0, 90.0], np.float32)
    w = L.Walk(start=jnp.zeros((8, 2)), start_valid=jnp.zeros(8), terminal=jnp.zeros((8, 2)),
               terminal_valid=jnp.asarray(tval), iterations=jnp.asarray(it),
               start_neighbours=jnp.asarray([0, 3, 3, 3, 3, 3, 3, 3]),
               converged=jnp.asarray([True] * 7 + [False]))
    s = L.sampled_stats(w, term, global_key=np.array([7, 0], np.uint32), num_archs=1000)
    assert s.num_starts == 8 and s.frac_local_optima == 3 / 8
    assert s.frac_local_optima_se == pytest.approx(np.sqrt(3 / 8 * 5 / 8 / 8))
    lo, hi = s.frac_local_optima_ci95
    assert 0.08 < lo < 3 / 8 < hi < 0.72
    assert s.frac_isolated == 1 / 8 and s.num_not_converged == 1
    assert s.mean_iterations == pytest.approx(2.0)
    assert s.mean_iterations_se == pytest.approx(np.std(it, ddof=1) / np.sqrt(8))
    assert s.num_distinct_optima == 4
    assert s.largest_basins == [0.5, 0.25, 0.125, 0.125]  # key 5 x4, key 6 x2, then 7 (93) and 8
    assert s.largest_basins_valid == [90.0, 91.0, 93.0, 89.0]
    assert (s.best_optimum_valid, s.frac_reach_best_optimum) == (93.0, 0.125)
    assert s.frac_reach_global == 0.125 and s.est_num_local_minima == pytest.approx(375.0)
    assert L.wilson_interval(0.0, 100)[0] == 0.0 and L.wilson_interval(0.0, 100)[1] > 0.03


def test_sampled_walks_equal_the_exact_analysis_on_nb201(data_dir):
    """Every sampled run ends where the exact all-starts analysis says, after as many
    iterations, on the same (standard-noise) landscape; the optimum is the table's argmax."""
    table = benchmarks.load("nb201", "cifar10", data_dir)
    key = jax.random.key(7)
    values = tabular.objective(key, table, "standard")
    nbr = L.neighbour_keys(table.space)
    exact = L.all_starts_jit(values, nbr)
    land = benchmarks.make_landscape(key, table, "standard")
    walks = jax.jit(L.sample_walks, static_argnums=(2, 3))(jax.random.key(1), land, 256, 100)
    space = table.space
    starts = np.asarray(space.arch_key(walks.start))
    np.testing.assert_array_equal(np.asarray(space.arch_key(walks.terminal)),
                                  np.asarray(exact.terminal)[starts])
    np.testing.assert_array_equal(np.asarray(walks.iterations), np.asarray(exact.moves)[starts] + 1)
    np.testing.assert_array_equal(np.asarray(walks.terminal_valid),
                                  np.asarray(values)[np.asarray(exact.terminal)[starts]])
    gkey, gval = land.optimum()
    assert int(gkey) == int(np.argmax(values)) and float(gval) == float(np.max(values))
    s = L.sampled_stats(walks, space.arch_key(walks.terminal), gkey, land.num_archs)
    assert s.frac_reach_global == pytest.approx(
        np.mean(np.asarray(exact.terminal)[starts] == int(gkey)))
    assert s.frac_local_optima == np.mean(np.asarray(exact.is_local_opt)[starts])
    assert s.num_not_converged == 0 and s.frac_isolated == 0.0


def numpy_walk(start: bytes, value: dict, nbrs: dict) -> tuple[bytes, int]:
    """Oracle: best-improvement local search over dictionaries (key -> value, key -> member
    neighbour keys in the space's order); ties to the first neighbour."""
    cur, it = start, 1
    while True:
        cand = nbrs[cur]
        if not cand:
            return cur, it
        best = max(cand, key=lambda k: (value[k], -cand.index(k)))
        if value[best] <= value[cur]:
            return cur, it
        cur, it = best, it + 1


def test_nb101_sample_through_the_cli_against_numpy(capsys):
    """``jaxnas landscape --space nb101 --benchmark nb101-sample``: every figure equals a
    plain-NumPy local search from the same starts over the sample's 1,000 real cells (neighbours
    outside the sample invalid)."""
    require_data("nb101/sample.npz")
    n, seed = 128, 3
    assert main(["landscape", "--space", "nb101", "--benchmark", "nb101-sample", "--starts",
                 str(n), "--seed", str(seed), "--data-dir", str(SHARED_DATA), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["mode"], r["benchmark"], r["num_starts"]) == ("sampled", "nb101-sample", n)

    from jaxnas.benchmarks import nb101

    b = nb101.load_sample_benchmark("cifar10", SHARED_DATA)
    sub, m = b.space, b.table.num_queryable
    members = np.asarray(sub._member_archs)
    mkeys = [k.tobytes() for k in np.asarray(sub._member_keys)]


    @jax.jit
    def oracle_inputs(members):  # one compile: rows, neighbour keys, the CLI's starts
        nb, ok = jax.vmap(sub.base.neighbours)(members)
        starts = jax.vmap(sub.sample)(jax.random.split(
            jax.random.fold_in(jax.random.key(seed), 1), n))
        return (nb101.rows_of(b.table, members), sub.base.arch_key(nb), ok,
                sub.base.arch_key(starts))

    rows, nkeys, ok, skeys = map(np.asarray, oracle_inputs(jnp.asarray(members)))
    value = dict(zip(mkeys, np.asarray(b.table.valid[:m])[rows].tolist(), strict=True))
    nbrs = {mk: [k.tobytes() for k, o in zip(nkeys[i], ok[i], strict=True)
                 if o and k.tobytes() in value] for i, mk in enumerate(mkeys)}
    skeys = [k.tobytes() for k in skeys]
    runs = [numpy_walk(k, value, nbrs) for k in skeys]
    iters = np.array([i for _, i in runs])
    assert r["frac_local_optima"] == np.mean(iters == 1)
    assert r["mean_iterations"] == pytest.approx(iters.mean())
    assert r["frac_isolated"] == np.mean([not nbrs[k] for k in skeys])
    assert r["num_distinct_optima"] == len({t for t, _ in runs})
    g = max(mkeys, key=value.get)
    assert r["global_valid"] == pytest.approx(value[g])
    assert r["frac_reach_global"] == np.mean([t == g for t, _ in runs])
    assert r["mean_terminal_valid"] == pytest.approx(np.mean([value[t] for t, _ in runs]))
    assert r["est_num_local_minima"] == pytest.approx(1000 * r["frac_local_optima"])
    assert r["frac_isolated"] > 0.8  # the sample is sparse: say so, as the README does


def test_nb301_landscape_cli_and_max_iters(capsys, tmp_path):
    """On the DARTS space with the NB301 surrogate (no optimum, no size known): a run stopped
    by --max-iters is reported."""
    require_data("nb301/model_v2.onnx")
    data = linked_data(tmp_path, "nb301")  # the surrogate's cache is written there, not shared
    assert main(["landscape", "--space", "darts", "--starts", "4", "--max-iters", "2",
                 "--data-dir", str(data), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["benchmark"], r["num_starts"], r["max_iters"]) == ("nb301", 4, 2)
    assert r["frac_reach_global"] is None and r["est_num_local_minima"] is None
    # 2 iterations: a run is a local optimum (1) or stopped at the bound, still moving
    assert 1 <= r["mean_iterations"] <= 2
    assert r["num_not_converged"] == 4 - round(4 * r["frac_local_optima"])
    assert r["mean_terminal_valid"] >= r["mean_start_valid"] > 80
    assert r["best_optimum_arch"].startswith("Genotype(normal=[")


@pytest.mark.parametrize("argv, msg", [
    (["--space", "nb201", "--starts", "0"], "--starts must be a positive integer"),
    (["--space", "nb201", "--noise-std", "1"], "--noise-std applies to --noise gaussian only"),
    (["--space", "nb101", "--benchmark", "nb301"], "covers the space 'darts'"),
])
def test_landscape_errors_exit_2(capsys, argv, msg):
    assert main(["landscape", *argv]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


@pytest.mark.slow
def test_full_nb101_space_with_synthetic_values():
    """A full NB101 table (all 423,624 cells, synthetic values): runs never leave the table,
    and they agree with a NumPy walk from the same starts."""
    from jaxnas.benchmarks import nb101
    from jaxnas.spaces import nb101 as S

    cells = S.enumerate_cells()
    rng = np.random.default_rng(0)
    vals = rng.normal(90, 2, (len(cells), 1)).astype(np.float32)
    md5 = [f"{i:032x}" for i in range(len(cells))]
    table = nb101.make_table("nb101", md5, cells, vals)
    land = nb101.NB101Benchmark(table=table, space=S.SPACE).landscape(
        jax.random.key(0), tabular.noise_model("denoised"))
    walks = jax.jit(L.sample_walks, static_argnums=(2, 3))(jax.random.key(1), land, 64, 200)
    assert int(jnp.min(walks.start_neighbours)) > 0 and bool(jnp.all(walks.converged))
    for i in range(8):  # NumPy oracle on a few runs
        cur, it = np.asarray(walks.start[i]), 1
        while True:
            nb, ok = S.SPACE.neighbours(jnp.asarray(cur))
            v = np.where(np.asarray(ok), np.asarray(land.valid(nb)), -np.inf)
            j = int(np.argmax(v))
            if not v[j] > float(land.valid(jnp.asarray(cur))):
                break
            cur, it = np.asarray(nb)[j], it + 1
        np.testing.assert_array_equal(np.asarray(S.SPACE.arch_key(jnp.asarray(cur))),
                                      np.asarray(S.SPACE.arch_key(walks.terminal[i])))
        assert it == int(walks.iterations[i])
    gkey, _ = land.optimum()
    s = L.sampled_stats(walks, S.SPACE.arch_key(walks.terminal), gkey, land.num_archs)
    assert land.num_archs == S.NUM_CELLS and s.num_starts == 64
