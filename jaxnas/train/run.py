"""A from-scratch training run in a work directory, resumable, data parallel, multi-process.

Work directory contract (as ``jaxnas darts``'s, :mod:`jaxnas.darts.run`):

* ``DIR/config.json``: every option (:class:`~jaxnas.train.config.TrainConfig`) plus
  ``derived`` (``image_shape``, ``num_classes``, ``steps_per_epoch``, ``total_steps``,
  ``num_devices``, ``train_examples``);
* ``DIR/checkpoints/``: orbax steps (:mod:`jaxnas.checkpoint`: items ``state``, the
  :class:`~jaxnas.train.state.TrainState`, and ``extra``, the batch iterators' positions and the
  running epoch sums); a corrupt newest step is moved to ``DIR/corrupt_checkpoints/`` with a
  warning and the previous one is used;
* ``DIR/metrics.jsonl``: one record per epoch; ``DIR/tensorboard/``: the same as events
  (``train/loss``, ...);
* ``DIR/result.json``: :func:`finish`'s result.

:func:`train` is :func:`setup` (data, network from the space, restore or initialise, jit),
:func:`run_loop` (steps, epoch records, checkpoints) and :func:`finish` (test accuracy,
``result.json``). Several seeds (``config.seeds = K``) train in one program: the state gets a
leading ``[K]`` axis (initialisation, BatchNorm statistics, optimizer state, PRNG key), each seed
reads its own batch order (``seed + k``), and the step is ``jax.vmap``-ed over both.

Data parallel: one ``Mesh`` over all devices of all processes, the state replicated, batches
sharded over their batch axis, one ``jax.jit`` (:mod:`jaxnas.darts.parallel`); BatchNorm and the
loss see the global batch, so the run computes the same function on any number of devices and
processes (up to the order of floating-point sums). Multi-process runs initialise
``jax.distributed`` from the environment (:func:`jaxnas.darts.parallel.maybe_initialize_distributed`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxnas import checkpoint as ckpt
from jaxnas import spaces
from jaxnas.darts import parallel
from jaxnas.darts.writer import MetricWriter
from jaxnas.jsonio import write_json
from jaxnas.models.layers import compiler_options
from jaxnas.steploop import run_steps
from jaxnas.train import optim
from jaxnas.train.config import CONFIG_FILE, TrainConfig, config_differences, read_config
from jaxnas.train.state import (
    TrainState,
    build_network,
    init_state,
    param_counts,
    seed_keys,
)
from jaxnas.train.step import make_eval_step, make_train_step

METRIC_NAMES = ("loss", "acc")
RESULT_FILE = "result.json"
#: image side of each dataset (NAS-Bench-201's ImageNet is 16x16)
IMAGE_SIDE = {"imagenet16-120": 16}


def as_config(config: TrainConfig | Mapping[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from itself or from a dict of options (``derived`` ignored)."""
    return config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)


def image_shape(dataset: str) -> tuple[int, int, int]:
    """``(H, W, 3)`` of a dataset's images."""
    s = IMAGE_SIDE.get(dataset, 32)
    return (s, s, 3)


def network(config: TrainConfig, num_classes: int | None = None, auxiliary: bool | None = None):
    """The network of a config (auxiliary head when ``config.aux_weight > 0``)."""
    from jaxnas import data

    if not config.arch:
        raise ValueError("no architecture: pass --arch (the space's string) or --from-workdir")
    k = data.NUM_CLASSES[config.dataset] if num_classes is None else num_classes
    aux = config.aux_weight > 0 if auxiliary is None else auxiliary
    return build_network(config.space, config.arch, config.channels, config.size_kwargs, k,
                         auxiliary=aux)


def describe(config: TrainConfig | Mapping[str, Any]) -> dict:
    """What ``--dry-run`` prints: the network's sizes and the run's options, without data or
    training. ``num_params`` leaves out the auxiliary head (papers quote sizes without it);
    ``num_params_aux`` is the head alone (0 when the network has none)."""
    c = as_config(config)
    net = network(c)
    sp = spaces.get(c.space)
    return {"arch": sp.to_string(sp.parse(c.arch)), "space": c.space, "dataset": c.dataset,
            "protocol": c.protocol, **param_counts(net, image_shape(c.dataset)),
            "config": c.to_dict()}


