"""jaxnas against PyTorch, same shapes and work, interleaved in one process (issue 21).

Cases (``--cases``), each a training step (forward + backward with batch-statistics BatchNorm,
cross-entropy, gradient clipping to norm 5, L2 weight decay 3e-4, SGD momentum 0.9, lr 0.025):

* ``nb201``: the NAS-Bench-201 supernet weight step, C=16, N=5, ``softmax(alpha)``-weighted
  mixed operations (jaxnas :class:`jaxnas.models.nb201.Network`; PyTorch
  ``tests/fixtures/torch_nb201.py``), batches 64 and 256;
* ``darts``: the DARTS-space supernet weight step, C=16, 8 cells, DARTS's 8 operations on every
  edge (:class:`jaxnas.models.darts.DartsSupernet`; ``tests/fixtures/torch_darts.py``
  ``SearchNetwork``), batch 64;
* ``eval``: DARTS's evaluation network ``NetworkCIFAR`` (DARTS-V2, C=36, 20 cells, auxiliary
  head weighted 0.4, no drop path), batch 96.

jaxnas is jitted with donated buffers and the compiler options the library's trainers use;
PyTorch runs eagerly in NCHW and channels-last layouts, on each of ``--threads`` thread counts
(on a loaded 2-core machine PyTorch on 2 threads ran 5-10x slower than on 1: its threads wait
for each other at every operator; jaxnas always uses XLA's own thread pool). Per case and batch: the jaxnas compile time (``lower`` + ``compile``), PyTorch's first
step, then ``--rounds`` rounds that each time ``--steps`` steps of every implementation in turn
(drift hits all alike); images/s from the median round; the ratio of jaxnas to PyTorch's faster
layout. The float32 GEMM rate (2048^3) before and after calibrates the machine.

Run::

    PYTHONPATH=. python experiments/bench_vs_torch.py [--cases nb201 darts eval]
        [--batch-sizes 64 256] [--quick] [--json] [--out experiments/results/bench_vs_torch.json]

Needs the ``bench`` extra (torch). On a 2-core CPU: about 10 minutes for ``nb201`` and
``darts`` (steps take seconds each), ``--quick`` (tiny networks) 2-4 minutes, mostly compiling.
``eval`` at batch 96 needs about 20 GB (the process was killed for memory at 19.5 GB on a 23 GB
machine); ``--cases eval --batch-sizes 32`` stayed under 9 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jaxnas.darts.optim import sgd  # noqa: E402
from jaxnas.models import darts, layers  # noqa: E402
from jaxnas.models.speed import (  # noqa: E402
    gemm_gflops,
    interleaved,
    machine,
    median,
    numpy_variables,
)

LR, MOMENTUM, WD, CLIP, AUX_WEIGHT = 0.025, 0.9, 3e-4, 5.0, 0.4

#: per case: full and --quick sizes, default batch sizes
SIZES = {
    "nb201": {"full": {"channels": 16, "cells": 5}, "quick": {"channels": 8, "cells": 1},
              "batches": [64, 256], "quick_batches": [16]},
    "darts": {"full": {"channels": 16, "cells": 8}, "quick": {"channels": 4, "cells": 3},
              "batches": [64], "quick_batches": [8]},
    "eval": {"full": {"channels": 36, "cells": 20}, "quick": {"channels": 8, "cells": 3},
             "batches": [96], "quick_batches": [8]},
}


# ---- the networks ---------------------------------------------------------------------------

def jax_net(case: str, channels: int, cells: int, **kwargs):
    """``(module, op_weights or None, forward(params, stats, w, x) -> (logits, aux, stats),
    compiler options)``; ``kwargs`` go to the NB201 supernet (e.g. ``scan``)."""
    rng = np.random.default_rng(2)
    if case == "nb201":
        from jaxnas import spaces

        net = spaces.get("nb201").supernet(channels, cells, 10, **kwargs)
        w = jax.nn.softmax(jnp.asarray(1e-3 * rng.normal(size=(6, 5)), jnp.float32), -1)

        def fwd(p, s, w, x):
            logits, upd = net.apply({"params": p, "batch_stats": s}, x, w, train=True,
                                    mutable=["batch_stats"])
            return logits, None, upd["batch_stats"]

        return net, w, fwd, layers.compiler_options()
    if case == "darts":
        normal, reduce = darts.CANDIDATES["darts"]
        net = darts.DartsSupernet(channels, cells, 10, normal, reduce)
        w = {k: jax.nn.softmax(jnp.asarray(1e-3 * rng.normal(size=s), jnp.float32), -1)
             for k, s in net.alpha_shapes.items()}

        def fwd(p, s, w, x):
            logits, upd = net.apply({"params": p, "batch_stats": s}, x, w, train=True,
                                    mutable=["batch_stats"])
            return logits, None, upd["batch_stats"]

        return net, w, fwd, darts.compiler_options()
    net = darts.NetworkCIFAR(darts.genotype_array(*darts.DARTS_V2), darts.DARTS_OPS,
                             channels=channels, layers=cells, num_classes=10)

    def fwd(p, s, w, x):
        (logits, aux), upd = net.apply({"params": p, "batch_stats": s}, x, train=True,
                                       mutable=["batch_stats"])
        return logits, aux, upd["batch_stats"]

    return net, None, fwd, darts.compiler_options()


def torch_net(case: str, channels: int, cells: int):
    """``(module, forward(net, x) -> (logits, aux))``."""
    import torch

    from tests.fixtures import torch_darts, torch_nb201

    g = torch.Generator().manual_seed(2)
    if case == "nb201":
        w = torch.softmax(1e-3 * torch.randn(6, 5, generator=g), -1)
        return torch_nb201.Network(channels, cells, 10), lambda n, x: (n(x, w), None)
    if case == "darts":
        normal, reduce = darts.CANDIDATES["darts"]
        n_edges = sum(2 + i for i in range(4))
        wn = torch.softmax(1e-3 * torch.randn(n_edges, len(normal[0]), generator=g), -1)
        wr = torch.softmax(1e-3 * torch.randn(n_edges, len(reduce[0]), generator=g), -1)
        net = torch_darts.SearchNetwork(channels, 10, cells, normal, reduce)
        return net, lambda n, x: (n(x, wn, wr), None)
    net = torch_darts.NetworkCIFAR(channels, 10, cells, True, darts.DARTS_V2)
    return net, lambda n, x: n(x)


# ---- the steps ------------------------------------------------------------------------------

def jax_step(case: str, channels: int, cells: int, batch: int, dtype: str = "float32",
             **kwargs) -> tuple[callable, float, int]:
    """A compiled jaxnas training step as ``one() -> loss``, its compile time (s) and the
    parameter count. ``dtype``: of the images, hence of the convolutions (parameters, BatchNorm
    statistics and the loss stay float32)."""
    net, w, fwd, options = jax_net(case, channels, cells, **kwargs)
    args = (jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    shapes = jax.eval_shape(lambda: net.init(*args, w, train=False) if w is not None
                            else net.init(*args, train=False))
    v = numpy_variables(shapes)
    tx = sgd(LR, MOMENTUM, WD, CLIP)

    def step(params, stats, opt_state, x, y):
        def loss_fn(p):
            logits, aux, new = fwd(p, stats, w, x)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            if aux is not None:
                loss += AUX_WEIGHT * optax.softmax_cross_entropy_with_integer_labels(aux, y).mean()
            return loss, new
        (loss, new), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, updates), new, opt_state, loss

    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(batch, 32, 32, 3)), dtype)
    y = jnp.asarray(rng.integers(0, 10, batch), jnp.int32)
    state = [v["params"], v["batch_stats"], tx.init(v["params"])]
    t = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0, 1, 2)).lower(*state, x, y).compile(options)
    t_compile = time.perf_counter() - t

    def one():
        state[0], state[1], state[2], loss = compiled(*state, x, y)
        return loss

    n_params = sum(a.size for a in jax.tree.leaves(v["params"]))
    return one, t_compile, n_params


def torch_step(case: str, channels: int, cells: int, batch: int, channels_last: bool,
               threads: int, device: str = "cpu", dtype: str = "float32"
               ) -> tuple[callable, int]:
    """A PyTorch training step on ``threads`` threads as ``one() -> loss`` and the parameter
    count. ``dtype="bfloat16"``: autocast (float32 parameters and optimizer)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    net, fwd = torch_net(case, channels, cells)
    net = net.to(device)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    net.train()
    opt = torch.optim.SGD(net.parameters(), LR, momentum=MOMENTUM, weight_decay=WD)

    def one():
        torch.set_num_threads(threads)  # several thread counts are timed in one process
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, torch.bfloat16, enabled=dtype == "bfloat16"):
            logits, aux = fwd(net, x)
            loss = F.cross_entropy(logits, y)
            if aux is not None:
                loss = loss + AUX_WEIGHT * F.cross_entropy(aux, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
        return loss

    return one, sum(p.numel() for p in net.parameters())


def torch_sync(device: str) -> callable:
    """Waits for PyTorch's queued work on ``device`` (eager CPU work is already done)."""
    import torch

    return (lambda _: torch.cuda.synchronize()) if device == "cuda" else (lambda _: None)


def bench(case: str, channels: int, cells: int, batch: int, steps: int, rounds: int,
          threads: list[int], device: str = "cpu", dtype: str = "float32") -> dict:
    """One case at one batch size: compile/first-step times, per-round step times, images/s and
    the ratio of jaxnas to PyTorch's faster layout (PyTorch on ``device``; an empty
    ``threads`` skips PyTorch)."""
    fns, syncs, first, params = {}, {}, {}, {}
    fns["jaxnas"], compile_s, params["jaxnas"] = jax_step(case, channels, cells, batch, dtype)
    t = time.perf_counter()
    jax.block_until_ready(fns["jaxnas"]())
    first["jaxnas"] = time.perf_counter() - t
    for th in threads:
        for layout, cl in (("nchw", False), ("channels_last", True)):
            name = f"torch_{layout}_t{th}"
            fns[name], params[name] = torch_step(case, channels, cells, batch, cl, th, device,
                                                 dtype)
            syncs[name] = torch_sync(device)
            t = time.perf_counter()
            syncs[name](fns[name]())
            first[name] = time.perf_counter() - t
    times = interleaved(fns, steps, rounds, syncs)
    ips = {k: round(batch / median(ts), 2) for k, ts in times.items()}
    row = {"case": case, "channels": channels, "cells": cells, "batch": batch, "dtype": dtype,
           "params": params, "jax_compile_s": round(compile_s, 1),
           "first_step_s": {k: round(v, 2) for k, v in first.items()},
           "step_s": {k: [round(t, 3) for t in ts] for k, ts in times.items()},
           "images_per_s": ips}
    torch_names = [k for k in ips if k.startswith("torch")]
    if torch_names:
        best = max(torch_names, key=ips.get)
        row["faster_torch"] = best
        row["ratio"] = round(ips["jaxnas"] / ips[best], 2)
    return row


def table(rows: list[dict]) -> str:
    """A Markdown table: one row per case and batch, one column per implementation."""
    impls = list(dict.fromkeys(k for r in rows for k in r["images_per_s"]))
    head = ["case", "batch", "jaxnas compile s", *(f"{k} img/s" for k in impls),
            "ratio to faster torch"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        ips = r["images_per_s"]
        lines.append(" | ".join(str(v) for v in (
            f"{r['case']} C={r['channels']} cells={r['cells']}", r["batch"], r["jax_compile_s"],
            *(ips.get(k, "-") for k in impls), r.get("ratio", "-"))))
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["nb201", "darts", "eval"],
                    choices=sorted(SIZES))
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=None,
                    help="for every case (default: the case's own, see the docstring)")
    ap.add_argument("--quick", action="store_true", help="tiny networks and batches (smoke run)")
    ap.add_argument("--steps", type=int, default=2, help="steps per implementation per round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    ap.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count()],
                    help="PyTorch thread counts to time (each in both layouts; on a loaded "
                         "machine 1 thread can beat 2)")
    ap.add_argument("--no-torch", dest="torch", action="store_false")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                    help="compute dtype (bfloat16: jaxnas bfloat16 images and convolutions, "
                         "PyTorch autocast; parameters float32 in both)")
    ap.add_argument("--torch-device", default=None, choices=["cpu", "cuda"],
                    help="default: cuda when jax's default backend is a GPU, else cpu")
    ap.add_argument("--json", action="store_true", help="print the JSON document")
    ap.add_argument("--out", default=None, help="also write the JSON document here "
                    "(e.g. experiments/results/bench_vs_torch.json)")
    args = ap.parse_args(argv)
    meta = machine()
    device = args.torch_device or ("cuda" if jax.default_backend() == "gpu" else "cpu")
    if args.torch:
        import torch

        meta["torch"] = torch.__version__
        meta["torch_device"] = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    meta["gemm_gflops_before"] = gemm_gflops()
    rows = []
    for case in args.cases:
        size = SIZES[case]["quick" if args.quick else "full"]
        batches = args.batch_sizes or SIZES[case]["quick_batches" if args.quick else "batches"]
        for b in batches:
            rows.append(bench(case, size["channels"], size["cells"], b, args.steps,
                              args.rounds, args.threads if args.torch else [], device,
                              args.dtype))
            if not args.json:
                print(json.dumps(rows[-1]), flush=True)
            if args.out:  # after every row: a later case that fails keeps the earlier ones
                Path(args.out).write_text(json.dumps(
                    {"meta": meta, "config": vars(args), "results": rows}, indent=2) + "\n")
    meta["gemm_gflops_after"] = gemm_gflops()
    meta["loadavg_after"] = machine()["loadavg"]
    out = {"meta": meta, "config": vars(args), "results": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(table(rows))
        print(f"GEMM calibration {meta['gemm_gflops_before']} -> {meta['gemm_gflops_after']} "
              f"GFLOP/s; load average {meta['loadavg']} -> {meta['loadavg_after']}; "
              f"{meta['date']}")
    return out


if __name__ == "__main__":
    main()
