"""NAS-Bench-201's tabular benchmark: a loader of :class:`jaxnas.benchmarks.tabular.Table`.

Tables are stored in key order (row ``c`` = the architecture with base-5 code ``c``, see
:mod:`jaxnas.spaces.nb201`), so a query inside ``jit`` is one gather. Noise models and a
trial's landscape are space-agnostic, in :mod:`jaxnas.benchmarks.tabular`.

Sources:
  * the files in ``../shared/data/nb201`` (``accuracies.csv`` + ``seeds.npz``), read in place;
  * the official NAS-Bench-201 ``.pth`` file through the ``nas-bench-201`` API (extra ``nb201``),
    converted once by :func:`convert_official` into a compact jaxnas cache (``.npz``) that
    :func:`load` reads without torch.

Besides ``valid``/``test``/``seed_dev``/``num_seeds`` (200-epoch accuracies) a table carries
``valid_12``, ``test_12`` (12-epoch accuracies), ``seeds`` (per-seed values, NaN where
missing), ``index`` (official index of every code) and ``code`` (code of every official index)
as extra arrays, and its named test splits (:mod:`jaxnas.benchmarks.splits`): ``test@ori-test``
for CIFAR-10 (``test@x-test`` all NaN: none); ``test@x-test`` (the default ``test``) and
``test@ori-test`` for CIFAR-100 and ImageNet16-120.
"""

from __future__ import annotations

import csv
import functools
import os
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import datasets, paths
from jaxnas.benchmarks.tabular import Table, make_table
from jaxnas.spaces import nb201 as space

DATASETS: tuple[str, ...] = datasets.NB201_DATASETS  # cifar10, cifar100, imagenet16-120
# dataset name -> column prefix in accuracies.csv and key in seeds.npz
_CSV_PREFIX = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet16"}
_SEED_KEY = {"cifar10": "cifar10_valid", "cifar100": "cifar100_valtest",
             "imagenet16-120": "imagenet16_valtest"}
_HOW_TO_GET = (
    "Get the tables with `jaxnas data convert nb201 NATS-tss-v1_0-3ffb9-simple.tar` (NATS-Bench's "
    "topology archive, no torch) or `jaxnas data convert nb201 NAS-Bench-201-v1_1-096897.pth`; "
    "`jaxnas data info` says where each is published and where jaxnas looks."
)
CACHE_NAME = "nb201_jaxnas.npz"


def canonical_dataset(dataset: str) -> str:
    """Normalises a dataset name (:func:`jaxnas.datasets.canonical`); raises ValueError naming
    the valid ones."""
    return datasets.canonical(dataset, DATASETS)


# --------------------------------------------------------------------------------------------
# Loading.
# --------------------------------------------------------------------------------------------


