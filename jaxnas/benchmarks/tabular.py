"""A space-agnostic tabular benchmark, the noise-model registry and a trial's landscape.

A :class:`Table` holds one value per architecture of an enumerable search space, in the space's
key order (row ``k`` = the architecture whose :meth:`~jaxnas.spaces.SearchSpace.arch_key` is
``k``), so a query inside ``jit`` is one gather. Tables with per-seed values carry each seed's
deviation from the seed mean; the noise models (White, Nolen, Savani 2020, Section 4) turn a table
into the validation landscape one trial sees:

* ``denoised``: the validation accuracy averaged over training seeds;
* ``standard``: one training seed's value per architecture, drawn once per trial and then fixed
  for that trial, as a single real training run would be;
* ``random``: a seeded random permutation of the denoised values over architectures (the
  paper's "Random" landscape: the same distribution of accuracies, no neighbourhood structure);
* ``gaussian`` (with a standard deviation ``std`` in accuracy points, :class:`Gaussian`): the
  denoised value plus ``N(0, std**2)`` noise drawn once per (trial, architecture) from the
  architecture's key, fixed within the trial. It applies to surrogate benchmarks too
  (:mod:`jaxnas.benchmarks.surrogate`), which have one value per architecture.

More noise models register with :func:`register_noise`. A landscape is built and validated once,
at the boundary (:func:`make_landscape`); search, landscape statistics and neighbourhood scores
take the built :class:`Landscape` and never see the noise name again.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxnas.spaces.base import SearchSpace


@struct.dataclass
class Table:
    """One dataset of a tabular benchmark over an enumerable space (a pytree, usable in jit).

    Attributes:
        space: the search space (static).
        valid: validation accuracy (%), mean over seeds.  # [N]
        test: test accuracy (%), mean over seeds.  # [N]
        seed_dev: each seed's deviation from the seed mean, 0 where missing.  # [N, K]
        num_seeds: seeds available per architecture (missing ones are always the last).  # [N]
        extra: further per-architecture arrays of the benchmark (e.g. NAS-Bench-201's
            ``valid_12``, ``test_12``, ``seeds``, official ``index``), in key order.
    """

    space: SearchSpace = struct.field(pytree_node=False)
    valid: jax.Array
    test: jax.Array
    seed_dev: jax.Array
    num_seeds: jax.Array
    extra: dict[str, jax.Array] = struct.field(default_factory=dict)

    @property
    def num_archs(self) -> int:
        return self.valid.shape[0]

    def __getattr__(self, name: str) -> Any:
        # benchmark-specific arrays read as attributes (bench.valid_12, bench.index, ...)
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or extra array {name!r}")


def make_table(space: SearchSpace, valid, test, seeds=None, **extra) -> Table:
    """A :class:`Table` from arrays in key order; ``seeds: [N, K]`` per-seed values (NaN where
    missing, packed to the left) give the ``standard`` noise model its deviations and are kept
    as ``extra['seeds']``.

    Raises:
        ValueError: if a shape does not match the space, or seeds are not packed to the left.
    """
    import numpy as np

    n = space.num_archs
    if n is None:
        raise ValueError(f"space {space.name!r} is not enumerable; a table needs one row per "
                         f"architecture (use a surrogate benchmark)")
    valid, test = np.asarray(valid, np.float32), np.asarray(test, np.float32)
    for name, arr in (("valid", valid), ("test", test)):
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape [{n}] ({space.name} in key order), "
                             f"got {arr.shape}")
    if seeds is None:
        seeds = valid[:, None]
    else:
        extra["seeds"] = seeds
    seeds = np.asarray(seeds, np.float32)
    ok = ~np.isnan(seeds)
    if seeds.ndim != 2 or seeds.shape[0] != n or not np.all(ok.sum(1) >= 1) or np.any(
            ~ok[:, :-1] & ok[:, 1:]):
        raise ValueError("per-seed table: shape [N, K] with every architecture's seeds packed "
                         "to the left (NaN only at the end of a row)")
    with np.errstate(invalid="ignore"):
        dev = np.where(ok, seeds - np.nanmean(seeds, axis=1, keepdims=True), 0.0)
    return Table(space=space, valid=jnp.asarray(valid), test=jnp.asarray(test),
                 seed_dev=jnp.asarray(dev.astype(np.float32)),
                 num_seeds=jnp.asarray(ok.sum(1).astype(np.int32)),
                 extra={k: jnp.asarray(v) for k, v in extra.items()})


# --------------------------------------------------------------------------------------------
# Noise models.
# --------------------------------------------------------------------------------------------


@struct.dataclass
class NoisyTable:
    """One trial's validation landscape, queried lazily with :func:`noisy_valid` (jit-able).

    ``value(k) = base[k] + dev[k, j] (+ std * z(salt, k))`` where the seed ``j`` is chosen among
    the architecture's available seeds by an integer hash of ``(salt, k)``: the same
    architecture always gives the same value within a trial, without materialising the whole
    landscape, and the choice is uniform up to a 2^-32 bias (a full PRNG call per query costs
    several times more inside the search loop on a CPU). ``z`` is the standard normal deviate of
    :func:`gaussian_of_key` (the ``gaussian`` model; ``std`` is static, 0 elsewhere).
    """

    base: jax.Array  # [N]
    dev: jax.Array  # [N, K] zeros for the deterministic noise models
    num_seeds: jax.Array  # [N]
    salt: jax.Array  # [] uint32, drawn from the trial's key
    std: float = struct.field(pytree_node=False, default=0.0)


NoiseModel = Callable[[jax.Array, Table, jax.Array], NoisyTable]
"""``(perm_key, table, salt) -> NoisyTable``: one trial's landscape under a noise model."""

