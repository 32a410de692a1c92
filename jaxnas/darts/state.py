"""The DARTS train state: everything a search run needs to continue, as one pytree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxnas.models.layers import init_variables
from jaxnas.spaces import SearchSpace

# DARTS initialises alpha as 1e-3 * N(0, 1) (``arch_parameters`` in the reference code).
ALPHA_INIT_SCALE = 1e-3


@flax.struct.dataclass
class TrainState:
    """Supernet weights, architecture parameters, both optimizer states, step and PRNG key.

    Attributes:
        params: supernet weights (``Network`` ``params`` collection).
        batch_stats: BatchNorm running averages.
        alpha: architecture logits, a pytree of the space's ``alpha_shapes`` (``[6, 5]`` for
            NAS-Bench-201); op weights are ``softmax(alpha, -1)`` leaf by leaf.
        opt_weights: state of the weight optimizer.
        opt_alpha: state of the architecture optimizer.
        step: completed train steps, ``int32[]``.
        key: raw PRNG key data, ``uint32[2]`` (``jax.random.key_data``); step ``t`` uses
            ``fold_in(key, t)``, so a resumed run draws the same randomness.
    """

    params: Any
    batch_stats: Any
    alpha: Any  # pytree of [E_i, K]
    opt_weights: optax.OptState
    opt_alpha: optax.OptState
    step: jax.Array  # int32 []
    key: jax.Array  # uint32 [2]


def init_state(key: jax.Array, space: SearchSpace, net: nn.Module,
               weight_tx: optax.GradientTransformation, alpha_tx: optax.GradientTransformation,
               image_shape: Sequence[int] = (32, 32, 3)) -> TrainState:
    """Fresh state: the supernet ``net`` of ``space`` initialised, ``alpha ~ 1e-3 N(0, 1)``
    (:meth:`~jaxnas.spaces.base.SearchSpace.init_alpha`), step 0. Consumes ``key``."""
    k_net, k_alpha, k_run = jax.random.split(key, 3)
    variables = init_variables(k_net, net, space.uniform_op_weights(), image_shape)
    params = variables["params"]
    alpha = space.init_alpha(k_alpha, ALPHA_INIT_SCALE)
    return TrainState(params=params, batch_stats=variables.get("batch_stats", {}), alpha=alpha,
                      opt_weights=weight_tx.init(params), opt_alpha=alpha_tx.init(alpha),
                      step=jnp.zeros((), jnp.int32), key=jax.random.key_data(k_run))


__all__ = ["ALPHA_INIT_SCALE", "TrainState", "init_state"]
