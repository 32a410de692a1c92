"""A DARTS search run in a work directory, resumable, and the functions other programs use to
reopen it.

Work directory contract (public; ``jaxnas select`` builds on it):

* ``DIR/config.json``: every run option (:class:`jaxnas.darts.config.DartsConfig` fields) plus
  ``derived`` (``image_shape``, ``num_classes``, ``steps_per_epoch``, ``total_steps``,
  ``num_devices``) needed to rebuild the state without loading images;
* ``DIR/checkpoints/``: orbax steps with items ``state`` (:class:`TrainState`) and ``extra``
  (:mod:`jaxnas.checkpoint`);
* ``DIR/metrics.jsonl``: one record per epoch; ``DIR/tensorboard/``: the same as events;
* ``DIR/result.json``: the final result (:func:`train`'s return value).

The network and alpha come from the search space (``config.space``): ``space.supernet(...)``,
``space.init_alpha``, ``space.discretize``, ``space.to_string``. :func:`train` is
:func:`setup` (build, restore), :func:`run_loop` (the steps, epoch records, checkpoints) and
:func:`finish` (``result.json``). :func:`build` rebuilds the network and the two search halves
from a config, :func:`load_run` returns ``(config, state)`` with the newest valid checkpoint.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from jaxnas import checkpoint as ckpt
from jaxnas import spaces
from jaxnas.darts import optim, parallel
from jaxnas.darts.config import CONFIG_FILE, DartsConfig, config_differences, read_config
from jaxnas.darts.na_objective import row_structure
from jaxnas.darts.report import ReportHook, alpha_entropy, op_weights_by_name
from jaxnas.darts.state import TrainState, init_state
from jaxnas.darts.step import make_train_step
from jaxnas.darts.writer import MetricWriter
from jaxnas.jsonio import write_json
from jaxnas.steploop import run_steps

METRIC_NAMES = ("loss_w", "acc_w", "loss_a", "acc_a", "lr")


def as_config(config: DartsConfig | Mapping[str, Any]) -> DartsConfig:
    """A :class:`DartsConfig` from itself or from a dict of options (``derived`` ignored)."""
    return config if isinstance(config, DartsConfig) else DartsConfig.from_dict(config)


def build(config: DartsConfig | Mapping[str, Any]) -> tuple[nn.Module, tuple[Any, Any]]:
    """The supernet and the search data ``(w_half, a_half)`` of a run config.

    Loads ``config.dataset``'s train split (``image_dir``, a seeded subset of
    ``max_examples``) and splits it with ``jaxnas.data.search_split(ds, seed)``: the weights are
    trained on ``w_half``, alpha on ``a_half``.
    """
    from jaxnas import data

    c = as_config(config)
    ds = data.load(c.dataset, split="train", image_dir=c.image_dir, max_examples=c.max_examples,
                   seed=c.seed, download=c.download)
    if c.image_size is not None:
        ds = data.downsample(ds, c.image_size)
    return _network(c, int(ds.num_classes)), data.search_split(ds, c.seed)


def _network(config: DartsConfig, num_classes: int) -> nn.Module:
    return spaces.get(config.space).supernet(
        channels=config.channels, num_classes=num_classes, scan=config.scan,
        **config.size_kwargs)


def _optimizers(config: DartsConfig, steps_per_epoch: int):
    return (optim.weight_optimizer(config.epochs, steps_per_epoch),
            optim.alpha_optimizer(config.alpha_lr))


def _abstract_state(net, config: DartsConfig, derived: dict, sharding):
    wtx, atx = _optimizers(config, derived["steps_per_epoch"])
    space = spaces.get(config.space)
    shapes = jax.eval_shape(
        lambda k: init_state(k, space, net, wtx, atx, derived["image_shape"]), jax.random.key(0))
    return ckpt.abstract_like(shapes, sharding)


def load_run(workdir: str | Path, sharding=None) -> tuple[DartsConfig, TrainState]:
    """The config and the newest valid checkpointed state of a run directory.

    Args:
        workdir: a directory written by :func:`train` (``jaxnas darts --workdir``).
        sharding: where to put the restored arrays (default: the first local device).

    Returns:
        ``(config, state)``; ``state.params``, ``state.batch_stats``, ``state.alpha`` (the
        space's alpha pytree, ``[6, 5]`` for NAS-Bench-201), ``state.step``, both optimizer
        states and the PRNG key.

    Raises:
        FileNotFoundError: no ``config.json`` or no restorable checkpoint in ``workdir``.
    """
    workdir = Path(workdir)
    got = read_config(workdir)
    if got is None:
        raise FileNotFoundError(f"{workdir / CONFIG_FILE} does not exist; is {workdir} a "
                                "`jaxnas darts` work directory?")
    config, derived = got
    net = _network(config, derived["num_classes"])
    sharding = sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    mgr = ckpt.make_manager(workdir / "checkpoints", config.keep)
    got = ckpt.restore_latest(mgr, _abstract_state(net, config, derived, sharding))
    mgr.close()
    if got is None:
        raise FileNotFoundError(f"no restorable checkpoint in {workdir / 'checkpoints'}")
    return config, got[0]


def params_sha256(state: TrainState) -> str:
    """sha256 of the final weights and alpha: :func:`jaxnas.checkpoint.tree_sha256` of
    ``{'alpha': state.alpha, 'params': state.params}`` (fixed tree order)."""
    return ckpt.tree_sha256({"alpha": state.alpha, "params": state.params})


def num_params(params: Any) -> int:
    """Number of supernet weights (the ``params`` collection; alpha and BatchNorm running
    averages excluded)."""
    return int(sum(np.size(x) for x in jax.tree.leaves(params)))


def _host_alpha(state: TrainState) -> Any:
    return jax.tree.map(np.asarray, jax.device_get(state.alpha))


def _selected(space, alpha: Any, report: ReportHook | None) -> tuple[np.ndarray, dict]:
    """The magnitude-selected architecture and the report hook's fields for it."""
    arch = np.asarray(space.discretize(alpha))
    return arch, ({} if report is None else dict(report(arch)))


def _epoch_record(sums: dict, count: int, state: TrainState, epoch: int, space,
                  ips: float | None, report: ReportHook | None) -> dict:
    alpha = _host_alpha(state)
    arch, extra = _selected(space, alpha, report)
    rec = {"epoch": epoch, "step": int(state.step)}
    rec.update({k: sums[k] / max(count, 1) for k in METRIC_NAMES})
    rec.update(alpha_entropy=float(alpha_entropy(alpha)), arch=space.to_string(arch),
               op_weight=op_weights_by_name(space, alpha))
    rec.update({k: v for k, v in extra.items() if v is not None or not k.endswith("_reason")})
    rec["images_per_second"] = ips
    return rec


@dataclasses.dataclass
class Run:
    """Everything :func:`run_loop` and :func:`finish` need: the built, restored run."""

    config: DartsConfig
    workdir: Path
    space: Any
    derived: dict
    mesh: Any
    state: TrainState
    extra: dict
    step_fn: Any
    w_it: Any
    a_it: Any
    mgr: Any
    writer: MetricWriter
    resumed_from: int | None
    lead: bool
    t_start: float
    images_per_second: float | None = None


def setup(config: DartsConfig | Mapping[str, Any], workdir: str | Path) -> Run:
    """Builds a run in ``workdir``: checks a saved config, writes ``config.json``, loads the
    data, builds the supernet from the space, restores the newest valid checkpoint (or
    initialises) and jits the step.

    Raises:
        ValueError: ``workdir`` holds a run with different options that matter, or the batch
            size does not fit the data or the devices.
    """
    from jaxnas import data

    t_start = time.time()
    parallel.maybe_initialize_distributed()
    config = as_config(config)
    space = spaces.get(config.space)
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    saved = read_config(workdir)
    if saved is not None:
        diff = config_differences(saved[0], config)
        if diff:
            raise ValueError(
                f"{workdir} holds a run with different options {diff} (saved, requested); "
                "use another --workdir or the saved options to resume")
    lead = jax.process_index() == 0

    net, (w_half, a_half) = build(config)
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.batch_size, mesh)
    bsh = data.batch_sharding(mesh, parallel.DATA_AXIS)
    w_it = data.Batches(w_half, config.batch_size, seed=config.seed, sharding=bsh)
    a_it = data.Batches(a_half, config.batch_size, seed=config.seed + 1, sharding=bsh)
    spe = config.steps_per_epoch or min(w_it.steps_per_epoch, a_it.steps_per_epoch)
    if spe < 1:
        raise ValueError(f"batch size {config.batch_size} exceeds a search half of "
                         f"{len(w_half.labels)} images; lower --batch-size")
    total = config.epochs * spe
    derived = {"image_shape": list(w_half.images.shape[1:]), "num_classes": int(w_half.num_classes),
               "steps_per_epoch": spe, "total_steps": total, "num_devices": mesh.devices.size}
    if lead:
        write_json(workdir / CONFIG_FILE, dict(config.to_dict(), derived=derived))

    wtx, atx = _optimizers(config, spe)
    rep = parallel.replicated(mesh)
    mgr = ckpt.make_manager(workdir / "checkpoints", config.keep)
    got = ckpt.restore_latest(mgr, _abstract_state(net, config, derived, rep),
                              quarantine=workdir / "corrupt_checkpoints")
    mgr.reload()
    if got is None:
        state = parallel.replicate(init_state(jax.random.key(config.seed), space, net, wtx, atx,
                                              derived["image_shape"]), mesh)
        extra = {"w": w_it.state(), "a": a_it.state(), "sums": dict.fromkeys(METRIC_NAMES, 0.0),
                 "count": 0}
        resumed_from = None
    else:
        state, extra = got
        w_it.restore(extra["w"])
        a_it.restore(extra["a"])
        resumed_from = int(state.step)
    writer = MetricWriter(workdir, resume_step=int(state.step), enabled=lead)
    step_fn = parallel.jit_step(make_train_step(
        net, wtx, atx, w_half.mean, w_half.std, mode=config.mode,
        objective=config.objective, na_samples=config.na_samples,
        na_structure=row_structure(space),
        lr_schedule=optim.weight_lr_schedule(config.epochs, spe),
        weight_decay=optim.WEIGHT_DECAY, momentum=optim.MOMENTUM, augment=config.augment,
        padding=data.PADDING.get(w_half.name, 4)), mesh)
    return Run(config=config, workdir=workdir, space=space, derived=derived, mesh=mesh,
               state=state, extra=extra, step_fn=step_fn, w_it=w_it, a_it=a_it, mgr=mgr,
               writer=writer, resumed_from=resumed_from, lead=lead, t_start=t_start)