NOISE_MODELS: dict[str, NoiseModel] = {}


def register_noise(name: str) -> Callable[[NoiseModel], NoiseModel]:
    """Decorator registering a noise model under ``name`` in :data:`NOISE_MODELS`."""

    def deco(fn: NoiseModel) -> NoiseModel:
        NOISE_MODELS[name] = fn
        return fn

    return deco


def check_noise(noise: str) -> str:
    """Returns ``noise`` if it is a registered noise model; else a ValueError naming them."""
    if noise not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise!r}; choose one of {tuple(NOISE_MODELS)}")
    return noise


@dataclasses.dataclass(frozen=True)
class Gaussian:
    """The ``gaussian`` noise model: the denoised value plus ``N(0, std**2)`` (accuracy points)
    drawn once per (trial, architecture) from a hash of the trial's salt and the architecture's
    key. A static, hashable :data:`NoiseModel`."""

    std: float
    name: str = "gaussian"

    def __post_init__(self):
        if not (isinstance(self.std, (int, float)) and math.isfinite(self.std) and self.std >= 0):
            raise ValueError(f"--noise-std must be a finite number >= 0 (accuracy points), got "
                             f"{self.std!r}")

    def __call__(self, key: jax.Array, table: Table, salt: jax.Array) -> NoisyTable:
        del key
        return NoisyTable(table.valid, jnp.zeros_like(table.seed_dev), table.num_seeds, salt,
                          std=float(self.std))


#: noise models that need a parameter: name -> factory ``(std) -> NoiseModel``
PARAMETRIC_NOISE: dict[str, Callable[[float], NoiseModel]] = {"gaussian": Gaussian}


def noise_name(noise: str | NoiseModel) -> str:
    """The registered name of a noise model (or of a name)."""
    if isinstance(noise, str):
        return noise
    for name, fn in NOISE_MODELS.items():
        if fn is noise:
            return name
    return getattr(noise, "name", type(noise).__name__)


def noise_std(noise: str | NoiseModel) -> float:
    """The standard deviation (accuracy points) a noise model adds on top of a denoised value:
    ``std`` of :class:`Gaussian`, 0 for the others."""
    return float(getattr(noise, "std", 0.0))


@register_noise("denoised")
def _denoised(key: jax.Array, table: Table, salt: jax.Array) -> NoisyTable:
    del key
    return NoisyTable(table.valid, jnp.zeros_like(table.seed_dev), table.num_seeds, salt)


@register_noise("standard")
def _standard(key: jax.Array, table: Table, salt: jax.Array) -> NoisyTable:
    del key
    return NoisyTable(table.valid, table.seed_dev, table.num_seeds, salt)


@register_noise("random")
def _random(key: jax.Array, table: Table, salt: jax.Array) -> NoisyTable:
    return NoisyTable(permuted(key, table.valid), jnp.zeros_like(table.seed_dev),
                      table.num_seeds, salt)


def permuted(key: jax.Array, x: jax.Array) -> jax.Array:
    """The values of ``x`` permuted over architectures (the ``random`` noise model)."""
    return jax.random.permutation(key, x)


