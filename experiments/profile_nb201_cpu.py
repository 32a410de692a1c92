"""Where the time of the NB201 supernet weight step goes on CPU: jaxnas (``jax.profiler`` trace
of the compiled step, XLA:CPU thunks named by ``xla_cpu_enable_xprof_traceme``) against PyTorch
(``torch.profiler``), same step as ``experiments/bench_vs_torch.py`` (issue 21, item 3).

jaxnas operations are grouped by kind (YNNPACK/XNNPACK library fusion: the convolutions and,
on jaxlib 0.10, also matrix products; other GEMM, convolution, elementwise fusion, copy/slice,
reduction, other); PyTorch's by operator (``key_averages``, self CPU time).
Times are summed over threads, so on two threads they add up to about twice the wall time.

Run: ``PYTHONPATH=. python experiments/profile_nb201_cpu.py [--batch 64]
[--variant xla_unrolled] [--threads 1] [--top 25]``.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import bench_vs_torch  # noqa: E402
from experiments.ab_cpu_workarounds import variant  # noqa: E402
from jaxnas.models import layers  # noqa: E402

KINDS = [("ynn/xnn library fusion (conv or dot)", r"ynn|xnn"), ("gemm", r"^(dot|custom-call|.*matmul|.*gemm)"),
         ("convolution", r"convolution"), ("copy/slice", r"copy|slice|transpose|concat|pad"),
         ("reduce", r"reduce"), ("while/scan", r"while|call|conditional"),
         ("elementwise fusion", r"fusion")]


def kind(name: str) -> str:
    for k, pat in KINDS:
        if re.search(pat, name):
            return k
    return "other"


def jax_profile(batch: int, variant_name: str, steps: int) -> dict:
    base = layers.compiler_options
    layers.compiler_options = lambda: {**(base() or {}), "xla_cpu_enable_xprof_traceme": True}
    try:
        with variant(variant_name):
            one, compile_s, _ = bench_vs_torch.jax_step(
                "nb201", 16, 5, batch, scan="unrolled" not in variant_name)
    finally:
        layers.compiler_options = base
    jax.block_until_ready(one())
    d = tempfile.mkdtemp()
    t = time.perf_counter()
    with jax.profiler.trace(d, create_perfetto_trace=True):
        for _ in range(steps):
            jax.block_until_ready(one())
    wall = (time.perf_counter() - t) / steps
    trace = next(Path(d).rglob("*.trace.json.gz"))
    events = json.load(gzip.open(trace))["traceEvents"]
    by_name: dict[str, float] = collections.Counter()
    for e in events:
        name = e.get("name", "")
        # thunks only: not Python frames ($...), not the executor and PjRt wrappers
        if e.get("ph") != "X" or "dur" not in e or name.startswith("$") or "::" in name \
                or name.startswith("PjitFunction"):
            continue
        by_name[re.sub(r"\.\d+$", "", name)] += e["dur"] / 1e3 / steps
    by_kind: dict[str, float] = collections.Counter()
    for n, ms in by_name.items():
        by_kind[kind(n)] += ms
    return {"wall_ms": round(1e3 * wall, 1), "by_kind_ms": dict(by_kind.most_common()),
            "top_ms": dict(collections.Counter(by_name).most_common(40)),
            "compile_s": round(compile_s, 1)}


def torch_profile(batch: int, threads: int, channels_last: bool, steps: int) -> dict:
    import torch

    one, _ = bench_vs_torch.torch_step("nb201", 16, 5, batch, channels_last, threads)
    one()
    t = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            one()
    wall = (time.perf_counter() - t) / steps
    avg = prof.key_averages()
    rows = sorted(((e.key, e.self_cpu_time_total / 1e3 / steps) for e in avg),
                  key=lambda r: -r[1])
    return {"wall_ms": round(1e3 * wall, 1), "top_self_ms": {k: round(v, 1) for k, v in rows[:40]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--variant", default="current")
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--no-torch", dest="torch", action="store_false")
    args = ap.parse_args()
    out = {"jaxnas": jax_profile(args.batch, args.variant, args.steps)}
    if args.torch:
        out["torch_channels_last"] = torch_profile(args.batch, args.threads, True, args.steps)
    for v in out.values():
        for part in ("by_kind_ms", "top_ms", "top_self_ms"):
            if part in v:
                v[part] = {n: round(ms, 1) for n, ms in v[part].items()}
    print(json.dumps({"config": vars(args), **out}, indent=1))


if __name__ == "__main__":
    main()
