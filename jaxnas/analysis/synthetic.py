"""Synthetic loss landscapes on neighbourhood graphs, to test the theory of :mod:`jaxnas.analysis.theory`.

Graphs are neighbour tables ``int32[N, S]``: the graph of an enumerable search space
(:func:`jaxnas.analysis.landscape.neighbour_keys`, e.g. NAS-Bench-201's) or a random
``s``-regular graph (:func:`random_regular_graph`). Landscapes are Gaussian fields on a graph, given as losses
(lower is better) in normal scores, so ``pdf_n`` is ``N(0, 1)`` and ``pdf_e`` is the Gaussian
copula of the field's neighbour correlation ``rho`` (:func:`jaxnas.analysis.theory.gaussian_model`):

* ``iid``: independent ``N(0, 1)`` losses (``rho = 0``), the theory's sanity check;
* ``markov``: the Gaussian Markov random field whose precision is that of a Gaussian Markov
  chain with edge correlation ``rho`` on the ``s``-regular tree,
  ``Q = ((1 + (s - 1) rho^2) I - rho A) / (1 - rho^2)`` (``A`` the adjacency matrix), sampled
  by Lanczos as ``Q^{-1/2} u`` on the complement of the constant vector. On a random regular
  graph, which looks like a tree up to distance ``~log_{s-1} n``, this is the landscape the
  theorem assumes: neighbour correlation ``~rho`` and neighbours of ``v`` (nearly)
  independent given ``l(v)``. On the non-constant vectors the eigenvalues of
  ``(1 - rho^2) Q`` are ``1 + (s - 1) rho^2 - rho lambda`` with ``|lambda| <~ 2 sqrt(s - 1)``
  (Friedman), smallest ``(1 - rho sqrt(s - 1))^2``: ``Q`` becomes singular at the tree's
  Kesten-Stigum point ``rho = 1 / sqrt(s - 1)`` (0.21 for ``s = 24``, 0.58 for ``s = 4``, 1 on
  the ring ``s = 2``). Beyond it the field is dominated by the graph's global modes and its
  neighbour correlation is no longer ``rho`` (measured: ``s = 4, rho = 0.7`` gives 0.48), so
  :func:`simulate` refuses ``rho >= 1 / sqrt(s - 1)``; near it Lanczos converges slowly. With
  ``s = 2`` the random regular graph is a ring and the field the AR(1) chain, for which the
  theorem's assumptions hold exactly (up to the ring closing on itself);
* ``heat``: i.i.d. noise smoothed by ``steps`` rounds of neighbourhood averaging
  ``z <- (z + sum_{u in N(v)} z_u) / (s + 1)``; ``steps`` is the knob from i.i.d. (0) towards
  smooth. The neighbour correlation it reaches is bounded by ``lambda_2 / s`` (the second
  eigenvalue of the adjacency matrix): about ``2 sqrt(s - 1) / s`` on a random ``s``-regular
  graph (0.40 for ``s = 24``) and ``19 / 24 = 0.79`` on NAS-Bench-201.

The fields have the pairwise law the theorem takes as input, but not its independence
assumption: given ``l(v)``, two neighbours of ``v`` are still correlated through the rest of the
graph (shared neighbours, averaging over common nodes), so agreement with theory is an
empirical question (``experiments/RESULTS_theory.md``).

Everything is written for one landscape and vmapped over keys at the edge
(:func:`simulate`). The comparison with theory, with its timing and confidence intervals, is a
driver: :func:`jaxnas.reports.theory.compare_synthetic`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnas.analysis import landscape, theory

MODELS: tuple[str, ...] = ("iid", "markov", "heat")


def check_graph_size(n: int, s: int) -> None:
    """Host-side check of the sizes of a random regular graph; raises ValueError."""
    if int(n) != n or n < 4:
        raise ValueError(f"a random regular graph needs n >= 4 nodes, got n={n!r}")
    if int(s) != s or s < 2 or s >= n:
        raise ValueError(f"degree s must be an integer in [2, n), got s={s!r} with n={n}")
    if s % 2 == 1 and n % 2 == 1:
        raise ValueError(
            f"no {s}-regular graph has an odd number of nodes (n={n}); make n or s even"
        )


def random_regular_graph(key: jax.Array, n: int, s: int) -> jax.Array:
    """A random ``s``-regular multigraph on ``n`` nodes as a neighbour table. Consumes ``key``.

    The union of ``s // 2`` random Hamiltonian cycles (node ``v`` is joined to its successor and
    predecessor on each), plus a random perfect matching when ``s`` is odd. There are no self
    loops; two cycles may share an edge (a repeated neighbour), an expected ``O(s^2)`` times in
    all, which is negligible for large ``n``. ``n`` and ``s`` are static.

    Returns:
        Neighbour table.  # [n, s] int32
    """
    check_graph_size(n, s)
    keys = jax.random.split(key, s // 2 + 1)
    cols = []
    for k in keys[: s // 2]:
        perm = jax.random.permutation(k, n)
        nxt = jnp.empty(n, jnp.int32).at[perm].set(jnp.roll(perm, -1).astype(jnp.int32))
        prv = jnp.empty(n, jnp.int32).at[perm].set(jnp.roll(perm, 1).astype(jnp.int32))
        cols += [nxt, prv]
    if s % 2 == 1:
        perm = jax.random.permutation(keys[-1], n).astype(jnp.int32)
        a, b = perm[0::2], perm[1::2]
        mate = jnp.empty(n, jnp.int32).at[a].set(b).at[b].set(a)
        cols.append(mate)
    return jnp.stack(cols, axis=1)


def heat_field(key: jax.Array, nbr: jax.Array, steps: int) -> jax.Array:
    """i.i.d. ``N(0, 1)`` noise after ``steps`` rounds of neighbourhood averaging, as normal
    scores (losses). ``steps = 0`` is the i.i.d. landscape. Consumes ``key``; ``steps`` static.

    Returns:
        Losses in normal scores.  # [N]
    """
    s = nbr.shape[1]
    z = jax.random.normal(key, (nbr.shape[0],))

    def body(_, z):
        return (z + jnp.sum(z[nbr], axis=1)) / (s + 1)

    z = jax.lax.fori_loop(0, steps, body, z)
    return theory.normal_scores(z)


def markov_field(key: jax.Array, nbr: jax.Array, rho: float | jax.Array, iters: int = 64) -> jax.Array:
    """A Gaussian Markov random field with tree-Markov precision (module docstring), as normal
    scores. Consumes ``key``; ``iters`` (Lanczos steps, static) trades accuracy for time.

    Args:
        key: PRNG key.
        nbr: neighbour table.  # [N, S]
        rho: edge correlation on the tree, ``0 <= rho < 1 / sqrt(S - 1)`` (traced).
        iters: Lanczos steps; the error of ``Q^{-1/2} u`` falls like
            ``exp(-2 iters / sqrt(cond(Q)))``.

    Returns:
        Losses in normal scores.  # [N]
    """
    n, s = nbr.shape
    rho = jnp.asarray(rho, jnp.float32)
    diag = 1.0 + (s - 1) * rho**2

    def matvec(x):  # (1 - rho^2) Q x, projected off the constant vector
        y = diag * x - rho * jnp.sum(x[nbr], axis=1)
        return y - jnp.mean(y)

    u = jax.random.normal(key, (n,))
    u = u - jnp.mean(u)
    beta0 = jnp.linalg.norm(u)
    v0 = u / beta0
    basis = jnp.zeros((iters, n)).at[0].set(v0)

    def body(j, c):
        basis, alpha, beta = c
        v = basis[j]
        w = matvec(v)
        a = jnp.dot(w, v)
        w = w - basis.T @ (basis @ w)  # full reorthogonalisation (rows > j are still zero)
        w = w - basis.T @ (basis @ w)
        b = jnp.linalg.norm(w)
        nxt = jnp.where(j + 1 < iters, j + 1, j)
        basis = jnp.where(j + 1 < iters, basis.at[nxt].set(w / jnp.maximum(b, 1e-30)), basis)
        return basis, alpha.at[j].set(a), beta.at[j].set(b)

    basis, alpha, beta = jax.lax.fori_loop(
        0, iters, body, (basis, jnp.zeros(iters), jnp.zeros(iters))
    )
    t = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
    evals, evecs = jnp.linalg.eigh(t)
    f_e1 = evecs @ (evecs[0] / jnp.sqrt(jnp.maximum(evals, 1e-12)))  # T^{-1/2} e_1
    z = beta0 * (basis.T @ f_e1)
    return theory.normal_scores(z)


def max_markov_rho(s: int) -> float:
    """The Kesten-Stigum point ``1 / sqrt(s - 1)`` above which the ``markov`` field on a random
    ``s``-regular graph stops being the tree-Markov chain (module docstring)."""
    return 1.0 if s <= 2 else float(1.0 / (s - 1) ** 0.5)


def check_markov_rho(model: str, rho: float, s: int) -> None:
    """Raises ValueError when ``model == 'markov'`` and ``rho >= max_markov_rho(s)``."""
    if model == "markov" and not float(rho) < max_markov_rho(s):
        raise ValueError(
            f"markov field needs rho < 1/sqrt(s-1) = {max_markov_rho(s):.3f} for s={s}, got "
            f"rho={rho!r}; use a smaller rho, a smaller degree (s=2 is a ring, valid for any "
            "rho < 1), or the 'heat' model"
        )


class Measured(NamedTuple):
    """Exact local-search statistics of one landscape (losses, lower is better)."""

    local_minima: jax.Array  # [] number of local minima
    frac_within_eps: jax.Array  # [] starts whose search ends within eps of the global minimum
    rho: jax.Array  # [] neighbour correlation of the losses
    mean_moves: jax.Array  # [] mean number of improving moves


def measure(loss: jax.Array, nbr: jax.Array, eps: float | jax.Array) -> Measured:
    """Best-improvement local search from every node of one landscape (jit-able, vmappable).

    Args:
        loss: loss of every node.  # [N]
        nbr: neighbour table.  # [N, S]
        eps: tolerance, in loss units, for "ended within eps of the global minimum".
    """
    st = landscape.all_starts(-loss, nbr)
    num = jnp.sum(st.is_local_opt)
    best = jnp.min(loss)
    thr = best + eps
    end = loss[st.terminal]
    return Measured(
        local_minima=num,
        frac_within_eps=jnp.mean(end <= thr),
        rho=theory.neighbour_correlation(loss, nbr),
        mean_moves=jnp.mean(st.moves.astype(jnp.float32)),
    )


measure_jit = jax.jit(measure)


def landscape_fn(model: str, steps: int = 0, rho: float = 0.0):
    """``f(key, nbr) -> losses [N]`` for a named model (:data:`MODELS`).

    Args:
        model: ``'iid'``, ``'markov'`` (uses ``rho``) or ``'heat'`` (uses ``steps``).
        steps: smoothing rounds of ``heat``.
        rho: edge correlation of ``markov``.

    Raises:
        ValueError: unknown model, negative steps, or ``rho`` outside ``[0, 1)``.
    """
    check_model(model, steps, rho)
    return lambda key, nbr: _field(model, key, nbr, rho, int(steps))


def _field(model: str, key: jax.Array, nbr: jax.Array, rho, steps: int) -> jax.Array:
    """Losses ``[N]`` of a (validated) model; ``rho`` may be traced."""
    if model == "markov":
        return markov_field(key, nbr, rho)
    return heat_field(key, nbr, 0 if model == "iid" else steps)


def check_model(model: str, steps: int = 0, rho: float = 0.0) -> None:
    """Raises ``ValueError`` for an unknown model, negative or fractional ``steps`` (``heat``), or
    ``rho`` outside ``[0, 1)``."""
    if model not in MODELS:
        raise ValueError(f"unknown synthetic model {model!r}; choose one of {MODELS}")
    if not 0.0 <= float(rho) < 1.0:
        raise ValueError(f"rho must be in [0, 1), got {rho!r}")
    if model != "markov" and (int(steps) != steps or steps < 0):
        raise ValueError(f"smoothing steps must be a non-negative integer, got {steps!r}")


@functools.partial(jax.jit, static_argnames=("model", "n", "s", "steps"))
def _simulate(keys: jax.Array, nbr: jax.Array | None, rho: jax.Array, eps: jax.Array, *,
              model: str, n: int | None, s: int | None, steps: int) -> tuple[Measured, jax.Array]:
    """One compiled program per (model, graph size, steps): ``rho`` and ``eps`` are traced, so
    a sweep over them does not recompile."""

    def one(k):
        if nbr is None:
            kg, kf = jax.random.split(k)
            g = random_regular_graph(kg, n, s)
            loss = _field(model, kf, g, rho, steps)
        else:
            g, loss = nbr, _field(model, k, nbr, rho, steps)
        return measure(loss, g, eps), loss

    meas, losses = jax.vmap(one)(keys)
    return meas, losses[0]


def simulate(
    key: jax.Array,
    model: str,
    num_seeds: int,
    eps: float,
    *,
    n: int | None = None,
    s: int | None = None,
    nbr: jax.Array | None = None,
    steps: int = 0,
    rho: float = 0.0,
) -> tuple[Measured, jax.Array]:
    """Measures ``num_seeds`` independent landscapes (vmapped). Consumes ``key``.

    Either pass a fixed graph ``nbr`` (e.g. NAS-Bench-201's), or ``n`` and ``s`` to draw a fresh
    random ``s``-regular graph for every seed.

    Returns:
        ``(measured, losses)``: per-seed statistics (each field ``[num_seeds]``) and the losses
        of the first seed (``[N]``, for density estimates).

    Raises:
        ValueError: neither or both of ``nbr`` and ``(n, s)`` given, or invalid sizes.
    """
    check_model(model, steps, rho)
    if (nbr is None) == (n is None or s is None):
        raise ValueError("pass either a neighbour table nbr, or both n and s (not both)")
    degree = int(s) if nbr is None else int(jnp.shape(nbr)[1])
    check_markov_rho(model, rho, degree)
    if nbr is None:
        check_graph_size(n, s)
        n, s = int(n), int(s)
    else:
        nbr, n, s = jnp.asarray(nbr), None, None
    keys = jax.random.split(key, num_seeds)
    return _simulate(keys, nbr, jnp.float32(rho), jnp.float32(eps), model=model, n=n, s=s,
                     steps=int(steps) if model == "heat" else 0)


def confidence_interval(x, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: Student-t confidence interval of the mean of per-seed values ``[K]``.

    With one seed the interval is ``(mean, mean)``.
    """
    import numpy as np
    from scipy import stats as sps

    x = np.asarray(x, np.float64)
    m = float(np.mean(x))
    if x.size < 2:
        return m, m, m
    half = float(sps.t.ppf(0.5 + level / 2, x.size - 1) * np.std(x, ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half
