"""The optimizer of from-scratch training: optional gradient clipping, PyTorch's coupled L2
weight decay and SGD with (Nesterov) momentum on a cosine learning rate, as one optax chain.

Both reference protocols are this chain with different values:

* DARTS (``cnn/train.py``): ``clip_grad_norm_(5)`` then ``SGD(lr, momentum=0.9,
  weight_decay=3e-4)``: PyTorch adds ``wd * w`` to the *clipped* gradient; the learning rate is
  ``CosineAnnealingLR(T_max=epochs)`` stepped once per epoch, so epoch ``e`` uses
  ``lr * (1 + cos(pi * e / epochs)) / 2``.
* NAS-Bench-201 (AutoDL-Projects ``get_optim_scheduler``): ``SGD(0.1, momentum=0.9,
  weight_decay=5e-4, nesterov=True)`` with a cosine updated every iteration at the fractional
  epoch ``e + i / steps_per_epoch``; no clipping.

optax's ``sgd(nesterov=True)`` is PyTorch's Nesterov form (``buf = m * buf + g``, step
``g + m * buf``), so the updates match step for step.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax


def cosine_lr(lr: float, lr_min: float, epochs: int, steps_per_epoch: int,
              per: str = "epoch") -> optax.Schedule:
    """``schedule(step) = lr_min + (lr - lr_min) * (1 + cos(pi * t / epochs)) / 2``.

    Args:
        lr, lr_min: the first and the limiting learning rate.
        epochs: the cosine's half period ``T_max``.
        steps_per_epoch: steps of one epoch.
        per: ``'epoch'``: ``t = step // steps_per_epoch`` (constant within an epoch, DARTS);
            ``'step'``: ``t = step / steps_per_epoch`` (NAS-Bench-201). ``t`` is capped at
            ``epochs``.

    Returns:
        The schedule (jit-able in ``step``).
    """
    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(f"epochs={epochs} and steps_per_epoch={steps_per_epoch} must be >= 1")
    if per not in ("epoch", "step"):
        raise ValueError(f"per={per!r}; choose 'epoch' or 'step'")

    def schedule(step):
        step = jnp.asarray(step)
        t = step // steps_per_epoch if per == "epoch" else step / steps_per_epoch
        t = jnp.minimum(t.astype(jnp.float32), epochs)
        return lr_min + (lr - lr_min) * 0.5 * (1.0 + jnp.cos(jnp.pi * t / epochs))

    return schedule


def sgd(schedule: optax.Schedule | float, momentum: float, nesterov: bool, weight_decay: float,
        grad_clip: float = 0.0) -> optax.GradientTransformation:
    """clip to global norm ``grad_clip`` (when > 0) -> add ``weight_decay * w`` -> SGD."""
    parts = [optax.clip_by_global_norm(grad_clip)] if grad_clip > 0 else []
    parts += [optax.add_decayed_weights(weight_decay),
              optax.sgd(schedule, momentum=momentum or None, nesterov=nesterov)]
    return optax.chain(*parts)


__all__ = ["cosine_lr", "sgd"]
