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
        score_edge: ``(tune_state, projection, edge[]) -> Scores`` scoring all candidate
            operation removals of ``edge`` in one batched (jitted) call
            (:class:`~jaxnas.selection.perturbation.Projection`: op weights, decisions, present
            edges).
        tune: ``(key, tune_state, projection, num_epochs) -> tune_state`` fine-tunes the
            supernet with the projection's op weights (decided edges one-hot, removed edges
            zero; undecided edges ``projection.weights``, or the tune state's own alpha when
            the problem trains it). Consumes ``key``.
        score_removals: ``(tune_state, projection, candidates[M]) -> Scores[M]`` scoring the
            removal of each candidate edge (topology selection); ``None`` when the space has no
            topology decisions.
        weights_of: ``tune_state -> [E, K]`` op weights of undecided edges when fine-tuning
            trains alpha (DARTS-PT, as the reference's darts-proj); ``None``: the weights given
            to :func:`run_selection` stay fixed (fix-alpha, or a frozen alpha).
    """

    score_edge: Callable[..., pt.Scores]
    tune: Callable[..., Any]
    score_removals: Callable[..., pt.Scores] | None = None
    weights_of: Callable[[Any], jax.Array] | None = None


class Topology(NamedTuple):
    """The topology decisions of a space (DARTS-PT's second phase): every node with more inputs
    than it keeps, as the edges (rows) entering it.

    Attributes:
        groups: per cell type, the nodes' input edges, e.g. for DARTS's normal cell
            ``((2, 3, 4), (5, 6, 7, 8), (9, ..., 13))``.
        keep: inputs every node keeps (DARTS: 2).
        zero_ops: ``bool[E, K]``, True where candidate ``k`` of edge ``e`` is the zero
            operation (``none``): an edge fixed to it is removed first, unscored (it carries
            nothing), so a node never keeps an edge without an operation.
    """

    groups: tuple[tuple[tuple[int, ...], ...], ...]
    keep: int
    zero_ops: np.ndarray

    @property
    def nodes(self) -> list[tuple[int, ...]]:
        return [n for g in self.groups for n in g]

    @property
    def max_inputs(self) -> int:
        return max((len(n) for n in self.nodes), default=1)


NO_TOPOLOGY = Topology(groups=(), keep=0, zero_ops=np.zeros((0, 0), bool))


@struct.dataclass
class SelectionState:
    """State of a perturbation selection; row ``i`` of the score tables is the ``i``-th decision.

    Attributes:
        num_decided: number of edges whose operation is decided.  # []
        order: order in which edges are decided (cell types interleaved).  # [E]
        decided: chosen operation per edge, -1 where undecided.  # [E]
        weights: op weights of undecided edges at the last decision (softmax(alpha), or
            uniform for fix-alpha).  # [E, K]
        acc: validation accuracy with each candidate removed, per decision.  # [E, K]
        loss: validation loss with each candidate removed, per decision.  # [E, K]
        key: raw key data of the run's random key (``jax.random.key_data``).  # [2]
        tune: the fine-tuned supernet state (parameters, BN statistics, optimizer states).
        edge_on: 1 on present edges, 0 on edges removed by topology decisions.  # [E]
        num_nodes: number of nodes whose inputs are decided.  # []
        node_order: order in which topology nodes are decided (padded to >= 1).  # [N]
        removed: edge removed in each round of each node decision, -1 if none.  # [N, R]
        node_acc: accuracy with each candidate input removed, per node and round.  # [N, R, M]
        node_loss: the same for the loss.  # [N, R, M]
    """

    num_decided: jax.Array
    order: jax.Array
    decided: jax.Array
    weights: jax.Array
    acc: jax.Array
    loss: jax.Array
    key: jax.Array
    tune: Any
    edge_on: jax.Array
    num_nodes: jax.Array
    node_order: jax.Array
    removed: jax.Array
    node_acc: jax.Array
    node_loss: jax.Array


def _interleave(perms: Sequence[Sequence[int]]) -> list[int]:
    """Round robin over per-group sequences: one decision per cell type and step."""
    out = []
    for i in range(max((len(p) for p in perms), default=0)):
        out.extend(int(p[i]) for p in perms if i < len(p))
    return out


def group_order(key: jax.Array | None, groups: Sequence[Sequence[int]],
                order: Sequence[int] | None = None) -> jax.Array:
    """The order of decisions: each group (cell type) in a random order (or sorted when ``key``
    is None), interleaved group by group; or the given permutation, validated. One group gives
    ``jax.random.permutation(key, E)`` itself."""
    num = sum(len(g) for g in groups)
    if order is not None:
        return pt.edge_order(None, num, order)
    if key is None:
        return jnp.asarray(_interleave([sorted(g) for g in groups]), jnp.int32)
    if len(groups) == 1:
        g = np.asarray(groups[0], np.int32)
        return jnp.asarray(g[np.asarray(jax.random.permutation(key, len(g)))], jnp.int32)
    keys = jax.random.split(key, len(groups))
    perms = [np.asarray(g, np.int32)[np.asarray(jax.random.permutation(k, len(g)))]
             for k, g in zip(keys, groups, strict=True)]
    return jnp.asarray(_interleave(perms), jnp.int32)


def init_state(key: jax.Array, tune_state: Any, weights: jax.Array,
               order: Sequence[int] | None = None,
               groups: Sequence[Sequence[int]] | None = None,
               topology: Topology = NO_TOPOLOGY) -> SelectionState:
    """A fresh selection. Consumes ``key`` (orders, then one fine-tuning key per step).

    ``groups`` (default: one group of every edge) are the cell types whose edges are decided
    in turn; ``topology`` the node decisions that follow the operation decisions."""
    num_edges, num_ops = weights.shape
    groups = [list(range(num_edges))] if groups is None else [list(g) for g in groups]
    k_order, k_run = jax.random.split(key)
    node_groups = [list(range(sum(len(g) for g in topology.groups[:i]),
                              sum(len(g) for g in topology.groups[: i + 1])))
                   for i in range(len(topology.groups))]
    n = max(len(topology.nodes), 1)
    node_order = (np.asarray(group_order(jax.random.fold_in(k_order, 1), node_groups))
                  if topology.nodes else np.zeros(1, np.int32))
    rounds = max(topology.max_inputs - topology.keep, 1)
    m = topology.max_inputs
    return SelectionState(
        num_decided=jnp.asarray(0, jnp.int32),
        order=group_order(k_order, groups, order),
        decided=jnp.full((num_edges,), pt.UNDECIDED, jnp.int32),
        weights=jnp.asarray(weights, jnp.float32),
        acc=jnp.full((num_edges, num_ops), jnp.nan, jnp.float32),
        loss=jnp.full((num_edges, num_ops), jnp.nan, jnp.float32),
        key=jax.random.key_data(k_run),
        tune=tune_state,
        edge_on=jnp.ones((num_edges,), jnp.float32),
        num_nodes=jnp.asarray(0, jnp.int32),
        node_order=jnp.asarray(node_order, jnp.int32),
        removed=jnp.full((n, rounds), -1, jnp.int32),
        node_acc=jnp.full((n, rounds, m), jnp.nan, jnp.float32),
        node_loss=jnp.full((n, rounds, m), jnp.nan, jnp.float32),
    )


def _weights(state: SelectionState, problem: Problem) -> jax.Array:
    if problem.weights_of is None:
        return state.weights
    return jnp.asarray(problem.weights_of(state.tune), jnp.float32)


def _projection(state: SelectionState, weights: jax.Array) -> pt.Projection:
    return pt.Projection(weights=weights, decided=state.decided, edge_on=state.edge_on)


def _tune(state: SelectionState, problem: Problem, step: int, tune_epochs: int) -> Any:
    """Fine-tunes after decision ``step`` (of the combined op + node sequence)."""
    if tune_epochs <= 0:
        return state.tune
    key = jax.random.fold_in(jax.random.wrap_key_data(state.key), step)
    return problem.tune(key, state.tune, _projection(state, _weights(state, problem)),
                        tune_epochs)


def _ends_step(i: int, total: int, per_step: int) -> bool:
    """Whether decision ``i`` of a phase of ``total`` closes a step of ``per_step`` decisions
    (one per cell type), after which the supernet is fine-tuned."""
    return (i + 1) % per_step == 0 or i == total - 1


def decide_next(state: SelectionState, problem: Problem, *, crit: str = "acc",
                tune_epochs: int = 5, per_step: int = 1, last: bool | None = None,
                announce: Callable[[int, int, int, pt.Scores], None] | None = None
                ) -> SelectionState:
    """Decides the operation of the next edge of ``state.order``; fine-tunes when it closes a
    step of ``per_step`` decisions (one per cell type) unless it is the ``last`` decision of
    the selection (default: the last edge).

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
    weights = _weights(state, problem)
    scores = problem.score_edge(state.tune, _projection(state, weights), jnp.asarray(edge))
    op = int(pt.choose(scores, crit))
    if announce is not None:
        announce(i, edge, op, scores)
    state = state.replace(
        num_decided=jnp.asarray(i + 1, jnp.int32),
        decided=state.decided.at[edge].set(op),
        weights=weights,
        acc=state.acc.at[i].set(scores.acc),
        loss=state.loss.at[i].set(scores.loss),
    )
    last = (i == num_edges - 1) if last is None else last
    if not last and _ends_step(i, num_edges, per_step):
        state = state.replace(tune=_tune(state, problem, i, tune_epochs))
    return state


def decide_node(state: SelectionState, problem: Problem, topology: Topology, *,
                crit: str = "acc", tune_epochs: int = 5, per_step: int = 1,
                announce: Callable[[int, tuple[int, ...], list[int], list], None] | None = None
                ) -> SelectionState:
    """Decides the inputs of the next node of ``state.node_order`` (all operations decided):
    removes the input edge whose removal hurts the supernet least (all candidates in one
    batched call), again, until ``topology.keep`` remain; an input fixed to the zero operation
    goes first, unscored. Fine-tunes when the decision closes a step, unless it is the last.

    ``announce(j, inputs, removed, scores)`` gets the node's decision before fine-tuning.
    """
    pt.check_crit(crit)
    j = int(state.num_nodes)
    nodes = topology.nodes
    if j >= len(nodes):
        raise ValueError(f"all {len(nodes)} nodes are already decided; nothing to select")
    if int(state.num_decided) < state.decided.shape[0]:
        raise ValueError("topology decisions come after every edge's operation is decided")
    inputs = nodes[int(state.node_order[j])]
    m = topology.max_inputs
    weights = _weights(state, problem)
    decided = np.asarray(state.decided)
    on = np.asarray(state.edge_on).copy()
    removed, rec_acc, rec_loss, per_round = [], [], [], []
    while sum(on[e] > 0 for e in inputs) > topology.keep:
        live = [e for e in inputs if on[e] > 0]
        zero = [e for e in live if topology.zero_ops[e, decided[e]]]
        if zero:
            gone, acc, loss = zero[0], [np.nan] * m, [np.nan] * m
        else:
            cands = np.full((m,), -1, np.int32)
            cands[: len(live)] = live
            p = pt.Projection(weights=weights, decided=state.decided,
                              edge_on=jnp.asarray(on, jnp.float32))
            scores = problem.score_removals(state.tune, p, jnp.asarray(cands))
            k = int(pt.choose_removal(scores, jnp.asarray(cands >= 0), crit))
            gone = live[k]
            acc = np.where(cands >= 0, np.asarray(scores.acc), np.nan).tolist()
            loss = np.where(cands >= 0, np.asarray(scores.loss), np.nan).tolist()
            per_round.append({"candidates": live, "acc": acc[: len(live)],
                              "loss": loss[: len(live)]})
        on[gone] = 0.0
        removed.append(gone)
        rec_acc.append(acc)
        rec_loss.append(loss)
    if announce is not None:
        announce(j, inputs, removed, per_round)
    r = len(removed)
    state = state.replace(
        num_nodes=jnp.asarray(j + 1, jnp.int32),
        edge_on=jnp.asarray(on, jnp.float32),
        weights=weights,
        removed=state.removed.at[j, :r].set(jnp.asarray(removed, jnp.int32)) if r else
        state.removed,
        node_acc=state.node_acc.at[j, :r].set(jnp.asarray(rec_acc, jnp.float32)) if r else
        state.node_acc,
        node_loss=state.node_loss.at[j, :r].set(jnp.asarray(rec_loss, jnp.float32)) if r else
        state.node_loss,
    )
    if j < len(nodes) - 1 and _ends_step(j, len(nodes), per_step):
        state = state.replace(tune=_tune(state, problem, state.decided.shape[0] + j,
                                         tune_epochs))
    return state


# --------------------------------------------------------------------------------------------
# Checkpointing.
# --------------------------------------------------------------------------------------------

CONFIG_FILE = "selection_config.json"


def _save(mngr, state: SelectionState) -> None:
    ckpt.save(mngr, int(state.num_decided) + int(state.num_nodes), state, {})


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
    groups: Sequence[Sequence[int]] | None = None,
    topology: Topology = NO_TOPOLOGY,
    ckpt_dir: str | os.PathLike | None = None,
    config: dict | None = None,
    callback: Callable[[SelectionState], None] | None = None,
    announce: Callable[[int, int, int, pt.Scores], None] | None = None,
    announce_node: Callable[..., None] | None = None,
) -> SelectionState:
    """Runs (or resumes) the perturbation selection until every edge (and node) is decided.

    Args:
        key: the run's random key (orders and fine-tuning); consumed. On resume the key stored
            in the checkpoint is used.
        problem: scorers and fine-tuning function of the supernet.
        tune_state: the trained supernet state fine-tuning starts from.
        weights: op weights of undecided edges, e.g. ``softmax(alpha)`` (DARTS-PT) or uniform
            (fix-alpha); replaced by ``problem.weights_of(tune_state)`` when the problem trains
            alpha.  # [E, K]
        crit: ``'acc'`` (keep the op whose removal gives the lowest accuracy) or ``'loss'``.
        tune_epochs: fine-tuning epochs between decision steps.
        order: a fixed edge order; ``None`` draws a random order per group from ``key``.
        groups: the cell types: one edge of each is decided per step, then the supernet is
            fine-tuned (the reference decides a normal and a reduction edge per step). Default:
            one group, one edge per step.
        topology: node decisions after the operation decisions (needs
            ``problem.score_removals``); one node per group and step.
        ckpt_dir: orbax directory; the state is saved after every decision and a run on a
            directory that already holds decisions continues from the last one.
        config: extra settings recorded with the run; resuming with different ones is an error.
        callback: called with the state after every decision and its checkpoint (tests use it
            to stop).
        announce: called with every operation decision before its fine-tuning.
        announce_node: called with every node decision (:func:`decide_node`).

    Returns:
        The final :class:`SelectionState` (``decided`` and ``edge_on`` are the selected
        architecture).

    Raises:
        ValueError: unknown ``crit``, bad ``order``, topology without a removal scorer, or
            ``ckpt_dir`` holding a run with other settings.
    """
    pt.check_crit(crit)
    if topology.nodes and problem.score_removals is None:
        raise ValueError("topology decisions need problem.score_removals")
    state = init_state(key, tune_state, weights, order, groups, topology)
    num_edges = state.decided.shape[0]
    per_step = 1 if groups is None else len(groups)
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

    def after(s: SelectionState) -> None:
        if mngr is not None:
            _save(mngr, s)
        if callback is not None:
            callback(s)

    while int(state.num_decided) < num_edges:
        last = int(state.num_decided) == num_edges - 1 and not topology.nodes
        state = decide_next(state, problem, crit=crit, tune_epochs=tune_epochs,
                            per_step=per_step, last=last, announce=announce)
        after(state)
    while int(state.num_nodes) < len(topology.nodes):
        state = decide_node(state, problem, topology, crit=crit, tune_epochs=tune_epochs,
                            per_step=max(len(topology.groups), 1), announce=announce_node)
        after(state)
    if mngr is not None:
        mngr.close()
    return state


def node_decisions(state: SelectionState, topology: Topology) -> list[dict]:
    """The node decisions so far, in order: the node's inputs, the edges removed (in order)
    and, per scored round, every candidate's accuracy and loss with it removed."""
    out = []
    nodes = topology.nodes
    for j in range(int(state.num_nodes)):
        inputs = nodes[int(state.node_order[j])]
        removed = [int(e) for e in np.asarray(state.removed[j]) if e >= 0]
        rounds = []
        for r, gone in enumerate(removed):
            live = [e for e in inputs if e not in removed[:r]]
            acc = np.asarray(state.node_acc[j, r])[: len(live)]
            loss = np.asarray(state.node_loss[j, r])[: len(live)]
            scored = not np.isnan(acc).all()  # an input fixed to the zero op goes unscored
            rounds.append({"candidates": live, "removed": gone,
                           "removed_acc": acc.tolist() if scored else None,
                           "removed_loss": loss.tolist() if scored else None})
        out.append({"step": j, "inputs": list(inputs), "removed": removed,
                    "kept": [e for e in inputs if e not in removed], "rounds": rounds})
    return out


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
