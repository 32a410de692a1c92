"""The search-space interface every space implements, and a generic product ("edge x op") space.

A search space is a *value*: a static, hashable object (a frozen dataclass) handed to ``jit`` as a
static argument or carried as a static field of a pytree. It owns everything that names edges or
operations, so that search algorithms, landscape analysis, the DARTS trainer and architecture
selection never name a particular space.

An architecture is a fixed-shape integer array (:attr:`SearchSpace.arch_shape`). Spaces whose
neighbourhoods vary in size (graph cells) pad them to :attr:`SearchSpace.max_neighbours` rows
and return a validity mask.

The *key* of an architecture (:meth:`SearchSpace.arch_key`) is what deduplication and table
look-ups use: in an enumerable space (``num_archs`` is not ``None``) it is an ``int32[]`` in
``[0, num_archs)``, the row of every tabular benchmark, and :meth:`SearchSpace.arch_of_key`
inverts it; in a space too large to enumerate it is a fixed-width hash (``key_shape``, e.g.
``uint32[2]``) of the canonical form.

Adding a space means adding a module that defines a subclass and registers one instance with
:func:`jaxnas.spaces.register`; see :mod:`jaxnas.spaces.nb201` and ``tests/fixtures/toy.py``.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class SearchSpace(abc.ABC):
    """A search space: encodings, neighbourhoods and (optionally) a supernet's alpha layout.

    Subclasses are frozen dataclasses (static and hashable) and set the class attributes or
    dataclass fields below. Every method that takes or returns JAX arrays is pure and jit/vmap-able
    for one architecture; batch with ``jax.vmap``. String conversions run on the host.

    Attributes:
        name: registry name, e.g. ``'nb201'``.
        arch_shape: shape of one encoding, e.g. ``(6,)``.
        num_archs: size of the space, or ``None`` when it is too large to enumerate.
        max_neighbours: rows of :meth:`neighbours` (valid ones first or masked).
        key_shape: shape of :meth:`arch_key` (``()`` for an integer key).
    """

    name: str
    arch_shape: tuple[int, ...]
    num_archs: int | None
    max_neighbours: int
    key_shape: tuple[int, ...] = ()

    # ---- encodings -------------------------------------------------------------------------

    @property
    def arch_dtype(self) -> Any:
        """dtype of an encoding (``int32``)."""
        return jnp.int32

    @property
    def key_dtype(self) -> Any:
        """dtype of :meth:`arch_key`: ``int32`` for enumerable spaces, else ``uint32``."""
        return jnp.int32 if self.num_archs is not None else jnp.uint32

    @abc.abstractmethod
    def validate(self, arch: Any) -> np.ndarray:
        """Checks one encoding on the host; returns it as a numpy array of :attr:`arch_shape`.

        Raises:
            ValueError: naming the offending value and the expected form.
        """

    @abc.abstractmethod
    def to_string(self, arch: Any) -> str:
        """The community's string for one encoding (host side)."""

    @abc.abstractmethod
    def from_string(self, s: str) -> np.ndarray:
        """Parses the community's string (host side); raises ValueError naming the culprit."""

    def parse(self, arch: Any) -> np.ndarray:
        """An encoding from a string or an array-like, validated (host side)."""
        return self.from_string(arch) if isinstance(arch, str) else self.validate(arch)

    # ---- pure functions --------------------------------------------------------------------

    @abc.abstractmethod
    def sample(self, key: jax.Array) -> jax.Array:
        """A uniformly random architecture. Consumes ``key``."""

    @abc.abstractmethod
    def neighbours(self, arch: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The neighbourhood of one architecture in a fixed order.

        Returns:
            ``(archs, valid)``: ``[max_neighbours, *arch_shape]`` and ``bool[max_neighbours]``;
            rows where ``valid`` is false are padding (their contents are unspecified).
        """

    def neighbour(self, arch: jax.Array, n: jax.Array) -> jax.Array:
        """Row ``n`` of :meth:`neighbours` (jit-able; spaces with large neighbourhoods override
        it to build that row only)."""
        return self.neighbours(arch)[0][n]

    def neighbour_mask(self, arch: jax.Array) -> jax.Array:
        """The validity mask of :meth:`neighbours` (``bool[max_neighbours]``)."""
        return self.neighbours(arch)[1]

    def mutate(self, key: jax.Array, arch: jax.Array) -> jax.Array:
        """One uniformly random valid neighbour of ``arch`` (``arch`` itself when it has
        none). Consumes ``key``."""
        nbrs, valid = self.neighbours(arch)
        child = nbrs[nth_valid(valid, jax.random.randint(key, (), 0, jnp.maximum(
            jnp.sum(valid, dtype=jnp.int32), 1)))]
        return jnp.where(jnp.any(valid), child, jnp.asarray(arch, child.dtype))

    def mutate_edges(self, key: jax.Array, arch: jax.Array) -> jax.Array:
        """naszilla's evolution mutation (``Cell201.mutate``, ``mutation_rate=1``): each
        decision of ``arch`` changes independently at random, so a child may equal its parent
        (a clone) or differ in several decisions. Consumes ``key``.

        The default, for spaces without independent decisions, is :meth:`mutate` (one uniformly
        random valid neighbour); :class:`ProductSpace` draws edge by edge.
        """
        return self.mutate(key, arch)

    @abc.abstractmethod
    def arch_key(self, arch: jax.Array) -> jax.Array:
        """The canonical key of an architecture (``[..., *arch_shape] -> [..., *key_shape]``)."""

    def arch_of_key(self, key: jax.Array) -> jax.Array:
        """Inverse of :meth:`arch_key` for enumerable spaces (``[...] -> [..., *arch_shape]``)."""
        raise NotImplementedError(f"space {self.name!r} is not enumerable; keys are hashes")

    def keys_equal(self, a: jax.Array, b: jax.Array) -> jax.Array:
        """Whether two keys (broadcastable) are equal, reduced over :attr:`key_shape`."""
        eq = a == b
        return jnp.all(eq, axis=tuple(range(-len(self.key_shape), 0))) if self.key_shape else eq

    # ---- enumerable spaces: whole-space tables ---------------------------------------------

    def all_archs(self) -> np.ndarray:
        """Every architecture in key order, ``[num_archs, *arch_shape]`` (enumerable spaces)."""
        raise NotImplementedError(f"space {self.name!r} is not enumerable")

    def neighbour_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Keys of every architecture's neighbours, ``int32[N, S]``, and their mask ``bool[N, S]``.

        Invalid entries hold the row's own key, so an argmax over values never moves there.
        The default vmaps :meth:`neighbours` over :meth:`all_archs`.
        """
        if self.num_archs is None:
            raise NotImplementedError(f"space {self.name!r} is not enumerable")
        archs = jnp.asarray(self.all_archs())
        nb, valid = jax.vmap(self.neighbours)(archs)
        keys = self.arch_key(nb)
        own = jnp.arange(self.num_archs, dtype=jnp.int32)[:, None]
        return np.asarray(jnp.where(valid, keys, own), np.int32), np.asarray(valid)

    # ---- neighbourhoods of a radius (neighbourhood-aware scores) ---------------------------

    @property
    def max_radius(self) -> int:
        """The largest radius :meth:`neighbourhood` supports (1 unless a space says more)."""
        return 1

    def neighbourhood_size(self, radius: int) -> int:
        """Rows of :meth:`neighbourhood` for ``radius`` (the centre included)."""
        if radius == 0:
            return 1
        if radius == 1:
            return 1 + self.max_neighbours
        raise ValueError(f"space {self.name!r} supports neighbourhood radius 0 or 1, got {radius}")

    def neighbourhood(self, arch: jax.Array, radius: int = 1) -> tuple[jax.Array, jax.Array]:
        """The centre and every architecture within ``radius`` moves of it (``radius`` static).

        Returns:
            ``(archs, valid)``: ``[M, *arch_shape]`` with row 0 the centre, and ``bool[M]``.
        """
        arch = jnp.asarray(arch, self.arch_dtype)
        if radius == 0:
            return arch[None], jnp.ones((1,), bool)
        self.neighbourhood_size(radius)  # validates the radius
        nb, valid = self.neighbours(arch)
        return (jnp.concatenate([arch[None], nb]),
                jnp.concatenate([jnp.ones((1,), bool), valid]))

    # ---- supernet spaces -------------------------------------------------------------------
    #
    # A space with a supernet describes its architecture weights ``alpha`` as a pytree whose
    # leaves are ``[E_i, K]`` matrices (one row per edge, one column per candidate operation;
    # e.g. ``(6, 5)`` for NB201, ``{'normal': (14, 8), 'reduce': (14, 8)}`` for the DARTS cell
    # space). The *decisions* of selection are the rows of all leaves, in ``jax.tree`` order;
    # :meth:`alpha_rows` stacks them into one ``[E, K]`` matrix and :meth:`alpha_tree` splits
    # such a matrix back, so generic code (selection, the NA-DARTS objective) works on rows and
    # hands the supernet its own layout. The default implementations below need only
    # :attr:`alpha_shapes`.

    #: the option that sizes the supernet's depth: ``'cells'`` (cells per stage, NAS-Bench-201's
    #: ``N``) or ``'layers'`` (cells in total, DARTS's ``layers``); :meth:`supernet` takes it as
    #: ``cells_per_stage`` or ``layers``
    size_option: str = "cells"

    @property
    def alpha_shapes(self) -> Any:
        """Shapes of the architecture weights as a pytree of tuples, or ``None`` (no supernet)."""
        return None

    @property
    def has_supernet(self) -> bool:
        """Whether the space describes a supernet (:attr:`alpha_shapes` is not ``None``)."""
        return self.alpha_shapes is not None

    def _alpha_shape_leaves(self) -> tuple[list[tuple[int, ...]], Any]:
        shapes = self.alpha_shapes
        if shapes is None:
            raise NotImplementedError(f"space {self.name!r} has no supernet")
        return jax.tree.flatten(shapes, is_leaf=_is_shape)

    def init_alpha(self, key: jax.Array, scale: float = 1e-3) -> Any:
        """DARTS's initial alpha: ``scale * N(0, 1)`` of :attr:`alpha_shapes`. A single leaf
        uses ``key`` as is; several leaves draw from ``jax.random.split(key, n)`` in tree
        order. Consumes ``key``."""
        shapes, treedef = self._alpha_shape_leaves()
        keys = [key] if len(shapes) == 1 else list(jax.random.split(key, len(shapes)))
        return jax.tree.unflatten(
            treedef, [scale * jax.random.normal(k, tuple(s)) for k, s in zip(keys, shapes, strict=True)])

    def uniform_op_weights(self) -> Any:
        """Operation weights of :attr:`alpha_shapes` with every row uniform (``1/K``)."""
        shapes, treedef = self._alpha_shape_leaves()
        return jax.tree.unflatten(treedef, [jnp.full(tuple(s), 1.0 / s[-1]) for s in shapes])

    def alpha_rows(self, tree: Any) -> jax.Array:
        """The rows of every leaf of an alpha / op-weight pytree stacked in decision order,
        ``[E, K]`` (a single ``[E, K]`` leaf is returned as is). Leaves must share ``K``."""
        leaves = jax.tree.leaves(tree)
        if len(leaves) == 1:
            return leaves[0]
        ks = {leaf.shape[-1] for leaf in leaves}
        if len(ks) != 1:
            raise ValueError(f"space {self.name!r}: alpha leaves have different numbers of "
                             f"operations {sorted(ks)}; stack them with masks instead")
        return jnp.concatenate(leaves, axis=-2)

    def alpha_tree(self, rows: jax.Array) -> Any:
        """Inverse of :meth:`alpha_rows`: splits ``[..., E, K]`` rows into the alpha pytree
        (leading batch axes are kept on every leaf)."""
        shapes, treedef = self._alpha_shape_leaves()
        if len(shapes) == 1:
            return jax.tree.unflatten(treedef, [rows])
        bounds = np.cumsum([s[0] for s in shapes])[:-1].tolist()
        return jax.tree.unflatten(treedef, jnp.split(rows, bounds, axis=-2))

    def discretize(self, alpha: Any, mask: Any = None) -> np.ndarray:
        """The magnitude rule: the architecture DARTS reads off ``alpha`` (host side).
        ``mask`` (alpha's layout, bool) marks the operations still available on every edge;
        an edge with none available is not selected (spaces with topology decisions)."""
        raise NotImplementedError(f"space {self.name!r} has no supernet")

    def one_hot(self, arch: Any) -> Any:
        """Operation weights (the alpha pytree's layout) that select ``arch``."""
        raise NotImplementedError(f"space {self.name!r} has no supernet")

    def supernet(self, **kwargs) -> Any:
        """The Flax supernet, called as ``net.apply(variables, x, op_weights, train=...)`` with
        ``op_weights`` of :attr:`alpha_shapes`. Keyword arguments are the network's size
        (space-specific, e.g. ``channels``, ``cells_per_stage``, ``num_classes``)."""
        raise NotImplementedError(f"space {self.name!r} has no supernet")

    def network(self, arch: Any, **kwargs) -> Any:
        """The discrete (standalone) Flax network of ``arch``, ``net.apply(variables, x,
        train=...)``; keyword arguments as for :meth:`supernet`."""
        raise NotImplementedError(f"space {self.name!r} has no supernet")

    def decisions(self) -> list[tuple[str, int]]:
        """The selection decisions of the supernet: ``(leaf, row)`` of every edge of alpha,
        in order, with ``leaf`` a key path of the alpha pytree ('' for a single array)."""
        raise NotImplementedError(f"space {self.name!r} has no supernet")

    def candidate_ops(self, leaf: str, row: int) -> tuple[str, ...]:
        """Names of the candidate operations of decision ``(leaf, row)``, in column order."""
        raise NotImplementedError(f"space {self.name!r} has no supernet")

    def edge_name(self, leaf: str, row: int) -> str:
        """A readable name of decision ``(leaf, row)`` for logs and results."""
        return f"{leaf}[{row}]" if leaf else f"edge{row}"

    def decision_groups(self) -> list[list[int]]:
        """The decisions (indices into :meth:`decisions`) grouped by cell type: DARTS-PT decides
        one edge of every group per step, then fine-tunes. Default: one group of all."""
        return [list(range(len(self.decisions())))]

    def topology(self) -> tuple[tuple[tuple[tuple[int, ...], ...], ...], int]:
        """``(groups, keep)``: per cell type, the nodes whose inputs are chosen (each as the
        decisions of its incoming edges) and how many inputs a node keeps; DARTS-PT's topology
        phase. Default ``((), 0)``: every edge is kept (e.g. NAS-Bench-201)."""
        return (), 0


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(i, int) for i in x)


