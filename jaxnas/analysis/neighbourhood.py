"""Neighbourhood-aware scores of architectures on any search space.

Wang, Cao, Li & Kitani, "Neighborhood-Aware Neural Architecture Search" (arXiv 2105.06369):
score an architecture by aggregating performance over its neighbourhood, so that search prefers
*flat* architectures whose performance survives small changes (e.g. a convolution replaced by a
skip connection).

What this module implements (and where we had to choose; the paper's full text was not
available to us, only its abstract and introduction, so every definition below is ours and is
documented as such):

* **Neighbourhood** ``N_r(a)``: the architecture ``a`` itself and every architecture within
  ``r`` moves of it, as the space defines it (:meth:`jaxnas.spaces.SearchSpace.neighbourhood`):
  ``[M, *arch_shape]`` rows, row 0 the centre, and a validity mask ``bool[M]`` (spaces whose
  neighbourhoods vary in size pad them). ``M = space.neighbourhood_size(r)``. In a product
  space (NAS-Bench-201: 6 edges x 5 operations) it is the Hamming ball of radius ``r``:
  ``M(r) = sum_{j<=r} C(E, j) (K-1)^j`` (1, 25, 265, 1545, ... on NAS-Bench-201), all rows
  valid, rows ``1..S`` for ``r = 1`` exactly :meth:`~jaxnas.spaces.SearchSpace.neighbours`.
* **Sampled neighbourhood**: ``a`` itself plus ``k`` of its other valid members drawn uniformly
  without replacement (``[k + 1]`` rows; padding, masked, when fewer than ``k`` are valid).
* **Score** ``g({f(a') : a' in N(a), a' valid})`` with ``g`` one of :data:`AGGREGATIONS`
  (``mean`` by default, as in the paper's main formulation; ``median``, ``min`` (a pessimistic,
  worst-case neighbour) and ``max`` as options).

Values are either a table ``[N]`` in key order (enumerable spaces, e.g. ``bench.valid``) or a
function from architectures ``[..., *arch_shape]`` to values (e.g.
:meth:`jaxnas.benchmarks.tabular.Landscape.valid`). Every function takes the space first (a
:class:`~jaxnas.spaces.SearchSpace`, or a Table / Landscape carrying one); the space and the
radius are static under ``jit``.

The differentiable neighbourhood of a continuous architecture (NA-DARTS) lives in
``jaxnas.darts.na_objective``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxnas.spaces.base import SearchSpace

AGGREGATIONS: tuple[str, ...] = ("mean", "median", "min", "max")

Values = jax.Array | Callable[[jax.Array], jax.Array]


def space_of(obj: Any) -> SearchSpace:
    """The search space of ``obj``: a space, or anything with a ``space`` attribute (a
    :class:`~jaxnas.benchmarks.tabular.Table` or :class:`~jaxnas.benchmarks.tabular.Landscape`).
    """
    if isinstance(obj, SearchSpace):
        return obj
    space = getattr(obj, "space", None)
    if isinstance(space, SearchSpace):
        return space
    raise TypeError(f"expected a SearchSpace (or a Table / Landscape), got {type(obj).__name__}")


# --------------------------------------------------------------------------------------------
# Validation (host side, static arguments).
# --------------------------------------------------------------------------------------------


def check_radius(space: Any, radius: int) -> int:
    """Checks a neighbourhood radius against the space (``space.neighbourhood_size``); returns
    it as an int.

    Raises:
        ValueError: if the space has no neighbourhood of that radius.
    """
    space = space_of(space)
    if isinstance(radius, bool) or not isinstance(radius, int | float) or int(radius) != radius:
        raise ValueError(f"neighbourhood radius must be an integer in [0, {space.max_radius}], "
                         f"got {radius!r}")
    space.neighbourhood_size(int(radius))
    return int(radius)


def check_aggregation(aggregation: str) -> str:
    """Raises ValueError naming the known aggregations when ``aggregation`` is not one."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {AGGREGATIONS}")
    return aggregation


def check_k(space: Any, k: int | None, radius: int) -> int | None:
    """Checks a neighbour sample size against the neighbourhood of ``radius``.

    Raises:
        ValueError: if ``k`` is not ``None`` or an integer in ``[1, M - 1]``.
    """
    if k is None:
        return None
    m = space_of(space).neighbourhood_size(check_radius(space, radius))
    if isinstance(k, bool) or int(k) != k or not 1 <= int(k) <= m - 1:
        raise ValueError(
            f"k (neighbours sampled, --na-samples) must be in [1, {m - 1}] for radius {radius} "
            f"({m - 1} neighbours), got {k!r}; omit k (the CLI's --na-samples) to use the whole neighbourhood"
        )
    return int(k)