def noise_model(noise: str | NoiseModel, std: float | None = None) -> NoiseModel:
    """The noise model called ``noise`` (checked here, once), or ``noise`` itself if it is one
    already; the functions below accept either, so a driver resolves the name at its boundary
    and passes the model on. ``std`` parametrises ``gaussian`` (required there, refused
    elsewhere).

    Raises:
        ValueError: unknown name, a missing or misplaced ``std``.
    """
    if callable(noise):
        return noise
    if noise in PARAMETRIC_NOISE:
        if std is None:
            raise ValueError(f"noise model {noise!r} needs a standard deviation: pass "
                             f"--noise-std S (accuracy points)")
        return PARAMETRIC_NOISE[noise](std)
    model = NOISE_MODELS[check_noise(noise)]
    if std is not None:
        raise ValueError(f"--noise-std applies to the gaussian noise model only, not to "
                         f"{noise!r}")
    return model


def noisy_table(key: jax.Array, table: Table, noise: str | NoiseModel) -> NoisyTable:
    """This trial's landscape under a noise model (a registered name or a :data:`NoiseModel`;
    static). Consumes ``key``.

    ``standard``: every architecture's value is the denoised value plus one of its available
    training seeds' deviation from the seed mean, ``valid + (seed_j - mean seeds)``, the seed
    drawn uniformly and fixed for the trial.
    """
    model = noise_model(noise)
    k_salt, k_perm = jax.random.split(key)
    return model(k_perm, table, jax.random.bits(k_salt, (), jnp.uint32))


