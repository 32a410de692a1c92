"""NAS-Bench-101's tabular benchmark: the official file converted once, then queried inside jit.

NAS-Bench-101 (Ying et al., ICML 2019) trained each of its 423,624 cells three times on
CIFAR-10 for 108 epochs (``nasbench_only108.tfrecord``), and also for 4, 12 and 36 epochs
(``nasbench_full.tfrecord``). :func:`convert` reads either file without TensorFlow (our own
TFRecord and protobuf readers, :mod:`jaxnas.benchmarks.tfrecord`) into a compact cache,
``nb101_jaxnas.npz``, that :func:`load` reads with NumPy alone.

A table (:class:`NB101Table`, a pytree) keeps its rows sorted by the space's key
(:func:`jaxnas.spaces.nb101.arch_key`, ``uint32[2]``), so a query inside ``jit`` is a binary
search (:func:`find`; a lexicographic ``searchsorted`` over the two words, as JAX without x64
has no 64-bit integers). Architectures not in the table get row -1 and NaN values. Noise models
are the registered ones of :mod:`jaxnas.benchmarks.tabular` (``denoised``: the mean over the
three training seeds; ``standard``: one seed per architecture, drawn once per trial;
``random``: the denoised values permuted over rows), applied with :func:`noisy` and read with
:func:`noisy_valid`.

``nb101-sample`` (:func:`load_sample`) is a table built from ``nb101/sample.npz``, 20,001 real
cells of which only the first 1,000 have graphs: only those 1,000 are queryable by
architecture, the other 19,001 rows are hash-only (they have values, and count for the
``random`` noise model, but no key), and every neighbour outside the 1,000 is unknown. It has
one value per cell (no seeds, no test accuracy). Results on it are NOT NAS-Bench-101 results.

Values are percentages (like the NAS-Bench-201 tables); times are seconds.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxnas import paths
from jaxnas.benchmarks import official, tabular, tfrecord
from jaxnas.spaces import nb101 as space
from jaxnas.spaces.base import SearchSpace

CACHE_NAME = "nb101_jaxnas.npz"
SAMPLE_FILE = "nb101/sample.npz"
FORMAT_VERSION = 1
#: version of :func:`jaxnas.spaces.nb101.arch_key`; caches written with another one are refused
KEY_VERSION = 1
EPOCHS = (4, 12, 36, 108)
_SAMPLE_OPS = {1: 1, 2: 0, 3: 2}  # sample.npz op codes (1 conv1x1, 2 conv3x3, 3 maxpool) -> ours


@struct.dataclass
class NB101Table:
    """A NAS-Bench-101 table (a pytree, usable in jit); see the module docstring.

    Rows ``[0, num_queryable)`` hold cells with graphs, sorted by key; rows after them (only in
    ``nb101-sample``) are hash-only. ``N`` rows, ``K`` seeds.

    Attributes:
        name: ``'nb101'`` or ``'nb101-sample'`` (static).
        space: the NAS-Bench-101 search space (static).
        num_queryable: rows with graphs (static).
        keys: :func:`jaxnas.spaces.nb101.arch_key` of every row, sorted (hash-only rows:
            :data:`jaxnas.spaces.nb101.INVALID_KEY`).  # [N, 2] uint32
        arch: the cell as the official file stores it (compact, pruned).  # [N, 26]
        md5: the official module hash as four big-endian words of its hex.  # [N, 4] uint32
        valid: 108-epoch validation accuracy (%), mean over seeds.  # [N]
        test: 108-epoch test accuracy (%), mean over seeds; NaN where unknown.  # [N]
        seed_dev: each seed's deviation from the mean, 0 where missing.  # [N, K]
        num_seeds: seeds available (missing ones are the last).  # [N]
        params: trainable parameters.  # [N]
        train_time: 108-epoch training time (s), mean over seeds.  # [N]
        extra: ``seeds_valid``/``seeds_test`` ([N, K], %, NaN where missing) and, for every
            other budget ``e`` the file has, ``valid_{e}``/``test_{e}``/``time_{e}`` means.
    """

    name: str = struct.field(pytree_node=False)
    space: SearchSpace = struct.field(pytree_node=False)
    num_queryable: int = struct.field(pytree_node=False)
    keys: jax.Array
    arch: jax.Array
    md5: jax.Array
    valid: jax.Array
    test: jax.Array
    seed_dev: jax.Array
    num_seeds: jax.Array
    params: jax.Array
    train_time: jax.Array
    extra: dict[str, jax.Array] = struct.field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return self.valid.shape[0]


# --------------------------------------------------------------------------------------------
# Building tables (host side).
# --------------------------------------------------------------------------------------------


def md5_words(md5: Any) -> np.ndarray:
    """32-hex md5 strings (``str``/``bytes``, any shape) -> ``uint32[..., 4]`` big-endian words."""
    a = np.asarray(md5)
    flat = [m.decode() if isinstance(m, bytes) else str(m) for m in a.ravel()]
    bad = [m for m in flat if len(m) != 32]
    if bad:
        raise ValueError(f"an NB101 module hash is 32 hex digits, got {bad[0]!r}")
    try:
        raw = b"".join(bytes.fromhex(m) for m in flat)
    except ValueError as e:
        raise ValueError(f"an NB101 module hash is 32 hex digits: {e}") from None
    return np.frombuffer(raw, ">u4").astype(np.uint32).reshape(*a.shape, 4)


def md5_hex(words: Any) -> np.ndarray:
    """Inverse of :func:`md5_words`: ``uint32[..., 4]`` -> md5 hex strings (``<U32``)."""
    w = np.asarray(words, np.uint32)
    raw = w.astype(">u4").tobytes()
    out = [raw[i:i + 16].hex() for i in range(0, len(raw), 16)]
    return np.array(out, dtype="<U32").reshape(w.shape[:-1])


def keys_of(archs: np.ndarray) -> np.ndarray:
    """:func:`jaxnas.spaces.nb101.arch_key` of many encodings, ``uint32[N, 2]`` (host)."""
    archs = np.asarray(archs, np.int32).reshape(-1, space.ARCH_LEN)
    if not len(archs):
        return np.zeros((0, 2), np.uint32)
    return np.asarray(space.arch_key(archs))


def make_table(name: str, md5: Any, arch: np.ndarray, valid_seeds: np.ndarray, *,
               test_seeds: np.ndarray | None = None, train_time: np.ndarray | None = None,
               params: np.ndarray | None = None, keys: np.ndarray | None = None,
               **extra: np.ndarray) -> NB101Table:
    """An :class:`NB101Table` from per-row arrays in any order.

    Args:
        name: the table's name.
        md5: ``[N]`` official module hashes.
        arch: ``[M, 26]`` encodings of rows ``0..M-1`` (``M <= N``); rows ``M..N-1`` are
            hash-only.
        valid_seeds: ``[N, K]`` validation accuracies (%), NaN where a seed is missing (missing
            seeds last).
        test_seeds: ``[N, K]`` test accuracies (%), or None (unknown: NaN).
        train_time: ``[N]`` seconds (NaN if None); params: ``[N]`` (-1 if None).
        keys: ``[M, 2]`` keys of ``arch`` if already computed (else computed here).
        **extra: more ``[N, ...]`` arrays, kept in :attr:`NB101Table.extra`.

    Raises:
        ValueError: mismatched shapes, an invalid cell, seeds not packed left, or two rows with
            the same key (naming them).
    """
    md5w = md5_words(md5)
    n = md5w.shape[0]
    arch = np.asarray(arch, np.int32).reshape(-1, space.ARCH_LEN)
    m = arch.shape[0]
    seeds = np.asarray(valid_seeds, np.float32)
    if seeds.ndim == 1:
        seeds = seeds[:, None]
    if m > n or seeds.shape[0] != n:
        raise ValueError(f"{name}: {n} hashes, {m} graphs and {seeds.shape[0]} value rows; pass "
                         f"one value row per hash and at most one graph per hash")
    for what, arr, shape in (("test_seeds", test_seeds, seeds.shape), ("train_time", train_time,
                             (n,)), ("params", params, (n,))):
        if arr is not None and np.shape(arr) != shape:
            raise ValueError(f"{name}: {what} has shape {np.shape(arr)}, expected {shape} (one "
                             f"row per hash)")
    ok = ~np.isnan(seeds)
    if not np.all(ok.sum(1) >= 1) or np.any(~ok[:, :-1] & ok[:, 1:]):
        raise ValueError(f"{name}: every row needs >= 1 seed, packed to the left (NaN only at "
                         f"the end of a row)")
    if keys is None:
        keys = keys_of(arch)
    keys = np.asarray(keys, np.uint32)
    order = check_cells(name, md5w[:m], arch, keys)
    ks = keys[order]
    rows = np.concatenate([order, np.arange(m, n)])
    all_keys = np.concatenate([ks, np.tile(space.INVALID_KEY, (n - m, 1))])
    all_arch = np.concatenate([arch[order], np.zeros((n - m, space.ARCH_LEN), np.int32)])
    seeds = seeds[rows]
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(seeds, axis=1)
        dev = np.where(ok[rows], seeds - mean[:, None], 0.0).astype(np.float32)
        test = (np.full(n, np.nan, np.float32) if test_seeds is None
                else np.nanmean(np.asarray(test_seeds, np.float32)[rows], axis=1))
    ex = {"seeds_valid": seeds}
    if test_seeds is not None:
        ex["seeds_test"] = np.asarray(test_seeds, np.float32)[rows]
    ex.update({k: np.asarray(v)[rows] for k, v in extra.items()})
    return NB101Table(
        name=name, space=space.SPACE, num_queryable=m,
        keys=jnp.asarray(all_keys), arch=jnp.asarray(all_arch), md5=jnp.asarray(md5w[rows]),
        valid=jnp.asarray(mean.astype(np.float32)), test=jnp.asarray(test.astype(np.float32)),
        seed_dev=jnp.asarray(dev), num_seeds=jnp.asarray(ok[rows].sum(1).astype(np.int32)),
        params=jnp.asarray(np.full(n, -1, np.int32) if params is None
                           else np.asarray(params, np.int32)[rows]),
        train_time=jnp.asarray(np.full(n, np.nan, np.float32) if train_time is None
                               else np.asarray(train_time, np.float32)[rows]),
        extra={k: jnp.asarray(v) for k, v in ex.items()})


def check_cells(name: str, md5: Any, arch: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Checks that every encoding is a valid cell (its key, :func:`keys_of`, is not
    :data:`~jaxnas.spaces.nb101.INVALID_KEY`) and that no two share a key; returns the order
    that sorts them by key (host side).

    Raises:
        ValueError: naming the first invalid cell or the first two cells with the same key.
    """
    md5w = md5_words(md5) if np.asarray(md5).dtype.kind in "SU" else np.asarray(md5)
    arch = np.asarray(arch, np.int32)
    if not len(arch):
        return np.zeros(0, np.int64)
    valid = ~np.all(keys == space.INVALID_KEY, axis=1)  # arch_key marks invalid cells
    if not valid.all():
        i = int(np.flatnonzero(~valid)[0])
        raise ValueError(f"{name}: cell {md5_hex(md5w[i])} is not a valid NB101 cell: "
                         f"{arch[i].tolist()}")
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    ks = keys[order]
    dup = np.flatnonzero(np.all(ks[1:] == ks[:-1], axis=1))
    if dup.size:
        a, b = order[dup[0]], order[dup[0] + 1]
        raise ValueError(f"{name}: cells {md5_hex(md5w[a])} and {md5_hex(md5w[b])} have the same "
                         f"key {ks[dup[0]].tolist()} (isomorphic graphs stored twice, or a hash "
                         f"collision); report it")
    return order


