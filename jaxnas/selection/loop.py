"""The edge-by-edge DARTS-PT selection loop, with an orbax checkpoint after every decision.

Following the reference implementation (``ruocwang/darts-pt``, ``nasbench201/projection.py``):
until every edge is decided, take the next edge of the order (a random permutation by default,
the reference's ``--edge_decision random``; a fixed order as an option), score its candidate
removals in one batched call (:func:`jaxnas.selection.perturbation.make_edge_scorer`), keep the
operation whose removal hurts most, make the edge one-hot and fine-tune the supernet for
``tune_epochs`` epochs (the reference's ``--proj_intv``, default 5) before the next edge. No
fine-tuning follows the last decision: it cannot change the selected architecture. (The
reference runs ``5 * (E - 1)`` epochs and decides at epochs 0, 5, ..., 20 and at the last one,
24, so only 4 epochs precede its last decision; here every interval is ``tune_epochs``.)

The loop is generic: a :class:`Problem` supplies the batched scorer and the fine-tuning function
of a concrete supernet (the toy in :mod:`tests.fixtures.toy_supernet`, or the NAS-Bench-201 supernet).

Resumability: the whole :class:`SelectionState` (decisions so far, edge order, every score,
fine-tuned weights and optimizer state, the random key) is written with orbax after each decision
(step ``i`` = ``i`` edges decided). Every random draw derives from the stored key with
``fold_in(key, decision)``, so a killed run restarted on the same directory continues from the
last decided edge and reaches the same architecture as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxnas import checkpoint as ckpt
from jaxnas.selection import perturbation as pt


class Problem(NamedTuple):
    """What the loop needs from a supernet.

    Attributes:
        score_edge: ``(tune_state, weights[E, K], decided[E], edge[]) -> Scores`` scoring all
            candidate removals of ``edge`` in one batched (jitted) call.
        tune: ``(key, tune_state, op_weights[E, K], num_epochs) -> tune_state`` fine-tunes the
            supernet weights with fixed op weights (decided edges one-hot). Consumes ``key``.
    """

    score_edge: Callable[..., pt.Scores]
    tune: Callable[..., Any]


@struct.dataclass
class SelectionState:
    """State of a perturbation selection; row ``i`` of the score tables is the ``i``-th decision.

    Attributes:
        num_decided: number of edges decided so far.  # []
        order: order in which edges are decided.  # [E]
        decided: chosen operation per edge, -1 where undecided.  # [E]
        weights: op weights of undecided edges (softmax(alpha), or uniform for fix-alpha).  # [E, K]
        acc: validation accuracy with each candidate removed, per decision.  # [E, K]
        loss: validation loss with each candidate removed, per decision.  # [E, K]
        key: raw key data of the run's random key (``jax.random.key_data``).  # [2]
        tune: the fine-tuned supernet state (parameters, BN statistics, optimizer state).
    """

    num_decided: jax.Array
    order: jax.Array
    decided: jax.Array
    weights: jax.Array
    acc: jax.Array
    loss: jax.Array
    key: jax.Array
    tune: Any


def init_state(key: jax.Array, tune_state: Any, weights: jax.Array,
               order: Sequence[int] | None = None) -> SelectionState:
    """A fresh selection. Consumes ``key`` (edge order, then one fine-tuning key per decision)."""
    num_edges, num_ops = weights.shape
    k_order, k_run = jax.random.split(key)
    return SelectionState(
        num_decided=jnp.asarray(0, jnp.int32),
        order=pt.edge_order(k_order, num_edges, order),
        decided=jnp.full((num_edges,), pt.UNDECIDED, jnp.int32),
        weights=jnp.asarray(weights, jnp.float32),
        acc=jnp.full((num_edges, num_ops), jnp.nan, jnp.float32),
        loss=jnp.full((num_edges, num_ops), jnp.nan, jnp.float32),
        key=jax.random.key_data(k_run),
        tune=tune_state,
    )


def decide_next(state: SelectionState, problem: Problem, *, crit: str = "acc",
                tune_epochs: int = 5,
                announce: Callable[[int, int, int, pt.Scores], None] | None = None
                ) -> SelectionState:
    """Decides the next edge of ``state.order`` and fine-tunes (unless it was the last edge).

    ``announce(i, edge, op, scores)`` is called with the decision before the fine-tuning that
    follows it (so a log reads in order)."""
    pt.check_crit(crit)
    i = int(state.num_decided)
    num_edges = state.decided.shape[0]
    if i >= num_edges:
        raise ValueError(f"all {num_edges} edges are already decided; nothing to select")
    edge = int(state.order[i])
    if int(state.decided[edge]) != pt.UNDECIDED:
        raise ValueError(f"edge {edge} is already decided (op {int(state.decided[edge])}); "
                         f"the edge order {np.asarray(state.order).tolist()} repeats it")
    scores = problem.score_edge(state.tune, state.weights, state.decided, jnp.asarray(edge))
    op = int(pt.choose(scores, crit))
    if announce is not None:
        announce(i, edge, op, scores)
    decided = state.decided.at[edge].set(op)
    tune = state.tune
    if i < num_edges - 1 and tune_epochs > 0:
        key = jax.random.fold_in(jax.random.wrap_key_data(state.key), i)
        tune = problem.tune(key, tune, pt.project(state.weights, decided), tune_epochs)
    return state.replace(
        num_decided=jnp.asarray(i + 1, jnp.int32),
        decided=decided,
        acc=state.acc.at[i].set(scores.acc),
        loss=state.loss.at[i].set(scores.loss),
        tune=tune,
    )


# --------------------------------------------------------------------------------------------
# Checkpointing.
# --------------------------------------------------------------------------------------------

CONFIG_FILE = "selection_config.json"


def _save(mngr, state: SelectionState) -> None:
    ckpt.save(mngr, int(state.num_decided), state, {})


def _restore_latest(mngr, template: SelectionState) -> SelectionState | None:
    """The newest decision checkpoint that restores and matches its digest (corrupt or partial
    ones are skipped with a warning, see :func:`jaxnas.checkpoint.restore_latest`)."""
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    got = ckpt.restore_latest(mngr, ckpt.abstract_like(template, sharding))
    return None if got is None else got[0]


def _check_config(ckpt_dir: Path, config: dict) -> None:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    f = ckpt_dir / CONFIG_FILE
    if f.exists():
        old = json.loads(f.read_text())
        if old != config:
            raise ValueError(
                f"{ckpt_dir} holds a selection run with config {old}, but this run asks for "
                f"{config}; use another directory or the same options to resume")
    else:
        f.write_text(json.dumps(config, indent=1, sort_keys=True))


def run_selection(
    key: jax.Array,
    problem: Problem,
    tune_state: Any,
    weights: jax.Array,
    *,
    crit: str = "acc",
    tune_epochs: int = 5,
    order: Sequence[int] | None = None,
    ckpt_dir: str | os.PathLike | None = None,
    config: dict | None = None,
    callback: Callable[[SelectionState], None] | None = None,
    announce: Callable[[int, int, int, pt.Scores], None] | None = None,
) -> SelectionState:
    """Runs (or resumes) the perturbation selection until every edge is decided.

    Args:
        key: the run's random key (edge order and fine-tuning); consumed. On resume the key stored
            in the checkpoint is used.
        problem: scorer and fine-tuning function of the supernet.
        tune_state: the trained supernet state fine-tuning starts from.
        weights: op weights of undecided edges, e.g. ``softmax(alpha)`` (DARTS-PT) or uniform
            (fix-alpha).  # [E, K]
        crit: ``'acc'`` (keep the op whose removal gives the lowest accuracy) or ``'loss'``.
        tune_epochs: fine-tuning epochs between decisions.
        order: a fixed edge order; ``None`` draws a random permutation from ``key``.
        ckpt_dir: orbax directory; the state is saved after every decision and a run on a
            directory that already holds decisions continues from the last one.
        config: extra settings recorded with the run; resuming with different ones is an error.
        callback: called with the state after every decision and its checkpoint (tests use it
            to stop).
        announce: called with every decision before its fine-tuning (see :func:`decide_next`).

    Returns:
        The final :class:`SelectionState` (``decided`` is the selected architecture).

    Raises:
        ValueError: unknown ``crit``, bad ``order``, or ``ckpt_dir`` holding a run with other
            settings.
    """
    pt.check_crit(crit)
    state = init_state(key, tune_state, weights, order)
    mngr = None
    if ckpt_dir is not None:
        full = {"crit": crit, "tune_epochs": int(tune_epochs),
                "order": None if order is None else [int(e) for e in order], **(config or {})}
        _check_config(Path(ckpt_dir).resolve(), full)
        mngr = ckpt.make_manager(Path(ckpt_dir).resolve(), keep=None)
        restored = _restore_latest(mngr, state)
        if restored is not None:
            state = restored
        else:
            _save(mngr, state)
    while int(state.num_decided) < state.decided.shape[0]:
        state = decide_next(state, problem, crit=crit, tune_epochs=tune_epochs,
                            announce=announce)
        if mngr is not None:
            _save(mngr, state)
        if callback is not None:
            callback(state)
    if mngr is not None:
        mngr.close()
    return state


def decisions(state: SelectionState, op_names: Sequence[str] | None = None) -> list[dict]:
    """The decisions so far, in order: edge, chosen op, and every candidate's scores."""
    out = []
    for i in range(int(state.num_decided)):
        edge = int(state.order[i])
        op = int(state.decided[edge])
        d = {"step": i, "edge": edge, "op": op,
             "removed_acc": [float(a) for a in np.asarray(state.acc[i])],
             "removed_loss": [float(v) for v in np.asarray(state.loss[i])]}
        if op_names is not None:
            d["op_name"] = op_names[op]
        out.append(d)
    return out