def arch_from_workdir(workdir: str | Path) -> dict:
    """The architecture of a search: ``{'arch', 'space', 'dataset'}`` from a ``jaxnas darts``
    work directory (``result.json`` and ``config.json``) or a ``jaxnas select`` output folder
    (its ``result.json``; space and dataset from the search's ``config.json`` one level up).

    Raises:
        FileNotFoundError: no ``result.json`` with an ``arch``, or no ``config.json``.
    """
    d = Path(workdir)
    res = d / RESULT_FILE
    if not res.is_file():
        raise FileNotFoundError(f"{res} does not exist; --from-workdir takes a finished "
                                "`jaxnas darts` work directory or a `jaxnas select` output folder")
    arch = json.loads(res.read_text()).get("arch")
    if not isinstance(arch, str) or not arch:
        raise FileNotFoundError(f"{res} holds no 'arch' string; is {d} a search result?")
    for cfg in (d / CONFIG_FILE, d.parent / CONFIG_FILE):
        if cfg.is_file():
            saved = json.loads(cfg.read_text())
            if "space" in saved and "dataset" in saved:
                return {"arch": arch, "space": saved["space"], "dataset": saved["dataset"]}
    raise FileNotFoundError(f"no search config.json with space and dataset in {d} or "
                            f"{d.parent}; pass --arch, --space and --dataset instead")


def load_data(config: TrainConfig):
    """``(train, test)`` :class:`jaxnas.data.Dataset` of a config (seeded subsets when
    ``max_examples`` / ``test_max_examples`` are set)."""
    from jaxnas import data

    kw = dict(image_dir=config.image_dir, seed=config.seed, download=config.download)
    train = data.load(config.dataset, "train", max_examples=config.max_examples, **kw)
    test = data.load(config.dataset, "test", max_examples=config.test_max_examples, **kw)
    return train, test


def params_sha256(state: TrainState) -> str:
    """sha256 (:func:`jaxnas.checkpoint.tree_sha256`) of ``{'batch_stats', 'params'}``: the
    trained network."""
    return ckpt.tree_sha256({"batch_stats": state.batch_stats, "params": state.params})


class SeedBatches:
    """The batches of ``K`` seeds, stacked to ``[K, B, ...]`` (or one seed's ``[B, ...]`` when
    ``K == 1``); each seed ``k`` reads its own order (``seed + k``)."""

    def __init__(self, ds, batch_size: int, seed: int, seeds: int, sharding):
        from jaxnas import data

        self.its = [data.Batches(ds, batch_size, seed=seed + k, sharding=sharding)
                    for k in range(seeds)]
        self.steps_per_epoch = self.its[0].steps_per_epoch

    def __next__(self):
        got = [next(it) for it in self.its]
        if len(got) == 1:
            return got[0]
        return jnp.stack([g[0] for g in got]), jnp.stack([g[1] for g in got])

    def state(self) -> list[dict]:
        return [it.state() for it in self.its]

    def restore(self, states: list[dict]) -> None:
        for it, s in zip(self.its, states, strict=True):
            it.restore(s)


@dataclasses.dataclass
class Run:
    """Everything :func:`run_loop` and :func:`finish` need: the built, restored run."""

    config: TrainConfig
    workdir: Path
    derived: dict
    mesh: Any
    net: Any
    state: TrainState
    extra: dict
    step_fn: Any
    eval_fn: Any
    batches: SeedBatches
    test: Any
    mgr: Any
    writer: MetricWriter
    resumed_from: int | None
    lead: bool
    t_start: float
    images_per_second: float | None = None


def _initial_state(config: TrainConfig, net, tx, shape) -> TrainState:
    keys = seed_keys(config.seed, config.seeds)
    if config.seeds == 1:
        return init_state(keys[0], net, tx, shape)
    return jax.vmap(lambda k: init_state(k, net, tx, shape))(keys)


def _make_state(config: TrainConfig, net, tx, shape) -> TrainState:
    """The initial state of ``config.seeds`` runs (one program; compiled without backend
    optimisation on CPU, as :func:`jaxnas.train.state.init_variables`)."""
    opts = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
    return jax.jit(lambda: _initial_state(config, net, tx, shape), compiler_options=opts)()


