"""Neighbourhood-aware scores on NAS-Bench-201 and a differentiable neighbourhood for DARTS.

Wang, Cao, Li & Kitani, "Neighborhood-Aware Neural Architecture Search" (arXiv 2105.06369):
score an architecture by aggregating performance over its neighbourhood, so that search prefers
*flat* architectures whose performance survives small changes (e.g. a convolution replaced by a
skip connection).

What this module implements (and where we had to choose; the paper's full text was not
available to us, only its abstract and introduction, so every definition below is ours and is
documented as such):

* **Neighbourhood** ``N_r(a)``: the architecture ``a`` itself and every architecture within
  Hamming distance ``r`` of it (edges whose operation differs), ``r`` in ``0..6``. Its size is
  ``M(r) = sum_{j<=r} C(6, j) 4^j`` (1, 25, 265, 1545, ...). Row 0 is always ``a``; for
  ``r = 1`` rows ``1..24`` are exactly :func:`jaxnas.spaces.nb201.neighbour_codes` in order.
  A neighbourhood is a fixed-shape ``[M]`` array of codes, no masks needed (all are valid and
  distinct).
* **Sampled neighbourhood**: ``a`` itself plus ``k`` of the other ``M - 1`` members drawn
  uniformly without replacement (``[k + 1]`` codes).
* **Score** ``g({f(a') : a' in N(a)})`` with ``g`` one of :data:`AGGREGATIONS` (``mean`` by
  default, as in the paper's main formulation; ``median``, ``min`` (a pessimistic, worst-case
  neighbour) and ``max`` as options).
* **Differentiable neighbourhood of a continuous architecture** (for NA-DARTS), see
  :func:`op_weight_neighbours`: the continuous architecture is the per-edge operation weights
  ``w: [6, 5]`` (softmax of DARTS' alphas). The neighbour that changes edge ``e`` from its
  current operation ``o* = argmax w[e]`` to operation ``o`` is ``w`` with the entries ``o*`` and
  ``o`` of row ``e`` *swapped*. Why this representation: (1) at a one-hot ``w`` (a discrete
  architecture) the neighbours are exactly the one-hot encodings of the discrete neighbours, so
  the neighbourhood-aware DARTS loss reduces to the tabular definition above; (2) a swap is a
  permutation, linear in ``w``, so the loss of every neighbour is differentiable in ``w`` (and in
  the alphas) with the gradient of each entry routed to the position it was moved to; (3) a
  neighbour keeps the supernet's confidence profile (the dominant weight moves to the new
  operation), which is what "the same architecture with one operation replaced" means for a
  mixture. The argmax is piecewise constant and carries no gradient.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces import nb201 as space

AGGREGATIONS: tuple[str, ...] = ("mean", "median", "min", "max")
MAX_RADIUS = space.NUM_EDGES
_POW5 = np.array([space.NUM_OPS**e for e in range(space.NUM_EDGES)], dtype=np.int32)


# --------------------------------------------------------------------------------------------
# Validation (host side, static arguments).
# --------------------------------------------------------------------------------------------


def check_radius(radius: int) -> int:
    """Checks a neighbourhood radius; returns it as an int.

    Raises:
        ValueError: if ``radius`` is not an integer in ``[0, 6]``.
    """
    if isinstance(radius, bool) or int(radius) != radius or not 0 <= int(radius) <= MAX_RADIUS:
        raise ValueError(
            f"neighbourhood radius must be an integer in [0, {MAX_RADIUS}] (edges changed), got "
            f"{radius!r}; use 1 for the 24 one-edge neighbours"
        )
    return int(radius)


def check_aggregation(aggregation: str) -> str:
    """Raises ValueError naming the known aggregations when ``aggregation`` is not one."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {AGGREGATIONS}")
    return aggregation


def check_k(k: int | None, radius: int) -> int | None:
    """Checks a neighbour sample size against the neighbourhood of ``radius``.

    Raises:
        ValueError: if ``k`` is not ``None`` or an integer in ``[1, M - 1]``.
    """
    if k is None:
        return None
    m = neighbourhood_size(radius)
    if isinstance(k, bool) or int(k) != k or not 1 <= int(k) <= m - 1:
        raise ValueError(
            f"k (neighbours sampled) must be in [1, {m - 1}] for radius {radius} "
            f"({m - 1} neighbours), got {k!r}; pass k=None to use the whole neighbourhood"
        )
    return int(k)


# --------------------------------------------------------------------------------------------
# Neighbourhoods of discrete architectures.
# --------------------------------------------------------------------------------------------


def neighbourhood_size(radius: int) -> int:
    """``M(r) = sum_{j<=r} C(6, j) 4^j``: the architecture plus its neighbours within ``r``."""
    r = check_radius(radius)
    return sum(math.comb(space.NUM_EDGES, j) * (space.NUM_OPS - 1) ** j for j in range(r + 1))


