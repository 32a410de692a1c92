"""Speed of the DARTS-space supernet (issue 16) against a PyTorch implementation of the same
network, in the same run.

Measures, for ``DartsSupernet(C, layers)`` with DARTS's 8 operations on every edge, 32x32 images,
10 classes, and each batch size, the *weight step*: forward + backward (train=True, BatchNorm
batch statistics) with ``softmax(alpha)`` operation weights, cross-entropy, SGD (momentum 0.9)
update; jaxnas jitted with donated buffers and the compiler options ``jaxnas darts`` uses, PyTorch
(``tests/fixtures/torch_darts.py``, the same network, eager, ``torch.set_num_threads``) in NCHW
and channels-last layouts. jaxnas is compiled with the options ``jaxnas darts`` uses
(``layers``: :func:`jaxnas.models.layers.compiler_options`) and with the DARTS models' own
(``darts``: :func:`jaxnas.models.darts.compiler_options`, reassociated reductions). Reports
compile time (``lower`` + ``compile``) and steady-state images/second (median of ``--repeats``
timings of ``--steps`` steps each, after a warm-up step), and the ratio of jaxnas to
PyTorch's faster layout. The float32 GEMM rate (2048^3) measured
before and after is a calibration of the shared machine's current speed.

Run: ``PYTHONPATH=. python experiments/bench_darts_supernet.py [--json] [--batch-sizes 64 32]``
(10-20 minutes on a 2-core CPU: each PyTorch step takes seconds). Target on a 2-core CPU:
>= 1.5x PyTorch's faster layout, compile < 60 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jaxnas.models import (
    darts,  # noqa: E402
    speed,  # noqa: E402
)
from jaxnas.models.darts import CANDIDATES, DartsSupernet, init  # noqa: E402
from jaxnas.models.layers import compiler_options  # noqa: E402
from jaxnas.models.speed import timed  # noqa: E402

#: compiler options by name: what ``jaxnas darts`` compiles with today, and the DARTS models'
#: own (reassociated reductions, :func:`jaxnas.models.darts.compiler_options`)
OPTIONS = {"layers": compiler_options, "darts": darts.compiler_options}


def numpy_variables(net: DartsSupernet, image_shape, seed: int = 0) -> dict:
    """NumPy-filled variables of ``net`` (only speed matters here)."""
    return speed.numpy_variables(
        jax.eval_shape(lambda: init(jax.random.key(0), net, image_shape)), seed)


def jax_step(net: DartsSupernet, lr: float = 0.025):
    tx = optax.sgd(lr, momentum=0.9)

    def step(params, batch_stats, opt_state, alpha, x, y):
        def loss_fn(p):
            w = jax.tree.map(lambda a: jax.nn.softmax(a, -1), alpha)
            logits, upd = net.apply({"params": p, "batch_stats": batch_stats}, x, w,
                                    train=True, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), upd
        (loss, upd), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, updates), upd["batch_stats"], opt_state, loss

    return tx, jax.jit(step, donate_argnums=(0, 1, 2))


def bench_jax(channels: int, layers: int, batch: int, steps: int, repeats: int,
              scan: bool = True, options: str = "darts") -> dict:
    normal, reduce = CANDIDATES["darts"]
    net = DartsSupernet(channels, layers, 10, normal, reduce, scan=scan)
    v = numpy_variables(net, (32, 32, 3))
    tx, step = jax_step(net)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(batch, 32, 32, 3)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, batch), jnp.int32)
    alpha = {k: jnp.asarray(1e-3 * rng.normal(size=s), jnp.float32)
             for k, s in net.alpha_shapes.items()}
    params, stats = v["params"], v["batch_stats"]
    opt_state = tx.init(params)
    t = time.perf_counter()
    lowered = step.lower(params, stats, opt_state, alpha, x, y)
    t_lower = time.perf_counter() - t
    compiled = lowered.compile(OPTIONS[options]())
    t_compile = time.perf_counter() - t
    state = [params, stats, opt_state]

    def one():
        state[0], state[1], state[2], loss = compiled(*state, alpha, x, y)
        return loss

    jax.block_until_ready(one())
    ts = timed(one, steps, repeats)
    return {"impl": "jaxnas", "options": options, "scan": scan, "batch": batch,
            "lower_s": round(t_lower, 1),
            "compile_s": round(t_compile, 1), "step_s": [round(t, 3) for t in ts],
            "images_per_s": round(batch / statistics.median(ts), 1)}


def bench_torch(channels: int, layers: int, batch: int, steps: int, repeats: int,
                channels_last: bool, threads: int) -> dict:
    import torch

    from tests.fixtures import torch_darts

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    normal, reduce = CANDIDATES["darts"]
    net = torch_darts.SearchNetwork(channels, 10, layers, normal, reduce)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), 0.025, momentum=0.9)
    a_n, a_r = 1e-3 * torch.randn(14, 8), 1e-3 * torch.randn(14, 8)

    def one():
        opt.zero_grad()
        logits = net(x, torch.softmax(a_n, -1), torch.softmax(a_r, -1))
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        return None

    one()
    ts = timed(one, steps, repeats)
    return {"impl": "torch", "layout": "channels_last" if channels_last else "nchw",
            "batch": batch, "threads": threads, "step_s": [round(t, 3) for t in ts],
            "images_per_s": round(batch / statistics.median(ts), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 32])
    ap.add_argument("--steps", type=int, default=2, help="steps per timing")
    ap.add_argument("--repeats", type=int, default=3, help="timings; the median is reported")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    ap.add_argument("--no-torch", dest="torch", action="store_false")
    ap.add_argument("--no-scan", dest="scan", action="store_false",
                    help="unroll the edges of each cell (slower to compile)")
    ap.add_argument("--options", nargs="+", default=["darts", "layers"], choices=sorted(OPTIONS),
                    help="jaxnas compiler options to measure (default both)")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    meta = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
            "machine": platform.machine(), "processor": platform.processor(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "gemm_gflops_before": speed.gemm_gflops()}
    rows = []
    for b in args.batch_sizes:
        start = len(rows)
        for o in args.options:
            rows.append(bench_jax(args.channels, args.layers, b, args.steps, args.repeats,
                                  args.scan, o))
        if args.torch:
            for cl in (False, True):
                rows.append(bench_torch(args.channels, args.layers, b, args.steps, args.repeats,
                                        cl, args.threads))
        if not args.json:
            for r in rows[start:]:
                print(r, flush=True)
    meta["gemm_gflops_after"] = speed.gemm_gflops()
    ratios = {}
    for b in args.batch_sizes:
        t = [r["images_per_s"] for r in rows if r["impl"] == "torch" and r["batch"] == b]
        for r in rows:
            if r["impl"] == "jaxnas" and r["batch"] == b and t:
                ratios[f"{b}/{r['options']}"] = round(r["images_per_s"] / max(t), 2)
    out = {"meta": meta, "config": vars(args), "results": rows,
           "ratio_to_faster_torch": ratios}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"ratio jaxnas / faster PyTorch layout: {ratios}")
        print(f"GEMM calibration: {meta['gemm_gflops_before']} -> {meta['gemm_gflops_after']} "
              "GFLOP/s")


if __name__ == "__main__":
    main()
