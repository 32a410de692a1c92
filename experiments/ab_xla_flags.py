"""XLA:CPU flags that can only be set per process (``XLA_FLAGS``), A/B-tested on the NB201
supernet weight step against PyTorch channels-last in the same child process (issue 21).

``experiments/ab_cpu_workarounds.py`` compares convolution variants in one process; flags such as
``--xla_cpu_use_onednn`` are read once per process, so each (flags, variant) case runs as a
child ``ab_cpu_workarounds.py --variants V --torch-threads T`` with its own ``XLA_FLAGS``, and
its figure is the ratio to PyTorch timed interleaved in that child (which cancels most of the
drift of a shared machine). The default case runs first and last, as a drift check.

Run: ``PYTHONPATH=. python experiments/ab_xla_flags.py [--batch 64] [--rounds 3]
[--torch-threads 2] [--cases NAME ...] [--out experiments/results/ab_xla_flags.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (XLA_FLAGS, ab_cpu_workarounds variant): ``gemm`` is the library's im2col path in
# scanned stages (the default), ``xla_unrolled`` XLA's own convolutions in unrolled stages.
YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="  # no ynn_fusion in the optimised HLO
CASES = {
    "default/gemm": ("", "gemm"),
    "default/xla_unrolled": ("", "xla_unrolled"),
    "onednn/gemm": ("--xla_cpu_use_onednn=true", "gemm"),
    "onednn/xla_unrolled": ("--xla_cpu_use_onednn=true", "xla_unrolled"),
    "ynn_individual_conv/xla_unrolled": (
        "--xla_cpu_experimental_ynn_fusion_type=individual_convolution", "xla_unrolled"),
    "ynn_off/xla_unrolled": (YNN_OFF, "xla_unrolled"),
    "ynn_off/xla": (YNN_OFF, "xla"),
    "ynn_off/gemm": (YNN_OFF, "gemm"),
    "xnnpack/xla_unrolled": ("--xla_cpu_use_xnnpack=true", "xla_unrolled"),
    "fast_math/gemm": ("--xla_cpu_enable_fast_math=true", "gemm"),
}


def run_case(name: str, batch: int, rounds: int, threads: int) -> dict:
    flags, var = CASES[name]
    env = dict(os.environ, XLA_FLAGS=flags, PYTHONPATH=str(HERE.parent))
    cmd = [sys.executable, str(HERE / "ab_cpu_workarounds.py"), "--batch", str(batch),
           "--variants", var, "--rounds", str(rounds), "--torch-threads", str(threads)]
    t = time.time()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        return {"case": name, "xla_flags": flags, "variant": var, "error": r.stderr[-500:]}
    out = json.loads(r.stdout[r.stdout.index("{"):])
    res = out["results"]
    torch = res[f"torch_channels_last_t{threads}"]["images_per_s"]
    ours = res[var]["images_per_s"]
    return {"case": name, "xla_flags": flags, "variant": var, "jaxnas_images_per_s": ours,
            "torch_cl_images_per_s": torch, "ratio": round(ours / torch, 3),
            "compile_s": res[var]["compile_s"], "wall_s": round(time.time() - t, 1),
            "loadavg": out["meta"].get("loadavg"),
            "loadavg_after": out["meta"].get("loadavg_after")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--torch-threads", type=int, default=2)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "ab_xla_flags.json")
    args = ap.parse_args()
    order = list(args.cases)
    if "default/gemm" in order:  # first and last: the drift check
        order = ["default/gemm", *[c for c in order if c != "default/gemm"], "default/gemm"]
    rows = []
    print(f"{'case':36s} {'jaxnas img/s':>12s} {'torch CL':>9s} {'ratio':>6s} {'compile':>8s}",
          flush=True)
    for name in order:
        r = run_case(name, args.batch, args.rounds, args.torch_threads)
        rows.append(r)
        if "error" in r:
            print(f"{name:36s} failed: {r['error'].strip().splitlines()[-1:]}", flush=True)
        else:
            print(f"{name:36s} {r['jaxnas_images_per_s']:12.1f} {r['torch_cl_images_per_s']:9.1f} "
                  f"{r['ratio']:6.2f} {r['compile_s']:7.1f}s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                              time.gmtime()),
                                        "config": {k: str(v) for k, v in vars(args).items()},
                                        "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
