"""Magnitude selection (the DARTS discretisation on NAS-Bench-201: the largest alpha per edge),
alpha statistics, and the selected architecture's NAS-Bench-201 accuracies."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces import nb201


def magnitude_select(alpha: jax.Array) -> np.ndarray:
    """The architecture ``int[6]`` with the largest alpha on each edge (ties: lowest op index).

    Args:
        alpha: ``[6, 5]``.
    """
    a = np.asarray(alpha)
    if a.shape != (nb201.NUM_EDGES, nb201.NUM_OPS):
        raise ValueError(f"alpha must have shape [6, 5], got {a.shape}")
    return np.argmax(a, -1).astype(np.int32)


def alpha_entropy(alpha: jax.Array) -> jax.Array:
    """Mean over edges of the entropy (nats) of ``softmax(alpha)``; ``log 5`` when uniform."""
    logp = jax.nn.log_softmax(alpha, -1)
    return jnp.mean(-jnp.sum(jnp.exp(logp) * logp, -1))


def benchmark_of(arch, data_dir: str | os.PathLike | None = None) -> tuple[dict | None, str | None]:
    """NAS-Bench-201 accuracies of ``arch``: ``(jaxnas.benchmarks.nb201.lookup(...), None)``, or
    ``(None, reason)`` when the table cannot be read."""
    from jaxnas.benchmarks import nb201 as bench

    try:
        return bench.lookup(np.asarray(arch), data_dir), None
    except (FileNotFoundError, ValueError, OSError) as e:
        return None, f"{type(e).__name__}: {e}"


__all__ = ["alpha_entropy", "benchmark_of", "magnitude_select"]