# --------------------------------------------------------------------------------------------
# Queries (pure, jit-able).
# --------------------------------------------------------------------------------------------


@jax.jit
def find(table: NB101Table, keys: jax.Array) -> jax.Array:
    """Rows of keys (``uint32[..., 2] -> int32[...]``), -1 for keys not in the table.

    A lower-bound binary search (``searchsorted``) over the sorted ``(word 0, word 1)`` pairs of
    the queryable rows, ``ceil(log2(M + 1))`` steps of one gather each: ``jnp.searchsorted``
    takes one word per key, and the 64-bit key would need ``jax_enable_x64``.
    """
    keys = jnp.asarray(keys, jnp.uint32)
    k0, k1 = keys[..., 0], keys[..., 1]
    m = table.num_queryable
    if m == 0:
        return jnp.full(k0.shape, -1, jnp.int32)
    t0, t1 = table.keys[:m, 0], table.keys[:m, 1]

    def step(_, c):
        lo, hi = c
        mid = (lo + hi) // 2
        i = jnp.minimum(mid, m - 1)
        less = (t0[i] < k0) | ((t0[i] == k0) & (t1[i] < k1))
        live = lo < hi
        return jnp.where(live & less, mid + 1, lo), jnp.where(live & ~less, mid, hi)

    lo, _ = jax.lax.fori_loop(0, int(m).bit_length(), step,
                              (jnp.zeros(k0.shape, jnp.int32), jnp.full(k0.shape, m, jnp.int32)))
    i = jnp.minimum(lo, m - 1)
    hit = (lo < m) & (t0[i] == k0) & (t1[i] == k1)
    return jnp.where(hit, lo, -1)


