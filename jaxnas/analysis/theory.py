"""Theory of local search on a neighbourhood graph (White, Nolen & Savani 2020, Section 5).

"Exploring the Loss Landscape in Neural Architecture Search" characterises best-improvement
local search on a graph of ``n`` architectures with ``s`` neighbours each by two densities of the
*loss* (lower is better):

* ``pdf_n(x)``: the loss of a uniformly random architecture;
* ``pdf_e(x, y)``: the loss ``y`` of a neighbour of an architecture whose loss is ``x``.

The analysis assumes that, given an architecture's loss, its neighbours' losses are independent
draws from ``pdf_e`` (the graph looks like a tree around every node, and the landscape is a Markov
chain along it). This module evaluates the results numerically on a grid, in JAX.

**Theorem 5.1** (local minima)::

    E[#local minima] = n * int pdf_n(x) S(x)^s dx,   S(x) = int_x^inf pdf_e(x, y) dy.

For i.i.d. losses (``pdf_e(x, y) = pdf_n(y)``) ``S = 1 - F_n`` and the integral is exactly
``n / (s + 1)`` (a node is a local minimum iff it is the best of its closed neighbourhood of
``s + 1`` exchangeable values): 15,625 / 25 = 625 on NAS-Bench-201. The slides' "|search space| /
|neighbours| = 15,625 / 24 = 651" is the large-``s`` approximation ``n / s`` of the same count.

**Lemma 5.2** (preimages). ``LS^{-k}(v)``: the architectures whose local search reaches ``v``
after *exactly* ``k`` improving moves (our reading; ``LS^{-0}(v) = {v}`` and the basin is
``LS^{-*}(v) = union_k LS^{-k}(v)``). With ``G(y; x) = int_x^inf pdf_e(y, z) dz``, the chance that
a neighbour with loss ``y`` has no other neighbour better than ``x``::

    E|LS^{-1}(v)| = s * int_{l(v)}^inf pdf_e(l(v), y) G(y; l(v))^(s-1) dy        (as in the paper)
    E|LS^{-k}(v)| = s * R_k(l(v)),
    R_1(x) = int_x^inf pdf_e(x, y) G(y; x)^(s-1) dy,
    R_k(x) = (s - 1) int_x^inf pdf_e(x, y) G(y; x)^(s-2) R_{k-1}(y) dy.

This is the exact recursion of the tree model: a member ``w`` (loss ``y``) of ``LS^{-1}(v)`` has
``s - 1`` further neighbours, each conditioned on being worse than ``l(v)`` (``w``'s best move is
``v``), so its own preimage is an expectation over ``pdf_e(y, .) / G(y; l(v))``. The slides write
the step as ``b_{k-1} * E|LS^{-1}(v)| * (int pdf_e(l(v), y) E|LS^{-(k-1)}(y)| dy / int pdf_e(l(v), y)
dy)`` (integrals over ``y > l(v)``): the expected number of children times the average
``(k-1)``-preimage of a child, i.e. again "exactly ``k`` steps" (a "within ``k``" count would
need a ``+1`` for the children themselves). With ``b_{k-1} = 1`` that weights a child's loss by
``pdf_e`` alone instead of ``pdf_e * G^(s-1)`` and gives it ``s`` instead of ``s - 1``
unconditioned neighbours; ``b_{k-1}`` is the correction factor that makes the two agree.
:func:`preimage_sizes` computes both (``method='tree'`` / ``'slides'``), and their ratio is the
implied ``b_{k-1}(x)``.

The theorem's second part counts architectures whose search ends within ``eps`` of the global
minimum ``l*``::

    E[#{v: l(LS*(v)) - l* <= eps}] = n * int_{l*}^{l*+eps} pdf_n(x) S(x)^s B(x) dx

where ``B(x)`` is the expected basin size of a local minimum with loss ``x``. The slides write
``E|LS^{-*}(x)|``; we use the basin *given that* ``v`` is a local minimum (all ``s`` neighbours
worse than ``x``), ``B(x) = 1 + (s / S(x)) * sum_k R_k(x)``, because the unconditional preimage
double-counts the factor ``S(x)^s``. With this choice the basins of all local minima add up to
``n`` for any reversible model (``pdf_n(x) pdf_e(x, y)`` symmetric) -- a check the tests use.

**Discretisation.** Losses live on a uniform grid of ``G`` cells (midpoints ``x_i``, width
``h``). ``pdf_e`` becomes a row-stochastic matrix ``P[i, j] = pdf_e(x_i, x_j) h``. Strict
inequalities between two values in the same cell count half of that cell's mass (the midpoint
rule for a continuous density), which gives second-order convergence in ``h``. Everything is a
fixed-shape array program: jit-able, and vmappable over models.

This module is the maths only: a landscape is its losses and a neighbour table. Theory next to
the exact measurement on a benchmark, or on simulated landscapes, is driven from
:mod:`jaxnas.reports.theory`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

# --------------------------------------------------------------------------------------------
# Grids and models.
# --------------------------------------------------------------------------------------------


class Grid(NamedTuple):
    """A uniform grid of ``G`` cells on ``[lo, hi]``.

    Attributes:
        x: cell midpoints.  # [G]
        h: cell width (a Python float, static).
    """

    x: jax.Array  # [G]
    h: float


def make_grid(lo: float, hi: float, num: int = 256) -> Grid:
    """A grid of ``num`` equal cells covering ``[lo, hi]``.

    Raises:
        ValueError: if ``hi <= lo`` or ``num < 8``.
    """
    if not hi > lo:
        raise ValueError(f"grid needs lo < hi, got lo={lo!r}, hi={hi!r}")
    if int(num) < 8:
        raise ValueError(f"grid needs at least 8 cells for a useful quadrature, got num={num!r}")
    h = (float(hi) - float(lo)) / int(num)
    return Grid(jnp.asarray(lo + h * (np.arange(num) + 0.5), jnp.float32), h)


def normal_grid(n: int | None = None, num: int = 256, width: float | None = None) -> Grid:
    """The grid for normal-score losses, ``[-width, width]``.

    The default width is the range of the normal scores of ``n`` architectures plus a quarter
    standard deviation, ``Phi^{-1}(1 - 1/(2n)) + 0.25``: a finite space cannot search below its
    best architecture, and a Gaussian model left untruncated would let smooth landscapes descend
    forever on the infinite tree the theorem assumes (see :func:`from_joint`). Without ``n`` the
    width is 5 (``n`` about 3.5 million).
    """
    if width is None:
        width = 5.0 if n is None else float(-ndtri(0.5 / float(n))) + 0.25
    return make_grid(-width, width, num)


def tabulate(pdf_n, pdf_e, grid: Grid) -> tuple[jax.Array, jax.Array]:
    """Tabulates density functions on a grid, truncated to it reversibly.

    The joint density of a random edge, ``pdf_n(x) pdf_e(x, y)``, is evaluated on the grid's
    square and re-conditioned (:func:`from_joint`); for a reversible model this keeps the joint
    symmetric, so the truncated model is again a valid landscape model.

    Args:
        pdf_n: ``f(x) -> density`` of a random architecture's loss, vectorised over ``x``.
        pdf_e: ``f(x, y) -> density`` of a neighbour's loss ``y`` given loss ``x``, broadcasting.
        grid: the quadrature grid.

    Returns:
        ``(pn, pe)``: ``sum(pn) * h == 1`` and likewise every row of ``pe``.  # [G], [G, G]
    """
    x = grid.x
    pn = jnp.asarray(pdf_n(x), jnp.float32)
    pe = jnp.asarray(pdf_e(x[:, None], x[None, :]), jnp.float32)
    pe = pe / (jnp.sum(pe, axis=1, keepdims=True) * grid.h)  # normalise each row on the grid
    return from_joint(pn[:, None] * pe, grid.h)


def from_joint(joint: jax.Array, h: float) -> tuple[jax.Array, jax.Array]:
    """``(pdf_n, pdf_e)`` from an (unnormalised) joint density of ``(l(v), l(u))`` on edges.

    ``pdf_n`` is the marginal and ``pdf_e`` the conditional. Rows whose marginal underflows fall
    back to ``pdf_n`` (they carry no weight in the theorem).  # [G, G] -> [G], [G, G]
    """
    marg = jnp.sum(joint, axis=1)
    pn = marg / (jnp.sum(marg) * h)
    ok = marg > 1e-12 * jnp.max(marg)
    pe = jnp.where(ok[:, None], joint / jnp.where(ok, marg, 1.0)[:, None], pn[None, :])
    return normalise(pn, pe, h)


def normalise(pn: jax.Array, pe: jax.Array, h: float) -> tuple[jax.Array, jax.Array]:
    """Rescales ``pn`` and every row of ``pe`` to integrate to one on the grid."""
    pn = pn / (jnp.sum(pn) * h)
    pe = pe / (jnp.sum(pe, axis=1, keepdims=True) * h)
    return pn, pe


def gaussian_model(rho: float | jax.Array, grid: Grid) -> tuple[jax.Array, jax.Array]:
    """The Gaussian neighbour model: ``pdf_n = N(0, 1)``, ``pdf_e(x, .) = N(rho x, 1 - rho^2)``.

    It is the Gaussian copula with neighbour correlation ``rho``: ``rho = 0`` is the i.i.d.
    landscape, ``rho -> 1`` a smooth one (spread ``sqrt(1 - rho^2)`` of a neighbour around its
    parent). Local search and the counts of the theorem depend only on the ranks of the losses,
    so any continuous ``pdf_n`` with the same copula gives the same predictions. Truncated to
    the grid as in :func:`tabulate`. Jit-able in ``rho`` (``0 <= rho < 1``).

    Returns:
        ``(pn, pe)`` normalised on ``grid``.  # [G], [G, G]
    """
    rho = jnp.asarray(rho, jnp.float32)
    sd = jnp.sqrt(1.0 - rho**2)

    def pdf_n(x):
        return jnp.exp(-0.5 * x**2)

    def pdf_e(x, y):
        return jnp.exp(-0.5 * ((y - rho * x) / sd) ** 2)

    return tabulate(pdf_n, pdf_e, grid)


def iid_model(grid: Grid) -> tuple[jax.Array, jax.Array]:
    """i.i.d. losses: ``pdf_e(x, y) = pdf_n(y)`` with ``pdf_n = N(0, 1)``."""
    return gaussian_model(0.0, grid)


# --------------------------------------------------------------------------------------------
# Theorem 5.1 and Lemma 5.2 on the grid.
# --------------------------------------------------------------------------------------------


def _tail(pe: jax.Array, h: float) -> jax.Array:
    """``T[j, i] = P(neighbour of a loss-x_j node has loss > x_i)``, half of the own cell.  # [G, G]"""
    p = pe * h
    above = jnp.flip(jnp.cumsum(jnp.flip(p, axis=1), axis=1), axis=1)  # sum_{k >= i} p[j, k]
    return jnp.clip(above - 0.5 * p, 0.0, 1.0)


