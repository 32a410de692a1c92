"""The naszilla protocol against naszilla's reference code (naszilla/naszilla,
``nas_algorithms.py`` and ``nas_bench_201/cell_201.py``), one test per departure from the jaxnas
protocol, and the named test splits.

* local search: the queried sequence of a JAX run equals the one naszilla's loop (written out in
  plain Python below) produces when its random choices (each random cell, each shuffle of a
  neighbourhood) are read off that run: ``num_init`` starts, skipped neighbours, first or best
  improvement, restart or continue; on masked toy neighbourhoods and on NAS-Bench-201;
* evolution: the mutation rule's statistics (clones 17.8%, two or more edges 46.6% on 6 edges
  x 5 ops), the tournament drawn with replacement, the population list (oldest dies when it
  reaches 30), every child charged, repeats re-evaluated;
* random search: the same algorithm under both protocols;
* test splits: NAS-Bench-201's ori-test is the mean of its x-valid and x-test halves.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import benchmarks, search, spaces
from jaxnas.benchmarks.splits import named_splits, reported_split, with_test_split
from jaxnas.search import base
from jaxnas.search.evolution import tournament_with_replacement
from tests.fixtures import toy


@pytest.fixture(scope="module")
def nb201(data_dir):
    return benchmarks.load("nb201", "cifar10", data_dir)


def _run(algo, key, table, noise, trials, budget):
    return jax.jit(lambda k: base.run(algo, k, table, noise, trials, budget))(key)


def _landscape(table, key, i, noise):
    """The landscape of trial ``i`` of ``base.run(..., key, ...)``."""
    return base.make_landscape(jax.random.split(jax.random.fold_in(key, i))[0], table, noise)


def _final_state(algo, key, land, budget):
    """``(state, steps)`` after ``budget`` charged queries: ``base.run_one``'s loop."""
    k_init, k_loop = jax.random.split(key)
    state = algo.init(k_init, land, budget)

    def body(c):
        s, i = c
        return algo.step(jax.random.fold_in(k_loop, i), s, land), i + 1

    return jax.lax.while_loop(lambda c: c[0].oracle.num_queries < budget, body,
                              (state, jnp.zeros((), jnp.int32)))


# ---------------------------------------------------------------------------------------------
# Local search: naszilla's loop in plain Python, its random choices read off the JAX run.
# ---------------------------------------------------------------------------------------------


def naszilla_local_search(seq, value, neighbours, *, num_init, query_full_nbhd,
                          stop_at_minimum, budget):
    """naszilla's ``local_search`` (nas_algorithms.py) over architecture keys, plainly.

    Its two random choices are taken from ``seq`` (the keys a JAX run queried, in order): a
    random cell is the next key of ``seq``; a shuffled neighbourhood lists first the keys that
    ``seq`` queries next, as long as they are unqueried neighbours, then the others. Everything
    else (what is charged, skipped, compared, where to move, when to restart or to continue)
    is naszilla's rule, so the returned sequence equals ``seq`` only if the run followed it.

    Returns:
        ``(queried keys, positions of the random starts among them)``; the caller checks that
        the starts look random (a scanned neighbour could pose as one).
    """
    data: list[int] = []
    starts: list[int] = []
    queried: set[int] = set()
    expanded: set[int] = set()

    def add(k):  # charge one query; True when the budget is spent
        data.append(k)
        queried.add(k)
        return len(data) >= budget

    def shuffled(nbrs):
        fresh = [n for n in nbrs if n not in queried]
        order = []
        for k in seq[len(data):]:
            if k not in fresh or k in order:
                break
            order.append(k)
        return order + [n for n in fresh if n not in order] + [n for n in nbrs if n in queried]

    while True:
        start = []
        while len(start) < num_init:
            k = seq[len(data)]
            assert k not in queried, "a random start was queried before: naszilla redraws it"
            starts.append(len(data))
            if add(k):
                return data, starts
            start.append(k)
        centre = max(start, key=value)  # sorted(..., key=loss)[0]: the first of the best
        while True:
            expanded.add(centre)
            improvement, new = False, []
            for n in shuffled(neighbours(centre)):
                if n in queried:
                    continue  # seen: not charged, not compared
                if add(n):
                    return data, starts
                new.append(n)
                if value(n) > value(centre):
                    improvement = True
                    if not query_full_nbhd:
                        break
            if not stop_at_minimum:
                open_ = [k for k in data if k not in expanded]
                assert open_, "naszilla raises IndexError here"
                centre = max(open_, key=value)
            elif not improvement:
                break
            else:
                centre = max(new, key=value)


