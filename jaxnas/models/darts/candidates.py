"""Candidate-operation tables and reference genotypes of the DARTS space and its variants.

Candidates are given per edge: a tuple of 14 tuples of operation names for the normal cell and
another for the reduction cell (all edges of one cell type have the same number ``K`` of
candidates, the width of that cell's operation weights ``[14, K]``).

* ``darts``: DARTS's 8 operations on every edge (Liu et al., ICLR 2019);
* ``darts-7``: the 7 without ``none`` (darts-pt's DARTS space);
* ``s1``..``s4``: RobustDARTS's reduced spaces (Zela et al., ICLR 2020; also darts-pt's
  ``sota/cnn/spaces.py``): S1 two operations per edge, chosen per edge and cell type; S2
  ``{skip_connect, sep_conv_3x3}``; S3 ``{none, skip_connect, sep_conv_3x3}``; S4
  ``{noise, sep_conv_3x3}``.

A genotype (discrete architecture) is an ``int32[2, 8, 2]`` array ``[cell (0 normal, 1 reduce),
slot j, (input state, op index)]``: slot ``j`` belongs to intermediate node ``j // 2`` and is
entry ``j`` of DARTS's ``Genotype.normal`` / ``.reduce`` list; the op index refers to an
operation-name tuple passed alongside (:func:`genotype_array`, :func:`genotype_lists`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxnas.models.darts.ops import OPS, check_op
from jaxnas.spaces.darts_tables import TABLES

EdgeOps = tuple[tuple[str, ...], ...]

#: DARTS's ``PRIMITIVES``
DARTS_OPS: tuple[str, ...] = OPS[:8]
#: darts-pt's DARTS space: the 7 operations without ``none``
DARTS7_OPS: tuple[str, ...] = DARTS_OPS[1:]


def uniform(ops: Sequence[str], edges: int = 14) -> EdgeOps:
    """The same candidates ``ops`` on every edge."""
    return (tuple(check_op(o) for o in ops),) * edges


#: ``name -> (normal candidates, reduce candidates)``: the registered spaces' tables
#: (:data:`jaxnas.spaces.darts_tables.TABLES`, the single source; RobustDARTS's S1-S4)
CANDIDATES: dict[str, tuple[EdgeOps, EdgeOps]] = dict(TABLES)


def check_candidates(ops: Sequence[Sequence[str]], edges: int = 14) -> EdgeOps:
    """``ops`` as a tuple of ``edges`` tuples of known operation names, all of one length.

    Raises:
        ValueError: wrong number of edges, unknown names, or edges of different widths.
    """
    if isinstance(ops, str) or len(ops) != edges:
        raise ValueError(f"candidate operations are given per edge: {edges} tuples of names, got "
                         f"{ops!r}; use uniform(ops) for the same candidates on every edge")
    out = tuple(tuple(check_op(o) for o in edge) for edge in ops)
    widths = {len(e) for e in out}
    if len(widths) != 1 or 0 in widths:
        raise ValueError(f"every edge of a cell needs the same number (>= 1) of candidates, got "
                         f"{[len(e) for e in out]}")
    return out


# ---- genotypes ----------------------------------------------------------------------------

Slots = Sequence[tuple[str, int]]  # DARTS's Genotype.normal / .reduce: [(op name, input), ...]

#: DARTS (first order), DARTS's ``genotypes.DARTS_V1``: ``(normal, reduce)`` slot lists
DARTS_V1: tuple[Slots, Slots] = (
    [("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
     ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)])
#: DARTS (second order), DARTS's ``genotypes.DARTS_V2`` (the paper's 3.3M-parameter network)
DARTS_V2: tuple[Slots, Slots] = (
    [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
     ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)])


def genotype_array(normal: Slots, reduce: Slots, ops: Sequence[str] = DARTS_OPS) -> np.ndarray:
    """DARTS's ``Genotype.normal`` / ``.reduce`` lists (``(op name, input)`` pairs) as an
    ``int32[2, 8, 2]`` genotype whose op indices refer to ``ops``."""
    ops = tuple(ops)
    out = np.zeros((2, len(normal), 2), np.int32)
    for c, slots in enumerate((normal, reduce)):
        if len(slots) != len(normal):
            raise ValueError(f"normal and reduce cells need the same number of slots, got "
                             f"{len(normal)} and {len(slots)}")
        for j, (name, src) in enumerate(slots):
            if name not in ops:
                raise ValueError(f"slot {j} uses {name!r}, which is not among the ops {ops}")
            out[c, j] = (src, ops.index(name))
    return out


def genotype_lists(arch, ops: Sequence[str] = DARTS_OPS) -> tuple[list, list]:
    """Inverse of :func:`genotype_array`: ``(normal, reduce)`` lists of ``(op name, input)``."""
    a = np.asarray(arch)
    return tuple([(ops[int(o)], int(s)) for s, o in a[c]] for c in range(2))  # type: ignore


__all__ = ["CANDIDATES", "DARTS7_OPS", "DARTS_OPS", "DARTS_V1", "DARTS_V2", "check_candidates",
           "genotype_array", "genotype_lists", "uniform"]