@jax.jit
def rows_of(table: NB101Table, arch: jax.Array) -> jax.Array:
    """Rows of encodings (``int[..., 26] -> int32[...]``), -1 where a cell is not in the table
    (or the encoding is invalid)."""
    return find(table, space.arch_key(arch))


class Query(NamedTuple):
    """What :func:`query` returns, one entry per architecture."""

    row: jax.Array  # [...] int32, -1 when absent
    found: jax.Array  # [...] bool
    valid: jax.Array  # [...] % (mean over seeds), NaN when absent
    test: jax.Array  # [...] %, NaN when absent or unknown


@jax.jit
def query(table: NB101Table, arch: jax.Array) -> Query:
    """Table values of encodings (``int[..., 26]``; jit-able)."""
    row = rows_of(table, arch)
    found = row >= 0
    r = jnp.maximum(row, 0)
    nan = jnp.float32(jnp.nan)
    return Query(row, found, jnp.where(found, table.valid[r], nan),
                 jnp.where(found, table.test[r], nan))


@functools.partial(jax.jit, static_argnames="noise")
def noisy(key: jax.Array, table: NB101Table,
          noise: str | tabular.NoiseModel) -> tabular.NoisyTable:
    """This trial's validation landscape under a registered noise model (``denoised``,
    ``standard``, ``random``; see :mod:`jaxnas.benchmarks.tabular`), over the table's rows.
    Consumes ``key``."""
    return tabular.noisy_table(key, table, noise)  # the models read valid/seed_dev/num_seeds


