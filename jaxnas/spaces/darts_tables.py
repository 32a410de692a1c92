"""Operation names and per-edge candidate tables of the DARTS-family spaces (a leaf module:
:mod:`jaxnas.spaces.darts` and :mod:`jaxnas.models.darts` both read it, so neither imports the
other)."""

from __future__ import annotations

from collections.abc import Sequence

NUM_EDGES = 14  # supernet edges per cell

#: every operation a DARTS-family space uses, in darts-pt's PRIMITIVES order
ALL_OPS: tuple[str, ...] = ("none", "noise", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                            "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
#: DARTS's PRIMITIVES, its supernet's column order
DARTS_OPS: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def _darts_tables() -> dict[str, tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]]:
    """Per-edge candidate operations of every registered space: ``(normal, reduce)``, each 14
    tuples in the supernet's column order (RobustDARTS's and darts-pt's order)."""

    def same(ops: Sequence[str]) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(ops) for _ in range(NUM_EDGES))

    # RobustDARTS S1 (src/spaces.py; darts-pt sota/cnn/spaces.py primitives_1), edge by edge
    s1_normal = (
        ("skip_connect", "dil_conv_3x3"), ("skip_connect", "dil_conv_5x5"),
        ("skip_connect", "dil_conv_5x5"), ("skip_connect", "sep_conv_3x3"),
        ("skip_connect", "dil_conv_3x3"), ("max_pool_3x3", "skip_connect"),
        ("skip_connect", "sep_conv_3x3"), ("skip_connect", "sep_conv_3x3"),
        ("skip_connect", "dil_conv_3x3"), ("skip_connect", "sep_conv_3x3"),
        ("max_pool_3x3", "skip_connect"), ("skip_connect", "dil_conv_3x3"),
        ("dil_conv_3x3", "dil_conv_5x5"), ("dil_conv_3x3", "dil_conv_5x5"))
    s1_reduce = (
        ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "dil_conv_3x3"),
        ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "avg_pool_3x3"),
        ("skip_connect", "dil_conv_5x5"), ("max_pool_3x3", "avg_pool_3x3"),
        ("max_pool_3x3", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"),
        ("skip_connect", "dil_conv_5x5"), ("max_pool_3x3", "avg_pool_3x3"),
        ("max_pool_3x3", "avg_pool_3x3"), ("skip_connect", "dil_conv_5x5"),
        ("skip_connect", "dil_conv_5x5"), ("skip_connect", "dil_conv_5x5"))
    return {
        "darts": (same(DARTS_OPS), same(DARTS_OPS)),
        "darts-7": (same(DARTS_OPS[1:]), same(DARTS_OPS[1:])),
        "s1": (s1_normal, s1_reduce),
        "s2": (same(("skip_connect", "sep_conv_3x3")), same(("skip_connect", "sep_conv_3x3"))),
        "s3": (same(("none", "skip_connect", "sep_conv_3x3")),
               same(("none", "skip_connect", "sep_conv_3x3"))),
        "s4": (same(("noise", "sep_conv_3x3")), same(("noise", "sep_conv_3x3"))),
    }


TABLES = _darts_tables()

__all__ = ["ALL_OPS", "DARTS_OPS", "NUM_EDGES", "TABLES"]
