"""The NAS-Bench-201 cell search space as pure, jit- and vmap-able functions.

NAS-Bench-201 (Dong & Yang, ICLR 2020) searches a cell with 4 nodes and 6 edges; every edge
carries one of 5 operations. An architecture is a fixed-shape ``int32[6]`` array of operation
indices, one per edge, in the order of the official string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``::

    edge 0: node 1 <- node 0     edge 3: node 3 <- node 0
    edge 1: node 2 <- node 0     edge 4: node 3 <- node 1
    edge 2: node 2 <- node 1     edge 5: node 3 <- node 2

The *code* of an architecture is its base-5 number, ``sum(arch[e] * 5**e)``, an integer in
``[0, 15625)``. Tabular benchmarks in :mod:`jaxnas.benchmarks` are stored in code order so that a
query inside ``jit`` is a single gather. The code is NOT the official benchmark index; the
benchmark converts between the two (:func:`jaxnas.benchmarks.nb201.index_of`).

Neighbourhood (White, Nolen, Savani 2020, "Exploring the Loss Landscape in NAS"): the 24
architectures that differ in exactly one edge.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces.base import ProductSpace
from jaxnas.spaces.nb201_topology import EDGES, NUM_EDGES, NUM_NODES, NUM_OPS, OPS
from jaxnas.spaces.registry import register

NUM_ARCHS = NUM_OPS**NUM_EDGES  # 15,625
NUM_NEIGHBOURS = NUM_EDGES * (NUM_OPS - 1)  # 24
EDGE_DST = np.array([d for d, _ in EDGES], dtype=np.int32)
EDGE_SRC = np.array([s for _, s in EDGES], dtype=np.int32)
_POW5 = np.array([NUM_OPS**e for e in range(NUM_EDGES)], dtype=np.int32)

_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d+)$")


# --------------------------------------------------------------------------------------------
# Host-side conversions (strings, validation).
# --------------------------------------------------------------------------------------------


def validate(arch: Sequence[int] | np.ndarray) -> np.ndarray:
    """Checks an encoding on the host and returns it as ``int32[6]``.

    Raises:
        ValueError: if the shape is not ``[6]`` or an entry is not an integer in ``[0, 5)``.
    """
    a = np.asarray(arch)
    if a.shape != (NUM_EDGES,):
        raise ValueError(
            f"an NB201 architecture has {NUM_EDGES} edges, got shape {a.shape} ({a.tolist()!r}); "
            f"pass one int per edge, e.g. [3, 3, 0, 1, 3, 3]"
        )
    if not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.equal(np.mod(a, 1), 0)):
            raise ValueError(f"operation indices must be integers, got {a.tolist()!r}")
    a = a.astype(np.int64)
    bad = (a < 0) | (a >= NUM_OPS)
    if bad.any():
        e = int(np.argmax(bad))
        raise ValueError(
            f"operation index {int(a[e])} on edge {e} is out of range [0, {NUM_OPS}); "
            f"operations are {OPS}"
        )
    return a.astype(np.int32)


def from_string(s: str) -> np.ndarray:
    """Parses an official NAS-Bench-201 string into an ``int32[6]`` encoding.

    Args:
        s: e.g. ``'|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'``.

    Raises:
        ValueError: malformed string, unknown operation, or wrong input node, naming the culprit.
    """
    if not isinstance(s, str):
        raise ValueError(f"expected an NB201 architecture string, got {type(s).__name__}: {s!r}")
    groups = s.strip().split("+")
    if len(groups) != NUM_NODES - 1:
        raise ValueError(
            f"malformed NB201 string {s!r}: expected {NUM_NODES - 1} node groups joined by '+', "
            f"got {len(groups)}"
        )
    arch = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise ValueError(f"malformed NB201 string {s!r}: group {group!r} must look like |op~j|")
        tokens = group[1:-1].split("|")
        if len(tokens) != node:
            raise ValueError(
                f"malformed NB201 string {s!r}: node {node} needs {node} inputs, got {len(tokens)} "
                f"in {group!r}"
            )
        for j, tok in enumerate(tokens):
            m = _TOKEN.match(tok)
            if m is None:
                raise ValueError(f"malformed NB201 string {s!r}: token {tok!r} is not 'op~j'")
            op, src = m.group(1), int(m.group(2))
            if op not in OPS:
                raise ValueError(f"unknown operation {op!r} in {s!r}; known operations: {OPS}")
            if src != j:
                raise ValueError(
                    f"malformed NB201 string {s!r}: token {tok!r} of node {node} should read from "
                    f"node {j}"
                )
            arch.append(OPS.index(op))
    return np.asarray(arch, dtype=np.int32)


def to_string(arch: Sequence[int] | np.ndarray | jax.Array) -> str:
    """Formats an encoding as the official NAS-Bench-201 string."""
    a = validate(np.asarray(arch))
    groups, e = [], 0
    for node in range(1, NUM_NODES):
        toks = []
        for j in range(node):
            toks.append(f"{OPS[a[e]]}~{j}")
            e += 1
        groups.append("|" + "|".join(toks) + "|")
    return "+".join(groups)


# --------------------------------------------------------------------------------------------
# Pure functions (jit / vmap).
# --------------------------------------------------------------------------------------------


def to_code(arch: jax.Array) -> jax.Array:
    """Base-5 code of an encoding (``[..., 6] -> [...]``), an int in ``[0, 15625)``."""
    return jnp.sum(jnp.asarray(arch, jnp.int32) * _POW5, axis=-1)


def from_code(code: jax.Array) -> jax.Array:
    """Inverse of :func:`to_code` (``[...] -> [..., 6]``)."""
    code = jnp.asarray(code, jnp.int32)
    return (code[..., None] // _POW5) % NUM_OPS


def sample(key: jax.Array) -> jax.Array:
    """A uniformly random architecture, ``int32[6]``. Consumes ``key``."""
    return jax.random.randint(key, (NUM_EDGES,), 0, NUM_OPS, dtype=jnp.int32)


# For neighbour n (0..23): edge n // 4 takes the (n % 4)-th operation other than its current one.
_NB_EDGE = np.repeat(np.arange(NUM_EDGES, dtype=np.int32), NUM_OPS - 1)
_NB_SHIFT = np.tile(np.arange(1, NUM_OPS, dtype=np.int32), NUM_EDGES)


def neighbours(arch: jax.Array) -> jax.Array:
    """The 24 neighbours of one architecture (``int32[6] -> int32[24, 6]``).

    Neighbour ``n`` changes edge ``n // 4`` to operation ``(arch[e] + 1 + n % 4) % 5``, so the
    neighbourhood is exactly the set of architectures at Hamming distance one, in a fixed order.
    """
    arch = jnp.asarray(arch, jnp.int32)
    new_op = (arch[_NB_EDGE] + _NB_SHIFT) % NUM_OPS
    out = jnp.broadcast_to(arch, (NUM_NEIGHBOURS, NUM_EDGES))
    return out.at[jnp.arange(NUM_NEIGHBOURS), _NB_EDGE].set(new_op)


def neighbour_codes(code: jax.Array) -> jax.Array:
    """Codes of the 24 neighbours of an architecture code (``[...] -> [..., 24]``)."""
    code = jnp.asarray(code, jnp.int32)
    op = (code[..., None] // _POW5[_NB_EDGE]) % NUM_OPS
    new_op = (op + _NB_SHIFT) % NUM_OPS
    return code[..., None] + (new_op - op) * _POW5[_NB_EDGE]


def mutate(key: jax.Array, arch: jax.Array) -> jax.Array:
    """One uniformly random neighbour of ``arch`` (one edge changed). Consumes ``key``."""
    n = jax.random.randint(key, (), 0, NUM_NEIGHBOURS)
    return neighbours(arch)[n]


@functools.lru_cache(maxsize=1)
def all_archs() -> np.ndarray:
    """All 15,625 encodings in code order, ``int32[15625, 6]``."""
    return ((np.arange(NUM_ARCHS, dtype=np.int32)[:, None] // _POW5) % NUM_OPS).astype(np.int32)


@functools.lru_cache(maxsize=1)
def neighbour_table() -> np.ndarray:
    """Codes of every architecture's neighbours, ``int32[15625, 24]`` (row = code)."""
    code = np.arange(NUM_ARCHS, dtype=np.int32)[:, None]
    op = (code // _POW5[_NB_EDGE]) % NUM_OPS
    return (code + ((op + _NB_SHIFT) % NUM_OPS - op) * _POW5[_NB_EDGE]).astype(np.int32)


# --------------------------------------------------------------------------------------------
# Canonical form (isomorphism after pruning).
# --------------------------------------------------------------------------------------------


def canonical_string(arch: Sequence[int] | np.ndarray, rule: str = "nb201") -> str:
    """A string that is equal for cells that compute the same function.

    The cell is read as an expression: node 0 is the input ``x``; every other node is the sum of
    its incoming edges; ``none`` is zero, ``skip_connect`` the identity, and the other operations
    are applied to their input node. An operation applied to a zero node gives zero, so edges that
    carry nothing to the output are pruned. The order in which edges enter a node never matters.

    Args:
        arch: an ``int[6]`` encoding.
        rule: ``'nb201'`` (default) is NAS-Bench-201's own rule (its
            ``to_unique_str(consider_zero=True)``), behind the benchmark's count of 6,466 unique
            cells: a node is the sorted ``+``-join of its summands' strings, zeros stay as
            summands, and only a node fed by a single zero counts as zero. ``'functional'``
            treats sums as flat multisets (associativity), drops zero summands (``x + 0 == x``)
            and propagates every all-zero node, which identifies more cells (4,930 classes).

    Raises:
        ValueError: for a bad encoding or an unknown ``rule``.
    """
    if rule not in ("nb201", "functional"):
        raise ValueError(f"unknown canonical rule {rule!r}; use 'nb201' or 'functional'")
    a = validate(arch)
    if rule == "nb201":
        node = ["x"]
        for dst in range(1, NUM_NODES):
            terms = []
            for e in np.flatnonzero(EDGE_DST == dst):
                src, op = node[EDGE_SRC[e]], OPS[a[e]]
                if op == "none" or src == "#":
                    terms.append("#")
                elif op == "skip_connect":
                    terms.append(src)
                else:
                    terms.append(f"({src})@{op}")
            node.append("+".join(sorted(terms)))
        return node[-1]
    zero: tuple[str, ...] = ()
    fnode: list[tuple[str, ...]] = [("x",)]  # every node is a sorted multiset of summands
    for dst in range(1, NUM_NODES):
        summands: list[str] = []
        for e in np.flatnonzero(EDGE_DST == dst):
            src, op = fnode[EDGE_SRC[e]], OPS[a[e]]
            if op == "none" or src == zero:
                continue
            if op == "skip_connect":
                summands.extend(src)
            else:
                summands.append(f"{op}({'+'.join(src)})")
        fnode.append(tuple(sorted(summands)))
    return "+".join(fnode[-1]) or "0"


@functools.lru_cache(maxsize=2)
def canonical_ids(rule: str = "nb201") -> np.ndarray:
    """Equivalence-class id of every code, ``int32[15625]``, ids ``0..K-1`` in first-seen order.

    ``K`` is 6,466 under the ``'nb201'`` rule and 4,930 under ``'functional'``
    (see :func:`canonical_string`).
    """
    ids: dict[str, int] = {}
    out = np.empty(NUM_ARCHS, np.int32)
    for c, a in enumerate(all_archs()):
        out[c] = ids.setdefault(canonical_string(a, rule), len(ids))
    return out


def canonical_code(code: jax.Array, rule: str = "nb201") -> jax.Array:
    """The smallest code of the same equivalence class (jit-able; ``[...] -> [...]``)."""
    return jnp.asarray(_canonical_rep(rule))[jnp.asarray(code, jnp.int32)]


@functools.lru_cache(maxsize=2)
def _canonical_rep(rule: str) -> np.ndarray:
    ids = canonical_ids(rule)
    first = np.full(ids.max() + 1, NUM_ARCHS, np.int32)
    np.minimum.at(first, ids, np.arange(NUM_ARCHS, dtype=np.int32))
    return first[ids]


# --------------------------------------------------------------------------------------------
# The registered space object.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NB201Space(ProductSpace):
    """NAS-Bench-201 as a :class:`jaxnas.spaces.base.SearchSpace`: ``int32[6]`` encodings, key =
    base-5 code, official strings, and a supernet with operation weights ``[6, 5]``."""

    name: str = "nb201"
    ops: tuple[str, ...] = OPS
    num_edges: int = NUM_EDGES

    def validate(self, arch: Any) -> np.ndarray:
        return validate(arch)

    def to_string(self, arch: Any) -> str:
        return to_string(arch)

    def from_string(self, s: str) -> np.ndarray:
        return from_string(s)

    def canonical_string(self, arch: Any, rule: str = "nb201") -> str:
        """See :func:`canonical_string`."""
        return canonical_string(arch, rule)

    @property
    def alpha_shapes(self) -> tuple[int, int]:
        return (NUM_EDGES, NUM_OPS)

    def discretize(self, alpha: Any, mask: Any = None) -> np.ndarray:
        """The operation with the largest alpha on each edge (ties: the lowest index), among
        the operations ``mask`` (bool ``[6, 5]``, optional) leaves available."""
        a = np.asarray(alpha)
        if a.shape != (NUM_EDGES, NUM_OPS):
            raise ValueError(f"NB201 alpha must have shape [{NUM_EDGES}, {NUM_OPS}] "
                             f"(edges, operations), got {a.shape}")
        if mask is not None:
            a = np.where(np.asarray(mask, bool), a, -np.inf)
        return np.argmax(a, -1).astype(np.int32)

    def one_hot(self, arch: Any) -> jax.Array:
        return jax.nn.one_hot(jnp.asarray(arch, jnp.int32), NUM_OPS)

    def decisions(self) -> list[tuple[str, int]]:
        return [("", e) for e in range(NUM_EDGES)]

    def candidate_ops(self, leaf: str, row: int) -> tuple[str, ...]:
        return OPS

    def edge_name(self, leaf: str, row: int) -> str:
        """``'node{dst}<-node{src}'`` of edge ``row``."""
        d, s = EDGES[row]
        return f"node{d}<-node{s}"

    def supernet(self, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
                 **kwargs) -> Any:
        """:class:`jaxnas.models.nb201.Network` (fused search cells; ``kwargs``: ``cell``,
        ``scan``), operation weights ``[6, 5]``."""
        from jaxnas.models.nb201 import Network

        return Network(channels=channels, cells_per_stage=cells_per_stage,
                       num_classes=num_classes, **kwargs)

    def network(self, arch: Any, channels: int = 16, cells_per_stage: int = 5,
                num_classes: int = 10, affine: bool = True) -> Any:
        """The standalone :class:`jaxnas.models.nb201.Network` of ``arch``. ``affine=True``
        (default) is NAS-Bench-201's training network (affine BatchNorms in the cells, as its
        ``InferCell``; its parameter count); ``affine=False`` takes the supernet's parameters
        (:func:`jaxnas.models.nb201.supernet_to_per_edge`)."""
        from jaxnas.models.nb201 import Network

        return Network(channels=channels, cells_per_stage=cells_per_stage,
                       num_classes=num_classes, arch=tuple(int(a) for a in self.validate(arch)),
                       affine=affine)


SPACE = NB201Space()


register(SPACE)
