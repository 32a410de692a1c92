"""Speed of the NAS-Bench-101 machinery (issue 19).

Measures, after compilation (best of ``--repeats``), on the 423,624 cells of the space
(:func:`jaxnas.spaces.nb101.enumerate_cells`, every cell once):
  1. ``arch_key`` (the jit-able graph hash) over all cells, and that all keys are distinct;
  2. ``neighbours`` (naszilla's 31 rows with duplicate masking) and ``sample``, vmapped;
  3. table look-ups (``query``: hash + binary search) in a 423,624-row table with synthetic
     values, and ``find`` from precomputed keys;
  4. the official md5 ``module_hash`` on the host;
  5. ``convert`` of an official-layout TFRecord of ``--cells`` cells x 3 runs written here,
     extrapolated to the 1,270,872 records of ``nasbench_only108.tfrecord``.

Run: ``python experiments/bench_nb101.py [--json] [--repeats 3] [--cells 4000]`` (a few
minutes on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import struct
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.benchmarks import nb101 as B
from jaxnas.benchmarks import tfrecord
from jaxnas.spaces import nb101 as S

OFFICIAL_RECORDS = 423_624 * 3


def best_of(fn, repeats: int) -> float:
    fn()  # compile
    t = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        t = min(t, time.perf_counter() - t0)
    return t


def _double(field: int, x: float) -> bytes:
    return bytes([field << 3 | 1]) + struct.pack("<d", x)


def _len(field: int, b: bytes) -> bytes:
    n, out = len(b), bytearray([field << 3 | 2])
    while True:
        out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out) + b


def official_file(path: Path, archs: np.ndarray) -> int:
    """Writes an official-layout TFRecord (3 runs per cell, 108 epochs); returns its records."""
    recs = []
    for i, a in enumerate(archs):
        m, names = S.to_spec(a)
        md5 = S.module_hash(m, names)
        for r in range(3):
            ev = b"".join(_len(1, b"".join(_double(k, v) for k, v in enumerate(
                (e, 10.0 * e, 0.5, 0.8 + 1e-6 * i + 1e-3 * r, 0.79), 1))) for e in (0, 54, 108))
            metrics = ev + bytes([2 << 3]) + bytes([0x7F]) + _double(3, 1.0)
            recs.append(json.dumps([md5, 108, "".join(str(int(x)) for x in m.ravel()),
                                    ",".join(names), base64.b64encode(metrics).decode()]).encode())
    heads = [struct.pack("<Q", len(r)) for r in recs]
    hc = tfrecord.masked_crc(tfrecord.crc32c_many(heads))
    dc = tfrecord.masked_crc(tfrecord.crc32c_many(recs))
    with open(path, "wb") as f:
        for h, c1, r, c2 in zip(heads, hc, recs, dc, strict=True):
            f.write(h + struct.pack("<I", int(c1)) + r + struct.pack("<I", int(c2)))
    return len(recs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cells", type=int, default=4000, help="cells of the converted test file")
    args = ap.parse_args()
    out: dict = {"device": str(jax.devices()[0]), "cpu": platform.processor() or platform.machine()}

    t0 = time.perf_counter()
    cells = S.enumerate_cells()
    out["enumerate_cells_s"] = time.perf_counter() - t0
    out["num_cells"] = len(cells)
    keys_fn = jax.jit(jax.vmap(S.arch_key))
    chunk = jnp.asarray(cells[:65536])
    t = best_of(lambda: keys_fn(chunk), args.repeats)
    out["arch_key_per_s"] = 65536 / t
    keys = np.asarray(S.arch_key(cells))
    out["all_keys_distinct"] = bool(len(np.unique(keys, axis=0)) == len(cells))

    nb_fn = jax.jit(jax.vmap(S.neighbours))
    batch = jnp.asarray(cells[::100][:4096])
    out["neighbourhoods_per_s"] = 4096 / best_of(lambda: nb_fn(batch), args.repeats)
    sample_fn = jax.jit(jax.vmap(S.sample))
    rng_keys = jax.random.split(jax.random.key(0), 65536)
    out["samples_per_s"] = 65536 / best_of(lambda: sample_fn(rng_keys), args.repeats)

    rng = np.random.default_rng(0)
    md5 = np.array([rng.bytes(16).hex() for _ in range(len(cells))])
    t0 = time.perf_counter()
    table = B.make_table("synthetic", md5, cells, rng.uniform(80, 95, (len(cells), 3)),
                         keys=keys)
    out["make_table_s"] = time.perf_counter() - t0
    q_archs = jnp.asarray(cells[rng.integers(0, len(cells), 65536)])
    out["query_per_s"] = 65536 / best_of(lambda: B.query(table, q_archs).valid, args.repeats)
    q_keys = jnp.asarray(keys[rng.integers(0, len(cells), 65536)])
    out["find_per_s"] = 65536 / best_of(lambda: B.find(table, q_keys), args.repeats)

    some = cells[rng.integers(0, len(cells), 500)]
    t0 = time.perf_counter()
    for a in some:
        S.module_hash(*S.to_spec(a))
    out["module_hash_ms"] = 1e3 * (time.perf_counter() - t0) / len(some)

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "official.tfrecord"
        n_rec = official_file(src, cells[rng.choice(len(cells), args.cells, replace=False)])
        t0 = time.perf_counter()
        B.convert(src, Path(d) / "nb101_jaxnas.npz", verify_hashes=1000)
        secs = time.perf_counter() - t0
        out["convert_records_per_s"] = n_rec / secs
        out["convert_only108_estimate_s"] = OFFICIAL_RECORDS / (n_rec / secs)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:>28}: {v:,.1f}" if isinstance(v, float) else f"{k:>28}: {v}")


if __name__ == "__main__":
    main()