# --------------------------------------------------------------------------------------------
# Neighbourhoods and their values.
# --------------------------------------------------------------------------------------------


def sample_neighbourhood(space: Any, key: jax.Array | None, arch: jax.Array, radius: int = 1,
                         k: int | None = None) -> tuple[jax.Array, jax.Array]:
    """``arch`` plus ``k`` distinct valid members of its neighbourhood, uniformly without
    replacement.

    Args:
        space: the search space (static).
        key: consumed to draw the sample (unused when ``k`` is None).
        arch: one architecture, ``[*arch_shape]``.
        radius: neighbourhood radius (static).
        k: neighbours to draw (static); ``None`` returns the whole neighbourhood.

    Returns:
        ``(archs, valid)``: ``[k + 1, *arch_shape]`` (``[M, ...]`` when ``k`` is None) with row
        0 ``arch``, and ``bool[k + 1]`` (false only where fewer than ``k`` neighbours are valid).
    """
    space = space_of(space)
    k = check_k(space, k, radius)
    archs, valid = space.neighbourhood(arch, check_radius(space, radius))
    if k is None:
        return archs, valid
    # the first k valid rows of a uniformly random order of rows 1..M-1 (with every row valid,
    # the same draw as jax.random.choice(key, M - 1, (k,), replace=False))
    perm = jax.random.permutation(key, archs.shape[0] - 1) + 1
    pick = perm[jnp.argsort(~valid[perm], stable=True)[:k]]
    return (jnp.concatenate([archs[:1], archs[pick]]),
            jnp.concatenate([valid[:1], valid[pick]]))


def values_of(values: Values, space: SearchSpace, archs: jax.Array) -> jax.Array:
    """Values of ``archs [..., *arch_shape]``: a table ``[N]`` gathered by key, or a function."""
    if callable(values):
        return values(archs)
    return jnp.asarray(values)[space.arch_key(archs)]