@jax.jit
def noisy_valid(landscape: tabular.NoisyTable, table: NB101Table, arch: jax.Array) -> jax.Array:
    """Validation accuracy (%) of encodings in a trial's landscape; NaN where not in the table."""
    row = rows_of(table, arch)
    val = tabular.noisy_valid(landscape, jnp.maximum(row, 0))
    return jnp.where(row >= 0, val, jnp.nan)


@jax.jit
def neighbours(table: NB101Table, arch: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The space's neighbourhood of one encoding, restricted to the table.

    Returns:
        ``(archs [31, 26], valid bool[31], rows int32[31])``: ``valid`` is the space's mask and
        the row's presence in the table (neighbours outside ``nb101-sample``'s 1,000 graphs are
        unknown, hence invalid); ``rows`` is -1 where not valid.
    """
    nbrs, ok = table.space.neighbours(arch)
    rows = rows_of(table, nbrs)
    ok = ok & (rows >= 0)
    return nbrs, ok, jnp.where(ok, rows, -1)


@jax.jit
def sample_row(key: jax.Array, table: NB101Table) -> jax.Array:
    """A uniformly random queryable row (``int32[]``; uniform over the table's cells, as
    naszilla's ``random_cell_uniform``). Consumes ``key``."""
    return jax.random.randint(key, (), 0, table.num_queryable, dtype=jnp.int32)


# --------------------------------------------------------------------------------------------
# Host-side maps between official hashes, keys and rows.
# --------------------------------------------------------------------------------------------


def row_of_md5(table: NB101Table, md5: Any) -> np.ndarray:
    """Rows of official module hashes (``[...]`` strings -> ``int64[...]``, -1 when absent)."""
    q = md5_hex(md5_words(md5))  # normalised (lower case, str)
    hexes = md5_hex(np.asarray(table.md5))
    order = np.argsort(hexes)
    pos = np.minimum(np.searchsorted(hexes[order], q), len(order) - 1)
    return np.where(hexes[order][pos] == q, order[pos], -1)


def key_of_md5(table: NB101Table, md5: Any) -> np.ndarray:
    """Our key of official hashes (``uint32[..., 2]``; :data:`~jaxnas.spaces.nb101.INVALID_KEY`
    for hashes not in the table or without a graph)."""
    row = row_of_md5(table, md5)
    keys = np.asarray(table.keys)
    return np.where((row >= 0)[..., None], keys[np.maximum(row, 0)], space.INVALID_KEY)


def md5_of_key(table: NB101Table, keys: Any) -> np.ndarray:
    """Official hashes of our keys (``uint32[..., 2]`` -> ``<U32[...]``; '' when absent)."""
    row = np.asarray(find(table, jnp.asarray(keys, jnp.uint32)))
    hexes = md5_hex(np.asarray(table.md5)[np.maximum(row, 0)])
    return np.where(row >= 0, hexes, "")


# --------------------------------------------------------------------------------------------
# The official file and jaxnas's cache.
# --------------------------------------------------------------------------------------------


def read_official(path: str | os.PathLike,
                  progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Reads an official NAS-Bench-101 TFRecord (host side, no TensorFlow).

    Every record is the JSON list ``[module_hash, epochs, raw_adjacency, raw_operations,
    raw_metrics]`` (``raw_metrics``: a base64 ``ModelMetrics`` protobuf); one record per
    training run. As the official API, the final evaluation is ``evaluation_data[2]``.

    Args:
        path: ``nasbench_only108.tfrecord`` or ``nasbench_full.tfrecord``.
        progress: called with the bytes read so far.

    Returns:
        ``md5`` (``<U32[N]``), ``arch`` (``int32[N, 26]``), ``params`` (``int32[N]``),
        ``epochs`` (the budgets present) and, per budget ``e``, ``valid_{e}``, ``test_{e}``,
        ``time_{e}`` (``float32[N, K]``, the file's fractions and seconds, NaN where a run is
        missing).

    Raises:
        ValueError: a record that is not in the official layout, naming it and the file.
    """
    path = Path(path)
    index: dict[str, int] = {}
    adjacency: list[str] = []
    operations: list[str] = []
    params: list[int] = []
    runs: dict[int, dict[int, list[tuple[float, float, float]]]] = {}
    for n, data in enumerate(tfrecord.read_records(path, progress=progress)):
        try:
            rec = json.loads(data)
            h, epochs, adj, ops, metrics = rec
            m = tfrecord.decode_model_metrics(base64.b64decode(metrics, validate=True))
            final = m["evaluation_data"][2]
            h, epochs = str(h), int(epochs)
        except (ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: record {n} is not a NAS-Bench-101 record "
                             f"[module_hash, epochs, adjacency, operations, base64 ModelMetrics "
                             f"with 3 evaluations] ({type(e).__name__}: {e}); is this the "
                             f"official file?") from None
        i = index.get(h)
        if i is None:
            i = index[h] = len(adjacency)
            adjacency.append(adj)
            operations.append(ops)
            params.append(m["trainable_parameters"])
        elif adjacency[i] != adj or operations[i] != ops:
            raise ValueError(f"{path}: record {n} gives cell {h} another graph than an earlier "
                             f"record")
        runs.setdefault(epochs, {}).setdefault(i, []).append(
            (final["validation_accuracy"], final["test_accuracy"], final["training_time"]))
    num = len(adjacency)
    out: dict[str, np.ndarray] = {"md5": np.array(list(index), dtype="<U32"),
                                  "arch": _encode(adjacency, operations, path),
                                  "params": np.asarray(params, np.int32),
                                  "epochs": np.array(sorted(runs), np.int32)}
    for e, per_cell in runs.items():
        k = max(len(r) for r in per_cell.values())
        arr = np.full((num, k, 3), np.nan, np.float32)
        for i, r in per_cell.items():
            arr[i, :len(r)] = r
        for j, what in enumerate(("valid", "test", "time")):
            out[f"{what}_{e}"] = arr[..., j]
    return out


def _encode(adjacency: list[str], operations: list[str], path: Path) -> np.ndarray:
    """Encodings of the file's cells (their adjacency strings and comma-joined labels)."""
    out = np.zeros((len(adjacency), space.ARCH_LEN), np.int32)
    names = {name: i for i, name in enumerate(space.OPS)}
    by_size: dict[int, list[int]] = {}
    for i, ops in enumerate(operations):
        by_size.setdefault(ops.count(",") + 1, []).append(i)
    for v, idx in by_size.items():
        if not 2 <= v <= space.NUM_VERTICES:
            raise ValueError(f"{path}: a cell with {v} vertices ({operations[idx[0]]!r}); NB101 "
                             f"cells have 2..{space.NUM_VERTICES}")
        raw = "".join(adjacency[i] for i in idx).encode()
        if len(raw) != len(idx) * v * v or not set(raw) <= {48, 49}:
            raise ValueError(f"{path}: an adjacency string of a {v}-vertex cell is not {v * v} "
                             f"digits 0/1")
        mats = (np.frombuffer(raw, np.uint8) - 48).reshape(len(idx), v, v)
        slot = np.array([*range(v - 1), space.NUM_VERTICES - 1])
        full = np.zeros((len(idx), space.NUM_VERTICES, space.NUM_VERTICES), np.int32)
        full[:, slot[:, None], slot[None, :]] = mats
        out[idx, :space.NUM_PAIRS] = full[:, space._PI, space._PJ]
        for i in idx:
            labels = operations[i].split(",")
            if labels[0] != space.INPUT or labels[-1] != space.OUTPUT:
                raise ValueError(f"{path}: cell labels {operations[i]!r} must start with "
                                 f"'input' and end with 'output'")
            try:
                out[i, space.NUM_PAIRS:space.NUM_PAIRS + v - 2] = [names[o] for o in labels[1:-1]]
            except KeyError as e:
                raise ValueError(f"{path}: unknown operation {e.args[0]!r} in "
                                 f"{operations[i]!r}; NB101 has {space.OPS}") from None
    return out


def convert(src: str | os.PathLike, out: str | os.PathLike, *, verify_hashes: int = 1000,
            progress: Callable[[int], None] | None = None) -> Path:
    """Converts an official TFRecord into jaxnas's cache ``out`` (``.npz``, read without TF).

    Args:
        src: ``nasbench_only108.tfrecord`` or ``nasbench_full.tfrecord``.
        out: the cache to write (``nb101_jaxnas.npz`` in the data folder).
        verify_hashes: recompute the official md5 of this many cells, evenly spread (-1: all;
            about 1 ms each), and refuse the file if one differs.
        progress: called with the bytes read so far.

    Raises:
        ValueError: a malformed file, an invalid cell, a hash that does not match its graph, or
            a key collision, naming the culprit.
    """
    raw = read_official(src, progress)
    n = raw["md5"].shape[0]
    if n == 0:
        raise ValueError(f"{src} holds no records; is it the official NAS-Bench-101 file?")
    if 108 not in raw["epochs"]:
        raise ValueError(f"{src} has no 108-epoch runs (budgets {raw['epochs'].tolist()}); use "
                         f"nasbench_only108.tfrecord or nasbench_full.tfrecord")
    count = n if verify_hashes < 0 else min(verify_hashes, n)
    for i in np.unique(np.linspace(0, n - 1, count).astype(np.int64)) if count else ():
        h = space.module_hash(*space.to_spec(raw["arch"][i]))
        if h != raw["md5"][i]:
            raise ValueError(f"{src}: cell {raw['md5'][i]} hashes to {h} with the official "
                             f"algorithm; the file is corrupt or not NAS-Bench-101")
    keys = keys_of(raw["arch"])
    order = check_cells(str(src), raw["md5"], raw["arch"], keys)
    arrays = {k: (v[order] if k != "epochs" else v) for k, v in raw.items()}
    arrays["md5"] = arrays["md5"].astype("S32")
    arrays["arch"] = arrays["arch"].astype(np.int8)
    arrays["key"] = keys[order]
    arrays["format_version"] = np.int32(FORMAT_VERSION)
    arrays["key_version"] = np.int32(KEY_VERSION)
    arrays["source"] = np.array(Path(src).name)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    _load_cached.cache_clear()
    return out


def table_from_cache(arrays: dict[str, np.ndarray], where: str = "the cache") -> NB101Table:
    """An :class:`NB101Table` from the arrays of a cache written by :func:`convert`."""
    if int(arrays.get("format_version", -1)) != FORMAT_VERSION or int(
            arrays.get("key_version", -1)) != KEY_VERSION:
        raise ValueError(f"{where} was written by another jaxnas version (format "
                         f"{arrays.get('format_version')}, key {arrays.get('key_version')}); "
                         f"convert the official file again")
    arch = arrays["arch"].astype(np.int32)
    keys = arrays["key"].astype(np.uint32)
    probe = np.linspace(0, len(arch) - 1, min(64, len(arch))).astype(np.int64)
    if not np.array_equal(keys_of(arch[probe]), keys[probe]):
        raise ValueError(f"{where}: stored keys do not match the cells; convert the official "
                         f"file again")
    extra = {}
    for e in arrays["epochs"].tolist():
        if e == 108:
            continue
        with np.errstate(invalid="ignore"):
            extra[f"valid_{e}"] = np.nanmean(arrays[f"valid_{e}"], 1) * 100
            extra[f"test_{e}"] = np.nanmean(arrays[f"test_{e}"], 1) * 100
            extra[f"time_{e}"] = np.nanmean(arrays[f"time_{e}"], 1)
    with np.errstate(invalid="ignore"):
        time108 = np.nanmean(arrays["time_108"], 1)
    return make_table("nb101", arrays["md5"], arch, arrays["valid_108"] * 100,
                      test_seeds=arrays["test_108"] * 100, train_time=time108,
                      params=arrays["params"], keys=keys,
                      **{k: v.astype(np.float32) for k, v in extra.items()})


@functools.lru_cache(maxsize=2)
def _load_cached(data_dir: str | None) -> NB101Table:
    path = paths.find_file(CACHE_NAME, data_dir, official.how_to_get("nb101"))
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"corrupt jaxnas cache {path} ({type(e).__name__}: {e}); delete it and "
                         f"run `jaxnas data convert nb101 ...` again") from e
    return table_from_cache(arrays, str(path))


def load(data_dir: str | os.PathLike | None = None) -> NB101Table:
    """The NAS-Bench-101 table from jaxnas's cache (``nb101_jaxnas.npz``, see :func:`convert`).

    Raises:
        FileNotFoundError: no cache, naming where jaxnas looked and how to make one.
        ValueError: a corrupt or outdated cache.
    """
    return _load_cached(None if data_dir is None else str(data_dir))


@functools.lru_cache(maxsize=2)
def _load_sample_cached(data_dir: str | None) -> NB101Table:
    path = paths.find_file(SAMPLE_FILE, data_dir, "It is a shared test file (see "
                           "../shared/data/README.md), not the benchmark.")
    try:
        with np.load(path) as z:
            a = {k: z[k] for k in z.files}
        adjacency, ops, nv = a["adjacency"], a["ops"], a["num_vertices"].astype(int)
        arch = np.stack([space.from_spec(adjacency[i][:v, :v],
                                         [_SAMPLE_OPS[int(o)] for o in ops[i][1:v - 1]])
                         for i, v in enumerate(nv)])
        val = a["val_acc"].astype(np.float32) * 100
        epochs = a["epochs"].tolist()
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"cannot read the NB101 sample {path} ({type(e).__name__}: {e})") from e
    j108 = epochs.index(108)
    extra = {f"valid_{e}": val[:, j] for j, e in enumerate(epochs) if e != 108}
    return make_table("nb101-sample", a["hash"], arch, val[:, j108:j108 + 1],
                      train_time=a["train_time_108"], params=a["params"], **extra)