def _abstract_state(config: TrainConfig, net, tx, shape, sharding):
    shapes = jax.eval_shape(lambda: _initial_state(config, net, tx, shape))
    return ckpt.abstract_like(shapes, sharding)


def _optimizer(config: TrainConfig, spe: int):
    sched = optim.cosine_lr(config.lr, config.lr_min, config.epochs, spe, config.schedule)
    return optim.sgd(sched, config.momentum, config.nesterov, config.weight_decay,
                     config.grad_clip), sched


def setup(config: TrainConfig | Mapping[str, Any], workdir: str | Path) -> Run:
    """Builds a run in ``workdir``: checks a saved config, writes ``config.json``, loads the
    data, builds the network from the space, restores the newest valid checkpoint (or
    initialises ``config.seeds`` runs) and jits the steps.

    Raises:
        ValueError: ``workdir`` holds a run with different options that matter, a bad
            architecture, or a batch size that does not fit the data or the devices.
    """
    from jaxnas import data

    t_start = time.time()
    parallel.maybe_initialize_distributed()
    config = as_config(config)
    workdir = Path(workdir).absolute()
    saved = read_config(workdir)
    if saved is not None:
        diff = config_differences(saved[0], config)
        if diff:
            raise ValueError(
                f"{workdir} holds a run with different options {diff} (saved, requested); "
                "use another --workdir or the saved options to resume")
    lead = jax.process_index() == 0
    net = network(config)  # checks the architecture before any data is read
    train_ds, test_ds = load_data(config)
    if train_ds.num_classes != data.NUM_CLASSES[config.dataset]:
        raise ValueError(f"dataset {config.dataset} has {train_ds.num_classes} classes")
    workdir.mkdir(parents=True, exist_ok=True)
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.batch_size, mesh)
    multi = config.seeds > 1
    bsh = NamedSharding(mesh, PartitionSpec(None, parallel.DATA_AXIS) if multi
                        else PartitionSpec(parallel.DATA_AXIS))
    batches = SeedBatches(train_ds, config.batch_size, config.seed, config.seeds,
                          data.batch_sharding(mesh, parallel.DATA_AXIS))
    spe = config.steps_per_epoch or batches.steps_per_epoch
    shape = tuple(train_ds.images.shape[1:])
    derived = {"image_shape": list(shape), "num_classes": int(train_ds.num_classes),
               "steps_per_epoch": spe, "total_steps": config.epochs * spe,
               "num_devices": int(mesh.devices.size), "train_examples": train_ds.size,
               "test_examples": test_ds.size}
    if lead:
        write_json(workdir / CONFIG_FILE, dict(config.to_dict(), derived=derived))

    tx, sched = _optimizer(config, spe)
    rep = parallel.replicated(mesh)
    mgr = ckpt.make_manager(workdir / "checkpoints", config.keep)
    got = ckpt.restore_latest(mgr, _abstract_state(config, net, tx, shape, rep),
                              quarantine=workdir / "corrupt_checkpoints")
    mgr.reload()
    if got is None:
        state = parallel.replicate(_make_state(config, net, tx, shape), mesh)
        extra = {"it": batches.state(), "sums": {k: [0.0] * config.seeds for k in METRIC_NAMES},
                 "count": 0}
        resumed_from = None
    else:
        state, extra = got
        batches.restore(extra["it"])
        resumed_from = int(np.asarray(state.step).reshape(-1)[0])
    writer = MetricWriter(workdir, resume_step=resumed_from or 0, enabled=lead, prefix="train")
    step = make_train_step(
        net, tx, train_ds.mean, train_ds.std, lr_schedule=sched, epochs=config.epochs,
        steps_per_epoch=spe, aux_weight=config.aux_weight, cutout=config.cutout,
        drop_path=config.drop_path, augment=config.augment,
        padding=data.PADDING.get(config.dataset, 4), precision=config.precision)
    evaluate = make_eval_step(net, train_ds.mean, train_ds.std, config.precision)
    if multi:
        step = jax.vmap(step)
        evaluate = jax.vmap(evaluate, in_axes=(0, None, None, None))
    step_fn = jax.jit(step, in_shardings=(rep, (bsh, bsh)), out_shardings=(rep, rep),
                      donate_argnums=(0,), compiler_options=compiler_options())
    bat = parallel.batch_sharded(mesh)
    eval_fn = jax.jit(evaluate, in_shardings=(rep, bat, bat, bat), out_shardings=rep,
                      compiler_options=compiler_options())
    return Run(config=config, workdir=workdir, derived=derived, mesh=mesh, net=net, state=state,
               extra=extra, step_fn=step_fn, eval_fn=eval_fn, batches=batches, test=test_ds,
               mgr=mgr, writer=writer, resumed_from=resumed_from, lead=lead, t_start=t_start)


