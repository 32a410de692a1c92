"""DARTS-PT selection :class:`~jaxnas.selection.loop.Problem` for a Flax supernet.

Works with any Flax module called as ``module.apply(variables, x, op_weights, train=...)`` with
``variables = {'params', 'batch_stats'}`` (a search space's supernet, ``space.supernet(...)``, or
a toy). Selection works on the rows of the op weights (``[E, K]``, one per decision);
``to_op_weights`` maps them to the supernet's own layout (``space.alpha_tree``).

BatchNorm during scoring: the reference implementation (``ruocwang/darts-pt``,
``nasbench201/projection.py``) scores candidate removals with ``infer(..., eval=False)``, i.e. the
supernet in *train mode*: BatchNorm normalises with the statistics of the current validation batch,
not the running averages (which were accumulated under the un-perturbed op weights and would be
wrong once an operation is removed). We do the same: scoring calls the supernet with
``train=True`` and discards the updated running averages, so scoring has no side effects. Unlike
the reference, the validation batches are not augmented, so scores are deterministic.

Fine-tuning between decisions follows the reference too: a fresh SGD optimizer (momentum 0.9,
weight decay 3e-4, gradient clipping 5) at a tenth of the search learning rate, constant, on the
training half; the op weights of undecided edges stay fixed (alpha frozen) while the decided
edges are one-hot. (The reference keeps updating alpha of undecided edges during DARTS-PT
fine-tuning; with alpha frozen, DARTS-PT and its fix-alpha variant share one code path.)
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnas.darts import optim
from jaxnas.darts.step import make_loss
from jaxnas.models.layers import compiler_options
from jaxnas.selection import loop
from jaxnas.selection import perturbation as pt


def tune_optimizer(lr: float) -> optax.GradientTransformation:
    """The fine-tuning optimizer: DARTS's weight optimizer (:func:`jaxnas.darts.optim.sgd`:
    clip 5, L2 decay 3e-4, momentum 0.9) at a constant learning rate ``lr``."""
    return optim.sgd(lr)


def init_tune_state(variables: dict, tx: optax.GradientTransformation) -> dict:
    """``{'params', 'batch_stats', 'opt'}`` from trained supernet variables."""
    params = variables["params"]
    return {"params": params, "batch_stats": variables.get("batch_stats", {}),
            "opt": tx.init(params)}


def _identity(w):
    return w


def make_eval_fn(module: nn.Module, to_op_weights=_identity):
    """``eval_fn((tune_state, (xs[NB, B, ...], ys[NB, B])), op_weights) -> (acc, loss)``: mean
    accuracy and loss over validation batches, BatchNorm in batch-statistics mode (see module
    docstring), running averages untouched. ``op_weights`` are rows ``[E, K]``, passed to the
    module as ``to_op_weights(op_weights)``."""

    loss_fn = make_loss(module)

    def eval_fn(params_and_data, op_weights):
        ts, (xs, ys) = params_and_data
        w = to_op_weights(op_weights)

        def body(carry, batch):
            loss, (acc, _) = loss_fn(ts["params"], ts["batch_stats"], w, *batch)
            return carry, (acc, loss)

        _, (acc, loss) = jax.lax.scan(body, None, (xs, ys))
        return jnp.mean(acc), jnp.mean(loss)

    return eval_fn


def make_train_epoch(module: nn.Module, tx: optax.GradientTransformation, augment=None,
                     to_op_weights=_identity):
    """An epoch ``(key, tune_state, op_weights, xs[S, B, ...], ys[S, B]) -> (tune_state,
    mean loss)`` of weight training with fixed op weights. Consumes ``key`` (augmentation).

    One jitted step called ``S`` times from Python rather than a ``lax.scan``: on XLA:CPU the
    convolution gradients inside a scan's while loop ran about 10x slower than in a jitted step
    (measured on the NB201 supernet, C=8, N=1, batch 64), and a Python loop compiles once for
    every number of steps.
    """

    grad_fn = jax.value_and_grad(make_loss(module), has_aux=True)

    @functools.partial(jax.jit, compiler_options=compiler_options())
    def step(ts, op_weights, key, x, y):
        if augment is not None:
            x = augment(key, x)
        (loss, (_, batch_stats)), g = grad_fn(ts["params"], ts["batch_stats"],
                                              to_op_weights(op_weights), x, y)
        updates, opt = tx.update(g, ts["opt"], ts["params"])
        new = {**ts, "params": optax.apply_updates(ts["params"], updates), "opt": opt,
               "batch_stats": batch_stats}
        return new, loss

    def epoch(key, tune_state, op_weights, xs, ys):
        keys = jax.random.split(key, xs.shape[0])
        losses = []
        for i in range(xs.shape[0]):
            tune_state, loss = step(tune_state, op_weights, keys[i], xs[i], ys[i])
            losses.append(loss)
        return tune_state, jnp.mean(jnp.stack(losses))

    return epoch


def make_problem(module: nn.Module, valid: tuple[jax.Array, jax.Array],
                 train: tuple[jax.Array, jax.Array], tx: optax.GradientTransformation, *,
                 batch_size: int, steps_per_epoch: int | None = None, augment=None,
                 log=None, to_op_weights=_identity) -> loop.Problem:
    """The selection problem of a Flax supernet.

    Args:
        module: the supernet, ``module.apply(variables, x, op_weights, train=...)``.
        valid: validation half, ``(x[N, ...], y[N])``; scored in full batches of ``batch_size``.
        train: training half for fine-tuning, ``(x[M, ...], y[M])``.
        tx: fine-tuning optimizer (:func:`tune_optimizer`); the tune state's ``opt`` is its state.
        batch_size: batch size of scoring and fine-tuning.
        steps_per_epoch: fine-tuning steps per epoch (default: one pass over ``train``).
        augment: optional ``augment(key, x) -> x`` for fine-tuning batches.
        log: optional ``log(str)`` for per-epoch fine-tuning losses.
        to_op_weights: maps op-weight rows ``[E, K]`` to the module's layout (e.g.
            ``space.alpha_tree``; default: the module takes the rows).
    """
    nv = (valid[0].shape[0] // batch_size) * batch_size
    if nv == 0:
        raise ValueError(f"the validation half has {valid[0].shape[0]} images, fewer than one "
                         f"batch of {batch_size}; lower the batch size")
    vx = valid[0][:nv].reshape(-1, batch_size, *valid[0].shape[1:])
    vy = valid[1][:nv].reshape(-1, batch_size)
    scorer = pt.make_edge_scorer(make_eval_fn(module, to_op_weights))
    n = train[0].shape[0]
    steps = steps_per_epoch or n // batch_size
    epoch_fn = make_train_epoch(module, tx, augment, to_op_weights)

    def score_edge(tune_state, weights, decided, edge):
        return scorer((tune_state, (vx, vy)), weights, decided, edge)

    def tune(key, tune_state, op_weights, num_epochs):
        for ep in range(num_epochs):
            k_perm, k_aug = jax.random.split(jax.random.fold_in(key, ep))
            idx = jax.random.permutation(k_perm, n)[: steps * batch_size]
            if idx.shape[0] < steps * batch_size:  # more steps than one pass: wrap around
                idx = jnp.resize(idx, (steps * batch_size,))
            xs = train[0][idx].reshape(steps, batch_size, *train[0].shape[1:])
            ys = train[1][idx].reshape(steps, batch_size)
            tune_state, loss = epoch_fn(k_aug, tune_state, op_weights, xs, ys)
            if log is not None:
                log(f"  fine-tune epoch {ep + 1}/{num_epochs}: train loss {float(loss):.4f}")
        return tune_state

    return loop.Problem(score_edge=score_edge, tune=tune)


def uniform_weights(num_edges: int, num_ops: int) -> jax.Array:
    """Op weights of the fix-alpha variant: alpha frozen at zero, i.e. uniform ``1/K``."""
    return jnp.full((num_edges, num_ops), 1.0 / num_ops, jnp.float32)


def supernet_weights(alpha: Any | None, num_edges: int, num_ops: int) -> jax.Array:
    """``softmax(alpha)`` of alpha rows ``[E, K]`` (DARTS-PT), or uniform when ``alpha`` is
    None (fix-alpha)."""
    if alpha is None:
        return uniform_weights(num_edges, num_ops)
    return jax.nn.softmax(jnp.asarray(alpha, jnp.float32), axis=-1)
