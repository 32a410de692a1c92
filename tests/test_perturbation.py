"""DARTS-PT perturbation selection: masks, batched scoring, the edge loop, resume, and the
constructed case where the operation that matters has the smaller alpha."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnas.selection import loop
from jaxnas.selection import perturbation as pt
from jaxnas.spaces.nb201 import SPACE
from tests.fixtures import toy_supernet as toy

E, K = 6, 5


def _np_candidate_weights(weights, decided, edge):
    """Plain NumPy oracle for candidate_weights."""
    out = np.zeros((K, E, K), np.float32)
    for k in range(K):
        w = np.array(weights, np.float32)
        for e in range(E):
            if decided[e] >= 0:
                w[e] = 0.0
                w[e, decided[e]] = 1.0
        w[edge, k] = 0.0
        out[k] = w
    return out


@settings(max_examples=30, deadline=None)
@given(decided=st.lists(st.integers(-1, K - 1), min_size=E, max_size=E),
       edge=st.integers(0, E - 1), seed=st.integers(0, 2**16))
def test_candidate_weights_match_numpy(decided, edge, seed):
    decided[edge] = -1  # the edge being decided is undecided
    w = np.asarray(jax.nn.softmax(jax.random.normal(jax.random.key(seed), (E, K)), -1))
    got = np.asarray(pt.candidate_weights(jnp.asarray(w), jnp.asarray(decided, jnp.int32), edge))
    np.testing.assert_allclose(got, _np_candidate_weights(w, decided, edge), rtol=1e-6)
    masks = np.asarray(pt.candidate_masks(jnp.asarray(decided, jnp.int32), edge, K))
    for k in range(K):
        assert masks[k, edge, k] == 0.0 and masks[k, edge].sum() == K - 1
        for e in range(E):
            if decided[e] >= 0:  # decided edges stay one-hot in every candidate
                np.testing.assert_array_equal(masks[k, e], np.eye(K)[decided[e]])
            elif e != edge:
                np.testing.assert_array_equal(masks[k, e], np.ones(K))


def _toy(seed=0, n=96, dim=8, classes=4):
    kp, kx, ky, ka = jax.random.split(jax.random.key(seed), 4)
    params = toy.init(kp, dim, classes)
    x = jax.random.normal(kx, (n, dim))
    y = jax.random.randint(ky, (n,), 0, classes)
    alpha = jax.random.normal(ka, (E, K))
    return params, (x, y), alpha


def test_batched_scores_equal_sequential_loop():
    params, data, alpha = _toy()
    w = jax.nn.softmax(alpha, -1)
    decided = jnp.asarray([2, -1, -1, 4, -1, 1], jnp.int32)  # edge 5 reaches the output
    wb = pt.candidate_weights(w, decided, 2)
    batched = jax.jit(pt.score_candidates, static_argnums=0)(toy.eval_fn, (params, data), wb)
    seq = pt.score_candidates_sequential(toy.eval_fn, (params, data), wb)
    np.testing.assert_allclose(batched.acc, seq.acc, atol=1e-6)
    np.testing.assert_allclose(batched.loss, seq.loss, rtol=1e-5)
    # The scores differ between candidates (the check is not vacuous).
    assert np.ptp(np.asarray(seq.loss)) > 1e-3
    # And the jitted edge scorer gives the same numbers.
    scorer = pt.make_edge_scorer(toy.eval_fn)
    s2 = scorer((params, data), w, decided, jnp.asarray(2))
    np.testing.assert_allclose(s2.loss, seq.loss, rtol=1e-5)


def test_edge_scorer_compiles_once():
    params, data, alpha = _toy()
    w = jax.nn.softmax(alpha, -1)

    @chex.assert_max_traces(n=1)
    def ev(p, ow):
        return toy.eval_fn(p, ow)

    scorer = pt.make_edge_scorer(ev)
    decided = jnp.full((E,), -1, jnp.int32)
    for e in range(E):
        scorer((params, data), w, decided, jnp.asarray(e))
        decided = decided.at[e].set(e % K)


def test_choose_criteria_and_ties():
    s = pt.Scores(acc=jnp.asarray([0.5, 0.2, 0.2, 0.9, 0.3]),
                  loss=jnp.asarray([1.0, 2.0, 3.0, 3.0, 0.1]))
    assert int(pt.choose(s, "acc")) == 1  # lowest accuracy, first of a tie
    assert int(pt.choose(s, "loss")) == 2  # highest loss, first of a tie
    with pytest.raises(ValueError, match="criterion"):
        pt.choose(s, "auc")


def test_edge_order():
    o = np.asarray(pt.edge_order(jax.random.key(3), E))
    assert sorted(o.tolist()) == list(range(E))
    orders = {tuple(np.asarray(pt.edge_order(jax.random.key(s), E)).tolist()) for s in range(5)}
    assert len(orders) > 1  # random by default
    assert np.asarray(pt.edge_order(None, E, [5, 4, 3, 2, 1, 0])).tolist() == [5, 4, 3, 2, 1, 0]
    with pytest.raises(ValueError, match="permutation"):
        pt.edge_order(None, E, [0, 0, 1, 2, 3, 4])


@pytest.mark.parametrize("crit", ["acc", "loss"])
@pytest.mark.parametrize("order", [None, [0, 1, 2, 3, 4, 5], [5, 3, 4, 1, 2, 0]])
def test_constructed_case_perturbation_beats_magnitude(crit, order):
    params, alpha, data = toy.constructed_case(jax.random.key(0))
    w = jax.nn.softmax(alpha, -1)
    # Sanity of the construction: on edge 0 skip (1) has the larger alpha than conv1x1 (2).
    assert float(alpha[0, 1]) > float(alpha[0, 2])
    magnitude = SPACE.discretize(alpha)
    assert magnitude[0] == 1
    problem = toy.make_problem(data, data)
    state = loop.run_selection(jax.random.key(1), problem, toy.init_tune_state(params), w,
                               crit=crit, tune_epochs=0, order=order)
    arch = np.asarray(state.decided)
    assert arch[0] == 2, f"perturbation selection should keep conv1x1 on edge 0, got {arch}"
    assert arch[4] == 1  # the edge carrying the signal to the output keeps skip
    # The selected architecture is far better than magnitude's on the validation data.
    acc_pt = float(toy.eval_fn((params, data), jax.nn.one_hot(arch, K))[0])
    acc_mag = float(toy.eval_fn((params, data), jax.nn.one_hot(magnitude, K))[0])
    assert acc_pt > 0.9 and acc_mag < 0.4, (acc_pt, acc_mag)


def test_decided_edges_stay_one_hot_during_loop():
    params, data, alpha = _toy(seed=1)
    w = jax.nn.softmax(alpha, -1)
    seen_weights = []
    base = toy.make_problem(data, data, steps_per_epoch=2)

    def tune(key, ts, proj, epochs):
        seen_weights.append(np.asarray(pt.projected(proj)))
        return base.tune(key, ts, proj, epochs)

    def score_edge(ts, proj, edge):
        decided = proj.decided
        cands = np.asarray(pt.candidate_weights(proj.weights, decided, edge))
        for e in np.flatnonzero(np.asarray(decided) >= 0):
            np.testing.assert_array_equal(cands[:, e], np.tile(np.eye(K)[decided[e]], (K, 1)))
        return base.score_edge(ts, proj, edge)

    problem = loop.Problem(score_edge=score_edge, tune=tune)
    state = loop.run_selection(jax.random.key(2), problem, toy.init_tune_state(params), w,
                               tune_epochs=1)
    decided = np.asarray(state.decided)
    assert (decided >= 0).all()
    assert len(seen_weights) == E - 1  # fine-tuning between decisions, not after the last
    order = np.asarray(state.order)
    for i, ow in enumerate(seen_weights):
        for e in order[: i + 1]:
            np.testing.assert_array_equal(ow[e], np.eye(K)[decided[e]])
        for e in order[i + 1:]:  # undecided edges keep their (frozen) weights
            np.testing.assert_allclose(ow[e], np.asarray(w[e]), rtol=1e-6)
    recs = loop.decisions(state)
    assert [r["edge"] for r in recs] == order.tolist()
    for r in recs:  # the kept op is the one whose removal gives the lowest accuracy
        assert r["op"] == int(np.argmin(r["removed_acc"]))


class _Killed(Exception):
    pass


@pytest.mark.parametrize("kill_after", [1, 3])
def test_resume_gives_same_architecture(tmp_path, kill_after):
    params, data, alpha = _toy(seed=4)
    w = jax.nn.softmax(alpha, -1)
    problem = toy.make_problem(data, data, lr=0.2, steps_per_epoch=3)
    ts = toy.init_tune_state(params, lr=0.2)
    key = jax.random.key(7)
    full = loop.run_selection(key, problem, ts, w, tune_epochs=2, ckpt_dir=tmp_path / "a")

    def kill(state):
        if int(state.num_decided) == kill_after:
            raise _Killed

    with pytest.raises(_Killed):
        loop.run_selection(key, problem, ts, w, tune_epochs=2, ckpt_dir=tmp_path / "b",
                           callback=kill)
    calls = []
    counting = loop.Problem(
        score_edge=lambda *a: (calls.append(1), problem.score_edge(*a))[1], tune=problem.tune)
    resumed = loop.run_selection(key, counting, ts, w, tune_epochs=2, ckpt_dir=tmp_path / "b")
    assert len(calls) == E - kill_after  # continued from the last decided edge
    np.testing.assert_array_equal(resumed.decided, full.decided)
    np.testing.assert_array_equal(resumed.order, full.order)
    np.testing.assert_allclose(resumed.acc, full.acc)
    np.testing.assert_allclose(resumed.loss, full.loss, rtol=1e-6)
    chex.assert_trees_all_close(resumed.tune["params"], full.tune["params"], rtol=1e-5)
    # Fine-tuning changed the weights, so restoring them mattered.
    assert not np.allclose(full.tune["params"]["head"], params["head"])


def test_resume_with_other_settings_is_refused(tmp_path):
    params, data, alpha = _toy()
    problem = toy.make_problem(data, data)
    ts = toy.init_tune_state(params)
    w = jax.nn.softmax(alpha, -1)
    loop.run_selection(jax.random.key(0), problem, ts, w, tune_epochs=0, ckpt_dir=tmp_path)
    with pytest.raises(ValueError, match="config"):
        loop.run_selection(jax.random.key(0), problem, ts, w, crit="loss", tune_epochs=0,
                           ckpt_dir=tmp_path)


# --------------------------------------------------------------------------------------------
# The Flax adapter (BatchNorm in batch-statistics mode during scoring, fine-tuning).
# --------------------------------------------------------------------------------------------


def _flax_toy(seed=0, n=64, dim=6, classes=4):
    from jaxnas.selection import supernet as sn

    module = toy.FlaxToy(features=8, num_classes=classes)
    kx, ky, ki, ka = jax.random.split(jax.random.key(seed), 4)
    x = jax.random.normal(kx, (n, dim))
    y = jax.random.randint(ky, (n,), 0, classes)
    variables = module.init(ki, x[:2], jnp.ones((E, K)) / K, train=False)
    # Make the running averages differ from any batch's statistics.
    variables = {"params": variables["params"],
                 "batch_stats": jax.tree.map(lambda v: v + 3.0, variables["batch_stats"])}
    tx = sn.tune_optimizer(0.05)
    return module, (x, y), variables, tx, jax.random.normal(ka, (E, K))


def test_flax_supernet_scores_batched_equal_sequential_and_use_batch_stats():
    from jaxnas.selection import supernet as sn

    module, (x, y), variables, tx, alpha = _flax_toy()
    ts = sn.init_tune_state(variables, tx)
    w = jax.nn.softmax(alpha, -1)
    decided = jnp.asarray([-1, 3, -1, -1, 1, -1], jnp.int32)
    wb = pt.candidate_weights(w, decided, 0)
    data = (x.reshape(4, 16, -1), y.reshape(4, 16))
    eval_fn = sn.make_eval_fn(module)
    batched = jax.jit(pt.score_candidates, static_argnums=0)(eval_fn, (ts, data), wb)
    seq = pt.score_candidates_sequential(eval_fn, (ts, data), wb)
    np.testing.assert_allclose(batched.acc, seq.acc, atol=1e-6)
    np.testing.assert_allclose(batched.loss, seq.loss, rtol=1e-5)
    assert np.ptp(np.asarray(seq.loss)) > 1e-4
    # BatchNorm uses per-batch statistics: an oracle computed batch by batch in train mode.
    for k in range(K):
        losses = []
        for b in range(4):
            logits, _ = module.apply(variables, data[0][b], wb[k], train=True,
                                     mutable=["batch_stats"])
            losses.append(toy.metrics(logits, data[1][b])[1])
        np.testing.assert_allclose(seq.loss[k], np.mean(losses), rtol=1e-5)
    # ... which differs from evaluating with the (shifted) running averages.
    eval_logits = module.apply(variables, data[0][0], wb[0], train=False)
    assert abs(float(toy.metrics(eval_logits, data[1][0])[1]) - float(losses[0])) > 1e-3


def test_flax_supernet_selection_resumes(tmp_path):
    from jaxnas.selection import supernet as sn

    module, (x, y), variables, tx, alpha = _flax_toy(seed=3)
    problem = sn.make_problem(module, (x, y), (x, y), tx, batch_size=16, steps_per_epoch=3)
    ts = sn.init_tune_state(variables, tx)
    w = sn.supernet_weights(alpha, E, K)
    full = loop.run_selection(jax.random.key(0), problem, ts, w, tune_epochs=1,
                              ckpt_dir=tmp_path / "a")
    # The fine-tuning moved the weights and the BN running averages.
    assert not np.allclose(full.tune["params"]["head"]["kernel"],
                           variables["params"]["head"]["kernel"])

    def kill(state):
        if int(state.num_decided) == 2:
            raise _Killed

    with pytest.raises(_Killed):
        loop.run_selection(jax.random.key(0), problem, ts, w, tune_epochs=1,
                           ckpt_dir=tmp_path / "b", callback=kill)
    resumed = loop.run_selection(jax.random.key(0), problem, ts, w, tune_epochs=1,
                                 ckpt_dir=tmp_path / "b")
    np.testing.assert_array_equal(resumed.decided, full.decided)
    np.testing.assert_allclose(resumed.acc, full.acc)
    chex.assert_trees_all_close(resumed.tune, full.tune, rtol=1e-5, atol=1e-6)


def test_fine_tuning_trains_alpha_of_undecided_edges_only_when_asked():
    """DARTS-PT (the reference's darts-proj) keeps training alpha, first order, while it
    fine-tunes between decisions; fix-alpha keeps the op weights where they were."""
    from jaxnas.darts import optim
    from jaxnas.selection import supernet as sn

    module, (x, y), variables, tx, alpha = _flax_toy(seed=5)
    atx = optim.alpha_optimizer()
    problem = sn.make_problem(module, (x, y), (x, y), tx, batch_size=16, steps_per_epoch=2,
                              to_rows=lambda a: a, alpha_tx=atx, alpha_data=(x, y))
    ts = sn.init_tune_state(variables, tx, alpha=alpha, alpha_tx=atx)
    w0 = np.asarray(problem.weights_of(ts))
    np.testing.assert_allclose(w0, np.asarray(jax.nn.softmax(alpha, -1)), rtol=1e-6)
    proj = pt.Projection(weights=jnp.asarray(w0), decided=jnp.asarray([1, -1, -1, -1, -1, -1]),
                         edge_on=jnp.ones(E))
    ts2 = problem.tune(jax.random.key(0), ts, proj, 1)
    moved = np.abs(np.asarray(ts2["alpha"]) - np.asarray(alpha))
    assert moved[1:].max() > 1e-5  # undecided edges' alpha moved
    # the decided edge (one-hot in the forward pass) only feels Adam's coupled L2 decay: its
    # logits all shrink towards 0, as in the reference's architect.step
    a0, a1 = np.asarray(alpha)[0], np.asarray(ts2["alpha"])[0]
    assert (np.abs(a1) <= np.abs(a0) + 1e-7).all()
    frozen = sn.make_problem(module, (x, y), (x, y), tx, batch_size=16, steps_per_epoch=2)
    assert frozen.weights_of is None
    state = loop.run_selection(jax.random.key(1), problem, ts, jnp.asarray(w0), tune_epochs=1,
                               order=[0, 1, 2, 3, 4, 5])
    # the weights recorded at the last decision are softmax of the trained alpha
    assert np.abs(np.asarray(state.weights) - w0).max() > 1e-5
