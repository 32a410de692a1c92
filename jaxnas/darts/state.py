"""The DARTS train state: everything a search run needs to continue, as one pytree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxnas.models import Network, init
from jaxnas.spaces import nb201

# DARTS initialises alpha as 1e-3 * N(0, 1) (``arch_parameters`` in the reference code).
ALPHA_INIT_SCALE = 1e-3


@flax.struct.dataclass
class TrainState:
    """Supernet weights, architecture parameters, both optimizer states, step and PRNG key.

    Attributes:
        params: supernet weights (``Network`` ``params`` collection).
        batch_stats: BatchNorm running averages.
        alpha: architecture logits, ``[6, 5]``; op weights are ``softmax(alpha, -1)``.
        opt_weights: state of the weight optimizer.
        opt_alpha: state of the architecture optimizer.
        step: completed train steps, ``int32[]``.
        key: raw PRNG key data, ``uint32[2]`` (``jax.random.key_data``); step ``t`` uses
            ``fold_in(key, t)``, so a resumed run draws the same randomness.
    """

    params: Any
    batch_stats: Any
    alpha: jax.Array  # [6, 5]
    opt_weights: optax.OptState
    opt_alpha: optax.OptState
    step: jax.Array  # int32 []
    key: jax.Array  # uint32 [2]


def init_state(key: jax.Array, net: Network, weight_tx: optax.GradientTransformation,
               alpha_tx: optax.GradientTransformation,
               image_shape: Sequence[int] = (32, 32, 3)) -> TrainState:
    """Fresh state: initialised supernet, ``alpha ~ 1e-3 N(0, 1)``, step 0. Consumes ``key``."""
    k_net, k_alpha, k_run = jax.random.split(key, 3)
    variables = init(k_net, net, image_shape)
    params = variables["params"]
    alpha = ALPHA_INIT_SCALE * jax.random.normal(k_alpha, (nb201.NUM_EDGES, nb201.NUM_OPS))
    return TrainState(params=params, batch_stats=variables.get("batch_stats", {}), alpha=alpha,
                      opt_weights=weight_tx.init(params), opt_alpha=alpha_tx.init(alpha),
                      step=jnp.zeros((), jnp.int32), key=jax.random.key_data(k_run))


__all__ = ["ALPHA_INIT_SCALE", "TrainState", "init_state"]
