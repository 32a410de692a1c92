"""One training step and one evaluation step of a discrete network, as pure functions.

The train step: random crop and flip of the uint8 batch (``augment``), normalisation, cutout
(after normalisation, as DARTS's transform), the forward pass in training mode (batch statistics,
drop path at the epoch's rate, auxiliary logits), cross-entropy plus ``aux_weight`` times the
auxiliary head's, and one optimizer update. Written for one run; ``--seeds K`` vmaps it over the
leading axis of the state and the batch (:func:`jaxnas.train.run.setup`).

Mixed precision (``precision='bfloat16'``): the step casts the float32 weights and the normalised
images to bfloat16 for the forward and backward pass (activations and matmuls in bfloat16), takes
the loss of float32 logits and updates float32 master weights; BatchNorm statistics stay
float32.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxnas.train.state import TrainState, split_output, takes_drop_path

Batch = tuple[jax.Array, jax.Array]  # (uint8 images [B, H, W, 3], int32 labels [B])

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _cast(tree, dtype):
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating)
                        else a, tree)


def drop_path_rate(final: float, epochs: int, steps_per_epoch: int) -> Callable:
    """``rate(step) = final * (step // steps_per_epoch) / epochs``: DARTS's linear ramp, set once
    per epoch (``drop_path_prob * epoch / epochs``)."""

    def rate(step):
        return final * (jnp.asarray(step) // steps_per_epoch).astype(jnp.float32) / epochs

    return rate


def make_train_step(net: nn.Module, tx: optax.GradientTransformation, mean, std, *,
                    lr_schedule: optax.Schedule, epochs: int, steps_per_epoch: int,
                    aux_weight: float = 0.0, cutout: int = 0, drop_path: float = 0.0,
                    augment: bool = True, padding: int = 4,
                    precision: str = "float32") -> Callable:
    """Builds ``train_step(state, batch) -> (state, metrics)`` for one run (pure; jit it).

    Args:
        net: the discrete network (:func:`jaxnas.train.state.build_network`).
        tx: the optimizer (:func:`jaxnas.train.optim.sgd`).
        mean, std: per-channel normalisation, ``[3]``.
        lr_schedule: the learning rate of ``tx`` (reported in the metrics).
        epochs, steps_per_epoch: the length of the run (drop path ramp).
        aux_weight: weight of the auxiliary loss; needs a network built with its head.
        cutout: cutout side (0: none).
        drop_path: final drop path probability (0: none); needs a network taking
            ``drop_path_rate``.
        augment: random crop (``padding``) and flip.
        padding: crop padding (``jaxnas.data.PADDING[dataset]``).
        precision: ``float32`` | ``bfloat16`` (see the module docstring).

    Returns:
        The step. ``batch`` is ``(uint8 [B, H, W, 3], int32 [B])``; ``metrics`` holds scalar
        ``loss`` (the total, with the auxiliary term), ``acc`` (of the main logits), ``lr`` and
        ``drop_path``. The step consumes ``fold_in(state.key, state.step)``.

    Raises:
        ValueError: drop path for a network without it, or an unknown precision.
    """
    from jaxnas import data

    if precision not in DTYPES:
        raise ValueError(f"precision={precision!r}; choose one of {tuple(DTYPES)}")
    if drop_path > 0 and not takes_drop_path(net):
        raise ValueError(f"drop path {drop_path} needs a network that takes drop_path_rate; "
                         f"{type(net).__name__} does not (use --drop-path 0)")
    dtype = DTYPES[precision]
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    rate_of = drop_path_rate(drop_path, epochs, steps_per_epoch)

    def loss_fn(params, batch_stats, x, y, key, rate):
        kwargs, rngs = {}, {}
        if drop_path > 0:
            kwargs["drop_path_rate"], rngs["drop_path"] = rate.astype(dtype), key
        out, new = net.apply({"params": _cast(params, dtype), "batch_stats": batch_stats},
                             x.astype(dtype), train=True, rngs=rngs, mutable=["batch_stats"],
                             **kwargs)
        logits, aux = split_output(out)
        logits = logits.astype(jnp.float32)
        loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
        if aux_weight > 0:
            if aux is None:
                raise ValueError("aux_weight > 0 but the network returned no auxiliary logits; "
                                 "build it with its auxiliary head")
            loss = loss + aux_weight * jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
                aux.astype(jnp.float32), y))
        acc = jnp.mean((jnp.argmax(logits, -1) == y).astype(jnp.float32))
        stats = jax.tree.map(lambda new_s, old: new_s.astype(old.dtype),
                             new["batch_stats"], batch_stats)
        return loss, (acc, stats)

    def train_step(state: TrainState, batch: Batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
        k_aug, k_cut, k_drop = jax.random.split(key, 3)
        images, labels = batch
        if augment:
            x = data.augment(k_aug, images, mean, std, padding)
        else:
            x = data.normalize(images, mean, std)
        x = data.cutout(k_cut, x, cutout)
        rate = rate_of(state.step)
        (loss, (acc, batch_stats)), g = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state.batch_stats, x, labels, k_drop, rate)
        upd, opt_state = tx.update(g, state.opt_state, state.params)
        params = optax.apply_updates(state.params, upd)
        metrics = {"loss": loss, "acc": acc,
                   "lr": jnp.asarray(lr_schedule(state.step), jnp.float32),
                   "drop_path": rate}
        return state.replace(params=params, batch_stats=batch_stats, opt_state=opt_state,
                             step=state.step + 1), metrics

    return train_step


def make_eval_step(net: nn.Module, mean, std, precision: str = "float32") -> Callable:
    """Builds ``eval_step(state, images, labels, mask) -> {'correct', 'loss', 'count'}``: sums
    over the batch entries where ``mask`` is true, with BatchNorm's running averages and no drop
    path or auxiliary head. ``images`` uint8 ``[B, H, W, 3]``, ``labels`` int32 ``[B]``,
    ``mask`` bool ``[B]`` (padding of the last batch)."""
    from jaxnas import data

    dtype = DTYPES[precision]
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)

    def eval_step(state: TrainState, images, labels, mask):
        x = data.normalize(images, mean, std).astype(dtype)
        out = net.apply({"params": _cast(state.params, dtype),
                         "batch_stats": state.batch_stats}, x, train=False)
        logits = split_output(out)[0].astype(jnp.float32)
        xent = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        hit = jnp.argmax(logits, -1) == labels
        m = mask.astype(jnp.float32)
        return {"correct": jnp.sum(hit * m), "loss": jnp.sum(xent * m), "count": jnp.sum(m)}

    return eval_step


__all__ = ["DTYPES", "drop_path_rate", "make_eval_step", "make_train_step"]
