"""Surrogate benchmarks: a validation accuracy computed by a model of the architecture (e.g. the
NAS-Bench-301 surrogate), queried inside ``jit`` like a table.

A :class:`Surrogate` is a pytree: the model's parameters are its leaves, the search space and
the prediction function are static. A trial's landscape (:class:`SurrogateLandscape`) adds the
trial's noise: ``denoised`` (the surrogate's value) or ``gaussian`` (the surrogate's value plus
``N(0, std**2)`` drawn once per (trial, architecture) from the architecture's key, fixed within
the trial, as a real training run would be). A surrogate has one value per architecture and no
seeds, so ``standard`` and ``random`` do not apply; it has no test accuracy either, so
:meth:`SurrogateLandscape.test` is the true (denoised) validation accuracy and reports label it
as such (``has_test`` is false).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxnas.benchmarks.tabular import NoiseModel, gaussian_of_key, hash32, noise_name, noise_std
from jaxnas.spaces.base import SearchSpace

#: the noise models a surrogate supports
SURROGATE_NOISE: tuple[str, ...] = ("denoised", "gaussian")


@struct.dataclass
class Surrogate:
    """A surrogate benchmark over ``space``.

    Attributes:
        space: the search space (static).
        predict: ``(params, archs [..., *arch_shape]) -> validation accuracy (%) [...]``, pure
            and jit-able (static).
        params: the model's parameters (a pytree of arrays).
        name: the benchmark's name, for messages (static).
    """

    space: SearchSpace = struct.field(pytree_node=False)
    predict: Callable[[Any, jax.Array], jax.Array] = struct.field(pytree_node=False)
    params: Any
    name: str = struct.field(pytree_node=False, default="surrogate")

    def valid(self, arch: jax.Array) -> jax.Array:
        """The surrogate's validation accuracy (%) of ``arch`` (``[..., *arch_shape] -> [...]``)."""
        return self.predict(self.params, jnp.asarray(arch, self.space.arch_dtype))

    def landscape(self, key: jax.Array, noise: NoiseModel) -> SurrogateLandscape:
        """This trial's landscape under ``noise`` (``denoised`` or a ``gaussian`` model).
        Consumes ``key``."""
        check_surrogate_noise(noise, self.name)
        return SurrogateLandscape(bench=self, salt=jax.random.bits(key, (), jnp.uint32),
                                  std=noise_std(noise))


def check_surrogate_noise(noise: str | NoiseModel, benchmark: str = "surrogate") -> None:
    """ValueError unless ``noise`` is one a surrogate supports (:data:`SURROGATE_NOISE`)."""
    name = noise_name(noise)
    if name not in SURROGATE_NOISE:
        raise ValueError(f"noise model {name!r} is not available on {benchmark} (one value per "
                         f"architecture, no training seeds); use one of {SURROGATE_NOISE}")


@struct.dataclass
class SurrogateLandscape:
    """One trial's view of a :class:`Surrogate` (the query methods of
    :class:`jaxnas.benchmarks.tabular.Landscape`)."""

    bench: Surrogate
    salt: jax.Array  # [] uint32
    std: float = struct.field(pytree_node=False, default=0.0)

    #: :meth:`test` is the true validation accuracy, not a test accuracy
    has_test = False

    @property
    def space(self) -> SearchSpace:
        return self.bench.space

    def valid(self, arch: jax.Array) -> jax.Array:
        """The validation accuracy this trial observes for ``arch`` (``[..., *arch_shape]``)."""
        v = self.bench.valid(arch)
        if self.std:
            v = v + self.noise(self.space.arch_key(jnp.asarray(arch, self.space.arch_dtype)))
        return v

    def noise(self, key: jax.Array) -> jax.Array:
        """The noise this trial adds to the architectures with keys ``key`` (``[...,
        *key_shape] -> [...]``), 0 without gaussian noise."""
        if not self.std:
            return jnp.zeros(jnp.shape(key)[: jnp.ndim(key) - len(self.space.key_shape)])
        return jnp.float32(self.std) * gaussian_of_key(self.salt, key, len(self.space.key_shape))

    def valid_draw(self, arch: jax.Array, draw: jax.Array) -> jax.Array:
        """The ``draw``-th evaluation of ``arch`` in this trial (draw 0: :meth:`valid`); later
        draws redraw the gaussian noise, as a new training run would (naszilla's repeats)."""
        if not self.std:
            return self.valid(arch)
        d = jnp.asarray(draw).astype(jnp.uint32)
        salt = jnp.where(d == 0, self.salt, hash32(self.salt ^ hash32(d * jnp.uint32(0x9E3779B9))))
        return self.replace(salt=salt).valid(arch)

    def denoise(self, values: jax.Array, key: jax.Array) -> jax.Array:
        """True values of architectures from the values this trial observed for them and their
        keys (no model evaluation): ``values - noise(key)``."""
        return values - self.noise(key)

    def test(self, arch: jax.Array) -> jax.Array:
        """The true (denoised) validation accuracy of ``arch``: there is no test accuracy."""
        return self.bench.valid(arch)

    def true_valid(self, arch: jax.Array) -> jax.Array:
        """The surrogate's (noise-free) validation accuracy of ``arch``."""
        return self.bench.valid(arch)


__all__ = ["SURROGATE_NOISE", "Surrogate", "SurrogateLandscape", "check_surrogate_noise"]