def _upper_weights(g: int) -> jax.Array:
    """``W[i, j]`` = 1 for ``j > i``, 1/2 for ``j == i``, 0 below: the region ``y > x``.  # [G, G]"""
    i = jnp.arange(g)
    return jnp.where(i[None, :] > i[:, None], 1.0, jnp.where(i[None, :] == i[:, None], 0.5, 0.0))


def local_min_prob(pe: jax.Array, h: float, s: int) -> jax.Array:
    """``S(x)^s``: probability that an architecture with loss ``x`` is a local minimum.  # [G]"""
    return jnp.diagonal(_tail(pe, h)) ** s


def expected_local_minima(pn: jax.Array, pe: jax.Array, h: float, n: int | float, s: int) -> jax.Array:
    """Theorem 5.1, first part: ``n * int pdf_n(x) S(x)^s dx`` (a scalar, jit-able).

    Args:
        pn: ``pdf_n`` on the grid.  # [G]
        pe: ``pdf_e`` on the grid, row = the architecture's loss.  # [G, G]
        h: cell width.
        n: number of architectures.
        s: neighbours per architecture (static).
    """
    return _expected_local_minima(pn, local_min_prob(pe, h, s), h, n)


def _expected_local_minima(pn: jax.Array, lm: jax.Array, h: float, n: int | float) -> jax.Array:
    return n * jnp.sum(pn * lm) * h