def load_sample(data_dir: str | os.PathLike | None = None) -> NB101Table:
    """``nb101-sample``: the table of ``nb101/sample.npz`` (see the module docstring; NOT
    NAS-Bench-101 results). 20,001 rows, 1,000 queryable; 108-epoch validation accuracy, one
    value per cell, no test accuracy; ``extra`` has ``valid_4``, ``valid_12``, ``valid_36``.

    Raises:
        FileNotFoundError: the sample is absent; ValueError: it is unreadable.
    """
    return _load_sample_cached(None if data_dir is None else str(data_dir))


# --------------------------------------------------------------------------------------------
# The registered benchmarks ``nb101`` and ``nb101-sample`` (space ``nb101``), as searched by
# ``jaxnas search``: a benchmark pytree with ``landscape(key, noise)``.
# --------------------------------------------------------------------------------------------


@struct.dataclass
class NB101Benchmark:
    """An :class:`NB101Table` searched through :func:`jaxnas.benchmarks.make_landscape`.

    ``space`` is the ``nb101`` space for the full table, and for ``nb101-sample`` the same
    space restricted to the table's queryable cells (:class:`jaxnas.spaces.base.SubsetSpace`:
    sampling draws table cells, neighbours outside the table are invalid).
    """

    table: NB101Table
    space: SearchSpace = struct.field(pytree_node=False)
    has_test: bool = struct.field(pytree_node=False, default=True)

    def landscape(self, key: jax.Array, noise: tabular.NoiseModel) -> NB101Landscape:
        """This trial's landscape under ``noise`` (denoised, standard, random, gaussian).
        Consumes ``key``."""
        return NB101Landscape(bench=self, nt=tabular.noisy_table(key, self.table, noise))


