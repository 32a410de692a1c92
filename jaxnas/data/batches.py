"""Deterministic, resumable, device-sharded batches of an in-memory ``Dataset``.

The order of epoch ``e`` is ``np.random.default_rng([seed, e]).permutation(N)``: it depends on
``(seed, epoch)`` only, so the iterator state is one integer (batches yielded so far) and a
restored run continues bit-exactly. For NAS-Bench-201 sizes (at most ~150k small images in RAM)
an in-memory NumPy permutation is microseconds per epoch and needs no extra dependency; grain's
``IndexSampler`` would add the same guarantees with more machinery, so it is not used.

Multi-host: every process computes the same global index list, takes its contiguous slice of
the global batch and assembles the global ``jax.Array`` with
``jax.make_array_from_process_local_data``. The last ``N % batch_size`` examples of each
epoch's permutation are dropped (each epoch drops different ones).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxnas.data.sources import Dataset


def batch_sharding(mesh: Mesh | None = None, axis: str = "data") -> NamedSharding:
    """Sharding that splits the leading (batch) axis over all devices of ``mesh``.

    Args:
        mesh: device mesh; default a 1-D mesh named ``axis`` over ``jax.devices()``.
        axis: axis name of the default mesh.

    Returns:
        ``NamedSharding`` with the batch axis split over every mesh axis (other axes replicated).
    """
    if mesh is None:
        mesh = Mesh(np.asarray(jax.devices()), (axis,))
    names = tuple(mesh.axis_names)
    return NamedSharding(mesh, PartitionSpec(names[0] if len(names) == 1 else names))


class Batches:
    """Deterministic epoch-wise shuffled batches of one Dataset; order depends only on (seed, epoch).

    Iterating yields ``(images, labels)``: uint8 ``[B, H, W, 3]`` and int32 ``[B]`` ``jax.Array``
    placed with ``sharding`` (or on the default device), forever (across epochs);
    ``position`` counts batches yielded and is all the state a checkpoint needs.

    Args:
        ds: the dataset.
        batch_size: global batch size B (divisible by the number of processes and, with a
            sharding, by its number of devices).
        seed: shuffling seed.
        sharding: where batches go, e.g. ``batch_sharding()``; ``None``: default device.
        shuffle: ``False`` keeps dataset order every epoch (evaluation).
    """

    def __init__(self, ds: Dataset, batch_size: int, seed: int = 0,
                 sharding: jax.sharding.Sharding | None = None, shuffle: bool = True):
        n = ds.size
        if batch_size <= 0 or batch_size > n:
            raise ValueError(f"batch_size={batch_size} must be in [1, {n}] (dataset {ds.name} "
                             f"has {n} examples); lower it or use more data")
        nproc = jax.process_count()
        if batch_size % nproc:
            raise ValueError(f"batch_size={batch_size} is not divisible by the "
                             f"{nproc} processes; pick a multiple")
        if sharding is not None:
            ndev = len(sharding.device_set)
            if batch_size % ndev:
                raise ValueError(f"batch_size={batch_size} is not divisible by the {ndev} devices "
                                 "of the sharding; pick a multiple")
        self.ds = ds
        self.batch_size = batch_size
        self.seed = seed
        self.sharding = sharding
        self.shuffle = shuffle
        self.steps_per_epoch = n // batch_size
        self.position = 0
        self._perm_epoch = -1
        self._perm: np.ndarray | None = None

    @property
    def epoch(self) -> int:
        """Epoch of the next batch."""
        return self.position // self.steps_per_epoch

    def permutation(self, epoch: int) -> np.ndarray:
        """Example order of ``epoch``: int ``[N]``."""
        if epoch != self._perm_epoch:
            n = self.ds.size
            self._perm = (np.random.default_rng([self.seed, epoch]).permutation(n)
                          if self.shuffle else np.arange(n))
            self._perm_epoch = epoch
        return self._perm

    def indices(self, position: int) -> np.ndarray:
        """Global example indices of batch number ``position``: int ``[B]``."""
        epoch, step = divmod(position, self.steps_per_epoch)
        return self.permutation(epoch)[step * self.batch_size:(step + 1) * self.batch_size]

    def state(self) -> dict:
        """Checkpointable iterator state ``{"position": int}``."""
        return {"position": int(self.position)}

    def restore(self, state: dict) -> None:
        """Continue from a ``state()``: the next batch is the one that followed it."""
        pos = int(np.asarray(state["position"]))
        if pos < 0:
            raise ValueError(f"position {pos} in restored state must be >= 0")
        self.position = pos

    def __iter__(self) -> Batches:
        return self

    def __next__(self) -> tuple[jax.Array, jax.Array]:
        idx = self.indices(self.position)
        self.position += 1
        nproc, pid = jax.process_count(), jax.process_index()
        local = self.batch_size // nproc
        idx = idx[pid * local:(pid + 1) * local]
        images, labels = self.ds.images[idx], self.ds.labels[idx]
        if nproc == 1:
            if self.sharding is None:
                return jax.device_put(images), jax.device_put(labels)
            return jax.device_put(images, self.sharding), jax.device_put(labels, self.sharding)
        sharding = self.sharding or batch_sharding()
        return (jax.make_array_from_process_local_data(sharding, images,
                                                       (self.batch_size, *images.shape[1:])),
                jax.make_array_from_process_local_data(sharding, labels, (self.batch_size,)))