@functools.cache
def shift_patterns(radius: int) -> np.ndarray:
    """Per-edge operation shifts of every neighbourhood member, ``int32[M, 6]``.

    Member ``m`` of the neighbourhood of ``a`` is ``(a + shift[m]) % 5``; a shift of 0 leaves the
    edge unchanged. Row 0 is all zeros (``a`` itself); then members by distance, and within one
    distance edge-subsets in lexicographic order with the last edge's shift varying fastest, so
    that the distance-1 rows are in the order of :func:`jaxnas.spaces.nb201.neighbours`.
    """
    r = check_radius(radius)
    rows = [np.zeros(space.NUM_EDGES, np.int32)]
    for j in range(1, r + 1):
        for edges in itertools.combinations(range(space.NUM_EDGES), j):
            for shifts in itertools.product(range(1, space.NUM_OPS), repeat=j):
                row = np.zeros(space.NUM_EDGES, np.int32)
                row[list(edges)] = shifts
                rows.append(row)
    out = np.stack(rows)
    out.setflags(write=False)
    return out


def neighbourhood_codes(code: jax.Array, radius: int = 1) -> jax.Array:
    """Codes of the neighbourhood of ``code`` within ``radius`` (``[...] -> [..., M]``).

    Entry 0 is ``code`` itself. Jit-able; ``radius`` is static.
    """
    shifts = shift_patterns(radius)
    code = jnp.asarray(code, jnp.int32)
    op = (code[..., None, None] // _POW5) % space.NUM_OPS  # [..., 1, 6]
    new = (op + shifts) % space.NUM_OPS  # [..., M, 6]
    return code[..., None] + jnp.sum((new - op) * _POW5, axis=-1)


def sample_neighbourhood(key: jax.Array, code: jax.Array, radius: int = 1,
                         k: int | None = None) -> jax.Array:
    """``code`` plus ``k`` distinct neighbours within ``radius``, uniformly without replacement.

    Args:
        key: consumed to draw the sample (unused when ``k`` is None).
        code: one architecture code, ``int32[]``.
        radius: neighbourhood radius (static).
        k: neighbours to draw (static); ``None`` returns the whole neighbourhood.

    Returns:
        ``int32[k + 1]`` codes (``[M]`` when ``k`` is None); entry 0 is ``code``.
    """
    return _keep_first_and_sample(key, neighbourhood_codes(code, radius), check_k(k, radius))


def _keep_first_and_sample(key: jax.Array, members: jax.Array, k: int | None) -> jax.Array:
    """Row 0 of ``members`` (the centre) plus ``k`` of the other rows, uniformly without
    replacement; all rows when ``k`` is None. Consumes ``key``."""
    if k is None:
        return members
    pick = jax.random.choice(key, members.shape[0] - 1, (k,), replace=False) + 1
    return jnp.concatenate([members[:1], members[pick]])


def aggregate(values: jax.Array, aggregation: str = "mean", axis: int = -1) -> jax.Array:
    """Aggregates neighbourhood values along ``axis`` (``[..., M] -> [...]``)."""
    check_aggregation(aggregation)
    if aggregation == "mean":
        return jnp.mean(values, axis=axis)
    if aggregation == "median":
        return jnp.median(values, axis=axis)
    if aggregation == "min":
        return jnp.min(values, axis=axis)
    return jnp.max(values, axis=axis)


def score(values: jax.Array | Callable[[jax.Array], jax.Array], code: jax.Array,
          radius: int = 1, aggregation: str = "mean", k: int | None = None,
          key: jax.Array | None = None) -> jax.Array:
    """Neighbourhood-aware score of one architecture (vmap it over architectures).

    Args:
        values: a table ``[N]`` in code order (e.g. validation accuracy), or a function mapping
            codes of any shape to values (e.g. :meth:`jaxnas.search.base.Landscape.valid`).
        code: one architecture code, ``int32[]``.
        radius: neighbourhood radius (static), ``0`` gives the plain value.
        aggregation: one of :data:`AGGREGATIONS` (static).
        k: aggregate over the architecture and ``k`` sampled neighbours instead of all of them.
        key: needed when ``k`` is given; consumed by the sample.

    Returns:
        The aggregated value, ``float32[]``.
    """
    check_aggregation(aggregation)
    if k is not None and key is None:
        raise ValueError(f"k={k} samples neighbours and needs a PRNG key; pass key=...")
    codes = sample_neighbourhood(key, code, radius, k)
    vals = values(codes) if callable(values) else jnp.asarray(values)[codes]
    return aggregate(vals, aggregation)


def score_all(values: jax.Array, radius: int = 1, aggregation: str = "mean",
              chunk_elems: int = 1 << 22) -> jax.Array:
    """Exact neighbourhood-aware score of every architecture of the space, ``[N] -> [N]``.

    One call, jit-able (``radius`` and ``aggregation`` static). Architectures are processed in
    chunks so that at most about ``chunk_elems`` values are gathered at once (radius 6 gathers
    the whole space for every architecture).
    """
    values = jnp.asarray(values)
    if values.shape != (space.NUM_ARCHS,):
        raise ValueError(
            f"values must be a table over all {space.NUM_ARCHS} NB201 architectures in code "
            f"order, got shape {values.shape}"
        )
    check_aggregation(aggregation)
    m = neighbourhood_size(radius)
    codes = jnp.arange(space.NUM_ARCHS, dtype=jnp.int32)
    batch = max(1, min(space.NUM_ARCHS, chunk_elems // m))
    return jax.lax.map(lambda c: aggregate(values[neighbourhood_codes(c, radius)], aggregation),
                       codes, batch_size=batch)


def neighbour_stats(values: jax.Array, code: jax.Array, radius: int = 1
                    ) -> tuple[jax.Array, jax.Array]:
    """Flatness of one architecture: mean and standard deviation of its neighbours' values.

    The architecture itself is excluded (its ``M - 1`` neighbours within ``radius``). Used to
    report how flat the returned architectures are, e.g. with ``values = bench.test``.

    Returns:
        ``(mean, std)``, both ``float32[]`` (population std, ``ddof=0``).
    """
    if check_radius(radius) == 0:
        raise ValueError("radius 0 has no neighbours; use radius >= 1 for neighbour statistics")
    vals = jnp.asarray(values)[neighbourhood_codes(code, radius)[..., 1:]]
    return jnp.mean(vals, axis=-1), jnp.std(vals, axis=-1)


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


# --------------------------------------------------------------------------------------------
# Differentiable neighbourhood of a continuous architecture (NA-DARTS).
# --------------------------------------------------------------------------------------------


def op_weight_neighbours(weights: jax.Array, radius: int = 1) -> jax.Array:
    """The neighbourhood of a continuous architecture as swapped operation weights.

    Member ``m`` (same order as :func:`neighbourhood_codes` of the argmax architecture): on
    every edge ``e`` with ``shift[m, e] != 0``, the weights of the current operation
    ``o* = argmax weights[e]`` and of ``(o* + shift[m, e]) % 5`` are swapped. At a one-hot
    ``weights`` these are the one-hot encodings of the discrete neighbours.

    Args:
        weights: per-edge operation weights, ``[6, 5]`` (e.g. ``softmax(alpha, -1)``).
        radius: neighbourhood radius (static).

    Returns:
        ``[M, 6, 5]``; differentiable in ``weights`` (each output entry is one input entry).
    """
    weights = jnp.asarray(weights)
    if weights.shape != (space.NUM_EDGES, space.NUM_OPS):
        raise ValueError(
            f"operation weights must have shape [{space.NUM_EDGES}, {space.NUM_OPS}] "
            f"(edges, operations), got {weights.shape}"
        )
    shifts = jnp.asarray(shift_patterns(radius))  # [M, 6]
    top = jnp.argmax(jax.lax.stop_gradient(weights), axis=-1)  # [6]
    target = (top + shifts) % space.NUM_OPS  # [M, 6]
    j = jnp.arange(space.NUM_OPS)
    # source index of every output entry: the swap (top <-> target) as a permutation
    src = jnp.where(j == top[:, None], target[..., None],
                    jnp.where(j == target[..., None], top[:, None], j))  # [M, 6, 5]
    return jnp.take_along_axis(jnp.broadcast_to(weights, src.shape), src, axis=-1)


def sample_op_weight_neighbours(key: jax.Array, weights: jax.Array, radius: int = 1,
                                k: int | None = None) -> jax.Array:
    """``weights`` plus ``k`` uniformly sampled swapped neighbours, ``[k + 1, 6, 5]``.

    Row 0 is ``weights`` itself. ``k=None`` returns all ``M`` members. Consumes ``key``.
    """
    return _keep_first_and_sample(key, op_weight_neighbours(weights, radius), check_k(k, radius))


def neighbourhood_loss(loss_fn: Callable[[jax.Array], jax.Array], weights: jax.Array,
                       radius: int = 1, aggregation: str = "mean", k: int | None = None,
                       key: jax.Array | None = None, batch_size: int | None = None
                       ) -> tuple[jax.Array, jax.Array]:
    """The NA-DARTS objective: ``loss_fn`` aggregated over the neighbourhood of ``weights``.

    Args:
        loss_fn: maps operation weights ``[6, 5]`` to a scalar loss (e.g. the supernet's
            validation loss ``lambda w: xent(apply(variables, images, w), labels)``).
        weights: the continuous architecture, ``[6, 5]``.
        radius, aggregation: as in :func:`score` (aggregation of *losses*: use ``mean``, or
            ``max`` for the worst neighbour).
        k: aggregate over the architecture and ``k`` sampled neighbours (as the tabular
            :func:`score` does); ``None``: all ``M`` members.
        key: needed when ``k`` is given; consumed.
        batch_size: neighbours evaluated at once (``lax.map`` batch); default all at once
            (``vmap``), which multiplies activation memory by the neighbourhood size.

    Returns:
        ``(loss, per_member)``: the aggregated scalar and the ``[M]`` (or ``[k + 1]``) losses.
    """
    check_aggregation(aggregation)
    if k is not None and key is None:
        raise ValueError(f"k={k} samples neighbours and needs a PRNG key; pass key=...")
    members = sample_op_weight_neighbours(key, weights, radius, k)
    if batch_size is None:
        losses = jax.vmap(loss_fn)(members)
    else:
        losses = jax.lax.map(loss_fn, members, batch_size=batch_size)
    return aggregate(losses, aggregation), losses