def hash32(x: jax.Array) -> jax.Array:
    """The murmur3 32-bit finaliser: a cheap, well-mixing bijection on uint32."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def noisy_valid(table: NoisyTable, key: jax.Array) -> jax.Array:
    """Validation accuracy of the architecture with table row ``key`` in this trial (any shape)."""
    key = jnp.asarray(key, jnp.int32)
    h = hash32(table.salt ^ hash32(key.astype(jnp.uint32) + jnp.uint32(0x9E3779B9)))
    j = (h % table.num_seeds[key].astype(jnp.uint32)).astype(jnp.int32)
    out = table.base[key] + jnp.take_along_axis(table.dev[key], j[..., None], axis=-1)[..., 0]
    if table.std:
        out = out + jnp.float32(table.std) * gaussian_of_key(table.salt, key)
    return out


def gaussian_of_key(salt: jax.Array, key: jax.Array, key_ndim: int = 0) -> jax.Array:
    """A standard normal deviate per architecture key, fixed by ``(salt, key)`` (jit-able).

    ``key`` is ``[..., *key_shape]`` with ``key_ndim = len(key_shape)`` trailing word axes
    (hashed keys of large spaces); the words are folded into one 32-bit hash, then two
    independent uniforms give a Box-Muller normal. Integer hashing instead of a PRNG call per
    query, for the same reason as the seed choice of :func:`noisy_valid`.
    """
    k = jnp.asarray(key).astype(jnp.uint32)
    h = hash32(jnp.asarray(salt, jnp.uint32) ^ jnp.uint32(0x2545F491))
    h = jnp.broadcast_to(h, k.shape[: k.ndim - key_ndim])
    if key_ndim:
        k = k.reshape(*k.shape[: k.ndim - key_ndim], -1)
    words = [k] if key_ndim == 0 else [k[..., i] for i in range(k.shape[-1])]
    for w in words:
        h = hash32(h ^ hash32(w + jnp.uint32(0x9E3779B9)))
    h2 = hash32(h ^ jnp.uint32(0x68E31DA4))
    u1 = ((h >> 8).astype(jnp.float32) + 0.5) * jnp.float32(2.0**-24)  # (0, 1)
    u2 = (h2 >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)
    return jnp.sqrt(-2.0 * jnp.log(u1)) * jnp.cos(jnp.float32(2 * math.pi) * u2)


def objective(key: jax.Array, table: Table, noise: str | NoiseModel) -> jax.Array:
    """The whole validation landscape a trial sees, ``[N]`` in key order (jit-able; static
    ``noise``). Equals :func:`noisy_valid` of :func:`noisy_table` at every row. Consumes ``key``."""
    nt = noisy_table(key, table, noise)
    return noisy_valid(nt, jnp.arange(table.valid.shape[0], dtype=jnp.int32))


# --------------------------------------------------------------------------------------------
# A trial's landscape: what search algorithms query.
# --------------------------------------------------------------------------------------------


@struct.dataclass
class Landscape:
    """What one trial can query on a tabular benchmark: its (noisy) validation accuracies and
    the true test accuracies, by architecture.

    Search algorithms use only ``space``, ``salt``, :meth:`valid`, :meth:`test` and, for
    enumerable spaces, :meth:`valid_of_key` / :meth:`test_of_key`; a surrogate benchmark
    provides a landscape with the same methods.
    """

    space: SearchSpace = struct.field(pytree_node=False)
    table: NoisyTable
    test_table: jax.Array  # [N] test accuracy, mean over seeds

    #: :meth:`test` is a test accuracy (surrogates without one return the true validation value)
    has_test = True

    @property
    def num_archs(self) -> int:
        return self.test_table.shape[0]

    @property
    def salt(self) -> jax.Array:
        """``uint32[]`` drawn once per trial (for per-trial hashes, e.g. fixed neighbour samples)."""
        return self.table.salt

    def valid_of_key(self, key: jax.Array) -> jax.Array:
        return noisy_valid(self.table, key)

    def test_of_key(self, key: jax.Array) -> jax.Array:
        return self.test_table[jnp.asarray(key, jnp.int32)]

    def valid(self, arch: jax.Array) -> jax.Array:
        """Validation accuracy of ``arch`` (``[..., *arch_shape] -> [...]``) in this trial."""
        return self.valid_of_key(self.space.arch_key(arch))

    def test(self, arch: jax.Array) -> jax.Array:
        """Test accuracy of ``arch`` (``[..., *arch_shape] -> [...]``)."""
        return self.test_of_key(self.space.arch_key(arch))

    def true_valid(self, arch: jax.Array) -> jax.Array:
        """The landscape's noise-free validation accuracy of ``arch``: the mean over seeds
        (``random``: the permuted mean), without the trial's seed draw or gaussian noise."""
        return self.table.base[jnp.asarray(self.space.arch_key(arch), jnp.int32)]

    def optimum(self) -> tuple[jax.Array, jax.Array]:
        """``(key, value)`` of the architecture with the best validation accuracy in this trial
        (the first of equals), over the whole table."""
        values = self.valid_of_key(jnp.arange(self.num_archs, dtype=jnp.int32))
        k = jnp.argmax(values).astype(jnp.int32)
        return k, values[k]

    def valid_draw(self, arch: jax.Array, draw: jax.Array) -> jax.Array:
        """Validation accuracy of the ``draw``-th evaluation of ``arch`` in this trial.

        Draw 0 is :meth:`valid`. Later draws re-train the architecture: a noise model that
        draws a training seed (``standard``) draws it afresh and independently for every
        draw, as naszilla's noisy queries (``deterministic=False``) do at every call;
        deterministic models (``denoised``, ``random``) give the same value every time.
        """
        d = jnp.asarray(draw).astype(jnp.uint32)
        salt = jnp.where(d == 0, self.table.salt,
                         hash32(self.table.salt ^ hash32(d * jnp.uint32(0x9E3779B9))))
        return noisy_valid(self.table.replace(salt=salt), self.space.arch_key(arch))



def make_landscape(key: jax.Array, table: Any, noise: str | NoiseModel) -> Any:
    """This trial's landscape under a noise model (a name or a :data:`NoiseModel`, static).
    Consumes ``key``.

    ``table`` is a :class:`Table` or any benchmark pytree with a ``landscape(key, model)``
    method (e.g. :class:`jaxnas.benchmarks.surrogate.Surrogate`) returning an object with the
    :class:`Landscape` query methods ``valid``, ``test``, ``salt``, ``space``, ``has_test``.
    """
    if not isinstance(table, Table):
        return table.landscape(key, noise_model(noise))
    return Landscape(space=table.space, table=noisy_table(key, table, noise),
                     test_table=table.test)


__all__ = ["NOISE_MODELS", "PARAMETRIC_NOISE", "Gaussian", "Landscape", "NoiseModel", "NoisyTable",
           "Table", "check_noise", "gaussian_of_key", "hash32", "noise_name", "noise_std", "make_landscape", "make_table", "noise_model", "noisy_table", "noisy_valid", "objective",
           "permuted", "register_noise"]