@struct.dataclass
class NB101Landscape:
    """One trial's view of an :class:`NB101Benchmark` (the query methods of
    :class:`jaxnas.benchmarks.tabular.Landscape`); cells absent from the table read NaN."""

    bench: NB101Benchmark
    nt: tabular.NoisyTable

    @property
    def space(self) -> SearchSpace:
        return self.bench.space

    @property
    def has_test(self) -> bool:
        return self.bench.has_test

    @property
    def salt(self) -> jax.Array:
        return self.nt.salt

    def _rows(self, arch: jax.Array) -> jax.Array:
        return rows_of(self.bench.table, jnp.asarray(arch, jnp.int32))

    def valid(self, arch: jax.Array) -> jax.Array:
        row = self._rows(arch)
        return jnp.where(row >= 0, tabular.noisy_valid(self.nt, jnp.maximum(row, 0)), jnp.nan)

    def valid_draw(self, arch: jax.Array, draw: jax.Array) -> jax.Array:
        """The ``draw``-th evaluation of ``arch`` (draw 0: :meth:`valid`); later draws redraw
        the training seed (``standard``), as naszilla's repeated noisy queries do."""
        d = jnp.asarray(draw).astype(jnp.uint32)
        salt = jnp.where(d == 0, self.nt.salt,
                         tabular.hash32(self.nt.salt ^ tabular.hash32(d * jnp.uint32(0x9E3779B9))))
        return self.replace(nt=self.nt.replace(salt=salt)).valid(arch)

    def true_valid(self, arch: jax.Array) -> jax.Array:
        row = self._rows(arch)
        return jnp.where(row >= 0, self.nt.base[jnp.maximum(row, 0)], jnp.nan)

    @property
    def num_archs(self) -> int:
        """The cells this landscape covers: the table's queryable cells (423,624 in the full
        table, every valid cell; 1,000 in ``nb101-sample``)."""
        return self.bench.table.num_queryable

    def optimum(self) -> tuple[jax.Array, jax.Array]:
        """``(key, value)`` of the queryable cell with the best validation accuracy in this
        trial (the first of equals in key order)."""
        m = self.bench.table.num_queryable
        values = tabular.noisy_valid(self.nt, jnp.arange(m, dtype=jnp.int32))
        row = jnp.argmax(values)
        return self.bench.table.keys[row], values[row]

    def test(self, arch: jax.Array) -> jax.Array:
        """Test accuracy (mean over seeds); without one (``nb101-sample``) the true validation
        accuracy, as on surrogates."""
        if not self.bench.has_test:
            return self.true_valid(arch)
        row = self._rows(arch)
        return jnp.where(row >= 0, self.bench.table.test[jnp.maximum(row, 0)], jnp.nan)