LS_CASES = [  # (space, query_full_nbhd, stop_at_minimum, num_init, budget)
    ("toy_masked", True, False, 3, 18),  # masked neighbourhoods, best improvement, continue
    ("nb201", False, True, 10, 150),  # naszilla's default: first improvement, restart
]
LS_SLOW = [("nb201", full, stop, 10, 300) for full in (False, True) for stop in (False, True)]
LS_SLOW += [("toy", False, True, 2, 27), ("toy_masked", False, False, 1, 20)]


def _check_replay(table, space, query_full_nbhd, stop_at_minimum, num_init, budget, noise,
                  trials=6):
    name = ("local_search" + ("" if query_full_nbhd else "_first")
            + ("" if stop_at_minimum else "_continue"))
    # naszilla's num_init = 10 is the protocol's default
    algo = search.get_algorithm(name, "naszilla",
                                **({} if num_init == 10 else {"num_init": num_init}))
    key = jax.random.key(11)
    tr = _run(algo, key, table, noise, trials, budget)
    nb_keys, nb_valid = space.neighbour_table()
    restarts, near = 0, []
    for i in range(trials):
        seq = np.asarray(tr.keys[i]).tolist()
        assert len(set(seq)) == budget  # every query charged, none repeated
        land = _landscape(table, key, i, noise)
        vals = np.asarray(land.valid_of_key(jnp.arange(space.num_archs)))
        got, starts = naszilla_local_search(
            seq, lambda k, vals=vals: float(vals[k]), lambda k: nb_keys[k][nb_valid[k]].tolist(),
            num_init=num_init, query_full_nbhd=query_full_nbhd,
            stop_at_minimum=stop_at_minimum, budget=budget)
        assert got == seq, f"trial {i}: first difference at query {_first_diff(got, seq)}"
        # a random start is rarely a neighbour of the 10 queries before it (NB201: <= 1.5%)
        near += [np.isin(seq[j], nb_keys[seq[max(0, j - 10):j]]) for j in starts[1:]]
        # restarts seen (a query that is no neighbour of any earlier one, after the first start)
        restarts += sum(not np.isin(k, nb_keys[seq[:j]]).any() for j, k in
                        enumerate(seq[num_init:], start=num_init))
    if space.num_archs > 1000:
        assert np.mean(near) < 0.2, "scanned neighbours posed as random starts"
    return restarts


def _first_diff(a, b):
    return next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)


@pytest.mark.parametrize("space_name, full, stop, num_init, budget", LS_CASES)
def test_local_search_replays_naszillas_loop(nb201, space_name, full, stop, num_init, budget):
    space = spaces.get(space_name)
    table = nb201 if space_name == "nb201" else toy.table(space_name)
    restarts = _check_replay(table, space, full, stop, num_init, budget, "standard")
    if space_name == "nb201" and stop:
        assert restarts > 0  # the budget covers restarts, so they were replayed too


@pytest.mark.slow
@pytest.mark.parametrize("space_name, full, stop, num_init, budget", LS_SLOW)
@pytest.mark.parametrize("noise", ["denoised", "standard"])
def test_local_search_replays_naszillas_loop_full_budget(nb201, space_name, full, stop,
                                                         num_init, budget, noise):
    table = nb201 if space_name == "nb201" else toy.table(space_name)
    _check_replay(table, spaces.get(space_name), full, stop, num_init, budget, noise,
                  trials=16)


# ---------------------------------------------------------------------------------------------
# Evolution.
# ---------------------------------------------------------------------------------------------


def test_mutation_rule_statistics():
    """naszilla's Cell201.mutate: each of 6 edges changes with probability 1/4 to one of the 4
    other operations: clones (3/4)^6 = 17.8%, one edge 35.6%, two or more 46.6%."""
    space = spaces.get("nb201")
    n = 60_000
    parents, kids = jax.jit(lambda k0, k1: (
        p := jax.vmap(space.sample)(jax.random.split(k0, n)),
        jax.vmap(space.mutate_edges)(jax.random.split(k1, n), p)))(jax.random.key(0),
                                                                   jax.random.key(1))
    changed = np.asarray(kids != parents)
    k = changed.sum(1)
    se = 4 * np.sqrt(0.25 / n)
    assert abs(np.mean(k == 0) - 0.75**6) < se
    assert abs(np.mean(k == 1) - 6 * 0.25 * 0.75**5) < se
    assert abs(np.mean(k >= 2) - (1 - 0.75**6 - 6 * 0.25 * 0.75**5)) < se
    assert np.all(np.abs(changed.mean(0) - 0.25) < 4 * np.sqrt(0.1875 / n))
    # a changed edge takes each of the four other operations equally often
    shift = (np.asarray(kids) - np.asarray(parents)) % 5
    counts = np.bincount(shift[changed], minlength=5)
    assert counts[0] == 0 and np.all(np.abs(counts[1:] / counts.sum() - 0.25) < 0.01)