def _step_of(state: TrainState) -> int:
    return int(np.asarray(jax.device_get(state.step)).reshape(-1)[0])


def run_loop(run: Run, progress: bool = True) -> Run:
    """Runs the remaining steps of ``run``: one record per epoch (``metrics.jsonl``,
    TensorBoard), a checkpoint every ``ckpt_every`` steps and at the end. Updates ``run.state``
    and ``run.images_per_second``."""
    config, spe = run.config, run.derived["steps_per_epoch"]
    k = config.seeds
    batches = run.batches
    acc = {"sums": {n: np.asarray(v, np.float64) for n, v in run.extra["sums"].items()},
           "count": int(run.extra["count"]), "last": {}}

    def add(m) -> None:
        for n in METRIC_NAMES:
            acc["sums"][n] = acc["sums"][n] + np.asarray(m[n], np.float64).reshape(k)
        acc["count"] += 1
        acc["last"].update(lr=float(np.asarray(m["lr"]).reshape(-1)[0]),
                           drop_path=float(np.asarray(m["drop_path"]).reshape(-1)[0]))

    def end_epoch(state, done: int, ips: float | None) -> str:
        means = {n: acc["sums"][n] / max(acc["count"], 1) for n in METRIC_NAMES}
        rec = {"epoch": done // spe, "step": done,
               **{n: float(np.mean(v)) for n, v in means.items()}, **acc["last"],
               "images_per_second": ips}
        if k > 1:
            rec.update({f"{n}_per_seed": v.tolist() for n, v in means.items()})
        run.writer.write(rec)
        acc.update(sums={n: np.zeros(k) for n in METRIC_NAMES}, count=0)
        return (f"epoch {rec['epoch']}/{config.epochs}: loss {rec['loss']:.3f} acc "
                f"{rec['acc']:.3f} lr {rec['lr']:.4g}")

    def save(done: int, state) -> None:
        ckpt.save(run.mgr, done, state, {
            "it": batches.state(), "sums": {n: v.tolist() for n, v in acc["sums"].items()},
            "count": acc["count"]})

    run.state, run.images_per_second = run_steps(
        run.state, lambda st: run.step_fn(st, next(batches)), start=_step_of(run.state),
        total=run.derived["total_steps"], steps_per_epoch=spe, ckpt_every=config.ckpt_every,
        images_per_step=config.batch_size * k, name="train", show=progress and run.lead,
        add_metrics=add, end_epoch=end_epoch, save=save)
    return run


def _put_global(x: np.ndarray, sharding) -> jax.Array:
    """A host array (identical on every process) as a global array sharded on axis 0."""
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    n, i = jax.process_count(), jax.process_index()
    local = x.shape[0] // n
    return jax.make_array_from_process_local_data(sharding, x[i * local:(i + 1) * local],
                                                  x.shape)