def load_benchmark(dataset: str = "cifar10",
                   data_dir: str | os.PathLike | None = None) -> NB101Benchmark:
    """The ``nb101`` benchmark (CIFAR-10) from jaxnas's cache of the official file."""
    _check_dataset(dataset)
    return NB101Benchmark(table=load(data_dir), space=space.SPACE)


def load_sample_benchmark(dataset: str = "cifar10",
                          data_dir: str | os.PathLike | None = None) -> NB101Benchmark:
    """The ``nb101-sample`` benchmark: the 1,000 queryable cells of ``sample.npz`` (NOT
    NAS-Bench-101 results; one validation value per cell, no test accuracy)."""
    from jaxnas.spaces.base import subset_space

    _check_dataset(dataset)
    t = load_sample(data_dir)
    sub = subset_space(space.SPACE, np.asarray(t.arch[: t.num_queryable]))
    return NB101Benchmark(table=t, space=sub, has_test=False)


def _check_dataset(dataset: str) -> None:
    if dataset != "cifar10":
        raise ValueError(f"NAS-Bench-101 covers CIFAR-10 only, got dataset {dataset!r}")


__all__ = ["CACHE_NAME", "EPOCHS", "NB101Table", "Query", "SAMPLE_FILE", "convert", "find",
           "key_of_md5", "keys_of", "load", "load_sample", "make_table", "md5_hex",
           "md5_of_key", "md5_words", "neighbours", "noisy", "noisy_valid", "query",
           "read_official", "row_of_md5", "rows_of", "sample_row", "table_from_cache",
           "NB101Benchmark", "NB101Landscape", "load_benchmark", "load_sample_benchmark"]