def run_loop(run: Run, report: ReportHook | None = None, progress: bool = True) -> Run:
    """Runs the remaining steps of ``run``: one epoch record per epoch (``metrics.jsonl``,
    TensorBoard; ``report``'s fields for the magnitude-selected architecture), a checkpoint every
    ``ckpt_every`` steps and at the end. Updates ``run.state`` and ``run.images_per_second``."""
    config, spe = run.config, run.derived["steps_per_epoch"]
    w_it, a_it = run.w_it, run.a_it
    acc = {"sums": dict(run.extra["sums"]), "count": int(run.extra["count"])}

    def add(m) -> None:
        for k in METRIC_NAMES:
            acc["sums"][k] += float(m[k])
        acc["count"] += 1

    def end_epoch(state, done: int, ips: float | None) -> str:
        rec = _epoch_record(acc["sums"], acc["count"], state, done // spe, run.space, ips, report)
        run.writer.write(rec)
        acc.update(sums=dict.fromkeys(METRIC_NAMES, 0.0), count=0)
        return (f"epoch {rec['epoch']}: loss_w {rec['loss_w']:.3f} acc_w {rec['acc_w']:.3f} "
                f"acc_a {rec['acc_a']:.3f} H(alpha) {rec['alpha_entropy']:.3f} {rec['arch']}")

    def save(done: int, state) -> None:
        ckpt.save(run.mgr, done, state, {"w": w_it.state(), "a": a_it.state(),
                                         "sums": acc["sums"], "count": acc["count"]})

    run.state, run.images_per_second = run_steps(
        run.state, lambda st: run.step_fn(st, next(w_it), next(a_it)),
        start=int(run.state.step), total=run.derived["total_steps"], steps_per_epoch=spe,
        ckpt_every=config.ckpt_every, images_per_step=2 * config.batch_size, name="darts",
        show=progress and run.lead, add_metrics=add, end_epoch=end_epoch, save=save)
    return run


def finish(run: Run, report: ReportHook | None = None) -> dict:
    """Closes the run's checkpoint manager and writer; returns and writes ``result.json``."""
    run.mgr.close()
    run.writer.close()
    state, config = run.state, run.config
    alpha = _host_alpha(state)
    arch, extra = _selected(run.space, alpha, report)
    result = {"arch": run.space.to_string(arch), "arch_ops": arch.tolist(), **extra,
              "alpha": jax.tree.map(lambda a: a.tolist(), alpha), "steps": int(state.step),
              "epochs": config.epochs, "steps_per_epoch": run.derived["steps_per_epoch"],
              "images_per_second": run.images_per_second,
              "num_params": num_params(state.params),
              "wall_seconds": time.time() - run.t_start, "params_sha256": params_sha256(state),
              "resumed_from": run.resumed_from, "num_devices": run.mesh.devices.size,
              "config": dict(config.to_dict(), derived=run.derived)}
    if run.lead:
        write_json(run.workdir / "result.json", result)
    return result


def train(config: DartsConfig | Mapping[str, Any], workdir: str | Path, progress: bool = True,
          report: ReportHook | None = None) -> dict:
    """Runs (or resumes) a DARTS search in ``workdir``; returns and writes ``result.json``.

    Args:
        config: the run options (:class:`DartsConfig`, or a dict of its fields).
        workdir: the run directory; an existing run there is resumed from its newest valid
            checkpoint.
        progress: a tqdm bar on stderr.
        report: optional hook ``arch -> dict`` whose fields join every epoch record and the
            result, e.g. :func:`jaxnas.darts.report.benchmark_report` (``benchmark``: the
            benchmark accuracies of the magnitude-selected architecture, or ``None`` with
            ``benchmark_reason``).

    Returns:
        The result: ``arch`` (the space's string), ``arch_ops``, the report fields, ``alpha``
        (the alpha pytree as lists), ``steps``, ``epochs``, ``num_params`` (supernet weights, alpha excluded), ``images_per_second`` (weight +
        architecture images per second over this invocation's steps after the first, which
        compiles), ``wall_seconds``, ``params_sha256`` (:func:`params_sha256`), ``config``,
        ``resumed_from``.

    Raises:
        ValueError: ``workdir`` holds a run with different options that matter.
    """
    run = setup(config, workdir)
    return finish(run_loop(run, report, progress), report)


__all__ = ["Run", "as_config", "build", "finish", "load_run", "num_params", "params_sha256", "run_loop",
           "setup", "train"]