def _child_operators(pe: jax.Array, h: float, s: int) -> tuple[jax.Array, jax.Array]:
    """``(R_1, M)`` of the tree recursion ``R_k = M R_{k-1}``.  # [G], [G, G]"""
    t = _tail(pe, h)  # t[j, i] = G(x_j; x_i)
    tt = t.T  # tt[i, j] = G(x_j; x_i)
    wp = _upper_weights(pe.shape[0]) * pe * h  # mass of a neighbour y_j > x_i
    r1 = jnp.sum(wp * tt ** (s - 1), axis=1)
    m = (s - 1) * wp * tt ** (s - 2)
    return r1, m


def preimage_sizes(pe: jax.Array, h: float, s: int, depth: int, method: str = "tree") -> jax.Array:
    """Lemma 5.2: ``E|LS^{-k}(v)|`` for ``k = 1..depth`` as functions of ``l(v)``.

    Args:
        pe: ``pdf_e`` on the grid.  # [G, G]
        h: cell width.
        s: neighbours per architecture (static).
        depth: number of steps ``k`` (static).
        method: ``'tree'`` (exact recursion of the tree model, module docstring) or ``'slides'``
            (the slides' recursion with ``b_{k-1} = 1``).

    Returns:
        ``E|LS^{-k}(v)|`` given ``l(v) = x_i``, not conditioned on ``v`` being a local minimum.
        # [depth, G]

    Raises:
        ValueError: unknown ``method`` or ``depth < 1``.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth!r}")
    r1, m = _child_operators(pe, h, s)
    if method == "tree":
        def step(r, _):
            return m @ r, r
        _, rs = jax.lax.scan(step, r1, None, length=depth)
        return s * rs
    if method == "slides":
        p1 = s * r1
        wp = _upper_weights(pe.shape[0]) * pe * h
        avg = wp / jnp.maximum(jnp.sum(wp, axis=1, keepdims=True), 1e-30)

        def step_s(p, _):
            return p1 * (avg @ p), p
        _, ps = jax.lax.scan(step_s, p1, None, length=depth)
        return ps
    raise ValueError(f"unknown preimage method {method!r}; choose 'tree' or 'slides'")


class Basins(NamedTuple):
    """Expected basin size of a local minimum as a function of its loss."""

    basin: jax.Array  # [G] B(x) = E|LS^{-*}(v)| given l(v) = x and v a local minimum
    depth: jax.Array  # [] recursion depth used until the last term fell below tol
    last_term: jax.Array  # [] max_x of the last term added (convergence diagnostic)


def basin_sizes(pe: jax.Array, h: float, s: int, tol: float = 1e-6, max_depth: int = 2000) -> Basins:
    """``B(x) = 1 + (s / S(x)) sum_{k>=1} R_k(x)``, the recursion run until it converges.

    The depth-``k`` term shrinks geometrically once ``k`` exceeds the typical length of a local
    search run; the loop stops when its largest relative contribution is below ``tol`` or after
    ``max_depth`` steps (check ``last_term``). Jit-able (``s``, ``max_depth`` static).
    """
    r1, m = _child_operators(pe, h, s)

    def cond(c):
        k, r, acc = c
        return (k < max_depth) & (jnp.max(r / jnp.maximum(acc, 1e-30)) > tol)

    def body(c):
        k, r, acc = c
        r = m @ r
        return k + 1, r, acc + r

    k, r, acc = jax.lax.while_loop(cond, body, (jnp.asarray(1), r1, r1))
    sx = jnp.diagonal(_tail(pe, h))
    basin = 1.0 + s * acc / jnp.maximum(sx, 1e-30)
    return Basins(basin, k, jnp.max(r))


class Prediction(NamedTuple):
    """Theory's predictions for one model (all jit-friendly arrays)."""

    local_minima: jax.Array  # [] E[#local minima]
    density: jax.Array  # [G] pdf_n(x) S(x)^s B(x): where (per unit loss) searches end
    basin: jax.Array  # [G] B(x)
    local_min_prob: jax.Array  # [G] S(x)^s
    depth: jax.Array  # [] recursion depth used for B


