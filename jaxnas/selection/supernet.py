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
training half, with decided edges one-hot and removed edges zero. With ``alpha_tx`` (DARTS-PT,
the reference's darts-proj ``architect.step`` inside ``pt_project``) every fine-tuning step
first updates alpha, first order, on a batch of the validation half, continuing the search's
alpha optimizer state; the op weights of undecided edges are then ``softmax(alpha)``, so alpha
keeps moving between decisions. Without it (fix-alpha) they stay fixed.

Spaces with a random operation (RobustDARTS S4's ``noise``) get the ``'noise'`` rng stream: one
key per scoring call, shared by every candidate (common random numbers), and one per step.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnas.darts import optim
from jaxnas.darts.step import make_loss, op_weights
from jaxnas.models.layers import compiler_options
from jaxnas.selection import loop
from jaxnas.selection import perturbation as pt


def tune_optimizer(lr: float) -> optax.GradientTransformation:
    """The fine-tuning optimizer: DARTS's weight optimizer (:func:`jaxnas.darts.optim.sgd`:
    clip 5, L2 decay 3e-4, momentum 0.9) at a constant learning rate ``lr``."""
    return optim.sgd(lr)


def init_tune_state(variables: dict, tx: optax.GradientTransformation, alpha: Any = None,
                    opt_alpha: Any = None, alpha_tx: optax.GradientTransformation | None = None
                    ) -> dict:
    """``{'params', 'batch_stats', 'opt'}`` from trained supernet variables, plus ``alpha`` and
    ``opt_alpha`` (the search's alpha optimizer state, or ``alpha_tx.init(alpha)``) when alpha
    is trained during fine-tuning."""
    params = variables["params"]
    ts = {"params": params, "batch_stats": variables.get("batch_stats", {}),
          "opt": tx.init(params)}
    if alpha is not None:
        ts["alpha"] = alpha
        ts["opt_alpha"] = opt_alpha if opt_alpha is not None else alpha_tx.init(alpha)
    return ts


def alpha_weight_rows(alpha: Any, to_rows) -> jax.Array:
    """``softmax(alpha)`` leaf by leaf (:func:`jaxnas.darts.step.op_weights`) as rows
    ``[E, K]``."""
    return to_rows(op_weights(alpha))


def _identity(w):
    return w


def make_eval_fn(module: nn.Module, to_op_weights=_identity):
    """``eval_fn((tune_state, (xs[NB, B, ...], ys[NB, B]) [, key]), op_weights) -> (acc,
    loss)``: mean accuracy and loss over validation batches, BatchNorm in batch-statistics mode
    (see module docstring), running averages untouched. ``op_weights`` are rows ``[E, K]``,
    passed to the module as ``to_op_weights(op_weights)``; ``key`` (optional) feeds the
    ``'noise'`` stream, batch ``b`` drawing ``fold_in(key, b)``."""

    loss_fn = make_loss(module)

    def eval_fn(params_and_data, op_weights):
        ts, (xs, ys), *rest = params_and_data
        key = rest[0] if rest else None
        w = to_op_weights(op_weights)
        nb = xs.shape[0]
        keys = (jnp.zeros((nb,), jnp.int32) if key is None else
                jax.vmap(lambda b: jax.random.fold_in(key, b))(jnp.arange(nb)))

        def body(carry, batch):
            x, y, k = batch
            loss, (acc, _) = loss_fn(ts["params"], ts["batch_stats"], w, x, y,
                                     None if key is None else k)
            return carry, (acc, loss)

        _, (acc, loss) = jax.lax.scan(body, None, (xs, ys, keys))
        return jnp.mean(acc), jnp.mean(loss)

    return eval_fn


def make_train_epoch(module: nn.Module, tx: optax.GradientTransformation, augment=None,
                     to_op_weights=_identity, alpha_tx: optax.GradientTransformation | None = None,
                     to_rows=None):
    """An epoch ``(key, tune_state, projection, xs[S, B, ...], ys[S, B], axs=None, ays=None)
    -> (tune_state, mean loss)`` of weight training with the projection's op weights. Consumes
    ``key`` (augmentation, noise).

    With ``alpha_tx`` each step first updates ``tune_state['alpha']`` (first order, on the
    architecture batch ``axs[i], ays[i]``), with undecided edges at ``softmax(alpha)``
    (``to_rows`` maps the alpha pytree's softmax to rows ``[E, K]``).

    One jitted step called ``S`` times from Python rather than a ``lax.scan``: on XLA:CPU the
    convolution gradients inside a scan's while loop ran about 10x slower than in a jitted step
    (measured on the NB201 supernet, C=8, N=1, batch 64), and a Python loop compiles once for
    every number of steps.
    """

    loss_fn = make_loss(module)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def op_weights_of(ts, proj):
        if alpha_tx is not None:
            proj = proj._replace(weights=alpha_weight_rows(ts["alpha"], to_rows))
        return to_op_weights(pt.projected(proj))

    @functools.partial(jax.jit, compiler_options=compiler_options())
    def step(ts, proj, key, x, y, ax, ay):
        k_aug = key  # the stream fine-tuning drew before alpha and noise joined it
        k_aaug, k_noise, k_anoise = (jax.random.fold_in(key, i) for i in (1, 2, 3))
        if augment is not None:
            x = augment(k_aug, x)
        if alpha_tx is not None:
            if augment is not None:
                ax = augment(k_aaug, ax)

            def alpha_loss(alpha):
                w = op_weights_of({**ts, "alpha": alpha}, proj)
                return loss_fn(ts["params"], ts["batch_stats"], w, ax, ay, k_anoise)[0]

            g_a = jax.grad(alpha_loss)(ts["alpha"])
            upd, opt_alpha = alpha_tx.update(g_a, ts["opt_alpha"], ts["alpha"])
            ts = {**ts, "alpha": optax.apply_updates(ts["alpha"], upd), "opt_alpha": opt_alpha}
        (loss, (_, batch_stats)), g = grad_fn(ts["params"], ts["batch_stats"],
                                              op_weights_of(ts, proj), x, y, k_noise)
        updates, opt = tx.update(g, ts["opt"], ts["params"])
        new = {**ts, "params": optax.apply_updates(ts["params"], updates), "opt": opt,
               "batch_stats": batch_stats}
        return new, loss

    def epoch(key, tune_state, proj, xs, ys, axs=None, ays=None):
        keys = jax.random.split(key, xs.shape[0])
        losses = []
        for i in range(xs.shape[0]):
            ax, ay = (None, None) if axs is None else (axs[i], ays[i])
            tune_state, loss = step(tune_state, proj, keys[i], xs[i], ys[i], ax, ay)
            losses.append(loss)
        return tune_state, jnp.mean(jnp.stack(losses))

    return epoch


def make_problem(module: nn.Module, valid: tuple[jax.Array, jax.Array],
                 train: tuple[jax.Array, jax.Array], tx: optax.GradientTransformation, *,
                 batch_size: int, steps_per_epoch: int | None = None, augment=None,
                 log=None, to_op_weights=_identity, to_rows=None,
                 alpha_tx: optax.GradientTransformation | None = None,
                 alpha_data: tuple[jax.Array, jax.Array] | None = None,
                 noise_key: jax.Array | None = None) -> loop.Problem:
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
        to_rows: the inverse (``space.alpha_rows``); needed with ``alpha_tx``.
        alpha_tx: train alpha during fine-tuning with this optimizer (the tune state then holds
            ``alpha`` and ``opt_alpha``, :func:`init_tune_state`); ``None``: alpha frozen.
        alpha_data: the source of the architecture batches of alpha's updates (the
            architecture half), in the same form as ``train``; needed with ``alpha_tx``.
        noise_key: key of the ``'noise'`` stream for supernets with a random operation
            (scoring reuses it for every decision, fine-tuning folds in the step).
    """
    nv = (valid[0].shape[0] // batch_size) * batch_size
    if nv == 0:
        raise ValueError(f"the validation half has {valid[0].shape[0]} images, fewer than one "
                         f"batch of {batch_size}; lower the batch size")
    if alpha_tx is not None and (to_rows is None or alpha_data is None):
        raise ValueError("training alpha during fine-tuning needs to_rows and alpha_data")
    vx = valid[0][:nv].reshape(-1, batch_size, *valid[0].shape[1:])
    vy = valid[1][:nv].reshape(-1, batch_size)
    eval_fn = make_eval_fn(module, to_op_weights)
    scorer = pt.make_edge_scorer(eval_fn)
    remover = pt.make_removal_scorer(eval_fn)
    n = train[0].shape[0]
    steps = steps_per_epoch or n // batch_size
    epoch_fn = make_train_epoch(module, tx, augment, to_op_weights, alpha_tx, to_rows)
    data = (vx, vy)
    extra = () if noise_key is None else (noise_key,)

    def score_edge(tune_state, proj, edge):
        return scorer((tune_state, data, *extra), proj.weights, proj.decided, edge,
                      proj.edge_on)

    def score_removals(tune_state, proj, candidates):
        return remover((tune_state, data, *extra), proj, candidates)

    def batches(key, source, count):
        m = source[0].shape[0]
        idx = jax.random.permutation(key, m)[: count * batch_size]
        if idx.shape[0] < count * batch_size:  # more steps than one pass: wrap around
            idx = jnp.resize(idx, (count * batch_size,))
        return (source[0][idx].reshape(count, batch_size, *source[0].shape[1:]),
                source[1][idx].reshape(count, batch_size))

    def tune(key, tune_state, proj, num_epochs):
        for ep in range(num_epochs):
            k_perm, k_aug = jax.random.split(jax.random.fold_in(key, ep))
            xs, ys = batches(k_perm, train, steps)
            axs = ays = None
            if alpha_tx is not None:
                axs, ays = batches(jax.random.fold_in(k_perm, 1), alpha_data, steps)
            tune_state, loss = epoch_fn(k_aug, tune_state, proj, xs, ys, axs, ays)
            if log is not None:
                log(f"  fine-tune epoch {ep + 1}/{num_epochs}: train loss {float(loss):.4f}")
        return tune_state

    weights_of = None
    if alpha_tx is not None:
        def weights_of(tune_state):
            return alpha_weight_rows(tune_state["alpha"], to_rows)

    return loop.Problem(score_edge=score_edge, tune=tune, score_removals=score_removals,
                        weights_of=weights_of)


def uniform_weights(num_edges: int, num_ops: int) -> jax.Array:
    """Op weights of the fix-alpha variant: alpha frozen at zero, i.e. uniform ``1/K``."""
    return jnp.full((num_edges, num_ops), 1.0 / num_ops, jnp.float32)


def supernet_weights(alpha: Any | None, num_edges: int, num_ops: int) -> jax.Array:
    """``softmax(alpha)`` of alpha rows ``[E, K]`` (DARTS-PT), or uniform when ``alpha`` is
    None (fix-alpha)."""
    if alpha is None:
        return uniform_weights(num_edges, num_ops)
    return jax.nn.softmax(jnp.asarray(alpha, jnp.float32), axis=-1)