def aggregate(values: jax.Array, aggregation: str = "mean", axis: int = -1,
              valid: jax.Array | None = None) -> jax.Array:
    """Aggregates neighbourhood values along ``axis`` (``[..., M] -> [...]``), over the rows
    where ``valid`` (broadcastable to ``values``) holds when it is given."""
    check_aggregation(aggregation)
    if valid is None:
        if aggregation == "mean":
            return jnp.mean(values, axis=axis)
        if aggregation == "median":
            return jnp.median(values, axis=axis)
        if aggregation == "min":
            return jnp.min(values, axis=axis)
        return jnp.max(values, axis=axis)
    valid = jnp.broadcast_to(valid, values.shape)
    if aggregation == "mean":
        return jnp.mean(values, axis=axis, where=valid)
    if aggregation == "min":
        return jnp.min(jnp.where(valid, values, jnp.inf), axis=axis)
    if aggregation == "max":
        return jnp.max(jnp.where(valid, values, -jnp.inf), axis=axis)
    # median of the valid entries: sort them first, take the middle one(s)
    srt = jnp.sort(jnp.where(valid, values, jnp.inf), axis=axis)
    n = jnp.sum(valid, axis=axis, keepdims=True)
    lo = jnp.take_along_axis(srt, jnp.maximum((n - 1) // 2, 0), axis=axis)
    hi = jnp.take_along_axis(srt, jnp.maximum(n // 2, 0), axis=axis)
    return jnp.squeeze((lo + hi) / 2, axis=axis)


def score(space: Any, values: Values, arch: jax.Array, radius: int = 1,
          aggregation: str = "mean", k: int | None = None, key: jax.Array | None = None
          ) -> jax.Array:
    """Neighbourhood-aware score of one architecture (vmap it over architectures).

    Args:
        space: the search space (static), or a Table / Landscape carrying it.
        values: a table ``[N]`` in key order (e.g. validation accuracy), or a function mapping
            architectures ``[..., *arch_shape]`` to values (e.g. ``Landscape.valid``).
        arch: one architecture, ``[*arch_shape]``.
        radius: neighbourhood radius (static), ``0`` gives the plain value.
        aggregation: one of :data:`AGGREGATIONS` (static).
        k: aggregate over the architecture and ``k`` sampled neighbours instead of all of them.
        key: needed when ``k`` is given; consumed by the sample.

    Returns:
        The aggregated value over the valid members, ``float32[]``.
    """
    space = space_of(space)
    check_aggregation(aggregation)
    if k is not None and key is None:
        raise ValueError(f"k={k} samples neighbours and needs a PRNG key; pass key=...")
    archs, valid = sample_neighbourhood(space, key, arch, radius, k)
    return aggregate(values_of(values, space, archs), aggregation, valid=valid)


def score_all(space: Any, values: jax.Array, radius: int = 1, aggregation: str = "mean",
              chunk_elems: int = 1 << 22) -> jax.Array:
    """Exact neighbourhood-aware score of every architecture of an enumerable space,
    ``[N] -> [N]`` in key order (row ``c`` scores ``space.arch_of_key(c)``).

    One call, jit-able (``space``, ``radius`` and ``aggregation`` static). Architectures are
    processed in chunks so that at most about ``chunk_elems`` values are gathered at once
    (e.g. NAS-Bench-201 radius 6 gathers the whole space for every architecture).
    """
    space = space_of(space)
    n = space.num_archs
    if n is None:
        raise ValueError(f"space {space.name!r} is not enumerable; score architectures with "
                         f"score() instead")
    values = jnp.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"values must be a table over all {n} {space.name} architectures in key "
                         f"order, got shape {values.shape}")
    check_aggregation(aggregation)
    m = space.neighbourhood_size(check_radius(space, radius))
    keys = jnp.arange(n, dtype=jnp.int32)
    batch = max(1, min(n, chunk_elems // m))

    def one(c):
        archs, valid = space.neighbourhood(space.arch_of_key(c), radius)
        return aggregate(values[space.arch_key(archs)], aggregation, valid=valid)

    return jax.lax.map(one, keys, batch_size=batch)


def neighbour_stats(space: Any, values: Values, arch: jax.Array, radius: int = 1
                    ) -> tuple[jax.Array, jax.Array]:
    """Flatness of one architecture: mean and standard deviation of its neighbours' values.

    The architecture itself is excluded (its valid neighbours within ``radius``). Used to
    report how flat the returned architectures are, e.g. with ``values = bench.test``.

    Returns:
        ``(mean, std)``, both ``float32[]`` (population std, ``ddof=0``; NaN without valid
        neighbours).
    """
    space = space_of(space)
    if check_radius(space, radius) == 0:
        raise ValueError("radius 0 has no neighbours; use radius >= 1 for neighbour statistics")
    archs, valid = space.neighbourhood(arch, radius)
    vals, valid = values_of(values, space, archs[1:]), valid[1:]
    return jnp.mean(vals, axis=-1, where=valid), jnp.std(vals, axis=-1, where=valid)


# --------------------------------------------------------------------------------------------
# Does flatness predict generalisation? Rank correlations over the whole space.
# --------------------------------------------------------------------------------------------


def average_ranks(x: jax.Array) -> jax.Array:
    """Ranks ``0..n-1`` of ``x: [n]``, ties given the mean of their ranks (as scipy's rankdata
    minus one)."""
    x = jnp.asarray(x)
    srt = jnp.sort(x)
    lo = jnp.searchsorted(srt, x, side="left")
    hi = jnp.searchsorted(srt, x, side="right")
    return (lo + hi - 1).astype(jnp.float32) / 2


def spearman(x: jax.Array, y: jax.Array) -> jax.Array:
    """Spearman rank correlation of ``x, y: [n]`` (Pearson correlation of average ranks)."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return jnp.sum(rx * ry) / jnp.sqrt(jnp.sum(rx * rx) * jnp.sum(ry * ry))


def kendall_tau(x: jax.Array, y: jax.Array, batch_size: int = 256) -> jax.Array:
    """Kendall's tau-b of ``x, y: [n]``, exactly over all ``n (n - 1) / 2`` pairs.

    ``O(n^2)`` comparisons in ``lax.map`` chunks of ``batch_size`` rows (15,625 architectures:
    about 2.4e8 pairs, a second or two on a CPU); no ``[n, n]`` buffer.
    """
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

    def row(xy):
        xi, yi = xy
        sx, sy = jnp.sign(xi - x), jnp.sign(yi - y)
        return jnp.stack([jnp.sum(sx * sy), jnp.sum(sx != 0), jnp.sum(sy != 0)])

    # per row: sum of sign products, pairs not tied in x, pairs not tied in y (each pair twice)
    tot = jnp.sum(jax.lax.map(row, (x, y), batch_size=batch_size), axis=0)
    return tot[0] / jnp.sqrt(tot[1] * tot[2])


__all__ = ["AGGREGATIONS", "aggregate", "average_ranks", "check_aggregation", "check_k",
           "check_radius", "kendall_tau", "neighbour_stats", "sample_neighbourhood", "score",
           "score_all", "space_of", "spearman", "values_of"]
