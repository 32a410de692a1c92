"""Architecture selection on a trained DARTS supernet: the driver behind ``jaxnas select``.

Wang et al., "Rethinking Architecture Selection in Differentiable NAS", ICLR 2021 (DARTS-PT).
A supernet trained by ``jaxnas darts --workdir DIR`` (with alpha, or with ``--fix-alpha``, where
alpha stays uniform) is turned into one architecture of its search space by

* ``method='perturbation'`` (DARTS-PT): edge by edge, remove every candidate operation in turn,
  keep the one whose removal hurts the supernet's validation accuracy (or loss) most, make the
  edge one-hot and fine-tune the supernet for ``tune_epochs`` epochs; the run is checkpointed
  after every decision in ``DIR/select_perturbation/`` and a killed run continues from the last
  decided edge (:func:`jaxnas.selection.loop.run_selection`);
* ``method='magnitude'`` (DARTS): the space's magnitude rule (``space.discretize``; on
  NAS-Bench-201 the operation with the largest alpha on every edge).

The decisions are the rows of the space's alpha pytree (``space.decisions()``, stacked by
``space.alpha_rows``); the supernet is handed operation weights in its own layout
(``space.alpha_tree``).

Both read the same supernet; the *validation* data are the architecture half of the search split
(as in the reference, ``ruocwang/darts-pt``, where the candidates are scored on ``valid_queue``)
and fine-tuning uses the weights half. The chosen architecture is looked up in the space's
tabular benchmark when it has one (NAS-Bench-201: CIFAR-10, CIFAR-100, ImageNet16-120); the
result is returned and written to
``DIR/select_<method>/result.json``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import spaces
from jaxnas.darts import optim as darts_optim
from jaxnas.darts.report import benchmark_of
from jaxnas.darts.step import NOISE_STREAM
from jaxnas.jsonio import write_json
from jaxnas.selection import loop
from jaxnas.selection import perturbation as pt
from jaxnas.selection import supernet as sn
from jaxnas.spaces import SearchSpace

METHODS: tuple[str, ...] = ("perturbation", "magnitude")
RESULT_FILE = "result.json"


class Supernet(NamedTuple):
    """A trained supernet and the data selection needs.

    Attributes:
        space: the search space (alpha layout, decisions, strings).
        net: the Flax supernet, ``net.apply(variables, x, op_weights, train=...)`` with
            ``op_weights`` of the space's alpha layout.
        variables: ``{'params', 'batch_stats'}`` after search.
        alpha: architecture parameters after search (the space's alpha pytree).
        fix_alpha: whether alpha was frozen during search (the fix-alpha variant).
        train: weights half of the search split, ``(x uint8[N, H, W, 3], y int32[N])``.
        valid: architecture half, ``(x uint8[M, H, W, 3], y int32[M])``.
        to_input: ``uint8 images -> normalised float images`` (validation, no augmentation).
        augment: ``(key, uint8 images) -> float images`` for fine-tuning batches, or None.
        lr: the search's initial weight learning rate (fine-tuning uses a tenth of it).
        batch_size: the search's batch size.
        opt_alpha: the search's alpha optimizer state, which fine-tuning continues (None: a
            fresh one).
        alpha_lr: the search's alpha learning rate, which fine-tuning keeps.
    """

    space: SearchSpace
    net: Any
    variables: dict
    alpha: Any
    fix_alpha: bool
    train: tuple[np.ndarray, np.ndarray]
    valid: tuple[np.ndarray, np.ndarray]
    to_input: Callable[[jax.Array], jax.Array]
    augment: Callable[[jax.Array, jax.Array], jax.Array] | None
    lr: float
    batch_size: int
    opt_alpha: Any = None
    alpha_lr: float = darts_optim.ALPHA_LR


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown selection method {method!r}; choose one of {METHODS}")
    return method


# --------------------------------------------------------------------------------------------
# Loading a DARTS workdir.
# --------------------------------------------------------------------------------------------


def _as_arrays(ds) -> tuple[np.ndarray, np.ndarray]:
    """``(x uint8[N, H, W, C], y int32[N])`` of a :class:`jaxnas.data.Dataset`."""
    return np.asarray(ds.images), np.asarray(ds.labels, np.int32)


def load_supernet(workdir: str | os.PathLike) -> Supernet:
    """Loads the supernet, alpha and search split of a ``jaxnas darts`` run.

    Raises:
        FileNotFoundError: ``workdir`` holds no trained supernet (run ``jaxnas darts`` first).
    """
    wd = Path(workdir)
    if not (wd / "config.json").is_file() or not (wd / "checkpoints").is_dir():
        raise FileNotFoundError(
            f"no trained supernet in {str(wd)!r} (config.json and checkpoints/ are missing); "
            f"run `jaxnas darts --workdir {wd}` first (add --fix-alpha for the fix-alpha variant)")
    from jaxnas import darts

    config, state = darts.load_run(str(wd))
    net, (w_half, a_half) = darts.build(config)
    mean, std, augment = _normalisation(config, w_half)
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    return Supernet(
        space=spaces.get(config.space), net=net, variables=variables,
        alpha=jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), state.alpha),
        opt_alpha=state.opt_alpha, fix_alpha=config.mode == "fixed", train=_as_arrays(w_half),
        valid=_as_arrays(a_half), to_input=lambda x: _normalize(x, mean, std),
        augment=augment, lr=darts.optim.WEIGHT_LR, batch_size=int(config.batch_size),
        alpha_lr=float(config.alpha_lr))


def _normalize(x, mean, std):
    from jaxnas import data

    return data.normalize(x, mean, std)


def _normalisation(config, ds):
    """``(mean, std, augment)`` of the search run's dataset (the data module's datasets carry
    their per-channel ``mean`` and ``std``)."""
    from jaxnas import data

    mean = jnp.asarray(ds.mean, jnp.float32)
    std = jnp.asarray(ds.std, jnp.float32)
    padding = data.PADDING.get(getattr(ds, "name", None), 4)
    aug = None
    if config.augment:
        def aug(key, x):
            return data.augment(key, x, mean, std, padding=padding)
    return mean, std, aug


# --------------------------------------------------------------------------------------------
# Selection.
# --------------------------------------------------------------------------------------------


def _benchmark(space: SearchSpace, arch: np.ndarray, data_dir) -> dict:
    """Benchmark accuracies (%) of ``arch`` per dataset (``{'valid', 'test'}``, the
    benchmark's own summary, :attr:`jaxnas.benchmarks.BenchmarkLoader.by_dataset`); ``None``
    per dataset with a reason when the space has no table or it is absent."""
    from jaxnas import benchmarks

    loader = benchmarks.default_for(space.name)
    row, reason = benchmark_of(space, arch, data_dir)
    if row is None or loader is None or loader.by_dataset is None:
        names = () if loader is None else loader.datasets
        return {name: None for name in names} | {"index": None, "reason": reason}
    return {"index": row.get("index"), **loader.by_dataset(row)}


def topology_of(space: SearchSpace) -> loop.Topology:
    """The space's topology decisions with its zero operations (``none``) marked."""
    groups, keep = space.topology()
    decisions = space.decisions()
    k = len(space.candidate_ops(*decisions[0]))
    zero = np.array([[op == "none" for op in space.candidate_ops(*d)] for d in decisions],
                    bool).reshape(len(decisions), k)
    return loop.Topology(groups=groups, keep=keep, zero_ops=zero)


def fill_zero_edges(state: loop.SelectionState, topology: loop.Topology,
                    crit: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The decided operations, with every *present* edge fixed to the zero operation given its
    runner-up instead: the non-zero operation whose removal hurt most at that edge's decision.

    Topology selection removes edges fixed to ``none`` first, so one stays present only where
    its node has no other input left to remove (e.g. a node with exactly 2 inputs). A genotype
    cannot carry ``none``; the reference parser then emits an edge it had removed, or an
    arbitrary operation. Returns ``(decided, [(edge, op), ...] replaced)``."""
    decided = np.asarray(state.decided).copy()
    on = np.asarray(state.edge_on)
    if not topology.nodes:  # every edge is kept: 'none' is an operation like any other
        return decided, []
    filled = []
    for i, e in enumerate(np.asarray(state.order).tolist()):
        if on[e] > 0 and topology.zero_ops[e, decided[e]]:
            ok = ~topology.zero_ops[e]
            if crit == "acc":
                op = int(np.argmin(np.where(ok, np.asarray(state.acc[i]), np.inf)))
            else:
                op = int(np.argmax(np.where(ok, np.asarray(state.loss[i]), -np.inf)))
            decided[e] = op
            filled.append((e, op))
    return decided, filled


def projected_arch(space: SearchSpace, decided: np.ndarray, edge_on: np.ndarray,
                   num_ops: int) -> np.ndarray:
    """The architecture of a finished projection: each present edge with its decided
    operation, removed edges unavailable (``space.discretize`` with a mask), so the space's
    genotype rule cannot bring back a removed edge or an edge fixed to ``none``."""
    rows = np.eye(num_ops, dtype=np.float32)[decided] * edge_on[:, None]
    mask = space.alpha_tree(jnp.asarray(rows > 0))
    return np.asarray(space.discretize(jax.tree.map(np.asarray, space.alpha_tree(rows)),
                                       mask=jax.tree.map(np.asarray, mask)))


def _variant(method: str, fix_alpha: bool) -> str:
    if method == "magnitude":
        return "darts (magnitude, fix-alpha)" if fix_alpha else "darts (magnitude)"
    return "darts-pt fix-alpha" if fix_alpha else "darts-pt"


def parse_order(order: str | Sequence[int] | None, num_edges: int | None,
                groups: Sequence[Sequence[int]] | None = None) -> list[int] | None:
    """``None``/``'random'`` -> random order; ``'fixed'`` -> edges ``0..num_edges-1`` (with
    ``groups``, the cell types interleaved: their first edges, their second edges, ...); or an
    explicit permutation of the edges (decisions). ``num_edges=None`` checks the form only
    (before the supernet is loaded): an explicit order must be a permutation of its length."""
    if order is None or order == "random" or (order == "fixed" and num_edges is None):
        return None
    if order == "fixed":
        if groups is not None:
            return [int(e) for e in np.asarray(loop.group_order(None, groups))]
        return list(range(num_edges))
    if isinstance(order, str):
        try:
            order = [int(t) for t in order.split(",")]
        except ValueError:
            raise ValueError(f"unknown edge order {order!r}; use 'random', 'fixed' or a comma "
                             "list of the edges, e.g. 5,4,3,2,1,0") from None
    n = len(order) if num_edges is None else num_edges
    return [int(e) for e in pt.edge_order(None, n, order)]


def validation_subset(valid: tuple[np.ndarray, np.ndarray], batch_size: int,
                      num_batches: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The validation images in a fixed random order, cut to ``num_batches`` full batches.

    Candidates are scored with BatchNorm in batch-statistics mode, so every batch must be a
    random sample (the reference draws them with ``SubsetRandomSampler``): the search halves keep
    the order of the source files, which may be sorted by class, and consecutive rows would make
    single-class batches.

    Returns:
        ``(x[M, ...], y[M])`` with ``M = num_batches * batch_size`` (default: as many full
        batches as fit).
    """
    x, y = valid
    n = x.shape[0] if num_batches is None else min(x.shape[0], num_batches * batch_size)
    n = (n // batch_size) * batch_size
    perm = np.random.default_rng([seed, 1]).permutation(x.shape[0])[:n]
    return np.asarray(x)[perm], np.asarray(y)[perm]


def select_supernet(
    supernet: Supernet,
    out_dir: str | os.PathLike | None,
    *,
    method: str = "perturbation",
    tune_epochs: int = 5,
    steps_per_epoch: int | None = None,
    valid_batches: int | None = None,
    crit: str = "acc",
    order: str | Sequence[int] | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Selects an architecture on a loaded supernet (see :func:`select`)."""
    check_method(method)
    pt.check_crit(crit)
    space = supernet.space
    decisions = space.decisions()
    order = parse_order(order, len(decisions), space.decision_groups())
    if tune_epochs < 0:
        raise ValueError(f"tune_epochs must be >= 0, got {tune_epochs}")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1 (or None: one pass), got {steps_per_epoch}")
    if valid_batches is not None and valid_batches < 1:
        raise ValueError(f"valid_batches must be >= 1 (or None: all), got {valid_batches}")
    log = log or (lambda s: None)
    t0 = time.perf_counter()
    alpha = jax.tree.map(lambda a: np.asarray(a, np.float32), supernet.alpha)
    rows = np.asarray(space.alpha_rows(alpha))  # [E, K]: one row per decision
    num_edges, num_ops = rows.shape

    def describe(e: int) -> dict:
        return {"edge_name": space.edge_name(*decisions[e]),
                "candidates": list(space.candidate_ops(*decisions[e]))}

    result: dict = {"method": method, "variant": _variant(method, supernet.fix_alpha),
                    "fix_alpha": supernet.fix_alpha,
                    "alpha": jax.tree.map(lambda a: a.tolist(), alpha)}
    if method == "magnitude":
        arch = np.asarray(space.discretize(alpha))
        if supernet.fix_alpha or np.ptp(rows, axis=-1).max() == 0:
            result["note"] = ("alpha was not trained (fix-alpha search): magnitude selection is "
                              "undefined here (argmax of the initial alpha; ties go to 'none')")
        result["decisions"] = []
        for e in range(num_edges):
            d = describe(e)
            op = int(np.argmax(rows[e]))
            result["decisions"].append(
                {"step": e, "edge": e, "edge_name": d["edge_name"], "op": op,
                 "op_name": d["candidates"][op], "candidates": d["candidates"],
                 "alpha": rows[e].tolist()})
        result["settings"] = {}
    else:
        bs = supernet.batch_size
        vx, vy = validation_subset(supernet.valid, bs, valid_batches, seed)
        valid = (supernet.to_input(jnp.asarray(vx)), jnp.asarray(vy, jnp.int32))
        augment = supernet.augment
        if augment is None:
            def augment(key, x):
                return supernet.to_input(x)
        tune_lr = supernet.lr / 10.0
        tx = sn.tune_optimizer(tune_lr)
        train_alpha = not supernet.fix_alpha
        atx = darts_optim.alpha_optimizer(supernet.alpha_lr) if train_alpha else None
        train_half = (np.asarray(supernet.train[0]), np.asarray(supernet.train[1]))
        problem = sn.make_problem(
            supernet.net, valid, train_half, tx, batch_size=bs, steps_per_epoch=steps_per_epoch,
            augment=augment, log=log, to_op_weights=space.alpha_tree, to_rows=space.alpha_rows,
            alpha_tx=atx,
            alpha_data=(np.asarray(supernet.valid[0]), np.asarray(supernet.valid[1])),
            noise_key=jax.random.fold_in(jax.random.key(seed), NOISE_STREAM))
        weights = (sn.uniform_weights(num_edges, num_ops) if supernet.fix_alpha
                   else sn.supernet_weights(rows, num_edges, num_ops))
        tune_state = sn.init_tune_state(
            supernet.variables, tx,
            alpha=supernet.alpha if train_alpha else None,
            opt_alpha=supernet.opt_alpha if train_alpha else None, alpha_tx=atx)
        topo = topology_of(space)
        settings = {"method": method, "seed": int(seed), "steps_per_epoch": steps_per_epoch,
                    "valid_batches": valid_batches, "batch_size": bs, "tune_lr": tune_lr,
                    "num_valid": int(valid[1].shape[0]), "num_train": int(supernet.train[1].shape[0]),
                    "alpha_trained_in_tuning": train_alpha}

        def announce(i, e, op, scores):
            d = describe(e)
            accs = " ".join(f"{d['candidates'][k]}={100 * float(a):.2f}%"
                            for k, a in enumerate(np.asarray(scores.acc)))
            log(f"[{i + 1}/{num_edges}] edge {e} ({d['edge_name']}): accuracy with op removed "
                f"{accs} -> keep {d['candidates'][op]} ({time.perf_counter() - t0:.0f} s)")

        def announce_node(j, inputs, removed, rounds):
            names = [describe(e)["edge_name"] for e in inputs]
            kept = [describe(e)["edge_name"] for e in inputs if e not in removed]
            log(f"[node {j + 1}/{len(topo.nodes)}] inputs {', '.join(names)}: keep "
                f"{', '.join(kept)} ({time.perf_counter() - t0:.0f} s)")

        ckpt = None if out_dir is None else Path(out_dir) / "checkpoints"
        if ckpt is not None and (ckpt / loop.CONFIG_FILE).is_file():
            log(f"resuming the selection checkpointed in {ckpt}")
        try:
            state = loop.run_selection(
                jax.random.key(seed), problem, tune_state, weights, crit=crit,
                tune_epochs=tune_epochs, order=order, groups=space.decision_groups(),
                topology=topo, ckpt_dir=ckpt, config=settings,
                announce=None if log is None else announce,
                announce_node=None if log is None else announce_node)
        except ValueError as e:
            if ckpt is not None and "holds a selection run" in str(e):
                raise ValueError(f"{e} (e.g. --out-dir DIR, or delete {out_dir})") from None
            raise
        decided, filled = fill_zero_edges(state, topo, crit)
        if filled:
            result["notes"] = [
                f"{describe(e)['edge_name']}: 'none' was kept but the node needs 2 inputs "
                f"with an operation; using the runner-up {describe(e)['candidates'][op]}"
                for e, op in filled]
        arch = projected_arch(space, decided, np.asarray(state.edge_on), num_ops)
        recs = loop.decisions(state)
        for r in recs:
            d = describe(r["edge"])
            r.update(op_name=d["candidates"][r["op"]], **d)
        result["decisions"] = recs
        nodes = loop.node_decisions(state, topo)
        for nd in nodes:
            nd["input_names"] = [describe(e)["edge_name"] for e in nd["inputs"]]
        result["node_decisions"] = nodes
        result["edge_on"] = np.asarray(state.edge_on).astype(int).tolist()
        result["order"] = np.asarray(state.order).tolist()
        result["settings"] = {**settings, "crit": crit, "tune_epochs": int(tune_epochs),
                              "order": order}
    result["arch_ops"] = np.asarray(arch).tolist()
    result["arch"] = space.to_string(arch)
    result["benchmark"] = _benchmark(space, arch, data_dir)
    result["seconds"] = time.perf_counter() - t0
    if out_dir is not None:
        write_json(Path(out_dir) / RESULT_FILE, result, indent=1)
    return result


def select(
    workdir: str | os.PathLike,
    method: str = "perturbation",
    tune_epochs: int = 5,
    steps_per_epoch: int | None = None,
    crit: str = "acc",
    order: str | Sequence[int] | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    valid_batches: int | None = None,
    out_dir: str | os.PathLike | None = None,
) -> dict:
    """Selects an architecture from the supernet of a ``jaxnas darts`` run.

    Args:
        workdir: the search run's directory (``config.json``, ``checkpoints/``).
        method: ``'perturbation'`` (DARTS-PT; fix-alpha when the run used ``--fix-alpha``) or
            ``'magnitude'`` (DARTS's argmax alpha).
        tune_epochs: fine-tuning epochs between two decisions (the reference's ``proj_intv``, 5).
        steps_per_epoch: fine-tuning steps per epoch (default: one pass over the weights half).
        crit: ``'acc'`` (keep the op whose removal gives the lowest validation accuracy, the
            reference's default) or ``'loss'`` (highest loss).
        order: ``None``/``'random'`` (a random edge order drawn from ``seed``, as the reference),
            ``'fixed'`` (edges in decision order) or an explicit permutation of the edges
            (the rows of the space's alpha, ``space.decisions()``).
        seed: seed of the edge order and of the fine-tuning batches.
        data_dir: folder with the benchmark tables (see :mod:`jaxnas.paths`).
        progress: print one line per decision (and per fine-tuning epoch) on stderr.
        valid_batches: score on this many validation batches (a fixed random subset of the
            architecture half); default all of it, as the reference.
        out_dir: where checkpoints and ``result.json`` go (default ``workdir/select_<method>``);
            a directory holding a selection made with other settings is refused.

    Returns:
        A JSON-able dict: ``method``, ``variant``, ``arch`` (official string), ``arch_ops``,
        ``benchmark`` (``{cifar10|cifar100|imagenet16-120: {valid, test}}`` in %, or ``None``
        with ``reason``), ``decisions`` (in order: edge, kept op, every candidate's accuracy and
        loss with it removed; alpha for magnitude), ``alpha``, ``settings``, ``seconds``. Also
        written to ``out_dir/result.json``.

    Raises:
        FileNotFoundError: ``workdir`` holds no trained supernet.
        ValueError: unknown method or criterion, bad edge order, or a checkpointed selection in
            ``workdir/select_<method>/`` made with other settings.
    """
    check_method(method)
    pt.check_crit(crit)
    parse_order(order, None)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if progress else None
    supernet = load_supernet(workdir)
    parse_order(order, len(supernet.space.decisions()))
    out_dir = Path(workdir) / f"select_{method}" if out_dir is None else Path(out_dir)
    out = select_supernet(
        supernet, out_dir, method=method, tune_epochs=tune_epochs,
        steps_per_epoch=steps_per_epoch, valid_batches=valid_batches, crit=crit, order=order,
        seed=seed, data_dir=data_dir, log=log)
    out["workdir"] = str(Path(workdir).resolve())
    out["out_dir"] = str(out_dir.resolve())
    return out


__all__ = ["METHODS", "Supernet", "load_supernet", "parse_order", "select", "select_supernet",
           "validation_subset"]