def predict(pn: jax.Array, pe: jax.Array, h: float, n: int | float, s: int, tol: float = 1e-6) -> Prediction:
    """Theorem 5.1 on a grid: expected local minima and where local search ends."""
    b = basin_sizes(pe, h, s, tol)
    lm = local_min_prob(pe, h, s)
    return Prediction(_expected_local_minima(pn, lm, h, n), pn * lm * b.basin, b.basin, lm,
                      b.depth)


def frac_ending_below(pred: Prediction, grid: Grid, threshold: jax.Array) -> jax.Array:
    """Theorem 5.1, second part, divided by ``n``: the fraction of starts whose search ends at a
    loss ``<= threshold``, i.e. ``int_{-inf}^{threshold} pdf_n S^s B dx``.

    Use ``threshold = l* + eps`` for "within ``eps`` of the global minimum" (the model puts
    almost no mass below the global minimum ``l*``). Cells are cut at the threshold, so the
    result is continuous in it. Vectorised over ``threshold`` (any shape).
    """
    lo = grid.x - 0.5 * grid.h
    thr = jnp.asarray(threshold, jnp.float32)[..., None]
    overlap = jnp.clip((thr - lo) / grid.h, 0.0, 1.0)  # [..., G]
    return jnp.sum(pred.density * overlap, axis=-1) * grid.h


