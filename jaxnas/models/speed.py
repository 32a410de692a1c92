"""Timing helpers for the speed benchmarks (``experiments/bench_*.py``).

Speed on a shared machine drifts with its neighbours, so every benchmark reports a calibration
(:func:`gemm_gflops`, the float32 2048^3 matrix-product rate, before and after) and compares
implementations *interleaved* (:func:`interleaved`: each round times every implementation once,
so drift hits all of them alike). Parameters for speed runs come from NumPy
(:func:`numpy_variables`): the values do not matter and compiling the threefry initialisers is
slow on CPU.
"""

from __future__ import annotations

import math
import platform
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.models.layers import kernel_fan_in


def numpy_variables(shapes, seed: int = 0) -> dict:
    """He-normal ``kernel`` leaves, ones for ``scale``/``var``, zeros elsewhere, from NumPy.

    Args:
        shapes: a variables tree of ``jax.ShapeDtypeStruct`` (``jax.eval_shape`` of an init).
        seed: NumPy seed.

    Returns:
        The same tree of float32 arrays.
    """
    rng = np.random.default_rng(seed)

    def fill(path, s):
        name = path[-1].key
        if name == "kernel":
            std = math.sqrt(2.0 / kernel_fan_in(s.shape))
            return jnp.asarray(rng.normal(0, std, s.shape), jnp.float32)
        one = name in ("scale", "var")
        return (jnp.ones if one else jnp.zeros)(s.shape, jnp.float32)

    return dict(jax.tree_util.tree_map_with_path(fill, shapes))


def timed(fn: Callable, steps: int, repeats: int, sync: Callable = jax.block_until_ready
          ) -> list[float]:
    """Seconds per call of each of ``repeats`` timings of ``steps`` calls of ``fn()``;
    ``sync(out)`` waits for the last output (default: :func:`jax.block_until_ready`)."""
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            out = fn()
        sync(out)
        ts.append((time.perf_counter() - t) / steps)
    return ts


def interleaved(fns: dict[str, Callable], steps: int, rounds: int,
                syncs: dict[str, Callable] | None = None) -> dict[str, list[float]]:
    """Times several implementations alternately: ``rounds`` rounds, each timing ``steps`` calls
    of every ``fns[name]()`` in turn (call each once before, to warm up). ``syncs[name](out)``
    waits for an implementation's last output (default :func:`jax.block_until_ready`).

    Returns:
        ``{name: [seconds per call in each round]}``.
    """
    syncs = syncs or {}
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            out[k] += timed(fn, steps, 1, syncs.get(k, jax.block_until_ready))
    return out


def median(ts: list[float]) -> float:
    return statistics.median(ts)


def gemm_gflops(n: int = 2048) -> float:
    """float32 ``n^3`` matrix-product rate on the default device, GFLOP/s (median of 3 timings
    of 3 products): a calibration of the machine's current speed."""
    a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    jax.block_until_ready(f(a))
    return round(2 * n**3 / median(timed(lambda: f(a), 3, 3)) / 1e9, 1)


def machine() -> dict:
    """Devices, jax version, CPU and the 1/5/15-minute load averages (where the OS has them)."""
    try:
        import os

        load = [round(x, 2) for x in os.getloadavg()]
        cpus = os.cpu_count()
    except (AttributeError, OSError):
        load, cpus = None, None
    return {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
            "machine": platform.machine(), "processor": platform.processor(), "cpus": cpus,
            "loadavg": load, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


__all__ = ["gemm_gflops", "interleaved", "machine", "median", "numpy_variables", "timed"]
