"""A DARTS search run in a work directory, resumable, and the functions other programs use to
reopen it.

Work directory contract (public; ``jaxnas select`` builds on it):

* ``DIR/config.json``: every run option (:data:`jaxnas.darts.config.DEFAULTS` keys) plus
  ``derived`` (``image_shape``, ``num_classes``, ``steps_per_epoch``, ``total_steps``,
  ``num_devices``) needed to rebuild the state without loading images;
* ``DIR/checkpoints/``: orbax steps with items ``state`` (:class:`TrainState`) and ``extra``
  (:mod:`jaxnas.checkpoint`);
* ``DIR/metrics.jsonl``: one record per epoch; ``DIR/tensorboard/``: the same as events;
* ``DIR/result.json``: the final result (:func:`train`'s return value).

:func:`build` rebuilds the network and the two search halves from a config, :func:`load_run`
returns ``(config, state)`` with the newest valid checkpoint.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnas import checkpoint as ckpt
from jaxnas.darts import optim, parallel
from jaxnas.darts.config import config_differences, make_config, mode_of
from jaxnas.darts.magnitude import alpha_entropy, benchmark_of, magnitude_select
from jaxnas.darts.state import TrainState, init_state
from jaxnas.darts.step import make_train_step
from jaxnas.darts.writer import MetricWriter
from jaxnas.jsonio import write_json
from jaxnas.models import Network
from jaxnas.spaces import nb201

METRIC_NAMES = ("loss_w", "acc_w", "loss_a", "acc_a", "lr")


def build(config: dict) -> tuple[Network, tuple[Any, Any]]:
    """The supernet and the search data ``(w_half, a_half)`` of a run config.

    Loads ``config['dataset']``'s train split (``image_dir``, a seeded subset of
    ``max_examples``) and splits it with ``jaxnas.data.search_split(ds, seed)``: the weights are
    trained on ``w_half``, alpha on ``a_half``.
    """
    from jaxnas import data

    c = make_config(**{k: v for k, v in config.items() if k != "derived"})
    ds = data.load(c["dataset"], split="train", image_dir=c["image_dir"],
                   max_examples=c["max_examples"], seed=c["seed"])
    return _network(c, int(ds.num_classes)), data.search_split(ds, c["seed"])


def _network(config: dict, num_classes: int) -> Network:
    return Network(channels=config["channels"], cells_per_stage=config["cells"],
                   num_classes=num_classes, scan=config["scan"])


def _optimizers(config: dict, steps_per_epoch: int):
    return (optim.weight_optimizer(config["epochs"], steps_per_epoch), optim.alpha_optimizer())


def _abstract_state(net, config, derived, sharding):
    wtx, atx = _optimizers(config, derived["steps_per_epoch"])
    shapes = jax.eval_shape(lambda k: init_state(k, net, wtx, atx, derived["image_shape"]),
                            jax.random.key(0))
    return ckpt.abstract_like(shapes, sharding)


# Options added after work directories were first written, with the value that reproduces what
# those directories hold (before scanned stages, the cells were unrolled).
_LEGACY_DEFAULTS = {"scan": False}


def _read_config(workdir: Path) -> dict | None:
    p = workdir / "config.json"
    return {**_LEGACY_DEFAULTS, **json.loads(p.read_text())} if p.exists() else None


def load_run(workdir: str | Path, sharding=None) -> tuple[dict, TrainState]:
    """The config and the newest valid checkpointed state of a run directory.

    Args:
        workdir: a directory written by :func:`train` (``jaxnas darts --workdir``).
        sharding: where to put the restored arrays (default: the first local device).

    Returns:
        ``(config, state)``; ``state.params``, ``state.batch_stats``, ``state.alpha`` ``[6, 5]``,
        ``state.step``, both optimizer states and the PRNG key.

    Raises:
        FileNotFoundError: no ``config.json`` or no restorable checkpoint in ``workdir``.
    """
    workdir = Path(workdir)
    config = _read_config(workdir)
    if config is None:
        raise FileNotFoundError(f"{workdir / 'config.json'} does not exist; is {workdir} a "
                                "`jaxnas darts` work directory?")
    derived = config["derived"]
    net = _network(config, derived["num_classes"])
    sharding = sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    mgr = ckpt.make_manager(workdir / "checkpoints", config.get("keep", 3))
    got = ckpt.restore_latest(mgr, _abstract_state(net, config, derived, sharding))
    mgr.close()
    if got is None:
        raise FileNotFoundError(f"no restorable checkpoint in {workdir / 'checkpoints'}")
    return config, got[0]


def params_sha256(state: TrainState) -> str:
    """sha256 of the final weights and alpha: :func:`jaxnas.checkpoint.tree_sha256` of
    ``{'alpha': state.alpha, 'params': state.params}`` (fixed tree order)."""
    return ckpt.tree_sha256({"alpha": state.alpha, "params": state.params})


def _epoch_record(sums: dict, count: int, state: TrainState, epoch: int, config: dict,
                  ips: float | None) -> dict:
    alpha = np.asarray(jax.device_get(state.alpha))
    arch = magnitude_select(alpha)
    bench, reason = benchmark_of(arch, config["data_dir"])
    rec = {"epoch": epoch, "step": int(state.step)}
    rec.update({k: sums[k] / max(count, 1) for k in METRIC_NAMES})
    rec.update(alpha_entropy=float(alpha_entropy(alpha)), arch=nb201.to_string(arch),
               benchmark=bench, images_per_second=ips)
    if bench is None:
        rec["benchmark_reason"] = reason
    return rec


def train(config: dict, workdir: str | Path, progress: bool = True) -> dict:
    """Runs (or resumes) a DARTS search in ``workdir``; returns and writes ``result.json``.

    Args:
        config: run options (:func:`jaxnas.darts.config.make_config` keys).
        workdir: the run directory; an existing run there is resumed from its newest valid
            checkpoint.
        progress: a tqdm bar on stderr.

    Returns:
        The result: ``arch`` (official string), ``benchmark`` (NAS-Bench-201 accuracies of
        ``arch``, or ``None`` with ``benchmark_reason``), ``alpha`` ``[6, 5]``, ``steps``,
        ``epochs``, ``images_per_second`` (weight + architecture images per second over this
        invocation's steps after the first, which compiles), ``wall_seconds``,
        ``params_sha256`` (:func:`params_sha256`), ``config``, ``resumed_from``.

    Raises:
        ValueError: ``workdir`` holds a run with different options that matter.
    """
    from jaxnas import data

    t_start = time.time()
    parallel.maybe_initialize_distributed()
    config = make_config(**{k: v for k, v in config.items() if k != "derived"})
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    saved = _read_config(workdir)
    if saved is not None:
        diff = config_differences(saved, config)
        if diff:
            raise ValueError(
                f"{workdir} holds a run with different options {diff} (saved, requested); "
                "use another --workdir or the saved options to resume")
    lead = jax.process_index() == 0

    net, (w_half, a_half) = build(config)
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config["batch_size"], mesh)
    bsh = data.batch_sharding(mesh, parallel.DATA_AXIS)
    w_it = data.Batches(w_half, config["batch_size"], seed=config["seed"], sharding=bsh)
    a_it = data.Batches(a_half, config["batch_size"], seed=config["seed"] + 1, sharding=bsh)
    spe = config["steps_per_epoch"] or min(w_it.steps_per_epoch, a_it.steps_per_epoch)
    if spe < 1:
        raise ValueError(f"batch size {config['batch_size']} exceeds a search half of "
                         f"{len(w_half.labels)} images; lower --batch-size")
    total = config["epochs"] * spe
    derived = {"image_shape": list(w_half.images.shape[1:]), "num_classes": int(w_half.num_classes),
               "steps_per_epoch": spe, "total_steps": total, "num_devices": mesh.devices.size}
    if lead:
        write_json(workdir / "config.json", dict(config, derived=derived))

    wtx, atx = _optimizers(config, spe)
    rep = parallel.replicated(mesh)
    mgr = ckpt.make_manager(workdir / "checkpoints", config["keep"])
    got = ckpt.restore_latest(mgr, _abstract_state(net, config, derived, rep),
                              quarantine=workdir / "corrupt_checkpoints")
    mgr.reload()
    if got is None:
        state = parallel.replicate(init_state(jax.random.key(config["seed"]), net, wtx, atx,
                                              derived["image_shape"]), mesh)
        extra = {"w": w_it.state(), "a": a_it.state(), "sums": dict.fromkeys(METRIC_NAMES, 0.0),
                 "count": 0}
        resumed_from = None
    else:
        state, extra = got
        w_it.restore(extra["w"])
        a_it.restore(extra["a"])
        resumed_from = int(state.step)
    start = int(state.step)
    writer = MetricWriter(workdir, resume_step=start, enabled=lead)
    step_fn = parallel.jit_step(make_train_step(
        net, wtx, atx, w_half.mean, w_half.std, mode=mode_of(config),
        objective=config["objective"], na_samples=config["na_samples"],
        lr_schedule=optim.weight_lr_schedule(config["epochs"], spe),
        weight_decay=optim.WEIGHT_DECAY, momentum=optim.MOMENTUM, augment=config["augment"],
        padding=data.PADDING.get(w_half.name, 4)), mesh)

    sums, count = dict(extra["sums"]), int(extra["count"])
    pending: list[dict] = []  # device metrics not yet added to sums (kept in step order)

    def flush():
        nonlocal count
        for m in jax.device_get(pending):
            for k in METRIC_NAMES:
                sums[k] += float(m[k])
            count += 1
        pending.clear()

    from tqdm import tqdm
    bar = tqdm(total=total, initial=start, file=sys.stderr, disable=not (progress and lead),
               desc="darts", unit="step", dynamic_ncols=True)
    images_per_step = 2 * config["batch_size"]
    t_first = None
    ips = None

    def throughput(done: int) -> float | None:
        """Images/s over the steps after the first (which includes compilation), measured
        after a sync: the steps are dispatched asynchronously, so a rate taken at dispatch time
        would count queued, unfinished steps. Includes metric and checkpoint overhead."""
        jax.block_until_ready(state)
        if done - start < 2:
            return ips
        rate = images_per_step * (done - start - 1) / max(time.time() - t_first, 1e-9)
        bar.set_postfix(img_s=f"{rate:.0f}", refresh=False)
        return rate

    for t in range(start, total):
        state, m = step_fn(state, next(w_it), next(a_it))
        pending.append(m)
        if t == start:
            jax.block_until_ready(state)
            t_first = time.time()
        bar.update(1)
        done = t + 1
        if done % spe == 0:
            flush()
            ips = throughput(done)
            rec = _epoch_record(sums, count, state, done // spe, config, ips)
            writer.write(rec)
            if progress and lead:
                bar.write(f"epoch {rec['epoch']}: loss_w {rec['loss_w']:.3f} acc_w "
                          f"{rec['acc_w']:.3f} acc_a {rec['acc_a']:.3f} H(alpha) "
                          f"{rec['alpha_entropy']:.3f} {rec['arch']}", file=sys.stderr)
            sums, count = dict.fromkeys(METRIC_NAMES, 0.0), 0
        if done % config["ckpt_every"] == 0 or done == total:
            flush()
            ckpt.save(mgr, done, state, {"w": w_it.state(), "a": a_it.state(), "sums": sums,
                                         "count": count})
    flush()
    ips = throughput(total) if total > start else ips
    bar.close()
    mgr.close()
    writer.close()

    alpha = np.asarray(jax.device_get(state.alpha))
    arch = magnitude_select(alpha)
    bench, reason = benchmark_of(arch, config["data_dir"])
    result = {"arch": nb201.to_string(arch), "arch_ops": arch.tolist(), "benchmark": bench,
              "benchmark_reason": reason, "alpha": alpha.tolist(), "steps": int(state.step),
              "epochs": config["epochs"], "steps_per_epoch": spe, "images_per_second": ips,
              "wall_seconds": time.time() - t_start, "params_sha256": params_sha256(state),
              "resumed_from": resumed_from, "num_devices": mesh.devices.size,
              "config": dict(config, derived=derived)}
    if lead:
        write_json(workdir / "result.json", result)
    return result


__all__ = ["build", "load_run", "params_sha256", "train"]