# --------------------------------------------------------------------------------------------
# Estimating the densities from a landscape.
# --------------------------------------------------------------------------------------------


def normal_scores(values: jax.Array) -> jax.Array:
    """Rank-based normal scores ``Phi^{-1}((rank + 1/2) / n)`` (ties broken by position).

    Local search depends only on the ranks of the losses, so the theory can be evaluated in this
    coordinate, where ``pdf_n`` is exactly ``N(0, 1)`` and the grid resolves the best
    architectures as well as the bulk. Jit-able.  # [N] -> [N]
    """
    values = jnp.asarray(values)
    n = values.shape[0]
    rank = jnp.argsort(jnp.argsort(values, stable=True), stable=True)
    return ndtri((rank.astype(jnp.float32) + 0.5) / n)


def threshold_score(values: jax.Array, threshold: jax.Array) -> jax.Array:
    """The normal-score coordinate of a raw loss threshold: ``Phi^{-1}(#{values <= thr} / n)``."""
    values = jnp.asarray(values)
    q = jnp.mean(values <= jnp.asarray(threshold)[..., None], axis=-1)
    return ndtri(q)


def scott_bandwidth(num_points: int, dim: int = 1, sd: float = 1.0) -> float:
    """Scott's rule ``sd * num_points^(-1/(dim + 4))``."""
    return float(sd) * float(num_points) ** (-1.0 / (dim + 4))


def _kernel_matrix(grid: Grid, bandwidth: float) -> jax.Array:
    """Gaussian smoothing from cell ``a`` to cell ``i``, mass-preserving per source.  # [G, G]"""
    d = (grid.x[:, None] - grid.x[None, :]) / bandwidth
    k = jnp.exp(-0.5 * d**2)
    return k / jnp.sum(k, axis=0, keepdims=True)


def _bin(values: jax.Array, grid: Grid) -> jax.Array:
    lo = grid.x[0] - 0.5 * grid.h
    g = grid.x.shape[0]
    return jnp.clip(jnp.floor((values - lo) / grid.h).astype(jnp.int32), 0, g - 1)


def estimate_pdf_n(samples: jax.Array, grid: Grid, bandwidth: float | None = None) -> jax.Array:
    """Kernel density estimate of ``pdf_n`` from the losses of architectures.

    Args:
        samples: losses.  # [N]
        grid: evaluation grid; it should cover the samples (those outside are clamped to the
            edge cells).
        bandwidth: Gaussian kernel width; default Scott's rule with the samples' std.

    Returns:
        Density on the grid; sums to one times ``h`` (mass smoothed past the ends is put back
        by renormalising).  # [G]
    """
    samples = jnp.asarray(samples, jnp.float32)
    if bandwidth is None:
        bandwidth = scott_bandwidth(samples.shape[0], 1, float(jnp.std(samples)))
    hist = jnp.zeros(grid.x.shape[0]).at[_bin(samples, grid)].add(1.0)
    dens = _kernel_matrix(grid, bandwidth) @ hist
    return dens / (jnp.sum(dens) * grid.h)


