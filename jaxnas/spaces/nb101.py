"""The NAS-Bench-101 cell search space as pure, jit- and vmap-able functions.

NAS-Bench-101 (Ying et al., ICML 2019, "NAS-Bench-101: Towards Reproducible Neural Architecture
Search") searches a cell that is a DAG on at most 7 vertices: an input, an output and up to 5
operation vertices, each one of ``conv3x3-bn-relu``, ``conv1x1-bn-relu`` or ``maxpool3x3``,
with at most 9 edges. The official API (google-research/nasbench ``model_spec.py``) prunes every
vertex that lies on no input -> output path before it checks the limits and hashes the cell, so
many adjacency matrices describe the same cell; the benchmark holds 423,624 distinct cells.

Encoding: ``int32[26]`` (:data:`ARCH_LEN`), always 7 vertex slots, vertex 0 the input and vertex
6 the output::

    arch[0:21]   adjacency bits of the pairs (i, j), i < j, in row-major order:
                 (0,1) (0,2) ... (0,6) (1,2) ... (1,6) ... (5,6)     (:data:`PAIRS`)
    arch[21:26]  operations of vertices 1..5: 0 conv3x3-bn-relu, 1 conv1x1-bn-relu,
                 2 maxpool3x3 (the official ``available_ops`` order, the hash labels)

An encoding is *valid* when, after pruning, the input is connected to the output and at most 9
edges remain (the official ``ModelSpec`` + ``NASBench.is_valid``). Unused vertices may keep edges
and operations ("raw" encodings, as the official random spec draws them); every function below
prunes first. A cell of ``V < 7`` vertices read from the official file is stored *compact*: its
vertices ``0..V-2`` in slots ``0..V-2``, its output in slot 6, empty slots with operation 0.

Keys. :func:`module_hash` is the official md5 module hash (``graph_util.hash_module``, host
side): results are keyed like the official API's. Inside ``jit`` the key is :func:`arch_key`,
``uint32[2]``: the same iterated graph hash (Weisfeiler-Lehman refinement of ``(out-degree,
in-degree, label)``, ``V`` rounds over the pruned graph, then a hash of the multiset of vertex
hashes) with md5 replaced by two independent 32-bit murmur3 lanes, and sorted concatenations
(the official multiset form) replaced by wrapping sums of salted finalisers. It is invariant
under relabelling vertices and ignores pruned vertices. Collisions: two non-isomorphic cells
share a key only if the mixing collides (about ``n**2 / 2**65``, 5e-9 for the whole space); in
fact all 423,624 cells get distinct keys (checked by a slow test over :func:`enumerate_cells`),
so on NAS-Bench-101 the key is exact, and the converter refuses a table with a repeated key.
Invalid encodings get :data:`INVALID_KEY`.

Neighbourhood (naszilla ``nas_bench_101/cell_101.py``, ``adj_neighborhood``, as used by White,
Nolen, Savani 2020): change the operation of one vertex that lies on an input -> output path
(10 rows: vertex ``v = 1 + n // 2`` takes op ``(op + 1 + n % 2) % 3``), then flip each of the 21
adjacency bits (rows ``10 + b``): remove an edge that lies on a path, or add an edge that lies on
a path of the new cell, keeping only valid cells. ``max_neighbours = 31``; rows whose cell
equals an earlier row's (isomorphic, e.g. the same change on two symmetric vertices) are masked,
which naszilla does not do.

Sampling (:func:`sample`) is exactly uniform over the 423,624 cells: a proposal picks one of the
2,494 canonical compact shapes (adjacency matrices that are the smallest of their relabelings,
:func:`canonical_adjacencies`) with weight ``3**(#operation vertices)`` and operations
uniformly, and is accepted when its operations are the smallest under the shape's
automorphisms, so every cell has exactly one accepted proposal (423,624 of 450,808; with the
rejection that makes the random fields exact, 0.77 per proposal, in rounds of 8 inside a
bounded ``lax.while_loop``). :func:`random_spec` is the official API's random cell instead
(21 uniform bits, uniform operations, drawn again until valid): uniform over *encodings*,
which puts 10% of its mass on the 2-vertex cell and 0.3% on 7-vertex cells (85% of all cells).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces.base import SearchSpace
from jaxnas.spaces.registry import register

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
#: operation names in index order (the official ``config['available_ops']``)
OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
NUM_OPS = 3
NUM_VERTICES = 7
OP_SLOTS = NUM_VERTICES - 2  # 5
MAX_EDGES = 9
#: the adjacency pairs (i, j), i < j, in encoding order
PAIRS: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(NUM_VERTICES) for j in range(i + 1, NUM_VERTICES))
NUM_PAIRS = len(PAIRS)  # 21
ARCH_LEN = NUM_PAIRS + OP_SLOTS  # 26
NUM_CELLS = 423_624  # distinct valid cells (the official table's size)
NUM_NEIGHBOURS = OP_SLOTS * (NUM_OPS - 1) + NUM_PAIRS  # 31
#: the key of an invalid encoding
INVALID_KEY = np.array([0xFFFFFFFF, 0xFFFFFFFF], np.uint32)

_PI = np.array([p[0] for p in PAIRS], np.int32)
_PJ = np.array([p[1] for p in PAIRS], np.int32)
# _PAIR_OF[i, j]: the bit of pair (i, j), or NUM_PAIRS (a zero pad) below the diagonal
_PAIR_OF = np.full((NUM_VERTICES, NUM_VERTICES), NUM_PAIRS, np.int32)
_PAIR_OF[_PI, _PJ] = np.arange(NUM_PAIRS, dtype=np.int32)
# the official hash labels: input -1, operations 0..2, output -2
_INPUT_LABEL, _OUTPUT_LABEL = -1, -2


# --------------------------------------------------------------------------------------------
# Host side: validation, official specs, strings and the official md5 hash.
# --------------------------------------------------------------------------------------------


def _check_matrix(matrix: Any) -> np.ndarray:
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"an adjacency matrix must be square, got shape {m.shape}")
    if m.size and not np.all((m == 0) | (m == 1)):
        raise ValueError(f"adjacency entries must be 0 or 1, got {np.unique(m).tolist()}")
    if np.any(np.tril(m)):
        i, j = np.argwhere(np.tril(m))[0]
        raise ValueError(f"the adjacency matrix must be strictly upper triangular (a DAG in "
                         f"vertex order), but entry ({i}, {j}) is set")
    return m.astype(np.int8)


def _check_op_names(ops: Sequence[str], n: int) -> list[str]:
    ops = list(ops)
    if len(ops) != n:
        raise ValueError(f"{len(ops)} operations for {n} vertices; pass one label per vertex, "
                         f"'{INPUT}' first and '{OUTPUT}' last")
    if n < 2 or ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"operations must start with {INPUT!r} and end with {OUTPUT!r}, "
                         f"got {ops!r}")
    bad = [o for o in ops[1:-1] if o not in OPS]
    if bad:
        raise ValueError(f"unknown operation {bad[0]!r} in {ops!r}; known: {OPS}")
    return ops


def prune_spec(matrix: Any, ops: Sequence[str]) -> tuple[np.ndarray, list[str]] | None:
    """The official ``ModelSpec`` pruning: drops every vertex not on an input -> output path.

    Args:
        matrix: ``[V, V]`` strictly upper-triangular 0/1 adjacency.
        ops: ``V`` labels, ``'input'`` first and ``'output'`` last.

    Returns:
        ``(matrix, ops)`` of the pruned cell, or ``None`` when the input is not connected to the
        output (the official spec is then invalid).

    Raises:
        ValueError: for a malformed matrix or labels, naming the culprit.
    """
    m = _check_matrix(matrix)
    ops = _check_op_names(ops, m.shape[0])
    used = _used_np(m)
    if not used[-1]:
        return None
    keep = np.flatnonzero(used)
    return m[np.ix_(keep, keep)], [ops[i] for i in keep]


def _used_np(m: np.ndarray) -> np.ndarray:
    """Vertices on an input -> output path (``bool[V]``) of a DAG in vertex order."""
    v = m.shape[0]
    fwd = np.zeros(v, bool)
    bwd = np.zeros(v, bool)
    fwd[0] = True
    for j in range(1, v):
        fwd[j] = bool(np.any(fwd[:j] & (m[:j, j] != 0)))
    bwd[-1] = True
    for i in range(v - 2, -1, -1):
        bwd[i] = bool(np.any(bwd[i + 1:] & (m[i, i + 1:] != 0)))
    return fwd & bwd


def module_hash(matrix: Any, ops: Sequence[str]) -> str:
    """The official NAS-Bench-101 module hash (md5 hex) of a cell, as the official API's
    ``ModelSpec(matrix, ops).hash_spec(available_ops)`` computes it: prune, label the vertices
    (input -1, ``conv3x3-bn-relu`` 0, ``conv1x1-bn-relu`` 1, ``maxpool3x3`` 2, output -2), hash
    ``(out-degree, in-degree, label)`` of every vertex, refine ``V`` times with the sorted hashes
    of the in- and out-neighbours, and hash the sorted vertex hashes (``graph_util.hash_module``).

    Args:
        matrix: ``[V, V]`` strictly upper-triangular 0/1 adjacency (any ``V >= 2``).
        ops: ``V`` official labels, ``'input'`` first and ``'output'`` last.

    Raises:
        ValueError: malformed input, or the input is not connected to the output.
    """
    pruned = prune_spec(matrix, ops)
    if pruned is None:
        raise ValueError(f"the cell {np.asarray(matrix).tolist()} has no input -> output path; "
                         f"it has no module hash (the official spec is invalid)")
    m, names = pruned
    labels = [_INPUT_LABEL] + [OPS.index(o) for o in names[1:-1]] + [_OUTPUT_LABEL]
    return _hash_module(m, labels)


def _hash_module(m: np.ndarray, labels: list[int]) -> str:
    v = m.shape[0]
    preds = [np.flatnonzero(m[:, i]).tolist() for i in range(v)]
    succs = [np.flatnonzero(m[i]).tolist() for i in range(v)]
    h = [_md5(str((len(succs[i]), len(preds[i]), labels[i]))) for i in range(v)]
    for _ in range(v):
        h = [_md5("".join(sorted(h[w] for w in preds[i])) + "|"
                  + "".join(sorted(h[w] for w in succs[i])) + "|" + h[i]) for i in range(v)]
    return _md5(str(sorted(h)))


def _md5(s: str) -> str:
    return hashlib.md5(s.encode("utf-8")).hexdigest()


def from_spec(matrix: Any, ops: Sequence[str] | Sequence[int]) -> np.ndarray:
    """An encoding from an official spec (``V <= 7`` vertices; not pruned, not validated).

    Args:
        matrix: ``[V, V]`` strictly upper-triangular 0/1 adjacency.
        ops: ``V`` official labels (``'input'``, ..., ``'output'``), or ``V - 2`` operation
            indices (0 conv3x3, 1 conv1x1, 2 maxpool).

    Returns:
        ``int32[26]``; a cell of ``V < 7`` vertices in the compact layout (vertices ``0..V-2`` in
        slots ``0..V-2``, the output in slot 6, empty slots with operation 0).

    Raises:
        ValueError: malformed input or more than 7 vertices, naming the culprit.
    """
    m = _check_matrix(matrix)
    v = m.shape[0]
    if not 2 <= v <= NUM_VERTICES:
        raise ValueError(f"a NAS-Bench-101 cell has 2..{NUM_VERTICES} vertices, got {v}")
    ops = list(ops)
    if len(ops) == v - 2 and all(isinstance(o, (int, np.integer)) for o in ops):
        if any(not 0 <= int(o) < NUM_OPS for o in ops):
            raise ValueError(f"operation indices must be in [0, {NUM_OPS}) ({OPS}), got {ops}")
        idx = [int(o) for o in ops]
    else:
        idx = [OPS.index(o) for o in _check_op_names(ops, v)[1:-1]]
    slot = list(range(v - 1)) + [NUM_VERTICES - 1]
    full = np.zeros((NUM_VERTICES, NUM_VERTICES), np.int32)
    full[np.ix_(slot, slot)] = m
    arch = np.zeros(ARCH_LEN, np.int32)
    arch[:NUM_PAIRS] = full[_PI, _PJ]
    arch[NUM_PAIRS:NUM_PAIRS + v - 2] = idx
    return arch


def to_spec(arch: Any, prune: bool = True) -> tuple[np.ndarray, list[str]]:
    """The official spec of an encoding: ``(matrix int8[V, V], ops names)``.

    With ``prune`` (default) the cell as the official API sees it after pruning (what
    :func:`module_hash` hashes and the official file stores); else the raw 7-vertex matrix.
    """
    a = validate(arch)
    m = np.zeros((NUM_VERTICES, NUM_VERTICES), np.int8)
    m[_PI, _PJ] = a[:NUM_PAIRS]
    names = [INPUT] + [OPS[o] for o in a[NUM_PAIRS:]] + [OUTPUT]
    if not prune:
        return m, names
    pruned = prune_spec(m, names)
    assert pruned is not None  # validate() checked the path
    return pruned


def validate(arch: Any) -> np.ndarray:
    """Checks one encoding on the host and returns it as ``int32[26]``.

    Raises:
        ValueError: wrong shape, a bit not 0/1, an operation not in ``[0, 3)``, no input ->
            output path, or more than 9 edges after pruning, naming the offending value.
    """
    a = np.asarray(arch)
    if a.shape != (ARCH_LEN,):
        raise ValueError(f"an NB101 architecture is int[{ARCH_LEN}] (21 adjacency bits, then 5 "
                         f"operations), got shape {a.shape}; build one with from_spec(matrix, ops)")
    if not np.issubdtype(a.dtype, np.integer) and not np.all(np.equal(np.mod(a, 1), 0)):
        raise ValueError(f"NB101 encodings hold integers, got {a.tolist()!r}")
    a = a.astype(np.int64)
    bits, ops = a[:NUM_PAIRS], a[NUM_PAIRS:]
    if np.any((bits != 0) & (bits != 1)):
        b = int(np.flatnonzero((bits != 0) & (bits != 1))[0])
        raise ValueError(f"adjacency bit {b} (edge {PAIRS[b]}) is {int(bits[b])}; bits are 0 or 1")
    if np.any((ops < 0) | (ops >= NUM_OPS)):
        s = int(np.flatnonzero((ops < 0) | (ops >= NUM_OPS))[0])
        raise ValueError(f"operation {int(ops[s])} of vertex {s + 1} is out of range "
                         f"[0, {NUM_OPS}); operations are {OPS}")
    m = np.zeros((NUM_VERTICES, NUM_VERTICES), np.int8)
    m[_PI, _PJ] = bits
    used = _used_np(m)
    if not used[-1]:
        raise ValueError(f"invalid NB101 cell {a.tolist()}: no path from the input to the output")
    edges = int(m[np.ix_(used, used)].sum())
    if edges > MAX_EDGES:
        raise ValueError(f"invalid NB101 cell {a.tolist()}: {edges} edges after pruning, at most "
                         f"{MAX_EDGES}")
    return a.astype(np.int32)


def to_string(arch: Any) -> str:
    """``'<adjacency>|<operations>'``: the official file's two fields of the raw 7-vertex cell,
    e.g. ``'0100001000000100000010000001000000100000000000000|input,conv3x3-bn-relu,...,output'``
    (49 row-major digits, then the comma-joined labels)."""
    m, names = to_spec(arch, prune=False)
    return "".join(str(int(x)) for x in m.ravel()) + "|" + ",".join(names)


def from_string(s: str) -> np.ndarray:
    """Parses :func:`to_string`'s format (any ``V <= 7``, e.g. a pruned official record) into a
    validated encoding.

    Raises:
        ValueError: a malformed string or an invalid cell, naming the culprit.
    """
    if not isinstance(s, str) or s.count("|") != 1:
        raise ValueError(f"expected '<adjacency digits>|<comma-joined operations>', got {s!r}")
    adj, ops = s.strip().split("|")
    names = ops.split(",")
    v = len(names)
    if len(adj) != v * v or not set(adj) <= {"0", "1"}:
        raise ValueError(f"malformed NB101 string {s!r}: {v} operations need {v * v} adjacency "
                         f"digits 0/1, got {adj!r}")
    m = np.array([int(c) for c in adj], np.int8).reshape(v, v)
    return validate(from_spec(m, names))


# --------------------------------------------------------------------------------------------
# Pure functions (jit / vmap), one encoding each.
# --------------------------------------------------------------------------------------------


def adjacency(arch: jax.Array) -> jax.Array:
    """The 7 x 7 adjacency of an encoding (``int[26] -> bool[7, 7]``)."""
    bits = jnp.concatenate([jnp.asarray(arch)[:NUM_PAIRS] != 0, jnp.zeros((1,), bool)])
    return bits[_PAIR_OF]


def _reach(adj: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Vertices reachable from the input and those that reach the output (``bool[7]`` each):
    the reflexive-transitive closure by three squarings (paths have at most 6 edges)."""
    r = (adj | jnp.eye(NUM_VERTICES, dtype=bool)).astype(jnp.int32)
    for _ in range(3):
        r = (r @ r > 0).astype(jnp.int32)
    return r[0] > 0, r[:, -1] > 0


