"""Speed of the DARTS evaluation network's training step (issue 18) against a PyTorch
implementation of the same network, in the same run.

jaxnas: the step ``jaxnas train`` runs (:func:`jaxnas.train.make_train_step`) for
``NetworkCIFAR(DARTS_V2, C, layers)`` with the ``darts`` protocol: on-device crop/flip and
cutout 16, drop path 0.2 at its final rate, auxiliary head (weight 0.4), clip 5 -> weight decay
3e-4 -> SGD momentum 0.9; jitted with donated state, with the compiler options ``jaxnas train``
uses (``layers``: :func:`jaxnas.models.layers.compiler_options`) and with the DARTS models' own
(``darts``: :func:`jaxnas.models.darts.compiler_options`).

PyTorch: ``tests/fixtures/torch_darts.NetworkCIFAR`` (the same network and auxiliary head, no
drop path, no augmentation: in the reference they run in DataLoader workers), eager, forward +
``loss + 0.4 * aux_loss`` + backward + ``clip_grad_norm_(5)`` + ``SGD(momentum=0.9,
weight_decay=3e-4)``, in NCHW and channels-last layouts, ``torch.set_num_threads(--threads)``.

Reports compile time and steady-state images/second (median of ``--repeats`` timings of
``--steps`` steps, after a warm-up step), the ratio of jaxnas to PyTorch's faster layout, and a
float32 GEMM rate before and after (the shared machine's current speed). Writes the JSON to
``--out`` (default ``experiments/bench_train.json``).

Run: ``PYTHONPATH=. python experiments/bench_train.py`` (the issue's size: 20 cells, C=36, batch
96; tens of minutes on a 2-core CPU). Smoke: ``--channels 4 --layers 3 --batch 8 --steps 1
--repeats 1 --out /tmp/bench_train_smoke.json``. Target: >= 1.0x PyTorch's faster layout.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jaxnas import train  # noqa: E402
from jaxnas.models import darts  # noqa: E402
from jaxnas.models.layers import compiler_options  # noqa: E402
from jaxnas.spaces.darts import DARTS_V2  # noqa: E402

OPTIONS = {"layers": compiler_options, "darts": darts.compiler_options}
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def timed(fn, steps: int, repeats: int) -> list[float]:
    """Seconds per call of each of ``repeats`` timings of ``steps`` calls."""
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = None
        for _ in range(steps):
            out = fn()
        jax.block_until_ready(out)
        ts.append((time.perf_counter() - t) / steps)
    return ts


def bench_jax(channels: int, layers: int, batch: int, steps: int, repeats: int, options: str,
              precision: str = "float32") -> dict:
    config = train.make_config("darts", "darts", arch=DARTS_V2, channels=channels,
                               layers=layers, batch_size=batch, precision=precision)
    net = train.network(config, num_classes=10)
    tx = train.sgd(config.lr, config.momentum, config.nesterov, config.weight_decay,
                   config.grad_clip)
    state = train.init_state(jax.random.key(0), net, tx, (32, 32, 3))
    # the final drop path rate from step 0: epochs=1, steps_per_epoch=1 -> rate(step >= 1) = 0.2
    step = train.make_train_step(net, tx, MEAN, STD, lr_schedule=lambda s: config.lr,
                                 epochs=1, steps_per_epoch=1, aux_weight=config.aux_weight,
                                 cutout=config.cutout, drop_path=config.drop_path,
                                 precision=precision)
    state = state.replace(step=jnp.ones((), jnp.int32))
    rng = np.random.default_rng(1)
    b = (jnp.asarray(rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)),
         jnp.asarray(rng.integers(0, 10, batch), jnp.int32))
    t = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0,)).lower(state, b).compile(OPTIONS[options]())
    t_compile = time.perf_counter() - t
    box = [state]

    def one():
        box[0], m = compiled(box[0], b)
        return m["loss"]

    jax.block_until_ready(one())
    ts = timed(one, steps, repeats)
    return {"impl": "jaxnas", "options": options, "precision": precision, "batch": batch,
            "compile_s": round(t_compile, 1), "step_s": [round(x, 3) for x in ts],
            "images_per_s": round(batch / statistics.median(ts), 2)}


def bench_torch(channels: int, layers: int, batch: int, steps: int, repeats: int,
                channels_last: bool, threads: int) -> dict:
    import torch

    from jaxnas.models.darts import DARTS_V2 as V2_LISTS
    from tests.fixtures import torch_darts

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch_darts.NetworkCIFAR(channels, 10, layers, True, V2_LISTS).train()
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), 0.025, momentum=0.9, weight_decay=3e-4)

    def one():
        opt.zero_grad()
        logits, aux = net(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss = loss + 0.4 * torch.nn.functional.cross_entropy(aux, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        return None

    one()
    ts = timed(one, steps, repeats)
    return {"impl": "torch", "torch": torch.__version__,
            "layout": "channels_last" if channels_last else "nchw", "batch": batch,
            "threads": threads, "step_s": [round(x, 3) for x in ts],
            "images_per_s": round(batch / statistics.median(ts), 2)}


def gemm_gflops(n: int = 1024) -> float:
    a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    jax.block_until_ready(f(a))
    return round(2 * n**3 / statistics.median(timed(lambda: f(a), 3, 3)) / 1e9, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=36)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--steps", type=int, default=2, help="steps per timing")
    ap.add_argument("--repeats", type=int, default=3, help="timings; the median is reported")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    ap.add_argument("--options", nargs="+", default=["darts", "layers"], choices=sorted(OPTIONS))
    ap.add_argument("--bf16", action="store_true", help="also time precision=bfloat16")
    ap.add_argument("--no-torch", dest="torch", action="store_false")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "bench_train.json"))
    args = ap.parse_args()
    meta = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
            "machine": platform.machine(), "processor": platform.processor(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "gemm_gflops_before": gemm_gflops()}
    rows = []
    for o in args.options:
        rows.append(bench_jax(args.channels, args.layers, args.batch, args.steps, args.repeats,
                              o))
        print(rows[-1], flush=True)
    if args.bf16:
        rows.append(bench_jax(args.channels, args.layers, args.batch, args.steps, args.repeats,
                              args.options[0], "bfloat16"))
        print(rows[-1], flush=True)
    if args.torch:
        for cl in (False, True):
            rows.append(bench_torch(args.channels, args.layers, args.batch, args.steps,
                                    args.repeats, cl, args.threads))
            print(rows[-1], flush=True)
    meta["gemm_gflops_after"] = gemm_gflops()
    t = [r["images_per_s"] for r in rows if r["impl"] == "torch"]
    ratios = {f"{r['options']}/{r['precision']}": round(r["images_per_s"] / max(t), 2)
              for r in rows if r["impl"] == "jaxnas" and t}
    out = {"meta": meta, "config": vars(args), "results": rows, "ratio_to_faster_torch": ratios}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"ratio jaxnas / faster PyTorch layout: {ratios}; wrote {args.out}")


if __name__ == "__main__":
    main()