def estimate_densities(
    values: jax.Array, nbr: jax.Array, grid: Grid, bandwidth: float | None = None
) -> tuple[jax.Array, jax.Array]:
    """``pdf_n`` and ``pdf_e`` estimated from the losses of all neighbour pairs of a landscape.

    The joint density of ``(l(v), l(u))`` over all ordered neighbour pairs (every edge both ways,
    so it is symmetric) is a binned Gaussian kernel estimate; ``pdf_e(x, .)`` is its
    conditional ``joint(x, .) / marginal(x)`` and ``pdf_n`` its marginal (on a regular graph
    the first element of a random pair is a uniformly random architecture). Rows where the
    marginal underflows fall back to ``pdf_n`` (they carry no weight in the theorem).

    Args:
        values: loss of every architecture.  # [N]
        nbr: neighbour table.  # [N, S]
        grid: evaluation grid covering the losses.
        bandwidth: kernel width in loss units; default Scott's rule in two dimensions with the
            losses' std and the number of pairs.

    Returns:
        ``(pn, pe)`` normalised on the grid.  # [G], [G, G]
    """
    values = jnp.asarray(values, jnp.float32)
    nbr = jnp.asarray(nbr)
    a = jnp.broadcast_to(values[:, None], nbr.shape).reshape(-1)
    b = values[nbr].reshape(-1)
    if bandwidth is None:
        bandwidth = scott_bandwidth(a.shape[0], 2, float(jnp.std(values)))
    g = grid.x.shape[0]
    hist = jnp.zeros((g, g)).at[_bin(a, grid), _bin(b, grid)].add(1.0)
    k = _kernel_matrix(grid, bandwidth)
    joint = k @ hist @ k.T
    joint = 0.5 * (joint + joint.T)
    return from_joint(joint, grid.h)


def neighbour_correlation(values: jax.Array, nbr: jax.Array) -> jax.Array:
    """Pearson correlation of the losses over all neighbour pairs (a scalar, jit-able)."""
    v = jnp.asarray(values, jnp.float32)
    v = v - jnp.mean(v)
    return jnp.mean(v[:, None] * v[nbr]) / jnp.mean(v**2)


class LandscapeTheory(NamedTuple):
    """Theory evaluated on the densities estimated from one landscape (see
    :func:`predict_landscape`)."""

    grid: Grid
    pdf_n: jax.Array  # [G] in normal scores
    pdf_e: jax.Array  # [G, G] in normal scores
    prediction: Prediction
    local_minima: float  # E[#local minima]
    frac_within_eps: float  # predicted fraction of starts ending within eps of the best
    threshold_score: float  # l* + eps in normal scores
    rho: float  # neighbour correlation of the normal scores


def predict_landscape(
    loss: jax.Array, nbr: jax.Array, eps: float, num: int = 256, bandwidth: float | None = None
) -> LandscapeTheory:
    """Theorem 5.1 for a given landscape, from ``pdf_n`` and ``pdf_e`` estimated on its
    neighbour pairs.

    The losses are mapped to normal scores first (the theorem's counts depend only on ranks);
    ``eps`` is in the losses' own units and becomes the normal score of ``l* + eps``.

    Args:
        loss: loss of every architecture (lower is better).  # [N]
        nbr: neighbour table.  # [N, S]
        eps: tolerance for "ended within eps of the global minimum", in loss units (>= 0).
        num: grid cells.
        bandwidth: kernel width in normal-score units; default Scott's rule on the pairs.

    Raises:
        ValueError: negative ``eps`` or a non-finite loss.
    """
    if not float(eps) >= 0:
        raise ValueError(f"eps must be >= 0 (loss units), got {eps!r}")
    loss = jnp.asarray(loss, jnp.float32)
    if not bool(jnp.all(jnp.isfinite(loss))):
        raise ValueError("the landscape has non-finite losses; drop or impute them first")
    nbr = jnp.asarray(nbr)
    n, s = nbr.shape
    z = normal_scores(loss)
    grid = normal_grid(n, num)
    pn, pe = estimate_densities(z, nbr, grid, bandwidth)
    pred = predict(pn, pe, grid.h, n, s)
    thr = threshold_score(loss, jnp.min(loss) + eps)
    return LandscapeTheory(
        grid, pn, pe, pred, float(pred.local_minima),
        float(frac_ending_below(pred, grid, thr)), float(thr),
        float(neighbour_correlation(z, nbr)),
    )
