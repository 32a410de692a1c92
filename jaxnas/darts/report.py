"""What a DARTS run reports besides its losses: the entropy of alpha and, through an optional
hook, the benchmark accuracies of the architecture selected by magnitude.

A *report hook* maps an architecture (the space's encoding) to a dict merged into every epoch
record of ``metrics.jsonl`` and into ``result.json``. :func:`benchmark_report` builds the usual
one from a space: the tabular benchmark of the same name in :mod:`jaxnas.benchmarks`
(``jaxnas.benchmarks.<space>.lookup``), when there is one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces import SearchSpace

ReportHook = Callable[[np.ndarray], dict]


def alpha_entropy(alpha: Any) -> jax.Array:
    """Mean over all edges (rows of every leaf) of the entropy (nats) of ``softmax(alpha)``;
    ``log K`` when uniform."""
    ents = []
    for a in jax.tree.leaves(alpha):
        logp = jax.nn.log_softmax(jnp.asarray(a), -1)
        ents.append(-jnp.sum(jnp.exp(logp) * logp, -1))
    return jnp.mean(ents[0] if len(ents) == 1 else jnp.concatenate(ents))


def op_weights_by_name(space: SearchSpace, alpha: Any) -> dict[str, float]:
    """Mean ``softmax(alpha)`` weight of every operation name over the edges that offer it
    (an alpha trajectory's summary: e.g. how much weight skip connections gather)."""
    rows = np.asarray(jax.nn.softmax(jnp.asarray(space.alpha_rows(alpha)), -1))
    sums: dict[str, list[float]] = {}
    for e, d in enumerate(space.decisions()):
        for k, name in enumerate(space.candidate_ops(*d)):
            sums.setdefault(name, []).append(float(rows[e, k]))
    return {name: float(np.mean(v)) for name, v in sums.items()}


def benchmark_lookup(space: SearchSpace) -> Callable | None:
    """``lookup(arch, data_dir) -> dict`` of the tabular benchmark registered for ``space``
    (:data:`jaxnas.benchmarks.BENCHMARKS`), or ``None`` when there is none."""
    from jaxnas import benchmarks

    loader = benchmarks.default_for(space.name)
    return None if loader is None else loader.lookup


def benchmark_of(space: SearchSpace, arch, data_dir: str | os.PathLike | None = None
                 ) -> tuple[dict | None, str | None]:
    """The benchmark record of ``arch`` and ``None``, or ``(None, reason)`` when the space has
    no benchmark or its table cannot be read."""
    lookup = benchmark_lookup(space)
    if lookup is None:
        return None, f"no tabular benchmark for space {space.name!r}"
    try:
        return lookup(np.asarray(arch), data_dir), None
    except (FileNotFoundError, ValueError, OSError) as e:
        return None, f"{type(e).__name__}: {e}"


def benchmark_report(space: SearchSpace, data_dir: str | os.PathLike | None = None
                     ) -> ReportHook:
    """The report hook ``arch -> {'benchmark': record | None, 'benchmark_reason': str | None}``
    (see :func:`benchmark_of`)."""

    def report(arch: np.ndarray) -> dict:
        bench, reason = benchmark_of(space, arch, data_dir)
        return {"benchmark": bench, "benchmark_reason": reason}

    return report


__all__ = ["ReportHook", "alpha_entropy", "benchmark_lookup", "benchmark_of", "benchmark_report"]