def _winner_rank_probs(n, t, replace):
    r = np.arange(n)
    if replace:  # the best drawn has rank r: all t draws rank >= r, not all > r
        return (1 - r / n) ** t - (1 - (r + 1) / n) ** t
    from math import comb
    return np.array([comb(n - 1 - i, t - 1) / comb(n, t) for i in r])


def test_tournament_is_drawn_with_replacement():
    """np.random.choice(population, 10): from 29 members the best member wins with
    probability 1 - (28/29)^10 = 0.296 (without replacement it would be 10/29 = 0.345)."""
    n, t, c, start = 29, 10, 31, 7
    values = np.full(c, -np.inf, np.float32)
    ranks = np.random.default_rng(0).permutation(n)
    values[(start + np.arange(n)) % c] = -ranks  # rank 0 is the best member
    u = jax.random.uniform(jax.random.key(4), (100_000, t))
    slots = jax.jit(jax.vmap(lambda x: tournament_with_replacement(x, jnp.asarray(values),
                                                                   start, n)))(u)
    won = np.bincount(ranks[(np.asarray(slots) - start) % c], minlength=n) / u.shape[0]
    want = _winner_rank_probs(n, t, replace=True)
    assert np.max(np.abs(won - want)) < 0.006
    assert abs(won[0] - _winner_rank_probs(n, t, replace=False)[0]) > 0.04


@pytest.mark.parametrize("num_init", [3, pytest.param(7, marks=pytest.mark.slow)])
def test_evolution_population_is_naszillas_list(num_init):
    """The population after every step is naszilla's list of data indices: the first
    min(num_init, P) initial architectures, every child appended, the oldest removed as soon
    as the list reaches P = 5 members."""
    p, budget = 5, 24
    algo = search.evolution(population_size=p, tournament_size=3, num_init=num_init,
                            protocol="naszilla")
    table = toy.table("toy")
    space = table.space
    land = base.make_landscape(jax.random.key(0), table, "denoised")
    step = jax.jit(algo.step)
    state = algo.init(jax.random.key(1), land, budget)
    pop: list[int] = []
    prev = 0
    for i in range(200):
        state = step(jax.random.key(100 + i), state, land)
        q = int(state.oracle.num_queries)
        if q > prev and q <= num_init:  # a new initial architecture (a redrawn one is free)
            if len(pop) < p:
                pop.append(q - 1)
        elif q > prev:  # a child: naszilla appends it, then kills the oldest at P members
            pop.append(q - 1)
            if len(pop) >= p:
                pop.pop(0)
        prev = q
        s = state.algo
        ring = [(int(s.start) + j) % (p + 1) for j in range(int(s.size))]
        keys = np.asarray(state.oracle.keys)
        assert np.asarray(space.arch_key(s.archs[jnp.asarray(ring, jnp.int32)])).tolist() == \
            keys[pop].tolist(), (i, pop)
        if q == budget:
            break
    assert q == budget and len(pop) == (p if num_init > p else p - 1)


def test_evolution_charges_every_child_and_reevaluates_repeats(nb201):
    """Every child is charged (one step per query; repeats in the query list: clones alone
    are 17.8% of the children; the initial architectures are distinct); a repeat is a new
    training run, so under standard noise its value is a new seed draw."""
    budget, trials = 100, 6
    algo = search.evolution(protocol="naszilla")
    key = jax.random.key(9)
    land = jax.vmap(lambda i: _landscape(nb201, key, i, "standard"))(jnp.arange(trials))
    keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(key, i))[1])(jnp.arange(trials))
    state, steps = jax.jit(jax.vmap(lambda k, ld: _final_state(algo, k, ld, budget)))(keys, land)
    k, v = np.asarray(state.oracle.keys), np.asarray(state.oracle.values)
    assert np.all(np.asarray(steps) >= budget)
    assert np.mean(np.asarray(steps) == budget) >= 0.5  # extra steps: redrawn random starts
    repeats = np.mean([budget - len(set(row.tolist())) for row in k]) / (budget - 10)
    assert 0.17 < repeats < 0.7
    trial_vals = np.asarray(jax.vmap(lambda ld, r: ld.valid_of_key(r))(land, jnp.asarray(k)))
    differ = 0
    for row, vals, tv in zip(k, v, trial_vals, strict=True):
        assert len(set(row[:10].tolist())) == 10  # distinct initial architectures
        _, first = np.unique(row, return_index=True)
        # a first query gets the trial's value; a repeat a new draw, which differs at times
        np.testing.assert_array_equal(vals[first], tv[first])
        differ += np.sum(vals != tv)
    assert differ > 0
    # children come from mutate_edges, not from a one-edge mutation: some differ in two or
    # more edges from every member of the population they were bred from (queries j-29..j-1)
    archs = np.asarray(spaces.get("nb201").arch_of_key(k))  # [T, B, 6]
    far = [np.min(np.sum(a[j] != a[max(0, j - 29):j], axis=1)) >= 2
           for a in archs for j in range(10, budget)]
    assert np.mean(far) > 0.05


