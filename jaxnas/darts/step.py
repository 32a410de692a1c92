"""One DARTS train step: an architecture update on the architecture half-batch, then a weight
update on the weight half-batch (Liu et al., ICLR 2019, Algorithm 1), as one pure function.

Generic over the search space: ``alpha`` is a pytree of ``[E_i, K]`` logits (the space's
``alpha_shapes``) and the supernet takes operation weights of the same layout,
``softmax(alpha, -1)`` leaf by leaf.

Modes (static): ``first`` (first-order DARTS: the alpha gradient at the current weights),
``second`` (second-order / unrolled DARTS: the alpha gradient of ``L_val(w', alpha)`` at the
one-step look-ahead ``w' = w - xi * (mu * m + grad_w L_train(w, alpha) + wd * w)``, ``xi`` the
current weight learning rate, ``m`` the SGD momentum buffer, as in the reference
``_compute_unrolled_model``, differentiated exactly through the look-ahead instead of the paper's
finite-difference Hessian-vector product), ``fixed`` (alpha frozen, weights only: DARTS-PT's
"fix alpha").

Objectives (static): ``darts`` (the validation loss at ``softmax(alpha)``) and ``neighborhood``
(NA-DARTS: :func:`jaxnas.darts.na_objective.neighbourhood_loss`, the mean validation loss over
``softmax(alpha)`` and ``k`` sampled radius-1 neighbours). The weight step always uses
``softmax(alpha)``.

BatchNorm runs in train mode (batch statistics) in both updates, as in the reference code; the
running averages are taken from the weight update's forward pass only.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnas.darts.na_objective import neighbourhood_loss
from jaxnas.darts.state import TrainState

MODES = ("first", "second", "fixed")
#: ``fold_in`` constant of the ``'noise'`` rng stream within a step's key
NOISE_STREAM = 0x6E6F6973
OBJECTIVES = ("darts", "neighborhood")

Batch = tuple[jax.Array, jax.Array]  # (uint8 images [B, H, W, 3], int32 labels [B])


def op_weights(alpha):
    """``softmax(alpha, -1)`` of every leaf of an alpha pytree."""
    return jax.tree.map(lambda a: jax.nn.softmax(a, -1), alpha)


def check_mode(mode: str, objective: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown DARTS mode {mode!r}; choose one of {MODES}")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown DARTS objective {objective!r}; choose one of {OBJECTIVES}")


def make_loss(net: nn.Module) -> Callable:
    """``loss(params, batch_stats, op_weights, x, y, key=None) -> (loss, (acc, new_batch_stats))``.

    Mean cross-entropy of the supernet in train mode; ``x`` normalised ``[B, H, W, 3]``.
    ``key`` feeds the ``'noise'`` rng stream of supernets with a random operation (RobustDARTS
    S4's ``noise``); other supernets ignore it.
    """

    def loss(params, batch_stats, op_weights, x, y, key=None):
        rngs = None if key is None else {"noise": key}
        logits, new = net.apply({"params": params, "batch_stats": batch_stats}, x, op_weights,
                                train=True, mutable=["batch_stats"], rngs=rngs)
        xent = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
        acc = jnp.mean((jnp.argmax(logits, -1) == y).astype(jnp.float32))
        return xent, (acc, new["batch_stats"])

    return loss


def make_train_step(net: nn.Module, weight_tx: optax.GradientTransformation,
                    alpha_tx: optax.GradientTransformation, mean, std, *,
                    mode: str = "first", objective: str = "darts", na_samples: int = 4,
                    na_structure=None,
                    lr_schedule: optax.Schedule | None = None,
                    weight_decay: float = 3e-4, momentum: float = 0.9, augment: bool = True,
                    padding: int = 4) -> Callable:
    """Builds ``train_step(state, w_batch, a_batch) -> (state, metrics)`` (pure; jit it).

    Args:
        net: the supernet, ``net.apply(variables, x, op_weights, train=...)``.
        weight_tx, alpha_tx: the two optimizers (:mod:`jaxnas.darts.optim`).
        mean, std: per-channel normalisation, ``[3]``.
        mode: ``first`` | ``second`` | ``fixed`` (see module docstring).
        objective: ``darts`` | ``neighborhood``.
        na_samples: ``k`` sampled neighbours of the NA objective.
        na_structure: the space's node inputs
            (:func:`jaxnas.darts.na_objective.row_structure`; ``None`` for spaces without),
            so the NA objective samples the space's own neighbourhood.
        lr_schedule: the weight learning rate, the look-ahead step ``xi`` of ``second``.
        weight_decay, momentum: weight decay and momentum in the look-ahead of ``second`` (the
            momentum buffer is the ``trace`` entry of ``weight_tx``'s state, if any).
        augment: random crop (``padding``) and flip (``jaxnas.data.augment``) on both
            half-batches; otherwise only normalisation.
        padding: crop padding (``jaxnas.data.PADDING[dataset]``).

    Returns:
        The step. ``w_batch``/``a_batch`` are ``(uint8 [B, H, W, 3], int32 [B])``; ``metrics``
        holds scalar ``loss_w``, ``acc_w``, ``loss_a``, ``acc_a`` (on the architecture batch,
        before the update; for ``neighborhood`` ``loss_a`` is the aggregated loss) and
        ``lr``. The step consumes ``fold_in(state.key, state.step)``.
    """
    from jaxnas import data

    check_mode(mode, objective)
    if mode == "second" and lr_schedule is None:
        raise ValueError("mode='second' needs lr_schedule (the look-ahead step size)")
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    loss = make_loss(net)
    grad_w = jax.grad(loss, has_aux=True)

    def prepare(key, images):
        if augment:
            return data.augment(key, images, mean, std, padding)
        return data.normalize(images, mean, std)

    def lookahead(params, batch_stats, opt_weights, alpha, x, y, step, key):
        g, _ = grad_w(params, batch_stats, op_weights(alpha), x, y, key)
        xi = lr_schedule(step)
        trace = optax.tree_utils.tree_get(opt_weights, "trace")
        if trace is None:
            trace = jax.tree.map(jnp.zeros_like, params)
        return jax.tree.map(lambda p, d, m: p - xi * (momentum * m + d + weight_decay * p),
                            params, g, trace)

    def arch_loss(alpha, state, xa, ya, xw, yw, key, k_noise):
        params = state.params
        if mode == "second":
            params = lookahead(params, state.batch_stats, state.opt_weights, alpha, xw, yw,
                               state.step, jax.random.fold_in(k_noise, 1))
        w = op_weights(alpha)
        if objective == "darts":
            val, (acc, _) = loss(params, state.batch_stats, w, xa, ya, k_noise)
            return val, acc
        val, _ = neighbourhood_loss(
            lambda ow: loss(params, state.batch_stats, ow, xa, ya, k_noise)[0],
            w, radius=1, aggregation="mean", k=na_samples, key=key, structure=na_structure)
        _, (acc, _) = loss(jax.lax.stop_gradient(params), state.batch_stats,
                           jax.lax.stop_gradient(w), xa, ya, k_noise)
        return val, acc

    def train_step(state: TrainState, w_batch: Batch, a_batch: Batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
        k_w, k_a, k_na = jax.random.split(key, 3)
        # the 'noise' stream (S4's noise operation) is a separate fold, so the other streams
        # draw what they drew before it existed
        k_noise_a, k_noise_w = jax.random.split(jax.random.fold_in(key, NOISE_STREAM))
        xw, yw = prepare(k_w, w_batch[0]), w_batch[1]
        xa, ya = prepare(k_a, a_batch[0]), a_batch[1]

        alpha, opt_alpha = state.alpha, state.opt_alpha
        if mode == "fixed":
            loss_a, (acc_a, _) = loss(state.params, state.batch_stats,
                                      op_weights(alpha), xa, ya, k_noise_a)
        else:
            (loss_a, acc_a), g_a = jax.value_and_grad(arch_loss, has_aux=True)(
                alpha, state, xa, ya, xw, yw, k_na, k_noise_a)
            upd, opt_alpha = alpha_tx.update(g_a, opt_alpha, alpha)
            alpha = optax.apply_updates(alpha, upd)

        (loss_w, (acc_w, batch_stats)), g = jax.value_and_grad(loss, has_aux=True)(
            state.params, state.batch_stats, op_weights(alpha), xw, yw, k_noise_w)
        upd, opt_weights = weight_tx.update(g, state.opt_weights, state.params)
        params = optax.apply_updates(state.params, upd)
        lr = lr_schedule(state.step) if lr_schedule is not None else jnp.nan
        new = state.replace(params=params, batch_stats=batch_stats, alpha=alpha,
                            opt_weights=opt_weights, opt_alpha=opt_alpha, step=state.step + 1)
        metrics = {"loss_w": loss_w, "acc_w": acc_w, "loss_a": loss_a, "acc_a": acc_a,
                   "lr": jnp.asarray(lr, jnp.float32)}
        return new, metrics

    return train_step


__all__ = ["MODES", "OBJECTIVES", "check_mode", "make_loss", "make_train_step", "op_weights"]
