"""``jaxnas data``: where jaxnas looks for benchmark files, what it found, and converters.

    jaxnas data info [--data-dir DIR] [--json]
    jaxnas data convert nb201 PATH [--data-dir DIR] [--json]
    jaxnas data convert nb301 PATH [--data-dir DIR] [--json]
    jaxnas data convert nb101 nasbench_only108.tfrecord [--data-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jaxnas.cli._common import add_json, print_json


def register(sub) -> None:
    p = sub.add_parser("data", help="benchmark files: what jaxnas finds, how to get and convert them",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    info = dsub.add_parser("info", help="where jaxnas looks and which benchmark files it found")
    info.add_argument("--data-dir", default=None, help="look only here (default: "
                      "$JAXNAS_DATA_DIR, ../shared/data, ~/.jaxnas/data)")
    info.add_argument("--no-verify", action="store_true", help="skip the checksum of found files")
    add_json(info)
    info.set_defaults(func=_info)
    conv = dsub.add_parser(
        "convert", help="convert an official benchmark file into jaxnas's cache",
        description="Converts an official file once into the compact cache jaxnas reads "
                    "without torch, onnx or TensorFlow, written into the data folder under the "
                    "name jaxnas looks for (DATA/nb201_jaxnas.npz, DATA/nb101_jaxnas.npz, "
                    "DATA/nb301_jaxnas.npz).")
    conv.add_argument("benchmark", choices=["nb201", "nb101", "nb301"], help="which benchmark")
    conv.add_argument("path", help="nb201: NATS-tss-v1_0-3ffb9-simple(.tar) (NATS-Bench "
                      "topology archive, no torch needed) or NAS-Bench-201-v1_1-096897.pth (needs "
                      "`pip install 'jaxnas[nb201]'`); nb101: nasbench_only108.tfrecord or "
                      "nasbench_full.tfrecord (no TensorFlow needed); nb301: YAHPO's "
                      "model_v2.onnx, or its folder, with encoding_v2.json beside it (needs "
                      "`pip install 'jaxnas[nb301]'`)")
    conv.add_argument("--data-dir", default=None, help="write the cache here (default: "
                      "$JAXNAS_DATA_DIR, else ~/.jaxnas/data)")
    add_json(conv)
    conv.set_defaults(func=_convert)


def _info(args) -> int:
    from jaxnas import paths
    from jaxnas.benchmarks import official

    rows = official.status(args.data_dir, verify=not args.no_verify)
    looked = [str(d) for d in paths.candidate_data_dirs(args.data_dir)]
    if args.json:
        print_json({"looked_in": looked, "benchmarks": rows})
        return 0
    print("jaxnas looks for data in (first match wins):")
    for d in looked:
        print(f"  {d}{'' if Path(d).is_dir() else '  (absent)'}")
    for r in rows:
        print()
        if r["found"]:
            ok = {True: ", checksum ok", False: ", CHECKSUM MISMATCH", None: ""}[r["checksum_ok"]]
            print(f"[found]   {r['benchmark']}: {r['what']}{ok}")
            for f, p in r["files"].items():
                print(f"          {f}: {p}")
            continue
        print(f"[missing] {r['benchmark']}: {r['what']}")
        for s in r["sources"]:
            print(f"          - {s['name']} ({s['note']})")
            print(f"            published at {s['page']}")
            print(f"            size: {s['size'] or 'not stated by the publisher'}; "
                  f"checksum: {s['checksum']}")
            if s["convert"]:
                print(f"            then: {s['convert']}")
    return 0


def _convert(args) -> int:
    from jaxnas import paths
    from jaxnas.benchmarks import official

    src = Path(args.path).expanduser()
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist; download it first "
                                f"(`jaxnas data info` says from where)")
    out_dir = paths.write_dir(args.data_dir)
    t0 = time.perf_counter()
    if args.benchmark == "nb301":
        from jaxnas.benchmarks import nb301

        written = nb301.convert(src, out_dir / official.NB301_CACHE)
    elif args.benchmark == "nb101":
        written = convert_nb101(src, out_dir / official.NB101_CACHE)
    elif src.suffix == ".pth":
        from jaxnas.benchmarks import nb201

        try:
            import nas_201_api  # noqa: F401
        except ImportError:
            raise ValueError("reading the .pth file needs the nas-bench-201 API and torch: "
                             "`pip install 'jaxnas[nb201]'` (or convert NATS-Bench's "
                             "NATS-tss-v1_0-3ffb9-simple archive, which needs no torch)") from None
        written = nb201.convert_official(src, out_dir / official.NB201_CACHE)
    else:
        written = convert_nats(src, out_dir / official.NB201_CACHE)
    secs = time.perf_counter() - t0
    if args.json:
        print_json({"benchmark": args.benchmark, "source": str(src), "cache": str(written),
                    "seconds": secs})
    else:
        how = f" with --data-dir {out_dir}" if args.data_dir is not None else ""
        print(f"wrote {written} in {secs:.1f} s; jaxnas reads it from there{how}")
    return 0


def convert_nats(src: Path, out: Path) -> Path:
    """NATS-Bench topology archive -> jaxnas's NB201 cache at ``out`` (with a progress bar)."""
    import numpy as np
    from tqdm import tqdm

    from jaxnas.benchmarks import nats

    raw = nats.read_tss(src, progress=lambda it: tqdm(it, desc="architectures", unit="arch",
                                                      file=sys.stderr, mininterval=1.0))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **raw)
    tmp.replace(out)
    return out


def convert_nb101(src: Path, out: Path) -> Path:
    """Official NAS-Bench-101 TFRecord -> jaxnas's NB101 cache at ``out`` (with a progress bar)."""
    from tqdm import tqdm

    from jaxnas.benchmarks import nb101

    with tqdm(total=src.stat().st_size, desc="nb101", unit="B", unit_scale=True,
              file=sys.stderr, mininterval=1.0, disable=None) as bar:  # a bar on terminals only
        return nb101.convert(src, out, progress=lambda done: bar.update(done - bar.n))