def evaluate(run: Run, progress: bool = False) -> dict:
    """Test accuracy (%) and mean loss of every seed over ``run.test``: ``{'accuracy': [K],
    'loss': [K], 'count': N}``."""
    ds, state = run.test, run.state
    ndev = run.mesh.devices.size
    eb = -(-min(run.config.eval_batch_size, ds.size) // ndev) * ndev
    bat = parallel.batch_sharded(run.mesh)
    totals = None
    for i in range(0, ds.size, eb):
        images, labels = ds.images[i:i + eb], ds.labels[i:i + eb]
        n = labels.shape[0]
        mask = np.arange(eb) < n
        if n < eb:
            images = np.concatenate([images, np.zeros((eb - n, *images.shape[1:]), np.uint8)])
            labels = np.concatenate([labels, np.zeros(eb - n, labels.dtype)])
        out = run.eval_fn(state, _put_global(images, bat), _put_global(labels, bat),
                          _put_global(mask, bat))
        out = jax.tree.map(lambda a: np.asarray(a, np.float64), jax.device_get(out))
        totals = out if totals is None else jax.tree.map(np.add, totals, out)
    count = np.asarray(totals["count"]).reshape(-1)[0]
    return {"accuracy": (100.0 * np.asarray(totals["correct"]).reshape(-1) / count).tolist(),
            "loss": (np.asarray(totals["loss"]).reshape(-1) / count).tolist(),
            "count": int(count)}


def finish(run: Run) -> dict:
    """Evaluates on the test split, closes the checkpoint manager and the writer; returns and
    writes ``result.json``."""
    from jaxnas.darts.report import benchmark_of

    run.mgr.close()
    run.writer.close()
    config, state = run.config, run.state
    ev = evaluate(run)
    acc = np.asarray(ev["accuracy"])
    sp = spaces.get(config.space)
    arch = sp.parse(config.arch)
    bench, reason = benchmark_of(sp, arch, config.data_dir)
    counts = param_counts(run.net, run.derived["image_shape"])
    result = {
        "arch": sp.to_string(arch), "space": config.space, "dataset": config.dataset,
        "protocol": config.protocol, "seeds": config.seeds,
        "test_accuracy": float(acc.mean()),
        "test_accuracy_std": float(acc.std(ddof=1)) if acc.size > 1 else None,
        "test_accuracies": acc.tolist(), "test_loss": ev["loss"], "test_examples": ev["count"],
        **counts, "images_per_second": run.images_per_second, "steps": _step_of(state),
        "epochs": config.epochs, "steps_per_epoch": run.derived["steps_per_epoch"],
        "wall_seconds": time.time() - run.t_start, "params_sha256": params_sha256(state),
        "resumed_from": run.resumed_from, "num_devices": int(run.mesh.devices.size),
        "num_processes": jax.process_count(), "benchmark": bench, "benchmark_reason": reason,
        "config": dict(config.to_dict(), derived=run.derived)}
    if run.lead:
        write_json(run.workdir / RESULT_FILE, result)
    return result


def train(config: TrainConfig | Mapping[str, Any], workdir: str | Path,
          progress: bool = True) -> dict:
    """Trains (or resumes) ``config.arch`` from scratch in ``workdir`` and evaluates it on the
    test split; returns and writes ``result.json``.

    Args:
        config: the run options (:class:`TrainConfig`, or a dict of its fields).
        workdir: the run directory; a run there is resumed from its newest valid checkpoint.
        progress: a tqdm bar and epoch lines on stderr.

    Returns:
        The result: ``arch``, ``space``, ``dataset``, ``protocol``, ``seeds``,
        ``test_accuracy`` (percent; the mean over seeds), ``test_accuracy_std`` (sample standard
        deviation over seeds, ``None`` for one), ``test_accuracies``, ``test_loss``,
        ``test_examples``, ``num_params`` (without the auxiliary head), ``num_params_aux``,
        ``images_per_second`` (training images per second, all seeds, over this invocation's
        steps after the first), ``steps``, ``epochs``, ``wall_seconds``, ``params_sha256``
        (:func:`params_sha256`), ``resumed_from``, ``num_devices``, ``num_processes``,
        ``benchmark`` (the tabular benchmark's record of the architecture, when the space has
        one) and ``config``.

    Raises:
        ValueError: bad options, or ``workdir`` holds a run with different options.
        FileNotFoundError: the dataset is absent.
    """
    run = setup(config, workdir)
    return finish(run_loop(run, progress))


__all__ = ["IMAGE_SIDE", "METRIC_NAMES", "RESULT_FILE", "Run", "SeedBatches", "arch_from_workdir",
           "as_config", "describe", "evaluate", "finish", "image_shape", "load_data", "network",
           "params_sha256", "run_loop", "setup", "train"]