def _read_shared(csv_path: Path, seeds_path: Path) -> dict[str, np.ndarray]:
    """Reads accuracies.csv + seeds.npz into a dict of arrays in official-index order."""
    try:
        with open(csv_path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise FileNotFoundError(f"cannot read {csv_path}: {e}. {_HOW_TO_GET}") from e
    if not rows or rows[0][:2] != ["index", "arch"]:
        raise ValueError(
            f"{csv_path} is not a NAS-Bench-201 accuracy table: expected a header starting "
            f"'index,arch', got {rows[0][:2] if rows else 'an empty file'}. {_HOW_TO_GET}"
        )
    header, body = rows[0], rows[1:]
    if len(body) != space.NUM_ARCHS:
        raise ValueError(
            f"{csv_path} has {len(body)} architectures, expected {space.NUM_ARCHS} "
            f"(truncated or corrupt file). {_HOW_TO_GET}"
        )
    out: dict[str, np.ndarray] = {}
    idx = np.array([int(r[0]) for r in body])
    if not np.array_equal(idx, np.arange(space.NUM_ARCHS)):
        raise ValueError(f"{csv_path}: the index column is not 0..15624 in order. {_HOW_TO_GET}")
    out["arch"] = np.stack([space.from_string(r[1]) for r in body])
    for j, name in enumerate(header[2:], start=2):
        try:
            out[name] = np.array([float(r[j]) for r in body], np.float32)
        except ValueError as e:
            raise ValueError(f"{csv_path}: column {name!r} holds a non-number ({e})") from e
    try:
        with np.load(seeds_path) as z:
            for k in _SEED_KEY.values():
                out["seeds_" + k] = np.asarray(z[k], np.float32)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(
            f"cannot read per-seed accuracies from {seeds_path} (corrupt or not a seeds.npz: "
            f"{type(e).__name__}: {e}). {_HOW_TO_GET}"
        ) from e
    return out


@functools.lru_cache(maxsize=4)
def _raw_tables(data_dir: str | None) -> dict[str, np.ndarray]:
    """All datasets as numpy arrays in official-index order, from a cache or the shared files."""
    try:
        cache = paths.find_file(CACHE_NAME, data_dir)
    except FileNotFoundError:
        cache = None
    if cache is not None:
        try:
            with np.load(cache) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise ValueError(f"corrupt jaxnas cache {cache} ({type(e).__name__}: {e}); delete it "
                             f"and convert again (`jaxnas data convert nb201 ...`)") from e
    csv_path = paths.find_file("nb201/accuracies.csv", data_dir, _HOW_TO_GET)
    seeds_path = paths.find_file("nb201/seeds.npz", data_dir, _HOW_TO_GET)
    return _read_shared(csv_path, seeds_path)


def load(dataset: str = "cifar10", data_dir: str | os.PathLike | None = None) -> Table:
    """Loads one dataset of NAS-Bench-201 as JAX arrays in code order.

    Args:
        dataset: ``'cifar10'``, ``'cifar100'`` or ``'imagenet16-120'``.
        data_dir: folder holding ``nb201/accuracies.csv`` and ``nb201/seeds.npz`` (or a jaxnas
            cache ``nb201_jaxnas.npz``); default: ``$JAXNAS_DATA_DIR``, then ``../shared/data``.

    Raises:
        ValueError: unknown dataset, or a corrupt file (naming it).
        FileNotFoundError: no data file found (naming where it looked and how to get one).
    """
    d = canonical_dataset(dataset)
    raw = _raw_tables(None if data_dir is None else str(data_dir))
    codes = np.asarray(space.to_code(raw["arch"]))
    if sorted(codes.tolist()) != list(range(space.NUM_ARCHS)):
        raise ValueError("the benchmark's architecture strings do not cover the space exactly once")
    order = np.empty(space.NUM_ARCHS, np.int64)
    order[codes] = np.arange(space.NUM_ARCHS)  # order[code] = official index
    p = _CSV_PREFIX[d]
    seeds = raw["seeds_" + _SEED_KEY[d]][order]
    valid, test = raw[f"{p}_valid_200"][order], raw[f"{p}_test_200"][order]
    # named test splits (jaxnas.benchmarks.splits): CIFAR-10's test is the whole original test
    # set (its x-test is NaN: none, so every dataset's table has the same pytree structure);
    # CIFAR-100's and ImageNet16-120's is the x-test half, and the whole set (ori-test) is the
    # mean of the x-valid and x-test halves, evaluated with the same model
    splits = ({"test@ori-test": test, "test@x-test": np.full_like(test, np.nan)}
              if d == "cifar10" else
              {"test@x-test": test, "test@ori-test": ((valid.astype(np.float64) + test) / 2)
               .astype(np.float32)})
    return make_table(
        space.SPACE, valid, test, seeds, **splits,
        valid_12=raw[f"{p}_valid_12"][order].astype(np.float32),
        test_12=raw[f"{p}_test_12"][order].astype(np.float32),
        index=order.astype(np.int32),
        code=codes.astype(np.int32),
    )


def index_of(bench: Table, arch: jax.Array) -> jax.Array:
    """Official benchmark index of an encoding (``[..., 6] -> [...]``; jit-able)."""
    return bench.index[space.to_code(arch)]


def arch_of_index(bench: Table, index: jax.Array) -> jax.Array:
    """Encoding of an official benchmark index (``[...] -> [..., 6]``; jit-able)."""
    return space.from_code(bench.code[jnp.asarray(index, jnp.int32)])


def check_index(index: int) -> int:
    """Host-side check of an official index; raises ValueError when out of range."""
    if not (0 <= int(index) < space.NUM_ARCHS) or int(index) != index:
        raise ValueError(f"NAS-Bench-201 index {index!r} is out of range [0, {space.NUM_ARCHS})")
    return int(index)


def lookup(arch, data_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """All table values of one architecture (``int[6]`` or official string), for reports.

    Returns a dict with ``index``, ``arch`` (string) and ``{dataset}_{valid|test}_{200|12}``
    accuracies (%), with dataset prefixes ``cifar10``, ``cifar100``, ``imagenet16``.
    """
    a = space.from_string(arch) if isinstance(arch, str) else space.validate(arch)
    c = int(space.to_code(a))
    out: dict = {"arch": space.to_string(a)}
    for d in DATASETS:
        b = load(d, data_dir)
        out["index"] = int(b.index[c])
        p = _CSV_PREFIX[d]
        for name, table in (("valid_200", b.valid), ("test_200", b.test),
                            ("valid_12", b.valid_12), ("test_12", b.test_12)):
            out[f"{p}_{name}"] = float(table[c])
    return out


def by_dataset(record: dict) -> dict[str, dict[str, float]]:
    """``{dataset: {'valid', 'test'}}``: the 200-epoch accuracies (%) of a :func:`lookup`
    record per dataset."""
    return {d: {"valid": record[f"{_CSV_PREFIX[d]}_valid_200"],
                "test": record[f"{_CSV_PREFIX[d]}_test_200"]} for d in DATASETS}


# --------------------------------------------------------------------------------------------
# Conversion of the official file.
# --------------------------------------------------------------------------------------------


def convert_official(pth_path: str | os.PathLike, out_path: str | os.PathLike, api=None) -> Path:
    """Converts the official NAS-Bench-201 ``.pth`` into jaxnas's cache (loadable without torch).

    Args:
        pth_path: the official file, e.g. ``NAS-Bench-201-v1_1-096897.pth``.
        out_path: where to write the cache; name it ``nb201_jaxnas.npz`` inside a data folder.
        api: an already-built ``nas_201_api.NASBench201API`` (for tests); built from
            ``pth_path`` when ``None``.

    Returns:
        The path written.
    """
    if api is None:
        if not Path(pth_path).is_file():
            raise FileNotFoundError(f"official NAS-Bench-201 file {pth_path} not found. {_HOW_TO_GET}")
        try:
            from nas_201_api import NASBench201API
        except ImportError:
            raise ValueError("reading the official .pth file needs the nas-bench-201 API and "
                             "torch: `pip install 'jaxnas[nb201]'` (or convert NATS-Bench's "
                             "archive, which needs neither)") from None
        import torch

        # Loaded here and handed to the API as a dict: a truncated download then gives a one-line
        # error, and weights_only=False keeps any pickled Python object of the (trusted) official
        # file loadable under torch >= 2.6's weights_only default. (A file written with the
        # API's own classes also loads through the API directly; the official file itself could
        # not be checked here.)
        try:
            data = torch.load(str(pth_path), map_location="cpu", weights_only=False)
        except Exception as e:  # a truncated download, or not a torch file
            raise ValueError(f"cannot read {pth_path} as the official NAS-Bench-201 file "
                             f"({type(e).__name__}: {e}); download it again") from None
        if not isinstance(data, dict) or "meta_archs" not in data:
            raise ValueError(f"{pth_path} is not the official NAS-Bench-201 file (no 'meta_archs')")
        api = NASBench201API(data, verbose=False)
    n = len(api)
    out: dict[str, np.ndarray] = {"arch": np.stack([space.from_string(api.arch(i)) for i in range(n)])}
    # (dataset name in the API, split key for validation, split key for test)
    specs = {"cifar10": (("cifar10-valid", "valid"), ("cifar10", "test")),
             "cifar100": (("cifar100", "valid"), ("cifar100", "test")),
             "imagenet16": (("ImageNet16-120", "valid"), ("ImageNet16-120", "test"))}
    for prefix, ((dv, kv), (dt, kt)) in specs.items():
        for hp in ("200", "12"):
            v, t = np.empty(n, np.float32), np.empty(n, np.float32)
            for i in range(n):
                v[i] = api.get_more_info(i, dv, iepoch=None, hp=hp, is_random=False)[f"{kv}-accuracy"]
                t[i] = api.get_more_info(i, dt, iepoch=None, hp=hp, is_random=False)[f"{kt}-accuracy"]
            out[f"{prefix}_valid_{hp}"], out[f"{prefix}_test_{hp}"] = v, t
    seed_sets = {"cifar10_valid": ("cifar10-valid", "x-valid"),
                 "cifar100_valtest": ("cifar100", "ori-test"),
                 "imagenet16_valtest": ("ImageNet16-120", "ori-test")}
    for key, (dname, split) in seed_sets.items():
        s = np.full((n, 3), np.nan, np.float32)
        for i in range(n):
            runs = api.query_by_index(i, dname, hp="200")
            for j, seed in enumerate(sorted(runs)[:3]):
                s[i, j] = runs[seed].get_eval(split)["accuracy"]
        out["seeds_" + key] = s
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **out)
    return out_path


if __name__ == "__main__":  # python -m jaxnas.benchmarks.nb201 convert PATH [--data-dir DIR]
    import sys

    from jaxnas.cli import main

    argv = sys.argv[1:]
    if argv[:1] == ["convert"]:
        argv = ["data", "convert", "nb201", *argv[1:]]
    elif argv in ([], ["-h"], ["--help"]):
        print("usage: python -m jaxnas.benchmarks.nb201 convert PATH [--data-dir DIR]\n"
              "  the same as `jaxnas data convert nb201 PATH`: PATH is NATS-Bench's "
              "NATS-tss-v1_0-3ffb9-simple(.tar) or NAS-Bench-201-v1_1-096897.pth")
        sys.exit(0)
    else:
        print(f"python -m jaxnas.benchmarks.nb201: error: unknown command {argv[0]!r}; use "
              f"`convert PATH` (or `jaxnas data convert nb201 PATH`)", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(argv))