def test_valid_draw_redraws_the_training_seed(nb201):
    land = base.make_landscape(jax.random.key(5), nb201, "standard")
    dev = np.asarray(nb201.seed_dev)
    spread = np.min(np.abs(dev[:, [0, 0, 1]] - dev[:, [1, 2, 2]]), axis=1)
    three = int(np.flatnonzero((np.asarray(nb201.num_seeds) == 3) & (spread > 0.1))[0])
    arch = spaces.get("nb201").arch_of_key(three)
    draws = np.asarray(jax.jit(jax.vmap(lambda d: land.valid_draw(arch, d)))(jnp.arange(3000)))
    assert draws[0] == float(land.valid(arch))
    seeds = np.asarray(nb201.valid[three] + nb201.seed_dev[three])
    freq = np.array([np.mean(np.isclose(draws, s)) for s in seeds])
    assert np.all(np.abs(freq - 1 / 3) < 0.04)
    den = base.make_landscape(jax.random.key(5), nb201, "denoised")
    assert np.all(np.asarray(jax.vmap(lambda d: den.valid_draw(arch, d))(jnp.arange(5)))
                  == float(nb201.valid[three]))


def test_random_search_is_the_same_under_both_protocols():
    """naszilla's random search (generate_random_dataset: uniform cells, duplicates dropped
    uncharged) is jaxnas's: the same pure functions."""
    import importlib

    rs = importlib.import_module("jaxnas.search.random_search")
    for protocol in search.PROTOCOLS:
        algo = search.get_algorithm("random_search", protocol)
        assert (algo.init, algo.step) == (rs.init, rs.step)


def test_protocol_errors_are_one_line():
    cases = [
        (lambda: search.get_algorithm("na_random_search", "naszilla"),
         "na_random_search has no 'naszilla' protocol (naszilla has no neighbourhood-aware "
         "search); run it with protocol 'jaxnas'"),
        (lambda: search.get_algorithm("local_search_continue"),
         "local_search_continue has no 'jaxnas' protocol (it is naszilla's "
         "stop_at_minimum=False variant); run it with protocol 'naszilla'"),
        (lambda: search.get_algorithm("evolution", "nas-zilla"),
         "unknown search protocol 'nas-zilla'"),
        (lambda: search.local_search(stop_at_minimum=False), "use protocol='naszilla'"),
    ]
    for fn, msg in cases:
        with pytest.raises(ValueError) as e:
            fn()
        assert msg in str(e.value) and "\n" not in str(e.value)
    assert search.get_algorithm("local_search_first", "naszilla").name == "local_search_first"


# ---------------------------------------------------------------------------------------------
# Test splits.
# ---------------------------------------------------------------------------------------------


def test_nb201_test_splits(data_dir):
    c100 = benchmarks.load("nb201", "cifar100", data_dir)
    splits = named_splits(c100)
    assert sorted(splits) == ["ori-test", "x-test"] and reported_split(c100) == "x-test"
    ori = with_test_split(c100, "ori-test")
    np.testing.assert_allclose(np.asarray(ori.test),
                               (np.asarray(c100.valid, np.float64) + np.asarray(c100.test)) / 2,
                               rtol=0, atol=1e-4)
    assert reported_split(ori) == "ori-test" and float(ori.test.max()) == pytest.approx(73.5033)
    c10 = benchmarks.load("nb201", "cifar10", data_dir)
    assert reported_split(c10) == "ori-test" and with_test_split(c10, "ori-test") is not None
    with pytest.raises(ValueError, match=r"test split 'x-test' is not available for cifar10: "
                                         r"it has \['ori-test'\]"):
        with_test_split(c10, "x-test", "cifar10")
    with pytest.raises(ValueError, match="it names no test splits"):
        with_test_split(toy.table("toy"), "ori-test")


def test_cli_records_protocol_and_split(capsys, data_dir):
    from jaxnas.cli import main

    assert main(["search", "--algo", "random_search", "--protocol", "naszilla", "--dataset",
                 "cifar100", "--test-split", "ori-test", "--trials", "20", "--budget", "30",
                 "--json", "--data-dir", str(data_dir)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["protocol"], r["test_split"], r["dataset"]) == ("naszilla", "ori-test", "cifar100")
    assert 60 < r["final_test_mean"] < 73.51
    assert main(["search", "--algo", "na_local_search", "--protocol", "naszilla"]) == 2
    assert "has no 'naszilla' protocol" in capsys.readouterr().err
    assert main(["search", "--algo", "random_search", "--test-split", "x-test", "--trials", "2",
                 "--budget", "5", "--data-dir", str(data_dir)]) == 2
    assert "test split 'x-test' is not available for nb201 cifar10" in capsys.readouterr().err