def nth_valid(valid: jax.Array, n: jax.Array) -> jax.Array:
    """Index of the ``n``-th ``True`` entry of ``valid: bool[S]`` (0-based; jit-able)."""
    return jnp.argmax(jnp.cumsum(valid.astype(jnp.int32)) > n)


@dataclasses.dataclass(frozen=True)
class ProductSpace(SearchSpace):
    """Every edge takes one of ``len(ops)`` operations independently: ``K**E`` architectures.

    An architecture is ``int32[E]``; its key is the base-``K`` number ``sum(arch[e] * K**e)``
    (row of every table). The neighbours are the ``E (K - 1)`` architectures at Hamming distance
    one: neighbour ``n`` changes edge ``n // (K - 1)`` to ``(arch[e] + 1 + n % (K - 1)) % K``.
    Neighbourhoods of radius ``r`` are Hamming balls. Subclasses add string formats, a supernet
    and benchmark-specific canonical forms.

    Args:
        name: registry name.
        ops: operation names, in index order.
        num_edges: ``E``.
    """

    name: str
    ops: tuple[str, ...]
    num_edges: int

    def __post_init__(self):
        if len(self.ops) < 2 or self.num_edges < 1:
            raise ValueError(f"a product space needs >= 2 ops and >= 1 edge, got {self}")

    # dataclass fields shadow the abstract attributes; derived values are properties
    @property
    def num_ops(self) -> int:
        return len(self.ops)

    @property
    def arch_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return (self.num_edges,)

    @property
    def num_archs(self) -> int:  # type: ignore[override]
        return self.num_ops**self.num_edges

    @property
    def max_neighbours(self) -> int:  # type: ignore[override]
        return self.num_edges * (self.num_ops - 1)

    @property
    def _pow(self) -> np.ndarray:
        return np.array([self.num_ops**e for e in range(self.num_edges)], dtype=np.int32)

    # ---- host side -------------------------------------------------------------------------

    def validate(self, arch: Any) -> np.ndarray:
        a = np.asarray(arch)
        if a.shape != self.arch_shape:
            raise ValueError(
                f"a {self.name} architecture has {self.num_edges} edges, got shape {a.shape} "
                f"({a.tolist()!r}); pass one operation index per edge")
        if not np.issubdtype(a.dtype, np.integer) and not np.all(np.equal(np.mod(a, 1), 0)):
            raise ValueError(f"operation indices must be integers, got {a.tolist()!r}")
        a = a.astype(np.int64)
        bad = (a < 0) | (a >= self.num_ops)
        if bad.any():
            e = int(np.argmax(bad))
            raise ValueError(f"operation index {int(a[e])} on edge {e} is out of range "
                             f"[0, {self.num_ops}); operations are {self.ops}")
        return a.astype(np.int32)

    def to_string(self, arch: Any) -> str:
        """Comma-joined operation names, e.g. ``'a,b,c'`` (subclasses use their own format)."""
        return ",".join(self.ops[i] for i in self.validate(arch))

    def from_string(self, s: str) -> np.ndarray:
        toks = s.split(",") if isinstance(s, str) else None
        if toks is None or len(toks) != self.num_edges:
            raise ValueError(f"expected {self.num_edges} comma-separated operations of "
                             f"{self.ops}, got {s!r}")
        unknown = [t for t in toks if t not in self.ops]
        if unknown:
            raise ValueError(f"unknown operation {unknown[0]!r} in {s!r}; known: {self.ops}")
        return np.array([self.ops.index(t) for t in toks], np.int32)

    # ---- pure functions --------------------------------------------------------------------

    def arch_key(self, arch: jax.Array) -> jax.Array:
        return jnp.sum(jnp.asarray(arch, jnp.int32) * self._pow, axis=-1)

    def arch_of_key(self, key: jax.Array) -> jax.Array:
        # keys are non-negative: unsigned division (cheaper than the signed floor division)
        key = jnp.asarray(key, jnp.int32).astype(jnp.uint32)[..., None]
        return ((key // self._pow.astype(np.uint32)) % np.uint32(self.num_ops)).astype(jnp.int32)

    def sample(self, key: jax.Array) -> jax.Array:
        # one integer draw: the same stream as drawing a key uniformly in [0, num_archs)
        return self.arch_of_key(jax.random.randint(key, (), 0, self.num_archs, dtype=jnp.int32))

    def neighbours(self, arch: jax.Array) -> tuple[jax.Array, jax.Array]:
        # elementwise (no scatter): row n adds its shift on edge n // (K - 1), modulo K
        shifts = _shift_patterns(self.num_ops, self.num_edges, 1)[1:]
        out = ((jnp.asarray(arch, jnp.int32) + shifts).astype(jnp.uint32)
               % np.uint32(self.num_ops)).astype(jnp.int32)
        return out, jnp.ones((self.max_neighbours,), bool)

    def mutate(self, key: jax.Array, arch: jax.Array) -> jax.Array:
        return self.neighbours(arch)[0][jax.random.randint(key, (), 0, self.max_neighbours)]

    def allowed(self, arch: jax.Array) -> jax.Array:
        """Whether architectures ``[..., E]`` belong to the space (``bool[...]``): every
        combination here; a subclass with constraints (masked neighbourhoods) overrides it."""
        return jnp.ones(jnp.shape(arch)[:-1], bool)

    @property
    def edge_mutation_prob(self) -> float:
        """Probability that :meth:`mutate_edges` changes an edge: naszilla's
        ``mutation_rate / (OP_SPOTS - 2)`` with ``mutation_rate = 1`` (``cell_201.py``;
        1/4 on NAS-Bench-201's 6 edges), written for any number of edges (at most 1)."""
        return 1.0 / max(self.num_edges - 2, 1)

    #: draws of :meth:`mutate_edges` before a constrained space gives up (returns the parent)
    MAX_MUTATION_TRIES = 64

    def mutate_edges(self, key: jax.Array, arch: jax.Array) -> jax.Array:
        """naszilla's evolution mutation: every edge independently, with probability
        :attr:`edge_mutation_prob`, takes a uniformly random *other* operation. On NAS-Bench-201
        (6 edges, p = 1/4) a child is a clone of its parent with probability
        ``(3/4)**6 = 17.8%`` and differs in two or more edges with probability 46.6%.

        In a space that overrides :meth:`allowed`, a child outside it is drawn again (as
        naszilla's NAS-Bench-101 mutation retries until the cell is valid), at most
        :attr:`MAX_MUTATION_TRIES` times, after which the parent itself is returned.
        Consumes ``key``.
        """
        arch = jnp.asarray(arch, jnp.int32)
        k, e = self.num_ops, self.num_edges
        p = self.edge_mutation_prob

        def draw(key):
            u = jax.random.uniform(key, (2, e))
            shift = jnp.minimum(1 + (u[1] * (k - 1)).astype(jnp.int32), k - 1)
            return jnp.where(u[0] < p, (arch + shift) % k, arch)

        if type(self).allowed is ProductSpace.allowed:  # unconstrained: one draw
            return draw(key)

        def cond(c):
            i, child = c
            return (i < self.MAX_MUTATION_TRIES) & ~self.allowed(child)

        def body(c):
            i, _ = c
            return i + 1, draw(jax.random.fold_in(key, i))

        _, child = jax.lax.while_loop(cond, body, (jnp.ones((), jnp.int32),
                                                   draw(jax.random.fold_in(key, 0))))
        return jnp.where(self.allowed(child), child, arch)

    def all_archs(self) -> np.ndarray:
        return _product_archs(self.num_ops, self.num_edges)

    def neighbour_table(self) -> tuple[np.ndarray, np.ndarray]:
        return _product_neighbour_table(self.num_ops, self.num_edges)

    # ---- Hamming balls ---------------------------------------------------------------------

    @property
    def max_radius(self) -> int:
        return self.num_edges

    def neighbourhood_size(self, radius: int) -> int:
        if isinstance(radius, bool) or int(radius) != radius or not 0 <= radius <= self.num_edges:
            raise ValueError(f"neighbourhood radius must be an integer in [0, {self.num_edges}] "
                             f"(edges changed), got {radius!r}")
        return sum(math.comb(self.num_edges, j) * (self.num_ops - 1) ** j
                   for j in range(int(radius) + 1))

    def shift_patterns(self, radius: int) -> np.ndarray:
        """Per-edge operation shifts of every member of the radius-``r`` ball, ``int32[M, E]``.

        Member ``m`` of the ball around ``a`` is ``(a + shift[m]) % K``. Row 0 is all zeros (the
        centre); then members by distance, within one distance edge subsets in lexicographic
        order with the last edge's shift varying fastest, so the distance-1 rows follow
        :meth:`neighbours`.
        """
        self.neighbourhood_size(radius)
        return _shift_patterns(self.num_ops, self.num_edges, int(radius))

    def neighbourhood(self, arch: jax.Array, radius: int = 1) -> tuple[jax.Array, jax.Array]:
        shifts = self.shift_patterns(radius)
        arch = jnp.asarray(arch, jnp.int32)
        out = (arch + shifts) % self.num_ops
        return out, jnp.ones((shifts.shape[0],), bool)

    def neighbourhood_keys(self, key: jax.Array, radius: int = 1) -> jax.Array:
        """Keys of the radius-``r`` ball around ``key`` (``[...] -> [..., M]``); entry 0 is the
        centre. Arithmetic on keys, without decoding (fast inside the search loop)."""
        shifts = self.shift_patterns(radius)
        key = jnp.asarray(key, jnp.int32)
        op = (key[..., None, None] // self._pow) % self.num_ops
        return key[..., None] + jnp.sum(((op + shifts) % self.num_ops - op) * self._pow, -1)


@functools.lru_cache(maxsize=16)
def _product_archs(k: int, e: int) -> np.ndarray:
    pw = np.array([k**i for i in range(e)], np.int64)
    out = ((np.arange(k**e, dtype=np.int64)[:, None] // pw) % k).astype(np.int32)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=16)
def _product_neighbour_table(k: int, e: int) -> tuple[np.ndarray, np.ndarray]:
    pw = np.array([k**i for i in range(e)], np.int64)
    edge = np.repeat(np.arange(e), k - 1)
    shift = np.tile(np.arange(1, k), e)
    code = np.arange(k**e, dtype=np.int64)[:, None]
    op = (code // pw[edge]) % k
    table = (code + ((op + shift) % k - op) * pw[edge]).astype(np.int32)
    valid = np.ones(table.shape, bool)
    table.setflags(write=False)
    valid.setflags(write=False)
    return table, valid


@functools.lru_cache(maxsize=64)
def _shift_patterns(k: int, e: int, radius: int) -> np.ndarray:
    rows = [np.zeros(e, np.int32)]
    for j in range(1, radius + 1):
        for edges in itertools.combinations(range(e), j):
            for shifts in itertools.product(range(1, k), repeat=j):
                row = np.zeros(e, np.int32)
                row[list(edges)] = shifts
                rows.append(row)
    out = np.stack(rows)
    out.setflags(write=False)
    return out




@dataclasses.dataclass(frozen=True)
class SubsetSpace(SearchSpace):
    """A space restricted to a finite set of another space's architectures (e.g. the cells of a
    partial benchmark such as ``nb101-sample``): the same encodings, strings and keys, with
    :meth:`neighbours` masked to members and :meth:`sample` uniform over the members.

    Static and hashable: the members are held as nested tuples (keep the set small; membership
    is a linear scan, meant for a few thousand members).

    Args:
        base: the full space.
        members: the member architectures, ``[M, *arch_shape]`` as nested tuples (use
            :func:`subset_space`).
    """

    base: SearchSpace
    members: tuple

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.base.name

    @property
    def arch_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.base.arch_shape

    @property
    def key_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.base.key_shape

    @property
    def num_archs(self) -> None:  # type: ignore[override]
        return None  # keys are the base space's (hashes), not ranks among the members

    @property
    def key_dtype(self) -> Any:
        return self.base.key_dtype

    @property
    def max_neighbours(self) -> int:  # type: ignore[override]
        return self.base.max_neighbours

    @functools.cached_property
    def _member_archs(self) -> np.ndarray:
        return np.asarray(self.members, np.int32).reshape(-1, *self.base.arch_shape)

    @functools.cached_property
    def _member_keys(self) -> np.ndarray:
        with jax.ensure_compile_time_eval():  # constants, also when first used under a trace
            return np.asarray(self.base.arch_key(jnp.asarray(self._member_archs)))

    def validate(self, arch: Any) -> np.ndarray:
        return self.base.validate(arch)

    def to_string(self, arch: Any) -> str:
        return self.base.to_string(arch)

    def from_string(self, s: str) -> np.ndarray:
        return self.base.from_string(s)

    def arch_key(self, arch: jax.Array) -> jax.Array:
        return self.base.arch_key(arch)

    def keys_equal(self, a: jax.Array, b: jax.Array) -> jax.Array:
        return self.base.keys_equal(a, b)

    def is_member(self, arch: jax.Array) -> jax.Array:
        """Whether architectures (``[..., *arch_shape]``) are members (jit-able)."""
        k = self.base.arch_key(arch)
        keys = jnp.asarray(self._member_keys)
        kk = k[..., None, :] if self.key_shape else k[..., None]
        return jnp.any(self.base.keys_equal(kk, keys), axis=-1)

    def sample(self, key: jax.Array) -> jax.Array:
        """A uniformly random member. Consumes ``key``."""
        i = jax.random.randint(key, (), 0, self._member_archs.shape[0])
        return jnp.asarray(self._member_archs)[i]

    def neighbours(self, arch: jax.Array) -> tuple[jax.Array, jax.Array]:
        nb, valid = self.base.neighbours(arch)
        return nb, valid & self.is_member(nb)


def subset_space(base: SearchSpace, archs: Any) -> SubsetSpace:
    """:class:`SubsetSpace` of ``base`` with the member architectures ``archs [M, *arch_shape]``."""
    a = np.asarray(archs, np.int32)
    if a.ndim != 1 + len(base.arch_shape) or a.shape[1:] != tuple(base.arch_shape):
        raise ValueError(f"members must have shape [M, {', '.join(map(str, base.arch_shape))}], "
                         f"got {a.shape}")
    return SubsetSpace(base=base, members=tuple(map(tuple, a.reshape(a.shape[0], -1).tolist())))


__all__ = ["ProductSpace", "SearchSpace", "SubsetSpace", "nth_valid", "subset_space"]
