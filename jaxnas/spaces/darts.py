"""The DARTS cell search space and RobustDARTS's restricted spaces S1-S4.

DARTS (Liu, Simonyan, Yang, ICLR 2019) searches two cells, *normal* and *reduction*. A cell has
two inputs (the outputs of the two previous cells, nodes 0 and 1) and four intermediate nodes
(2..5); its output concatenates the intermediate nodes. In the supernet, intermediate node ``i``
(0..3, DARTS's node ``i + 2``) has one edge from each of the ``i + 2`` earlier nodes, numbered
``(0, 2, 5, 9)[i] + input``: 14 edges per cell. A discrete cell (a *genotype*) keeps two edges
per node, each with one operation.

**Encoding.** An architecture is ``int32[2, 8, 2]``: ``arch[cell, slot] = (input, op)`` with
``cell`` 0 (normal) or 1 (reduce), ``slot`` ``j`` belonging to node ``j // 2``, ``input`` in
``0 .. j // 2 + 1`` and ``op`` an index into :attr:`DartsSpace.ops`. Row ``j`` is entry ``j`` of
the community's ``Genotype.normal`` / ``.reduce`` list ``(op_name, input)``. The two slots of a
node take distinct inputs, in either order; they never carry ``none``.

**Strings.** The community's genotype string,
``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6), reduce=[...],
reduce_concat=range(2, 6))``, read and written by :meth:`DartsSpace.from_string` /
:meth:`DartsSpace.to_string`, so genotypes move between jaxnas and PyTorch code (DARTS,
darts-pt, RobustDARTS, NAS-Bench-301).

**Key.** The canonical form orders each node's two slots by input. The key packs it exactly
(no hash) into ``uint32[2]``, one word per cell: per node the index of its input pair among the
``C(i + 2, 2)`` pairs and its two operations, in mixed radix (at most ``180 * 8**8 < 2**32``).
:meth:`DartsSpace.arch_of_key` inverts it. The DARTS space has about ``10**18`` genotypes, so it
is not enumerable (``num_archs`` is ``None``).

**Neighbourhood** (naszilla's DARTS / NAS-Bench-301 neighbourhood, White et al. 2021): change
the operation of one slot, or the input of one slot (to a node other than its own and its
sibling's input). For the 7-operation DARTS space that is ``2 * (8 * 6 + 12) = 120``
neighbours. In a space whose operation sets differ by edge (S1), an input change whose edge does
not offer the slot's operation is masked out.

**Registered spaces**

* ``darts``: DARTS's 8 operations on every edge (``none`` included in the supernet).
* ``darts-7``: darts-pt's DARTS space, the same without ``none``.
* ``s1``..``s4``: RobustDARTS (Zela et al., ICLR 2020) spaces: S1 has its own two operations per
  edge, separately for normal and reduction cells; S2 ``{skip_connect, sep_conv_3x3}``; S3
  ``{none, skip_connect, sep_conv_3x3}``; S4 ``{noise, sep_conv_3x3}``, where ``noise`` replaces
  its input with N(0, 1) samples.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces.base import SearchSpace, nth_valid
from jaxnas.spaces.darts_tables import ALL_OPS, DARTS_OPS, NUM_EDGES, TABLES
from jaxnas.spaces.registry import register

CELLS: tuple[str, str] = ("normal", "reduce")
NUM_NODES = 4  # intermediate nodes per cell
NUM_SLOTS = 2 * NUM_NODES  # two chosen inputs per node
EDGE_OFFSET: tuple[int, ...] = (0, 2, 5, 9)  # first edge of each node
CONCAT: tuple[int, ...] = (2, 3, 4, 5)


#: node ``i`` -> edges ``(src, edge)`` entering it, and the inverse
EDGE_SRC = np.array([s for i in range(NUM_NODES) for s in range(i + 2)], np.int32)
EDGE_NODE = np.array([i for i in range(NUM_NODES) for _ in range(i + 2)], np.int32)
SLOT_NODE = np.arange(NUM_SLOTS, dtype=np.int32) // 2
#: ``PAIRS[i]``: the ``C(i + 2, 2)`` input pairs ``(a, b)``, ``a < b``, of node ``i``
PAIRS: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    tuple(itertools.combinations(range(i + 2), 2)) for i in range(NUM_NODES))
_NUM_PAIRS = np.array([len(p) for p in PAIRS], np.int32)  # 1, 3, 6, 10
#: ``_PAIR_TABLE[i, a, b]``: index of pair (a, b) among node i's pairs; ``_PAIR_A/B[i, k]``
_PAIR_TABLE = np.full((NUM_NODES, NUM_NODES + 1, NUM_NODES + 1), -1, np.int32)
_PAIR_A = np.zeros((NUM_NODES, 10), np.int32)
_PAIR_B = np.zeros((NUM_NODES, 10), np.int32)
for _i, _ps in enumerate(PAIRS):
    for _k, (_a, _b) in enumerate(_ps):
        _PAIR_TABLE[_i, _a, _b] = _k
        _PAIR_A[_i, _k], _PAIR_B[_i, _k] = _a, _b




@dataclasses.dataclass(frozen=True)
class DartsSpace(SearchSpace):
    """A DARTS-family cell space (see the module docstring for the encoding).

    Args:
        name: registry name.
        candidates: per cell type (normal, reduce), 14 tuples of candidate operation names, one
            per supernet edge, all of the same length ``K`` (the supernet's alpha is
            ``{'normal': [14, K], 'reduce': [14, K]}``).
    """

    name: str
    candidates: tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]

    arch_shape = (2, NUM_SLOTS, 2)
    num_archs = None
    key_shape = (2,)
    size_option = "layers"

    def __post_init__(self):
        if len(self.candidates) != 2 or any(len(c) != NUM_EDGES for c in self.candidates):
            raise ValueError(f"space {self.name!r}: candidates must be 2 cell types x "
                             f"{NUM_EDGES} edges")
        ks = {len(e) for c in self.candidates for e in c}
        if len(ks) != 1:
            raise ValueError(f"space {self.name!r}: every edge needs the same number of "
                             f"candidate operations, got {sorted(ks)}")
        unknown = {o for c in self.candidates for e in c for o in e} - set(ALL_OPS)
        if unknown:
            raise ValueError(f"space {self.name!r}: unknown operations {sorted(unknown)}; "
                             f"known: {ALL_OPS}")
        if len(self.genotype_ops) > 8:
            raise ValueError(f"space {self.name!r}: at most 8 genotype operations fit the key")
        if (self._allowed.sum(-1) < 1).any():
            raise ValueError(f"space {self.name!r}: an edge offers no operation besides 'none'")

    # ---- derived tables (host) ---------------------------------------------------------------

    @property
    def ops(self) -> tuple[str, ...]:
        """The operations of the space (the encoding's ``op`` indexes this), in
        :data:`ALL_OPS` order."""
        used = {o for c in self.candidates for e in c for o in e}
        return tuple(o for o in ALL_OPS if o in used)

    @property
    def genotype_ops(self) -> tuple[str, ...]:
        """The operations a genotype may carry: :attr:`ops` without ``none``."""
        return tuple(o for o in self.ops if o != "none")

    @property
    def num_candidates(self) -> int:
        """``K``, the candidate operations per edge (alpha's columns)."""
        return len(self.candidates[0][0])

    @property
    def max_neighbours(self) -> int:  # type: ignore[override]
        g = int(self._allowed.sum(-1).max())
        return 2 * (NUM_SLOTS * (g - 1) + sum(2 * i for i in range(NUM_NODES)))

    @functools.cached_property
    def _allowed(self) -> np.ndarray:
        """``bool[2, 14, V]``: whether edge ``e`` of cell ``c`` offers operation ``v`` in a
        genotype (a candidate other than ``none``)."""
        out = np.zeros((2, NUM_EDGES, len(self.ops)), bool)
        for c, cell in enumerate(self.candidates):
            for e, names in enumerate(cell):
                for n in names:
                    if n != "none":
                        out[c, e, self.ops.index(n)] = True
        return out

    @functools.cached_property
    def _allowed_list(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ops int32[2, 14, G], count int32[2, 14])``: the allowed operations of every edge,
        ascending, padded with the last one."""
        g = int(self._allowed.sum(-1).max())
        ops = np.zeros((2, NUM_EDGES, g), np.int32)
        cnt = self._allowed.sum(-1).astype(np.int32)
        for c in range(2):
            for e in range(NUM_EDGES):
                idx = np.flatnonzero(self._allowed[c, e])
                ops[c, e, : idx.size] = idx
                ops[c, e, idx.size:] = idx[-1]
        return ops, cnt

    @functools.cached_property
    def _op_rank(self) -> np.ndarray:
        """``int32[V]``: rank of every op among :attr:`genotype_ops` (``none``: 0, never used)."""
        g = self.genotype_ops
        return np.array([g.index(o) if o in g else 0 for o in self.ops], np.int32)

    @functools.cached_property
    def _op_of_rank(self) -> np.ndarray:
        return np.array([self.ops.index(o) for o in self.genotype_ops], np.int32)

    def edge_of(self, slot: int, inp: int) -> int:
        """The supernet edge of input ``inp`` into the node of ``slot``."""
        return EDGE_OFFSET[slot // 2] + inp

    # ---- host side -------------------------------------------------------------------------

    def validate(self, arch: Any) -> np.ndarray:
        a = np.asarray(arch)
        if a.shape != self.arch_shape:
            raise ValueError(
                f"a {self.name} architecture is int[2, 8, 2] ([cell, slot, (input, op)]), got "
                f"shape {a.shape}; build one with from_string('Genotype(...)')")
        if not np.issubdtype(a.dtype, np.integer) and not np.all(np.equal(np.mod(a, 1), 0)):
            raise ValueError(f"a {self.name} architecture holds integers, got {a.dtype}")
        a = a.astype(np.int64)
        inp, op = a[..., 0], a[..., 1]
        max_inp = SLOT_NODE[None] + 1
        bad_inp = (inp < 0) | (inp > max_inp)
        bad_op = (op < 0) | (op >= len(self.ops))
        if not (bad_inp.any() or bad_op.any()):
            edge = np.asarray(EDGE_OFFSET)[SLOT_NODE][None] + inp
            bad_op = ~self._allowed[np.arange(2)[:, None], edge, op]
            same = inp[:, 0::2] == inp[:, 1::2]
            if not (bad_op.any() or same.any()):
                return a.astype(np.int32)
            if same.any():
                c, i = (int(x) for x in np.argwhere(same)[0])
                raise ValueError(f"{CELLS[c]} node {i + 2}: both inputs are node "
                                 f"{int(inp[c, 2 * i])}; a node takes two distinct inputs")
            c, j = (int(x) for x in np.argwhere(bad_op)[0])
            raise ValueError(self._op_error(c, j, int(inp[c, j]), self.ops[int(op[c, j])]))
        c, j = (int(x) for x in np.argwhere(bad_inp | bad_op)[0])
        where = f"{CELLS[c]} slot {j} (node {j // 2 + 2})"
        if bad_inp[c, j]:
            raise ValueError(f"{where}: input {int(inp[c, j])} is out of range 0..{j // 2 + 1}")
        raise ValueError(f"{where}: operation index {int(op[c, j])} is out of range "
                         f"[0, {len(self.ops)}); operations are {self.ops}")

    def _op_error(self, c: int, j: int, inp: int, op: str) -> str:
        e = self.edge_of(j, inp)
        offered = [o for o in self.candidates[c][e] if o != "none"]
        what = ("'none' is not an operation of a genotype" if op == "none" else
                f"edge {e} ({CELLS[c]} node {j // 2 + 2} <- {inp}) of space {self.name!r} "
                f"offers {offered}")
        return f"{CELLS[c]} slot {j}: operation {op!r} is not allowed: {what}"

    def to_genotype(self, arch: Any) -> dict[str, list[tuple[str, int]]]:
        """``{'normal': [(op, input)] * 8, 'reduce': [...]}`` of an encoding."""
        a = self.validate(arch)
        return {cell: [(self.ops[int(op)], int(inp)) for inp, op in a[c]]
                for c, cell in enumerate(CELLS)}

    def to_string(self, arch: Any) -> str:
        """The community's ``Genotype(...)`` string (DARTS's namedtuple ``repr``)."""
        g = self.to_genotype(arch)
        return (f"Genotype(normal={g['normal']!r}, normal_concat=range(2, 6), "
                f"reduce={g['reduce']!r}, reduce_concat=range(2, 6))")

    def from_string(self, s: str) -> np.ndarray:
        """Parses a ``Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)``
        string (keyword or positional fields; concat as ``range(2, 6)`` or ``[2, 3, 4, 5]``).

        Raises:
            ValueError: one line naming the malformed part.
        """
        fields = _parse_genotype_call(s)
        arch = np.zeros(self.arch_shape, np.int32)
        for c, cell in enumerate(CELLS):
            concat = fields[f"{cell}_concat"]
            if concat is not None and tuple(concat) != CONCAT:
                raise ValueError(f"{cell}_concat={list(concat)} is not supported: DARTS cells "
                                 f"concatenate nodes {list(CONCAT)} (range(2, 6))")
            pairs = fields[cell]
            if len(pairs) != NUM_SLOTS:
                raise ValueError(f"{cell} has {len(pairs)} (op, input) pairs; a DARTS cell has "
                                 f"{NUM_SLOTS}, two per node")
            for j, pair in enumerate(pairs):
                op, inp = pair
                where = f"{cell}[{j}] = {pair!r}"
                if op not in self.ops:
                    known = ALL_OPS if op not in ALL_OPS else self.ops
                    raise ValueError(f"{where}: operation {op!r} is not in space {self.name!r} "
                                     f"(operations: {known})")
                if not 0 <= inp <= j // 2 + 1:
                    raise ValueError(f"{where}: input {inp} of node {j // 2 + 2} must be in "
                                     f"0..{j // 2 + 1}")
                if not self._allowed[c, self.edge_of(j, inp), self.ops.index(op)]:
                    raise ValueError(f"{where}: " + self._op_error(c, j, inp, op))
                arch[c, j] = (inp, self.ops.index(op))
        return self.validate(arch)

    # ---- pure functions --------------------------------------------------------------------

    @functools.partial(jax.jit, static_argnums=0)
    def canonical(self, arch: jax.Array) -> jax.Array:
        """The canonical form: each node's two slots ordered by input (``[..., 2, 8, 2]``)."""
        a = jnp.asarray(arch, jnp.int32)
        pair = a.reshape(*a.shape[:-2], NUM_NODES, 2, 2)
        swap = pair[..., 0, 0] > pair[..., 1, 0]
        first = jnp.where(swap[..., None], pair[..., 1, :], pair[..., 0, :])
        second = jnp.where(swap[..., None], pair[..., 0, :], pair[..., 1, :])
        return jnp.stack([first, second], axis=-2).reshape(a.shape)

    @functools.partial(jax.jit, static_argnums=0)
    def arch_key(self, arch: jax.Array) -> jax.Array:
        c = self.canonical(arch).astype(jnp.uint32)  # [..., 2, 8, 2]
        nodes = c.reshape(*c.shape[:-2], NUM_NODES, 2, 2)
        node_ix = jnp.arange(NUM_NODES)
        pair = jnp.asarray(_PAIR_TABLE)[node_ix, nodes[..., 0, 0], nodes[..., 1, 0]]
        rank = jnp.asarray(self._op_rank, jnp.uint32)
        g = np.uint32(len(self.genotype_ops))
        key = jnp.zeros(c.shape[:-2], jnp.uint32)
        for i in range(NUM_NODES):  # mixed radix: (pair, op0, op1) per node
            key = key * np.uint32(_NUM_PAIRS[i]) + pair[..., i].astype(jnp.uint32)
            key = key * g + rank[nodes[..., i, 0, 1]]
            key = key * g + rank[nodes[..., i, 1, 1]]
        return key

    @functools.partial(jax.jit, static_argnums=0)
    def arch_of_key(self, key: jax.Array) -> jax.Array:
        """The canonical architecture of a key (``[..., 2] -> [..., 2, 8, 2]``)."""
        k = jnp.asarray(key, jnp.uint32)
        g = np.uint32(len(self.genotype_ops))
        of_rank = jnp.asarray(self._op_of_rank)
        nodes = []
        for i in reversed(range(NUM_NODES)):
            op1 = of_rank[(k % g).astype(jnp.int32)]
            k = k // g
            op0 = of_rank[(k % g).astype(jnp.int32)]
            k = k // g
            p = (k % np.uint32(_NUM_PAIRS[i])).astype(jnp.int32)
            k = k // np.uint32(_NUM_PAIRS[i])
            a, b = jnp.asarray(_PAIR_A[i])[p], jnp.asarray(_PAIR_B[i])[p]
            nodes.append(jnp.stack([jnp.stack([a, op0], -1), jnp.stack([b, op1], -1)], -2))
        out = jnp.stack(nodes[::-1], axis=-3)  # [..., 2, 4, 2, 2]
        return out.reshape(*out.shape[:-3], NUM_SLOTS, 2)

    @functools.partial(jax.jit, static_argnums=0)
    def sample(self, key: jax.Array) -> jax.Array:
        """Uniform input pairs per node and uniform allowed operations per chosen edge: uniform
        over genotypes (canonical forms) when every edge offers equally many operations, as in
        every registered space. Consumes ``key``."""
        k_pair, k_op = jax.random.split(key)
        u_pair = jax.random.uniform(k_pair, (2, NUM_NODES))
        u_op = jax.random.uniform(k_op, (2, NUM_SLOTS))
        p = jnp.minimum((u_pair * _NUM_PAIRS).astype(jnp.int32), _NUM_PAIRS - 1)  # [2, 4]
        node_ix = jnp.arange(NUM_NODES)
        a, b = jnp.asarray(_PAIR_A)[node_ix, p], jnp.asarray(_PAIR_B)[node_ix, p]
        inputs = jnp.stack([a, b], -1).reshape(2, NUM_SLOTS)
        return jnp.stack([inputs, self._draw_ops(inputs, u_op)], -1)

    def _draw_ops(self, inputs: jax.Array, u: jax.Array) -> jax.Array:
        """An allowed operation per slot of the edges ``inputs: [2, 8]`` from ``u`` in [0, 1)."""
        lst, cnt = self._allowed_list
        edge = jnp.asarray(EDGE_OFFSET)[SLOT_NODE] + inputs  # [2, 8]
        cell = jnp.arange(2)[:, None]
        n = jnp.asarray(cnt)[cell, edge]
        k = jnp.minimum((u * n).astype(jnp.int32), n - 1)
        return jnp.asarray(lst)[cell, edge, k]

    @functools.cached_property
    def _moves(self) -> tuple[np.ndarray, ...]:
        """The static neighbour moves: ``(cell, slot, is_input, k)`` per row, naszilla's order
        (for each cell and slot: its operation changes, then its input changes)."""
        g = int(self._allowed.sum(-1).max())
        rows = []
        for c in range(2):
            for j in range(NUM_SLOTS):
                rows += [(c, j, 0, k) for k in range(g - 1)]
                rows += [(c, j, 1, k) for k in range(j // 2)]
        return tuple(np.array(col, np.int32) for col in zip(*rows, strict=True))

    def _move_pairs(self, arch: jax.Array, rows: jax.Array | None = None
                    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """Every neighbour move (or those of ``rows: int[M]``) as ``(cell, slot, new (input,
        op) pair [M, 2], valid [M])``."""
        arch = jnp.asarray(arch, jnp.int32)
        cell, slot, is_input, k = (jnp.asarray(x) for x in self._moves)
        if rows is not None:  # the same formulas on the chosen rows only
            cell, slot, is_input, k = (x[rows] for x in (cell, slot, is_input, k))
        lst, cnt = self._allowed_list
        lst, cnt = jnp.asarray(lst), jnp.asarray(cnt)
        inp, op = arch[cell, slot, 0], arch[cell, slot, 1]
        sib = arch[cell, slot ^ 1, 0]
        node = slot // 2
        # operation change: the (k+1)-th allowed operation after the current one, cyclically
        edge = jnp.asarray(EDGE_OFFSET)[node] + inp
        n_ops = cnt[cell, edge]
        pos = jnp.argmax(lst[cell, edge] == op[:, None], axis=-1)
        new_op = lst[cell, edge, (pos + 1 + k) % jnp.maximum(n_ops, 1)]
        op_valid = k < n_ops - 1
        # input change: the k-th node in 0..node+1 other than this slot's and its sibling's input
        # (k < node here, so at most two skips: k, then +1 past each smaller excluded input)
        lo, hi = jnp.minimum(inp, sib), jnp.maximum(inp, sib)
        new_inp = k + (k >= lo)
        new_inp = new_inp + (new_inp >= hi)
        allowed = jnp.asarray(self._allowed)
        in_valid = allowed[cell, jnp.asarray(EDGE_OFFSET)[node] + new_inp, op]
        new_pair = jnp.where((is_input == 1)[:, None], jnp.stack([new_inp, op], -1),
                             jnp.stack([inp, new_op], -1))
        valid = jnp.where(is_input == 1, in_valid, op_valid)
        return cell, slot, new_pair, valid

    @functools.partial(jax.jit, static_argnums=0)
    def neighbours(self, arch: jax.Array) -> tuple[jax.Array, jax.Array]:
        arch = jnp.asarray(arch, jnp.int32)
        cell, slot, new_pair, valid = self._move_pairs(arch)
        out = jnp.broadcast_to(arch, (cell.shape[0], *self.arch_shape))
        out = out.at[jnp.arange(cell.shape[0]), cell, slot].set(new_pair)
        return out, valid

    def neighbour(self, arch: jax.Array, n: jax.Array) -> jax.Array:
        """Row ``n`` of :meth:`neighbours`, built alone (one move, not all of them)."""
        arch = jnp.asarray(arch, jnp.int32)
        cell, slot, new_pair, _ = self._move_pairs(arch, jnp.reshape(n, (1,)))
        return arch.at[cell[0], slot[0]].set(new_pair[0])

    def neighbour_mask(self, arch: jax.Array) -> jax.Array:
        """The validity mask of :meth:`neighbours`. Where every edge of a cell offers the same
        operations (every registered space but S1) the mask follows from the slots' operations
        alone, built slot by slot instead of move by move (the same values)."""
        if not self._uniform_edges:
            return self._move_pairs(arch)[3]
        arch = jnp.asarray(arch, jnp.int32)
        allowed = jnp.asarray(self._allowed[:, 0])  # [2, V]: the same on every edge
        ok = allowed[jnp.arange(2)[:, None], arch[..., 1]]  # [2, 8] input change keeps the op
        cnt = self._allowed_list[1][:, 0]
        g = int(self._allowed.sum(-1).max())
        pieces = []
        for c in range(2):
            op_ok = np.arange(g - 1) < cnt[c] - 1  # static: the (k+1)-th other operation exists
            for j in range(NUM_SLOTS):
                pieces += [jnp.asarray(op_ok), jnp.broadcast_to(ok[c, j], (j // 2,))]
        return jnp.concatenate(pieces)

    @functools.cached_property
    def _uniform_edges(self) -> bool:
        """Whether every edge of a cell offers the same genotype operations."""
        a = self._allowed
        return bool((a == a[:, :1]).all())

    @functools.partial(jax.jit, static_argnums=0)
    def mutate(self, key: jax.Array, arch: jax.Array) -> jax.Array:
        """One uniformly random valid neighbour of ``arch`` (one slot's operation or input
        changed), without building the whole neighbourhood. Consumes ``key``."""
        arch = jnp.asarray(arch, jnp.int32)
        cell, slot, new_pair, valid = self._move_pairs(arch)
        m = nth_valid(valid, jax.random.randint(key, (), 0, jnp.maximum(
            jnp.sum(valid, dtype=jnp.int32), 1)))
        return arch.at[cell[m], slot[m]].set(new_pair[m])

    # ---- supernet --------------------------------------------------------------------------

    @property
    def alpha_shapes(self) -> dict[str, tuple[int, int]]:
        return {cell: (NUM_EDGES, self.num_candidates) for cell in CELLS}

    def decisions(self) -> list[tuple[str, int]]:
        return [(cell, e) for cell in CELLS for e in range(NUM_EDGES)]

    def candidate_ops(self, leaf: str, row: int) -> tuple[str, ...]:
        return self.candidates[CELLS.index(leaf)][row]

    def decision_groups(self) -> list[list[int]]:
        """Normal-cell edges, then reduction-cell edges (the reference decides one of each per
        step)."""
        return [list(range(c * NUM_EDGES, (c + 1) * NUM_EDGES)) for c in range(len(CELLS))]

    def topology(self) -> tuple[tuple[tuple[tuple[int, ...], ...], ...], int]:
        """Per cell type, nodes 3..5 (DARTS numbering; node 2 has only its 2 inputs) with the
        decisions of their incoming edges; each keeps 2 (darts-pt's ``nid2eids``)."""
        groups = tuple(
            tuple(tuple(c * NUM_EDGES + EDGE_OFFSET[i] + s for s in range(i + 2))
                  for i in range(1, NUM_NODES))
            for c in range(len(CELLS)))
        return groups, 2

    def edge_name(self, leaf: str, row: int) -> str:
        """``'normal:node3<-1'``: cell type, node (DARTS numbering) and input of edge ``row``."""
        return f"{leaf}:node{int(EDGE_NODE[row]) + 2}<-{int(EDGE_SRC[row])}"

    def one_hot(self, arch: Any) -> dict[str, jax.Array]:
        """Operation weights that select ``arch``: 1 on each chosen edge's operation, 0 on every
        other entry (edges not chosen carry nothing)."""
        a = self.validate(np.asarray(arch))
        out = {}
        for c, cell in enumerate(CELLS):
            w = np.zeros((NUM_EDGES, self.num_candidates), np.float32)
            for j in range(NUM_SLOTS):
                e = self.edge_of(j, int(a[c, j, 0]))
                w[e, self.candidates[c][e].index(self.ops[int(a[c, j, 1])])] = 1.0
            out[cell] = jnp.asarray(w)
        return out

    def discretize(self, alpha: Any, mask: Any = None) -> np.ndarray:
        """DARTS's genotype rule (``model_search.genotype()``): with ``w = softmax(alpha)`` per
        edge, each node keeps the 2 incoming edges with the largest ``max_k w[e, k]`` over
        operations other than ``none``, and each kept edge its argmax operation other than
        ``none`` (ties: the lower index, as DARTS's stable sort and argmax).

        ``mask`` (``{'normal': bool[14, K], ...}``, optional) marks the operations still
        available on every edge (DARTS-PT: after an operation is fixed on an edge, only it);
        masked entries never win. An edge whose only available operation is ``none`` is never
        kept (its strength is ``-inf``), so a fixed ``none`` cannot come back as a selected edge.
        """
        out = np.zeros(self.arch_shape, np.int32)
        for c, cell in enumerate(CELLS):
            al = np.asarray(alpha[cell], np.float64)
            if al.shape != (NUM_EDGES, self.num_candidates):
                raise ValueError(f"{self.name} alpha[{cell!r}] must have shape "
                                 f"[{NUM_EDGES}, {self.num_candidates}], got {al.shape}")
            w = np.exp(al - al.max(-1, keepdims=True))
            w = w / w.sum(-1, keepdims=True)
            ok = np.ones_like(w, bool) if mask is None else np.array(mask[cell], bool)
            for e in range(NUM_EDGES):
                for k, name in enumerate(self.candidates[c][e]):
                    if name == "none":
                        ok[e, k] = False
            w = np.where(ok, w, -np.inf)
            strength = w.max(-1)
            for i in range(NUM_NODES):
                edges = list(range(EDGE_OFFSET[i], EDGE_OFFSET[i] + i + 2))
                best = sorted(edges, key=lambda e: -strength[e])[:2]
                if not np.all(np.isfinite(strength[best])):
                    raise ValueError(f"{cell} node {i + 2}: fewer than 2 incoming edges have an "
                                     "operation other than 'none' left")
                for s, e in enumerate(sorted(best)):
                    name = self.candidates[c][e][int(np.argmax(w[e]))]
                    out[c, 2 * i + s] = (e - EDGE_OFFSET[i], self.ops.index(name))
        return out

    def supernet(self, channels: int = 16, layers: int = 8, num_classes: int = 10,
                 **kwargs) -> Any:
        """The DARTS search network of this space (:mod:`jaxnas.models.darts`), operation
        weights ``{'normal': [14, K], 'reduce': [14, K]}``."""
        from jaxnas.models.darts import DartsSupernet

        return DartsSupernet(channels=channels, layers=layers, num_classes=num_classes,
                             normal_ops=self.candidates[0], reduce_ops=self.candidates[1],
                             **kwargs)

    def network(self, arch: Any, channels: int = 36, layers: int = 20, num_classes: int = 10,
                **kwargs) -> Any:
        """DARTS's evaluation network (``NetworkCIFAR``) of ``arch``."""
        from jaxnas.models.darts import NetworkCIFAR

        return NetworkCIFAR(self.validate(arch), self.ops, channels=channels, layers=layers,
                            num_classes=num_classes, **kwargs)


def _parse_genotype_call(s: Any) -> dict[str, Any]:
    """``{normal, normal_concat, reduce, reduce_concat}`` of a ``Genotype(...)`` string, with
    the pairs as ``[(str, int)]`` and concat as a list or None (absent)."""
    if not isinstance(s, str):
        raise ValueError(f"expected a Genotype(...) string, got {type(s).__name__}: {s!r}")
    text = s.strip()
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"malformed genotype {_short(text)}: {e.msg} at column {e.offset}"
                         ) from None
    if not isinstance(tree, ast.Call) or _call_name(tree.func) != "Genotype":
        raise ValueError(f"expected Genotype(normal=[...], normal_concat=..., reduce=[...], "
                         f"reduce_concat=...), got {_short(text)}")
    names = ("normal", "normal_concat", "reduce", "reduce_concat")
    if len(tree.args) > 4:
        raise ValueError(f"Genotype takes 4 fields, got {len(tree.args)} positional arguments")
    nodes = dict(zip(names, tree.args, strict=False))
    for kw in tree.keywords:
        if kw.arg not in names:
            raise ValueError(f"unknown Genotype field {kw.arg!r}; fields are {names}")
        if kw.arg in nodes:
            raise ValueError(f"Genotype field {kw.arg!r} is given twice")
        nodes[kw.arg] = kw.value
    out: dict[str, Any] = {}
    for cell in ("normal", "reduce"):
        if cell not in nodes:
            raise ValueError(f"Genotype is missing its {cell!r} list")
        node = nodes[cell]
        try:
            pairs = ast.literal_eval(node)
        except ValueError:
            raise ValueError(f"{cell}= must be a list of (op, input) pairs, got "
                             f"{_short(ast.unparse(node))}") from None
        if not isinstance(pairs, (list, tuple)):
            raise ValueError(f"{cell}= must be a list of (op, input) pairs, got {pairs!r}")
        for j, p in enumerate(pairs):
            if (not isinstance(p, (list, tuple)) or len(p) != 2 or not isinstance(p[0], str)
                    or not isinstance(p[1], int) or isinstance(p[1], bool)):
                raise ValueError(f"{cell}[{j}] = {p!r} is not an ('op_name', input) pair")
        out[cell] = [tuple(p) for p in pairs]
        out[f"{cell}_concat"] = _concat(nodes.get(f"{cell}_concat"), cell)
    return out


def _concat(node: ast.AST | None, cell: str) -> list[int] | None:
    if node is None:
        return None
    if (isinstance(node, ast.Call) and _call_name(node.func) == "range" and not node.keywords
            and 1 <= len(node.args) <= 3):
        try:
            return list(range(*(ast.literal_eval(a) for a in node.args)))
        except (ValueError, TypeError):
            pass
    else:
        try:
            v = ast.literal_eval(node)
            if isinstance(v, (list, tuple)) and all(isinstance(i, int) for i in v):
                return list(v)
        except ValueError:
            pass
    raise ValueError(f"{cell}_concat must be range(2, 6) or [2, 3, 4, 5], got "
                     f"{_short(ast.unparse(node))}")


def _call_name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):  # genotypes.Genotype(...)
        return func.attr
    return ""


def _short(text: str, n: int = 80) -> str:
    return repr(text if len(text) <= n else text[: n - 3] + "...")


#: the registered DARTS-family spaces by name
DARTS_SPACES: dict[str, DartsSpace] = {
    name: register(DartsSpace(name=name, candidates=tables)) for name, tables in TABLES.items()}

SPACE = DARTS_SPACES["darts"]

#: DARTS's published DARTS-V2 genotype (quark0/darts cnn/genotypes.py)
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
            "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
            "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
            "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
            "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
            "reduce_concat=[2, 3, 4, 5])")

__all__ = ["ALL_OPS", "CELLS", "DARTS_OPS", "DARTS_SPACES", "DARTS_V2", "DartsSpace", "EDGE_NODE",
           "EDGE_OFFSET", "EDGE_SRC", "PAIRS", "SPACE", "TABLES"]
