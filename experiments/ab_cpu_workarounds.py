"""Interleaved A/B, in one process, of the XLA:CPU workarounds in :mod:`jaxnas.models.layers`
on the NB201 supernet weight step (issue 21, item 3).

Variants (``--variants``), each the step of ``experiments/bench_vs_torch.py`` compiled with a
different convolution / fence:

* ``current``: the library as it is;
* ``gemm``: cell convolutions as chunked im2col GEMMs (:func:`jaxnas.models.layers.conv2d`),
  fences on;
* ``xla``: XLA's own convolutions and their gradients (on jaxlib 0.10 XLA:CPU runs them as
  YNNPACK fusions), fences on;
* ``..._nofence``: without :func:`jaxnas.models.layers.fence`;
* ``..._unrolled``: ``Network(scan=False)`` (XLA:CPU's YNNPACK convolutions inside the scanned
  stage's while loop run ~30x slower than unrolled ones);
* ``..._chunkN``: :data:`jaxnas.models.layers.CHUNK_PIXELS` = N pixels per im2col chunk
  (the library's is 2,048).

Run: ``PYTHONPATH=. python experiments/ab_cpu_workarounds.py [--batch 64] [--variants ...]
[--torch-threads 1]`` (``taskset -c 0 ...``: everything on one core).
Prints compile time and images/s per variant (median of the interleaved rounds) and the GEMM
calibration before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments.bench_vs_torch import jax_step, torch_step  # noqa: E402
from jaxnas.models import layers  # noqa: E402
from jaxnas.models.nb201 import cell  # noqa: E402
from jaxnas.models.speed import gemm_gflops, interleaved, machine, median  # noqa: E402


def _xla_conv(x, kernel, stride=1, padding=0, relu=False):
    return layers._conv(jax.numpy.maximum(x, 0) if relu else x, kernel, stride, padding)


@contextlib.contextmanager
def variant(name: str):
    """Patches :mod:`jaxnas.models.layers` for tracing one variant (restored afterwards)."""
    saved = layers.conv2d, cell.fence, layers.CHUNK_PIXELS
    try:
        chunk = re.search(r"chunk(\d+)", name)
        if chunk:
            layers.CHUNK_PIXELS = int(chunk.group(1))
        if name.startswith("xla"):
            layers.conv2d = _xla_conv
        if "nofence" in name:
            cell.fence = lambda x: x
        yield
    finally:
        layers.conv2d, cell.fence, layers.CHUNK_PIXELS = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--variants", nargs="+", default=["gemm", "xla"])
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--torch-threads", type=int, nargs="*", default=[],
                    help="also time PyTorch (channels-last) on these thread counts, interleaved")
    args = ap.parse_args()
    meta = machine()
    meta["gemm_gflops_before"] = gemm_gflops()
    fns, compile_s = {}, {}
    for v in args.variants:
        with variant(v):
            fns[v], compile_s[v], _ = jax_step("nb201", args.channels, args.cells, args.batch,
                                               scan="unrolled" not in v)
        t = time.perf_counter()
        jax.block_until_ready(fns[v]())
        print(f"{v}: compile {compile_s[v]:.1f} s, first step {time.perf_counter() - t:.2f} s",
              flush=True)
    for th in args.torch_threads:
        name = f"torch_channels_last_t{th}"
        fns[name], _ = torch_step("nb201", args.channels, args.cells, args.batch, True, th)
        compile_s[name] = 0.0
        fns[name]()
    times = interleaved(fns, args.steps, args.rounds,
                        {k: (lambda _: None) for k in fns if k.startswith("torch")})
    meta["gemm_gflops_after"] = gemm_gflops()
    meta["loadavg_after"] = machine()["loadavg"]
    out = {v: {"compile_s": round(compile_s[v], 1), "step_s": [round(t, 3) for t in times[v]],
               "images_per_s": round(args.batch / median(times[v]), 1)} for v in fns}
    print(json.dumps({"meta": meta, "config": vars(args), "results": out}, indent=1))


if __name__ == "__main__":
    main()
