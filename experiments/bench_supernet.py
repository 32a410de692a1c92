"""Speed of the NAS-Bench-201 DARTS supernet (issue #3: Flax supernet and DARTS trainer).

Measures, on the current devices, for ``Network(C, N)`` on 32x32 images and each batch size:
  (a) a weight step: forward + backward (train=True, BatchNorm batch statistics) with
      ``softmax(alpha)`` operation weights, cross-entropy, SGD (momentum 0.9) update, jitted with
      donated buffers and the compiler options ``jaxnas darts`` uses
      (:func:`jaxnas.models.layers.compiler_options`); the cells of a stage scanned (``--no-scan``:
      unrolled);
  (b) inference: forward with running statistics (train=False).
For each: compile time (``lower`` + ``compile``) and steady-state images/second (median of
``--repeats`` timings of ``--steps`` calls each, after one warm-up call). Also the input pipeline
(``jaxnas.data.Batches`` drawing a batch from a 50,000-image in-memory dataset, and the jitted
crop/flip/normalise that the DARTS step applies) and, to compare runs on a shared machine whose
speed varies, the float32 GEMM rate (2048^3 matrix product) measured in the same process.

Run: ``python experiments/bench_supernet.py [--json] [--batch-sizes 64 256] [--cell fused]``
(a few minutes on a 2-core CPU, most of it compilation). Target on a 2-core CPU: >= 28 images/s
for (a) at batch 64 and 256, compile < 20 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas.models import Network, init, speed
from jaxnas.models.layers import compiler_options


def numpy_variables(net: Network, image_shape, seed: int = 0) -> dict:
    """NumPy-filled variables of ``net`` (only speed matters here)."""
    return speed.numpy_variables(
        jax.eval_shape(lambda: init(jax.random.key(0), net, image_shape)), seed)


def make_steps(net: Network, lr: float = 0.025):
    tx = optax.sgd(lr, momentum=0.9)

    def train_step(params, batch_stats, opt_state, alpha, x, y):
        def loss_fn(p):
            logits, upd = net.apply({"params": p, "batch_stats": batch_stats}, x,
                                    jax.nn.softmax(alpha, -1), train=True,
                                    mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), upd
        (loss, upd), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, updates), upd["batch_stats"], opt_state, loss

    def infer(variables, alpha, x):
        return net.apply(variables, x, jax.nn.softmax(alpha, -1), train=False)

    return tx, jax.jit(train_step, donate_argnums=(0, 1, 2)), jax.jit(infer)


def timed(fn, steps: int, repeats: int) -> float:
    """Median seconds per call."""
    return statistics.median(speed.timed(fn, steps, repeats))


def bench(channels: int, cells: int, batch: int, cell: str, steps: int, repeats: int,
          compiler_options: dict | None = None, scan: bool = True) -> dict:
    net = Network(channels, cells, 10, cell=cell, scan=scan)
    v = numpy_variables(net, (32, 32, 3))
    tx, train_step, infer = make_steps(net)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(batch, 32, 32, 3)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, batch), jnp.int32)
    alpha = jnp.asarray(1e-3 * rng.normal(size=(6, 5)), jnp.float32)
    params, stats = v["params"], v["batch_stats"]
    opt_state = tx.init(params)

    t = time.perf_counter()
    train_c = train_step.lower(params, stats, opt_state, alpha, x, y).compile(compiler_options)
    compile_train = time.perf_counter() - t
    t = time.perf_counter()
    infer_c = infer.lower(v, alpha, x).compile(compiler_options)
    compile_infer = time.perf_counter() - t

    state = [params, stats, opt_state]

    def one_train():
        state[0], state[1], state[2], loss = train_c(*state, alpha, x, y)
        return loss

    jax.block_until_ready(one_train())  # warm-up
    t_train = timed(one_train, steps, repeats)
    variables = {"params": state[0], "batch_stats": state[1]}
    jax.block_until_ready(infer_c(variables, alpha, x))
    t_infer = timed(lambda: infer_c(variables, alpha, x), steps, repeats)
    return {"channels": channels, "cells_per_stage": cells, "batch": batch, "cell": cell,
            "scan": scan,
            "compiler_options": compiler_options or {},
            "compile_train_s": round(compile_train, 2), "compile_infer_s": round(compile_infer, 2),
            "train_step_s": round(t_train, 4), "train_images_per_s": round(batch / t_train, 1),
            "infer_step_s": round(t_infer, 4), "infer_images_per_s": round(batch / t_infer, 1)}


def input_pipeline(batch: int, repeats: int = 20) -> dict:
    """Seconds per batch of the host batcher and of the jitted augmentation."""
    from jaxnas.data import Batches, Dataset, augment
    rng = np.random.default_rng(0)
    ds = Dataset(rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8),
                 rng.integers(0, 10, 50_000).astype(np.int32), 10,
                 np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32), "cifar10")
    it = Batches(ds, batch, seed=0)
    jax.block_until_ready(next(it))
    t = time.perf_counter()
    for _ in range(repeats):
        xb, _ = next(it)
    jax.block_until_ready(xb)
    t_batch = (time.perf_counter() - t) / repeats
    aug = jax.jit(lambda k, x: augment(k, x, ds.mean, ds.std))
    key = jax.random.key(0)
    jax.block_until_ready(aug(key, xb))
    t_aug = timed(lambda: aug(key, xb), 5, 3)
    return {"batch": batch, "batcher_ms": round(1e3 * t_batch, 2), "augment_ms": round(1e3 * t_aug, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--cells", type=int, default=5, help="cells per stage N")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--cell", default="fused", choices=["fused", "mixed"])
    ap.add_argument("--steps", type=int, default=3, help="calls per timing")
    ap.add_argument("--repeats", type=int, default=3, help="timings; the median is reported")
    ap.add_argument("--xla-opt-level", type=int, default=None,
                    help="xla_backend_optimization_level for both programs (0 compiles faster; "
                         "convolutions and GEMMs are library calls either way)")
    ap.add_argument("--no-scan", dest="scan", action="store_false",
                    help="unroll the cells of a stage instead of scanning over them (slower compile)")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    opts = dict(compiler_options() or {})  # what `jaxnas darts` compiles with
    if args.xla_opt_level is not None:
        opts["xla_backend_optimization_level"] = args.xla_opt_level
    opts = opts or None
    gemm_before = speed.gemm_gflops()
    rows = [bench(args.channels, args.cells, b, args.cell, args.steps, args.repeats, opts, args.scan)
            for b in args.batch_sizes]
    pipeline = [input_pipeline(b) for b in args.batch_sizes]
    meta = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
            "machine": platform.machine(), "cpus": jax.local_device_count(),
            "gemm_gflops_before": gemm_before, "gemm_gflops_after": speed.gemm_gflops()}
    if args.json:
        print(json.dumps({"meta": meta, "results": rows, "input_pipeline": pipeline}, indent=2))
        return
    keys = ["batch", "cell", "scan", "compile_train_s", "train_images_per_s", "compile_infer_s",
            "infer_images_per_s"]
    print(f"# supernet C={args.channels} N={args.cells} 32x32, devices {meta['devices']}, "
          f"compiler options {opts or {}}")
    w = [max(len(k), 8) for k in keys]
    print("  ".join(k.rjust(n) for k, n in zip(keys, w, strict=True)))
    for r in rows:
        print("  ".join(str(r[k]).rjust(n) for k, n in zip(keys, w, strict=True)))
    for p in pipeline:
        print(f"input pipeline, batch {p['batch']}: batcher {p['batcher_ms']} ms, "
              f"augmentation {p['augment_ms']} ms per batch")
    print(f"float32 GEMM rate (machine calibration): {meta['gemm_gflops_before']} GFLOP/s before, "
          f"{meta['gemm_gflops_after']} after")


if __name__ == "__main__":
    main()
