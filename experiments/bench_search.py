"""Speed of the tabular NAS machinery (issue: local search vectorized over restarts).

Measures, after compilation (best of ``--repeats``):
  1. best-improvement local search from all 15,625 NAS-Bench-201 starts to convergence:
     jaxnas (jit, pointer doubling), a NumPy vectorized version, and a plain Python loop;
  2. 10^6 random restarts of local search in one jit call (all-starts + sampling);
  3. 1,000 trials x 300-query budget of each search algorithm (vmapped ``while_loop``), under
     each protocol it has (``jaxnas``; ``naszilla``, reported as ``naszilla:<name>``).

Run: ``python experiments/bench_search.py [--json] [--repeats 5]`` (about 1 minute on a 2-core
CPU). Targets on this 2-core CPU: (1) <= 3 ms, (2) <= 100 ms, (3) <= 1 s per algorithm.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import benchmarks
from jaxnas.analysis import landscape as L
from jaxnas.reports.search import compile_run
from jaxnas.search import ALGORITHM_PROTOCOLS, ALGORITHMS, PROTOCOLS, get_algorithm


def numpy_all_starts(values: np.ndarray, nbr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All starts at once, one improving move per sweep (vectorized over starts)."""
    cur = np.arange(values.shape[0])
    iters = np.ones(values.shape[0], np.int64)
    while True:
        cand = nbr[cur, np.argmax(values[nbr[cur]], axis=1)]
        move = values[cand] > values[cur]
        if not move.any():
            return cur, iters
        cur = np.where(move, cand, cur)
        iters += move


def python_all_starts(values: list[float], nbr: list[list[int]]) -> list[int]:
    """One start at a time, Algorithm 1 written plainly."""
    out = []
    for v in range(len(values)):
        while True:
            best = max(nbr[v], key=values.__getitem__)
            if values[best] > values[v]:
                v = best
            else:
                break
        out.append(v)
    return out


def best_of(fn, repeats: int) -> float:
    t = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        t = min(t, time.perf_counter() - t0)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--restarts", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--skip-python", action="store_true", help="skip the ~6 s plain-Python loop")
    ap.add_argument("--protocol", default=",".join(PROTOCOLS),
                    help="comma list of search protocols to time (default: all)")
    ap.add_argument("--algo", default=None, help="comma list of algorithms (default: all)")
    args = ap.parse_args()

    bench = benchmarks.load("nb201", args.dataset)
    values = bench.valid
    nbr = jnp.asarray(bench.space.neighbour_table()[0])
    res: dict = {"machine": f"{platform.processor() or platform.machine()}, "
                            f"{jax.device_count()} x {jax.devices()[0].platform}",
                 "jax": jax.__version__, "dataset": args.dataset}

    # 1. all starts
    f_all = jax.jit(L.all_starts)
    t0 = time.perf_counter()
    f_all = f_all.lower(values, nbr).compile()
    res["all_starts_compile_s"] = time.perf_counter() - t0
    res["all_starts_jax_ms"] = 1e3 * best_of(lambda: f_all(values, nbr), args.repeats * 4)
    v_np, nbr_np = np.asarray(values), np.asarray(nbr)
    res["all_starts_numpy_ms"] = 1e3 * best_of(lambda: numpy_all_starts(v_np, nbr_np), args.repeats)
    term_np, _ = numpy_all_starts(v_np, nbr_np)
    assert np.array_equal(np.asarray(f_all(values, nbr).terminal), term_np)
    if not args.skip_python:
        v_py, nbr_py = v_np.tolist(), nbr_np.tolist()
        t0 = time.perf_counter()
        term_py = python_all_starts(v_py, nbr_py)
        res["all_starts_python_s"] = time.perf_counter() - t0
        assert term_py == term_np.tolist()

    # 2. random restarts in one jit call
    def restarts(key, values):
        return L.random_restarts(key, L.all_starts(values, nbr), args.restarts)

    f_r = jax.jit(restarts).lower(jax.random.key(0), values).compile()
    res["restarts"] = args.restarts
    res["restarts_ms"] = 1e3 * best_of(lambda: f_r(jax.random.key(1), values), args.repeats)

    # 3. search algorithms
    res["search"] = {}
    protocols = args.protocol.split(",")
    names = args.algo.split(",") if args.algo else sorted(ALGORITHMS)
    runs = [(n, p) for p in protocols for n in names if p in ALGORITHM_PROTOCOLS[n]]
    compiled = {}
    for name, protocol in runs:
        compiled[name, protocol] = compile_run(get_algorithm(name, protocol), jax.random.key(0),
                                               bench, "standard", args.trials, args.budget)
    # timed in interleaved rounds (every algorithm once per round), so that a machine whose
    # speed drifts (shared CPUs) slows every algorithm alike; best round per algorithm
    best = dict.fromkeys(runs, float("inf"))
    traj = {}
    for r in range(max(2, args.repeats // 2)):
        for run in runs:
            t0 = time.perf_counter()
            traj[run] = jax.block_until_ready(compiled[run][0](jax.random.key(r), bench))
            best[run] = min(best[run], time.perf_counter() - t0)
    for (name, protocol), t in best.items():
        tr = traj[name, protocol]
        label = name if protocol == "jaxnas" else f"{protocol}:{name}"
        res["search"][label] = {"trials": args.trials, "budget": args.budget, "noise": "standard",
                                "protocol": protocol, "run_s": t,
                                "compile_s": compiled[name, protocol][1],
                                "mean_steps": float(np.mean(np.asarray(tr.num_steps))),
                                "final_test_mean": float(np.nanmean(np.asarray(tr.test)[:, -1]))}

    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"machine: {res['machine']}, jax {res['jax']}")
    print("all 15,625 starts, best-improvement LS to convergence:")
    print(f"  jaxnas (jit)   {res['all_starts_jax_ms']:8.2f} ms   (compile {res['all_starts_compile_s']:.2f} s)")
    print(f"  NumPy          {res['all_starts_numpy_ms']:8.2f} ms")
    if "all_starts_python_s" in res:
        print(f"  Python loop    {1e3 * res['all_starts_python_s']:8.0f} ms")
    print(f"{args.restarts:,} random restarts in one jit call: {res['restarts_ms']:.1f} ms")
    print(f"{args.trials} trials x {args.budget} queries (standard noise):")
    for name, r in res["search"].items():
        print(f"  {name:37s} run {r['run_s']:.3f} s  compile {r['compile_s']:.2f} s  "
              f"steps {r['mean_steps']:7.1f}  final test {r['final_test_mean']:.2f}")


if __name__ == "__main__":
    main()