def _pruned(arch: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(adjacency of the pruned cell bool[7, 7], used vertices bool[7], valid bool[])``."""
    adj = adjacency(arch)
    fwd, bwd = _reach(adj)
    used = fwd & bwd & fwd[-1]
    adj = adj & used[:, None] & used[None, :]
    return adj, used, fwd[-1] & (jnp.sum(adj, dtype=jnp.int32) <= MAX_EDGES)


def used_vertices(arch: jax.Array) -> jax.Array:
    """Vertices on an input -> output path (``int[26] -> bool[7]``; all false if none)."""
    return _pruned(arch)[1]


@jax.jit
def is_valid(arch: jax.Array) -> jax.Array:
    """Whether an encoding is a valid cell: input connected to output, at most 9 edges after
    pruning (``int[26] -> bool[]``). Entries are assumed in range (see :func:`validate`)."""
    return _pruned(arch)[2]


# ---- the 32-bit iterated graph hash --------------------------------------------------------

# per-lane constants, [2, 1]: the seed and the salts of in-neighbour, out-neighbour and final
# vertex hashes
_SEED = np.array([[0x3C6EF372], [0xA54FF53A]], np.uint32)
_SALT_IN = np.array([[0x510E527F], [0x9B05688C]], np.uint32)
_SALT_OUT = np.array([[0x1F83D9AB], [0x5BE0CD19]], np.uint32)
_SALT_FINAL = np.array([[0xCBBB9D5D], [0x629A292A]], np.uint32)


def _rotl(x: jax.Array, r: int) -> jax.Array:
    return (x << r) | (x >> (32 - r))


def _step(h: jax.Array, w: jax.Array) -> jax.Array:
    """One murmur3_32 block step: mixes the word ``w`` into the state ``h`` (uint32)."""
    k = _rotl(w * jnp.uint32(0xCC9E2D51), 15) * jnp.uint32(0x1B873593)
    return _rotl(h ^ k, 13) * jnp.uint32(5) + jnp.uint32(0xE6546B64)


def _fmix(h: jax.Array) -> jax.Array:
    """The murmur3 finaliser, a bijection of uint32 (as :func:`jaxnas.benchmarks.tabular.hash32`)."""
    h = (h ^ (h >> 16)) * jnp.uint32(0x85EBCA6B)
    h = (h ^ (h >> 13)) * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _hash(seed: jax.Array, *words: jax.Array) -> jax.Array:
    h = seed
    for w in words:
        h = _step(h, w)
    return _fmix(h ^ jnp.uint32(len(words)))


@jax.jit
def _keys(archs: jax.Array) -> jax.Array:
    return jax.vmap(_key_one)(archs)


def _key_one(arch: jax.Array) -> jax.Array:
    """``uint32[2]``: the official hash's refinement with 32-bit lanes. A multiset of neighbour
    hashes is the wrapping sum of their salted finalisers (the official hash joins them
    sorted); both are functions of the multiset, so relabelling vertices changes nothing."""
    adj, used, valid = _pruned(arch)
    nv = jnp.sum(used, dtype=jnp.int32)
    labels = jnp.concatenate([jnp.array([_INPUT_LABEL], jnp.int32), arch[NUM_PAIRS:],
                              jnp.array([_OUTPUT_LABEL], jnp.int32)]).astype(jnp.uint32)
    a = adj.astype(jnp.uint32)
    in_deg, out_deg = jnp.sum(a, 0, dtype=jnp.uint32), jnp.sum(a, 1, dtype=jnp.uint32)
    h = _hash(_SEED, out_deg, in_deg, labels)  # [2, 7]

    def refine(t, h):
        s_in = jnp.sum(a.T[None] * _fmix(h ^ _SALT_IN)[:, None, :], -1, dtype=jnp.uint32)
        s_out = jnp.sum(a[None] * _fmix(h ^ _SALT_OUT)[:, None, :], -1, dtype=jnp.uint32)
        return jnp.where(t < nv, _hash(_SEED, s_in, s_out, h), h)  # V rounds, as official

    h = jax.lax.fori_loop(0, NUM_VERTICES, refine, h)
    total = jnp.sum(jnp.where(used, _fmix(h ^ _SALT_FINAL), 0), -1, dtype=jnp.uint32)
    key = _hash(_SEED[:, 0], nv.astype(jnp.uint32), total)
    return jnp.where(valid, key, jnp.asarray(INVALID_KEY))


def arch_key(arch: jax.Array) -> jax.Array:
    """The canonical key of encodings (``int[..., 26] -> uint32[..., 2]``); see the module
    docstring. Equal for cells equal up to pruning and relabelling; :data:`INVALID_KEY` for
    invalid encodings."""
    arch = jnp.asarray(arch, jnp.int32)
    flat = arch.reshape(-1, ARCH_LEN)
    n = flat.shape[0]
    if isinstance(flat, jax.core.Tracer):
        return _keys(flat).reshape(*arch.shape[:-1], 2)
    if n == 0:
        return jnp.zeros((*arch.shape[:-1], 2), jnp.uint32)
    # called eagerly: fixed chunk sizes, so that two shapes get compiled whatever the batch
    size = _SMALL_CHUNK if n <= _SMALL_CHUNK else _CHUNK
    pad = np.concatenate([np.asarray(flat), np.zeros((-n % size, ARCH_LEN), np.int32)])
    out = np.concatenate([np.asarray(_keys(pad[i:i + size])) for i in range(0, len(pad), size)])
    return jnp.asarray(out[:n].reshape(*arch.shape[:-1], 2))


_SMALL_CHUNK, _CHUNK = 64, 8192


# ---- neighbourhood -------------------------------------------------------------------------

_NB_SLOT = np.repeat(np.arange(OP_SLOTS, dtype=np.int32), NUM_OPS - 1)
_NB_SHIFT = np.tile(np.arange(1, NUM_OPS, dtype=np.int32), OP_SLOTS)
_NUM_OP_ROWS = OP_SLOTS * (NUM_OPS - 1)  # 10
# row n < 10 changes operation column _OP_COL[n] by _NB_SHIFT[n]; row 10 + b flips bit b
_FLIP = np.eye(NUM_PAIRS, ARCH_LEN, dtype=bool)
_OP_SET = np.eye(ARCH_LEN, dtype=bool)[NUM_PAIRS + _NB_SLOT]  # [10, 26]


@jax.jit
def neighbours(arch: jax.Array) -> tuple[jax.Array, jax.Array]:
    """naszilla's neighbourhood of one encoding (see the module docstring).

    Returns:
        ``(archs, valid)``: ``int32[31, 26]`` (rows 0..9 operation changes, rows 10..30 the 21
        edge flips in :data:`PAIRS` order) and ``bool[31]``.
    """
    arch = jnp.asarray(arch, jnp.int32)
    adj = adjacency(arch)
    fwd, bwd = _reach(adj)
    used = fwd & bwd & fwd[-1]
    # operation changes, on vertices that lie on a path
    new_op = (arch[NUM_PAIRS + _NB_SLOT] + _NB_SHIFT) % NUM_OPS
    op_rows = jnp.where(_OP_SET, new_op[:, None], arch[None, :])
    op_ok = used[_NB_SLOT + 1]
    # edge flips: remove an edge on a path, or add one that lies on a path of the new cell
    edge_rows = jnp.where(_FLIP, 1 - arch[None, :], arch[None, :])
    nadj = jax.vmap(adjacency)(edge_rows)
    nf, nb = jax.vmap(_reach)(nadj)  # [21, 7] each
    n_used = nf & nb & nf[:, -1:]
    n_edges = jnp.sum(nadj & n_used[:, :, None] & n_used[:, None, :], (1, 2), dtype=jnp.int32)
    new_ok = nf[:, -1] & (n_edges <= MAX_EDGES)
    b = np.arange(NUM_PAIRS)
    present = arch[:NUM_PAIRS] == 1
    on_path = jnp.where(present, fwd[_PI] & bwd[_PJ], nf[b, _PI] & nb[b, _PJ])
    rows = jnp.concatenate([op_rows, edge_rows])
    valid = jnp.concatenate([op_ok, new_ok & on_path])
    # mask rows whose cell equals an earlier valid row's
    keys = jax.vmap(_key_one)(rows)
    same = jnp.all(keys[:, None, :] == keys[None, :, :], -1)
    earlier = np.tril(np.ones((NUM_NEIGHBOURS, NUM_NEIGHBOURS), bool), -1)
    return rows, valid & ~jnp.any(same & earlier & valid[None, :], axis=1)


@jax.jit
def mutate(key: jax.Array, arch: jax.Array) -> jax.Array:
    """A uniformly random valid neighbour (up to a relative bias below 1e-8); the cell itself
    when it has none (the 2-vertex cell ``input -> output``). Consumes ``key``."""
    nbrs, valid = neighbours(arch)
    n = jnp.sum(valid, dtype=jnp.int32)
    # one 32-bit word modulo n <= 31: uniform up to a relative bias below 1e-8
    pick = (jax.random.bits(key, (), jnp.uint32) % jnp.maximum(n, 1).astype(jnp.uint32)
            ).astype(jnp.int32)
    idx = jnp.argmax(jnp.cumsum(valid.astype(jnp.int32)) > pick)
    return jnp.where(n > 0, nbrs[idx], jnp.asarray(arch, jnp.int32))


# --------------------------------------------------------------------------------------------
# Sampling.
# --------------------------------------------------------------------------------------------

#: the 120 permutations of the operation vertices, as vertex maps (0 and 6 fixed)
_PERMS = np.array([(0, *p, NUM_VERTICES - 1) for p in itertools.permutations(range(1, 6))],
                  np.int32)
_POW3 = (NUM_OPS ** np.arange(OP_SLOTS - 1, -1, -1)).astype(np.int32)  # slot 1 most significant


@functools.lru_cache(maxsize=1)
def canonical_adjacencies() -> dict[str, np.ndarray]:
    """Every compact cell shape once, with what exact sampling needs (host side, cached).

    A *shape* is a compact adjacency on ``k`` vertices (slots ``0..k-2`` and 6) whose vertices
    all lie on input -> output paths, with at most 9 edges; it is *canonical* when its 21-bit
    code is the smallest over the relabelings of its operation vertices that keep it upper
    triangular and compact. Every cell is one canonical shape with an operation labelling,
    unique up to the shape's automorphisms.

    Returns:
        ``bits`` uint32[S] (bit ``b`` = pair ``b``), ``k`` int32[S] (vertices), ``aut``
        bool[S, 120] (which of :data:`_PERMS` map the shape onto itself) and ``num_cells``
        int64[S] (distinct labellings, Burnside's count); ``S = 2,494`` and
        ``num_cells.sum() = 423,624``.
    """
    bits, ks = [], []
    for k in range(2, NUM_VERTICES + 1):
        slots = [*range(k - 1), NUM_VERTICES - 1]
        kp = [(a, b) for a in range(k) for b in range(a + 1, k)]
        cand = np.arange(1 << len(kp), dtype=np.uint32)
        count = sum((cand >> q) & 1 for q in range(len(kp)))
        cand = cand[count <= MAX_EDGES]
        pred = [np.zeros(cand.size, np.uint32) for _ in range(k)]
        succ = [np.zeros(cand.size, np.uint32) for _ in range(k)]
        for q, (x, y) in enumerate(kp):
            bit = (cand >> q) & 1
            pred[y] |= bit << x
            succ[x] |= bit << y
        fwd = np.ones(cand.size, np.uint32)
        for j in range(1, k):
            fwd |= ((fwd & pred[j]) != 0).astype(np.uint32) << j
        bwd = np.full(cand.size, 1 << (k - 1), np.uint32)
        for i in range(k - 2, -1, -1):
            bwd |= ((bwd & succ[i]) != 0).astype(np.uint32) << i
        cand = cand[(fwd & bwd) == (1 << k) - 1]
        code = np.zeros(cand.size, np.uint32)
        for q, (x, y) in enumerate(kp):
            code |= ((cand >> q) & 1) << PAIRS.index((slots[x], slots[y]))
        bits.append(code)
        ks.append(np.full(cand.size, k, np.int32))
    code, k = np.concatenate(bits), np.concatenate(ks)
    m = ((code[:, None] >> np.arange(NUM_PAIRS, dtype=np.uint32)) & 1).astype(bool)
    mat = np.zeros((code.size, NUM_VERTICES, NUM_VERTICES), bool)
    mat[:, _PI, _PJ] = m
    perm = mat[:, _PERMS[:, :, None], _PERMS[:, None, :]]  # [S, 120, 7, 7]
    upper = ~np.any(perm & np.tril(np.ones((NUM_VERTICES,) * 2, bool)), axis=(2, 3))
    deg = mat.any(1) | mat.any(2)
    compact = np.all(deg[:, _PERMS] == deg[:, None, :], -1)
    pcode = (perm[:, :, _PI, _PJ].astype(np.uint32) << np.arange(NUM_PAIRS, dtype=np.uint32)
             ).sum(-1, dtype=np.uint32)
    ok = upper & compact
    canon = np.where(ok, pcode, np.uint32(0xFFFFFFFF)).min(1) == code
    aut = (ok & (pcode == code[:, None]))[canon]
    code, k = code[canon], k[canon]
    num = np.array([_burnside(_PERMS[a][:, 1:-1] - 1, int(kk) - 2) for a, kk in zip(aut, k,
                                                                                   strict=True)])
    out = {"bits": code, "k": k, "aut": aut, "num_cells": num.astype(np.int64)}
    for v in out.values():
        v.setflags(write=False)
    return out


def _burnside(group: np.ndarray, n_used: int) -> int:
    """Orbits of the 3-colourings of slots ``0..n_used-1`` under ``group`` (slot maps)."""
    total = 0
    for g in group:
        seen, cycles = set(), 0
        for x in range(n_used):
            if x not in seen:
                cycles += 1
                while x not in seen:
                    seen.add(x)
                    x = int(g[x])
        total += NUM_OPS**cycles
    return total // len(group)


def enumerate_cells() -> np.ndarray:
    """Every valid cell once, ``int32[423624, 26]``: each canonical shape of
    :func:`canonical_adjacencies` with every operation labelling that is the smallest under the
    shape's automorphisms (the cells :func:`sample` draws from; host side, about a second)."""
    t = canonical_adjacencies()
    codes = np.arange(NUM_OPS**OP_SLOTS)
    labels = (codes[:, None] // _POW3) % NUM_OPS  # [243, 5], slot 1 most significant
    perms = _PERMS[:, 1:-1] - 1
    relabelled = np.sum(labels[:, perms] * _POW3, -1)  # [243, 120]
    out = []
    for k in range(2, NUM_VERTICES + 1):
        mine = np.flatnonzero(t["k"] == k)
        lab = np.flatnonzero(np.all(labels[:, k - 2:] == 0, 1))  # labellings of k - 2 slots
        smallest = np.where(t["aut"][mine][:, None, :], relabelled[lab][None], np.iinfo(
            np.int64).max).min(-1)  # [shapes, labellings]
        s_idx, l_idx = np.nonzero(smallest == codes[lab][None])
        bits = (t["bits"][mine][s_idx, None] >> np.arange(NUM_PAIRS, dtype=np.uint32)) & 1
        out.append(np.concatenate([bits.astype(np.int32), labels[lab][l_idx]], 1))
    return np.concatenate(out).astype(np.int32)


# Randomness comes from one ``jax.random.bits`` call per sample, cut into exactly uniform fields
# by rejection: 19 bits for the shape (kept when < 450,808, probability 0.86) and 8 bits for the
# five operations as a base-3 number (kept when < 243, probability 0.95).
_SAMPLE_BATCH = 8  # proposals per round; one is accepted with probability 0.77, a round fails
_SAMPLE_ROUNDS = 16  # with probability 8.5e-6, all 16 rounds with probability 1e-81
_SPEC_TRIES = 32  # official random spec: a draw is kept with probability 0.69; all fail: 7e-17
_SHAPE_BITS = 19
_OPS_BITS = 8
_NUM_LABELLINGS = NUM_OPS**OP_SLOTS  # 243


def _ops_of(code: jax.Array) -> jax.Array:
    """Base-3 digits of ``code[...]`` (slot 1 most significant): ``int32[..., 5]``."""
    return (code[..., None] // _POW3) % NUM_OPS


@functools.lru_cache(maxsize=1)
def _sampler_tables() -> tuple[np.ndarray, ...]:
    """Packed constants of :func:`sample` (small constants compile much faster): cumulative
    proposal weights ``int32[S]``, shape codes ``uint32[S]``, vertices ``int32[S]`` and the
    automorphisms as 120-bit masks ``uint32[S, 4]``."""
    t = canonical_adjacencies()
    cum = np.cumsum(NUM_OPS ** (t["k"].astype(np.int64) - 2)).astype(np.int32)  # 450,808
    aut = np.zeros((t["aut"].shape[0], 128), bool)
    aut[:, :len(_PERMS)] = t["aut"]
    packed = (aut.reshape(-1, 4, 32).astype(np.uint32) << np.arange(32, dtype=np.uint32)).sum(
        -1, dtype=np.uint32)
    return cum, t["bits"], t["k"], packed


def _unpack_bits(words: jax.Array, n: int) -> jax.Array:
    """``uint32[..., W]`` -> ``bool[..., n]``: bit ``b`` of word ``b // 32``."""
    b = np.arange(n)
    return ((words[..., b // 32] >> (b % 32).astype(np.uint32)) & 1).astype(bool)


@jax.jit
def sample(key: jax.Array) -> jax.Array:
    """A uniformly random cell (``int32[26]``, compact, canonical labelling), exactly uniform
    over the 423,624 valid cells (see the module docstring): rounds of 8 proposals in a
    ``lax.while_loop`` until one is accepted (at most 16 rounds; all fail with probability
    1e-81, when the last proposal is returned). Consumes ``key``."""
    cum, shape_bits, ks, aut = _sampler_tables()
    assert cum[-1] <= 1 << _SHAPE_BITS
    words = jax.random.bits(key, (_SAMPLE_ROUNDS, _SAMPLE_BATCH), jnp.uint32)
    perms = _PERMS[:, 1:-1] - 1  # [120, 5] slot maps

    def propose(w):  # w: uint32[B]
        u = (w & jnp.uint32((1 << _SHAPE_BITS) - 1)).astype(jnp.int32)
        code = (w >> _SHAPE_BITS).astype(jnp.int32) & ((1 << _OPS_BITS) - 1)
        shape = jnp.minimum(jnp.searchsorted(jnp.asarray(cum), u, side="right"), cum.size - 1)
        k = jnp.asarray(ks)[shape]
        ops = jnp.where(jnp.arange(OP_SLOTS) < (k - 2)[:, None], _ops_of(code), 0)  # [B, 5]
        codes = jnp.sum(ops[:, perms] * _POW3, -1)  # [B, 120]: the labelling, relabelled
        auts = _unpack_bits(jnp.asarray(aut)[shape], len(_PERMS))  # [B, 120]
        smallest = jnp.min(jnp.where(auts, codes, jnp.iinfo(jnp.int32).max), -1)
        ok = (u < cum[-1]) & (code < _NUM_LABELLINGS) & (jnp.sum(ops * _POW3, -1) == smallest)
        first = jnp.argmax(ok)
        adj = _unpack_bits(jnp.asarray(shape_bits)[shape[first]][None], NUM_PAIRS)
        return jnp.concatenate([adj.astype(jnp.int32), ops[first]]), jnp.any(ok)

    def cond(c):
        return (c[0] < _SAMPLE_ROUNDS) & ~c[2]

    def body(c):
        arch, ok = propose(words[c[0]])
        return c[0] + 1, arch, ok

    init = (jnp.int32(0), jnp.zeros((ARCH_LEN,), jnp.int32), jnp.bool_(False))
    return jax.lax.while_loop(cond, body, init)[1]


@jax.jit
def random_spec(key: jax.Array) -> jax.Array:
    """The official API's random cell: 21 uniform adjacency bits and uniform operations, drawn
    again until valid (32 draws at once, the first valid one; if none is, probability 7e-17, the
    2-vertex cell ``input -> output``). Uniform over valid *encodings*, not over cells.
    Consumes ``key``."""
    w = jax.random.bits(key, (_SPEC_TRIES,), jnp.uint32)
    adj = ((w[:, None] >> np.arange(NUM_PAIRS, dtype=np.uint32)) & 1).astype(jnp.int32)
    code = (w >> NUM_PAIRS).astype(jnp.int32) & ((1 << _OPS_BITS) - 1)
    draws = jnp.concatenate([adj, _ops_of(code)], -1)
    ok = jax.vmap(is_valid)(draws) & (code < _NUM_LABELLINGS)
    fallback = jnp.zeros((ARCH_LEN,), jnp.int32).at[PAIRS.index((0, NUM_VERTICES - 1))].set(1)
    return jnp.where(jnp.any(ok), draws[jnp.argmax(ok)], fallback)


# --------------------------------------------------------------------------------------------
# The registered space object.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NB101Space(SearchSpace):
    """NAS-Bench-101 as a :class:`jaxnas.spaces.base.SearchSpace`: ``int32[26]`` encodings,
    ``uint32[2]`` isomorphism-invariant keys, naszilla's 31-row neighbourhood, exact uniform
    sampling. Not enumerable (``num_archs`` is ``None``; the cells number :data:`NUM_CELLS`)."""

    name: str = "nb101"
    arch_shape: tuple[int, ...] = (ARCH_LEN,)
    num_archs: int | None = None
    max_neighbours: int = NUM_NEIGHBOURS
    key_shape: tuple[int, ...] = (2,)

    def validate(self, arch: Any) -> np.ndarray:
        return validate(arch)

    def to_string(self, arch: Any) -> str:
        return to_string(arch)

    def from_string(self, s: str) -> np.ndarray:
        return from_string(s)

    def sample(self, key: jax.Array) -> jax.Array:
        return sample(key)

    def neighbours(self, arch: jax.Array) -> tuple[jax.Array, jax.Array]:
        return neighbours(arch)

    def mutate(self, key: jax.Array, arch: jax.Array) -> jax.Array:
        return mutate(key, arch)

    def arch_key(self, arch: jax.Array) -> jax.Array:
        return arch_key(arch)

    def is_valid(self, arch: jax.Array) -> jax.Array:
        """See :func:`is_valid`."""
        return is_valid(arch)

    def module_hash(self, arch: Any) -> str:
        """The official md5 module hash of an encoding (host side)."""
        return module_hash(*to_spec(arch))


SPACE = NB101Space()

register(SPACE)

__all__ = ["ARCH_LEN", "INVALID_KEY", "MAX_EDGES", "NUM_CELLS", "NUM_NEIGHBOURS", "NUM_VERTICES",
           "OPS", "PAIRS", "SPACE", "NB101Space", "adjacency", "arch_key",
           "canonical_adjacencies", "enumerate_cells", "from_spec", "from_string", "is_valid",
           "module_hash", "mutate", "neighbours", "prune_spec", "random_spec", "sample", "to_spec",
           "to_string", "used_vertices", "validate"]
