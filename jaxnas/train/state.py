"""The discrete network of a training run, its train state and its parameter counts.

The network comes from the search space (``space.network(arch, channels=..., <depth>=...,
num_classes=...)``), so this module names no space. The training code relies on one calling
convention: ``net.apply(variables, x, train=...)`` returns logits ``[B, K]`` or
``(logits, aux_logits)``; a network that takes ``drop_path_rate`` (with the ``'drop_path'`` rng
stream) supports drop path, and one with an ``auxiliary`` attribute has an auxiliary head that is
built only when the protocol weights its loss.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas import spaces
from jaxnas.models.layers import on_cpu


@flax.struct.dataclass
class TrainState:
    """Weights, BatchNorm statistics, optimizer state, step and PRNG key of one run (with
    ``--seeds K``, every leaf has a leading ``[K]`` axis).

    Attributes:
        params: network weights.
        batch_stats: BatchNorm running averages.
        opt_state: the optimizer's state (:func:`jaxnas.train.optim.sgd`).
        step: completed train steps, ``int32[]``.
        key: raw PRNG key data, ``uint32[2]``; step ``t`` draws from ``fold_in(key, t)``, so a
            resumed run draws the same randomness.
    """

    params: Any
    batch_stats: Any
    opt_state: optax.OptState
    step: jax.Array  # int32 []
    key: jax.Array  # uint32 [2]


def has_auxiliary(net: nn.Module) -> bool:
    """Whether ``net`` has an auxiliary head to switch (an ``auxiliary`` field)."""
    return "auxiliary" in {f.name for f in dataclasses.fields(net)}


def takes_drop_path(net: nn.Module) -> bool:
    """Whether ``net.__call__`` takes ``drop_path_rate``."""
    return "drop_path_rate" in inspect.signature(type(net).__call__).parameters


def build_network(space: str, arch: Any, channels: int, size_kwargs: dict[str, int],
                  num_classes: int, auxiliary: bool = False) -> nn.Module:
    """The discrete network of ``arch`` (a string or an encoding) in ``space``.

    Args:
        space: registered space name.
        arch: the space's string or encoding (parsed and validated by the space).
        channels: ``C``.
        size_kwargs: the depth, ``{'cells_per_stage': N}`` or ``{'layers': L}``.
        num_classes: classifier outputs.
        auxiliary: build the auxiliary head (networks that have one).

    Raises:
        ValueError: a malformed architecture (the space's message), or ``auxiliary`` for a
            network without an auxiliary head.
    """
    sp = spaces.get(space)
    net = sp.network(sp.parse(arch), channels=channels, num_classes=num_classes, **size_kwargs)
    if has_auxiliary(net):
        return net.clone(auxiliary=auxiliary)
    if auxiliary:
        raise ValueError(f"the {space!r} network has no auxiliary head; use a protocol without "
                         "one or --aux-weight 0")
    return net


def split_output(out: Any) -> tuple[jax.Array, jax.Array | None]:
    """``(logits, aux_logits or None)`` of a network's output."""
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


@functools.cache
def _jitted_init(net: nn.Module, image_shape: tuple[int, ...]):
    # compiled without backend optimisation: initialisation runs once (jaxnas.models.layers)
    opts = {"xla_backend_optimization_level": 0} if on_cpu() else None
    x = jnp.zeros((1, *image_shape), jnp.float32)
    return jax.jit(lambda key: dict(net.init(key, x, train=False)), compiler_options=opts)


def init_variables(key: jax.Array, net: nn.Module, image_shape: Sequence[int]) -> dict:
    """``{'params', 'batch_stats'}`` of ``net`` (one jitted program per network and image
    shape). Consumes ``key``."""
    if isinstance(key, jax.core.Tracer):
        x = jnp.zeros((1, *image_shape), jnp.float32)
        return dict(net.init(key, x, train=False))
    return _jitted_init(net, tuple(image_shape))(key)


def init_state(key: jax.Array, net: nn.Module, tx: optax.GradientTransformation,
               image_shape: Sequence[int]) -> TrainState:
    """A fresh state of one run: ``net`` initialised from ``key``, step 0. Consumes ``key``.

    Batch it over seeds with ``jax.vmap(lambda k: init_state(k, ...))(keys)``.
    """
    k_net, k_run = jax.random.split(key)
    variables = init_variables(k_net, net, image_shape)
    params = variables["params"]
    return TrainState(params=params, batch_stats=variables.get("batch_stats", {}),
                      opt_state=tx.init(params), step=jnp.zeros((), jnp.int32),
                      key=jax.random.key_data(k_run))


def seed_keys(seed: int, seeds: int) -> jax.Array:
    """The keys of runs ``seed, seed + 1, ..., seed + seeds - 1``: ``[seeds]`` typed keys (run
    ``k`` is the same whether trained alone or with others)."""
    return jnp.stack([jax.random.key(seed + k) for k in range(seeds)])


def count_params(params: Any) -> int:
    """Number of scalars in a ``params`` tree."""
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(params)))


def param_counts(net: nn.Module, image_shape: Sequence[int]) -> dict[str, int]:
    """``{'num_params': without the auxiliary head, 'num_params_aux': the head alone}`` (shapes
    only; nothing is computed). ``num_params_aux`` is 0 for networks without one."""

    def count(n):
        shapes = jax.eval_shape(lambda k: init_variables(k, n, image_shape), jax.random.key(0))
        return count_params(shapes["params"])

    if not has_auxiliary(net):
        return {"num_params": count(net), "num_params_aux": 0}
    base = count(net.clone(auxiliary=False))
    return {"num_params": base, "num_params_aux": count(net.clone(auxiliary=True)) - base}


__all__ = ["TrainState", "build_network", "count_params", "has_auxiliary", "init_state",
           "init_variables", "param_counts", "seed_keys", "split_output", "takes_drop_path"]
