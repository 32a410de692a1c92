"""The two DARTS optimizers (Liu, Simonyan & Yang, ICLR 2019), as in the NAS-Bench-201 DARTS
baseline (Dong & Yang, ICLR 2020; ``AutoDL-Projects`` ``DARTS-V1/V2`` and ``ruocwang/darts-pt``).

* Weights: clip the gradient to global norm 5, add L2 weight decay ``3e-4 * w`` (PyTorch's
  ``SGD(weight_decay=...)`` adds it to the gradient after clipping), SGD with momentum 0.9 and a
  learning rate cosine-annealed from 0.025 to 0.001 over the epochs, stepped once per epoch
  (``CosineAnnealingLR(T_max=epochs, eta_min=0.001)``).
* Architecture ``alpha``: Adam, lr 3e-4, betas (0.5, 0.999), with PyTorch's *coupled* weight decay
  ``1e-3 * alpha`` added to the gradient (``torch.optim.Adam(weight_decay=...)``, not AdamW).

Each is a separate optax transformation; the train step applies them on alternating half-batches.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

WEIGHT_LR = 0.025
WEIGHT_LR_MIN = 0.001
MOMENTUM = 0.9
WEIGHT_DECAY = 3e-4
GRAD_CLIP = 5.0
ALPHA_LR = 3e-4
ALPHA_BETAS = (0.5, 0.999)
ALPHA_WEIGHT_DECAY = 1e-3


def weight_lr_schedule(epochs: int, steps_per_epoch: int, lr: float = WEIGHT_LR,
                       lr_min: float = WEIGHT_LR_MIN) -> optax.Schedule:
    """Cosine annealing from ``lr`` to ``lr_min``, constant within an epoch.

    ``schedule(step) = lr_min + (lr - lr_min) * (1 + cos(pi * e / epochs)) / 2`` with epoch
    ``e = step // steps_per_epoch``; ``e >= epochs`` gives ``lr_min``.
    """
    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(f"epochs={epochs} and steps_per_epoch={steps_per_epoch} must be >= 1")
    cosine = optax.cosine_decay_schedule(lr, epochs, alpha=lr_min / lr)

    def schedule(step):
        return cosine(jnp.asarray(step) // steps_per_epoch)

    return schedule


def weight_optimizer(epochs: int, steps_per_epoch: int, lr: float = WEIGHT_LR,
                     lr_min: float = WEIGHT_LR_MIN, momentum: float = MOMENTUM,
                     weight_decay: float = WEIGHT_DECAY,
                     grad_clip: float = GRAD_CLIP) -> optax.GradientTransformation:
    """DARTS's weight optimizer: clip -> L2 decay -> SGD(momentum, cosine lr)."""
    return sgd(weight_lr_schedule(epochs, steps_per_epoch, lr, lr_min), momentum, weight_decay,
               grad_clip)


def sgd(learning_rate: float | optax.Schedule, momentum: float = MOMENTUM,
        weight_decay: float = WEIGHT_DECAY,
        grad_clip: float = GRAD_CLIP) -> optax.GradientTransformation:
    """Clip to global norm -> L2 weight decay (PyTorch's coupled ``SGD(weight_decay=...)``) ->
    SGD with momentum: the weight optimizer of DARTS and of DARTS-PT's fine-tuning."""
    return optax.chain(optax.clip_by_global_norm(grad_clip),
                       optax.add_decayed_weights(weight_decay),
                       optax.sgd(learning_rate, momentum=momentum))


def alpha_optimizer(lr: float = ALPHA_LR, betas: tuple[float, float] = ALPHA_BETAS,
                    weight_decay: float = ALPHA_WEIGHT_DECAY) -> optax.GradientTransformation:
    """DARTS's architecture optimizer: coupled L2 decay -> Adam(lr, betas)."""
    return optax.chain(optax.add_decayed_weights(weight_decay),
                       optax.adam(lr, b1=betas[0], b2=betas[1], eps=1e-8))


__all__ = ["ALPHA_BETAS", "ALPHA_LR", "ALPHA_WEIGHT_DECAY", "GRAD_CLIP", "MOMENTUM",
           "WEIGHT_DECAY", "WEIGHT_LR", "WEIGHT_LR_MIN", "alpha_optimizer", "sgd", "weight_lr_schedule",
           "weight_optimizer"]
