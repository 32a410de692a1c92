"""Speed of the NB301 surrogate (YAHPO Gym's ONNX model): jitted JAX against onnxruntime.

For every batch size, on the same random DARTS genotypes and epochs, in the same run and
interleaved (so a busy machine slows both alike), queries per second of

  * ``jax``: ``jax.jit(nb301.predict_columns)`` on the same ``x_cat``/epoch arrays onnxruntime
    gets: the optimized graph (:func:`onnx_graph.optimize`, what ``nb301.load`` returns), batches
    over 1,024 rows in 1,024-row steps (``CPU_CHUNK``);
  * ``jax_one_step``: the same in one step (``chunk=0``);
  * ``jax_genotype``: ``jax.jit(nb301.predict)`` from the genotype arrays (the encoding
    included: what a search loop calls);
  * ``jax_raw``: the node-by-node port without the load-time rewrites, one step (the first
    version, for the record);
  * ``ort``: ``onnxruntime.InferenceSession.run`` (CPU provider, default threads);

after compilation (``lower().compile()`` seconds reported apart), best and median of ``--repeats`` timings,
each timing a loop of at least ``--min-seconds``. Also checks that JAX and onnxruntime agree.

Then (issue 17's second target) ``--trials`` x ``--budget`` queries of each ``--search`` algorithm
on ``nb301`` (denoised), compiled once and timed in interleaved rounds after compilation: wall
seconds (best and median) and the process's CPU seconds (all threads; steadier than wall time on
a shared machine), with the load average before and after.

Run: ``PYTHONPATH=. python experiments/bench_nb301.py [--json] [--batches 1,300,10000,100000]
[--search local_search,random_search] [--skip-queries]`` (about 4 minutes on a 2-core CPU).
Targets: ``jax`` >= ``ort`` at every batch size; local search 1,000 x 300 in <= 5 s.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import paths
from jaxnas.benchmarks import nb301


def random_archs(rng: np.random.Generator, n: int) -> np.ndarray:
    """``int32[n, 2, 8, 2]`` valid DARTS genotypes (ops among the 7 non-none of DARTS_OPS)."""
    arch = np.empty((n, 2, 8, 2), np.int32)
    for i in range(4):
        pairs = np.array([(a, b) for b in range(i + 2) for a in range(i + 2) if a != b])
        arch[:, :, 2 * i:2 * i + 2, 0] = pairs[rng.integers(0, len(pairs), (n, 2))]
    arch[..., 1] = rng.integers(1, len(nb301.DARTS_OPS), (n, 2, 8))
    return arch


def timing(fn, min_seconds: float) -> float:
    """Seconds per call of ``fn`` (a loop of calls lasting at least ``min_seconds``)."""
    n, t = 0, 0.0
    t0 = time.perf_counter()
    while t < min_seconds:
        jax.block_until_ready(fn())
        n += 1
        t = time.perf_counter() - t0
    return t / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="1,300,10000,100000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=0.3)
    ap.add_argument("--no-raw", action="store_true", help="skip the unoptimized graph")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--search", default="local_search,random_search",
                    help="algorithms to time on nb301 ('' to skip)")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--skip-queries", action="store_true",
                    help="skip the queries-per-second comparison with onnxruntime")
    args = ap.parse_args()

    import onnxruntime as ort

    surrogate = nb301.load(args.data_dir, write_cache=False)
    raw = nb301.load(args.data_dir, write_cache=False, optimize=False)
    model_path = paths.find_file(nb301.MODEL_FILE, args.data_dir)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    columns = jax.jit(nb301.predict_columns, static_argnames="chunk")
    predict = jax.jit(nb301.predict)
    rng = np.random.default_rng(0)
    res: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {jax.devices()[0].platform}",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "versions": {"jax": jax.__version__, "onnxruntime": ort.__version__,
                     "numpy": np.__version__},
        "load_avg_start": os.getloadavg(),
        "repeats": args.repeats, "batches": [],
    }
    for b in ([] if args.skip_queries else (int(x) for x in args.batches.split(","))):
        archs = random_archs(rng, b)
        epochs = rng.integers(1, 99, b).astype(np.float32)
        x_cat = np.asarray(nb301.x_cat_of(surrogate, archs))
        x_cont = epochs[:, None]
        aj, ej, xcj = map(jnp.asarray, (archs, epochs, x_cat))
        variants = {  # name: (jitted function, args, static kwargs)
            "jax": (columns, (surrogate, xcj, ej), {}),
            "jax_one_step": (columns, (surrogate, xcj, ej), {"chunk": 0}),
            "jax_genotype": (predict, (surrogate, aj, ej), {}),
        }
        if not args.no_raw:
            variants["jax_raw"] = (columns, (raw, xcj, ej), {"chunk": 0})
        compile_s, calls = {}, {}
        for name, (fn, a, kw) in variants.items():
            t0 = time.perf_counter()
            compiled = fn.lower(*a, **kw).compile()
            compile_s[name] = time.perf_counter() - t0
            calls[name] = functools.partial(compiled, *a)
        calls["ort"] = functools.partial(session.run, None, {"x_cat": x_cat, "x_cont": x_cont})
        ref = session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0]
        ours = np.asarray(calls["jax"]())
        for fn in calls.values():  # warm
            jax.block_until_ready(fn())
        times: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(args.repeats):
            for k, fn in calls.items():  # interleaved: contention hits all alike
                times[k].append(timing(fn, args.min_seconds))
        row = {"batch": b, "compile_s": compile_s,
               "max_abs_diff_accuracy": float(np.abs(ours[:, 0] - ref[:, 0]).max())}
        for k, ts in times.items():
            row[f"{k}_qps_best"] = b / min(ts)
            row[f"{k}_qps_median"] = b / statistics.median(ts)
        row["jax_over_ort_median"] = row["jax_qps_median"] / row["ort_qps_median"]
        res["batches"].append(row)
        if not args.json:
            print(f"B={b:>6}: " + "  ".join(
                f"{k} {row[f'{k}_qps_median']:>9.0f} q/s (best {row[f'{k}_qps_best']:.0f})"
                for k in calls) + f"  compile {compile_s}  diff {row['max_abs_diff_accuracy']:.1e}",
                flush=True)
    if args.search:
        res["search"] = time_search(args.search.split(","), args.trials, args.budget,
                                    args.repeats, args.data_dir, verbose=not args.json)
    res["load_avg_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(res, indent=2))


def time_search(names: list[str], trials: int, budget: int, repeats: int, data_dir,
                verbose: bool = True) -> dict:
    """Run seconds of ``trials`` x ``budget`` queries of each algorithm on ``nb301`` (denoised),
    after compilation; rounds interleave the algorithms so a drifting machine slows all alike."""
    from jaxnas import benchmarks
    from jaxnas.reports.search import compile_run
    from jaxnas.search import get_algorithm

    bench = benchmarks.load("nb301", data_dir=data_dir)
    compiled = {n: compile_run(get_algorithm(n), jax.random.key(0), bench, "denoised", trials,
                               budget) for n in names}
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    out = {}
    for _ in range(repeats):
        for n in names:
            t0, c0 = time.perf_counter(), time.process_time()
            tr = jax.block_until_ready(compiled[n][0](jax.random.key(0), bench))
            walls[n].append(time.perf_counter() - t0)
            cpus[n].append(time.process_time() - c0)
            out[n] = {"final_valid_mean": float(np.nanmean(np.asarray(tr.test)[:, -1])),
                      "max_steps": int(np.max(np.asarray(tr.num_steps)))}
    for n in names:
        out[n].update(trials=trials, budget=budget, compile_s=compiled[n][1],
                      run_s_best=min(walls[n]), run_s_median=statistics.median(walls[n]),
                      cpu_s_best=min(cpus[n]), load_avg=os.getloadavg()[0])
        if verbose:
            r = out[n]
            print(f"{n}: {trials} x {budget} on nb301: run {r['run_s_best']:.2f} s best, "
                  f"{r['run_s_median']:.2f} s median, CPU {r['cpu_s_best']:.2f} s, compile "
                  f"{r['compile_s']:.1f} s, final valid {r['final_valid_mean']:.3f}", flush=True)
    return out


if __name__ == "__main__":
    main()
