"""Temporary stand-in for jaxnas.data (branch `data`), same API; deleted after the merge."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from typing import NamedTuple


class Dataset(NamedTuple):
    images: np.ndarray
    labels: np.ndarray
    num_classes: int
    mean: np.ndarray
    std: np.ndarray
    name: str


def synthetic(n=64, hw=8, num_classes=10, seed=0):
    r = np.random.default_rng(seed)
    return Dataset(r.integers(0, 256, (n, hw, hw, 3), dtype=np.uint8),
                   r.integers(0, num_classes, n).astype(np.int32), num_classes,
                   np.array([125.0, 123.0, 114.0], np.float32),
                   np.array([63.0, 62.0, 66.0], np.float32), "synthetic")


def load(dataset, split="train", image_dir=None, max_examples=None, seed=0):
    return synthetic(max_examples or 64, 8, 10, seed)


def search_split(ds, seed):
    perm = np.random.default_rng(seed).permutation(len(ds.labels))
    h = len(perm) // 2
    return (ds._replace(images=ds.images[perm[:h]], labels=ds.labels[perm[:h]]),
            ds._replace(images=ds.images[perm[h:]], labels=ds.labels[perm[h:]]))


def normalize(images, mean, std):
    return (images.astype(jnp.float32) - mean) / std


def augment(key, images, mean, std):
    b, h, w, _ = images.shape
    x = normalize(images, mean, std)
    x = jnp.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
    k1, k2, k3 = jax.random.split(key, 3)
    oy = jax.random.randint(k1, (b,), 0, 9)
    ox = jax.random.randint(k2, (b,), 0, 9)
    x = jax.vmap(lambda im, a, c: jax.lax.dynamic_slice(im, (a, c, 0), (h, w, 3)))(x, oy, ox)
    flip = jax.random.bernoulli(k3, 0.5, (b,))
    return jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)


def batch_sharding(mesh=None, axis="data"):
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    mesh = mesh or Mesh(np.asarray(jax.devices()), (axis,))
    return NamedSharding(mesh, PartitionSpec(axis))


class Batches:
    def __init__(self, ds, batch_size, seed=0, sharding=None, shuffle=True):
        self.ds, self.bs, self.seed, self.sharding, self.shuffle = ds, batch_size, seed, sharding, shuffle
        self.steps_per_epoch = len(ds.labels) // batch_size
        self.position = 0

    def __iter__(self):
        return self

    def __next__(self):
        e, i = divmod(self.position, self.steps_per_epoch)
        perm = np.random.default_rng([self.seed, e]).permutation(len(self.ds.labels))
        idx = perm[i * self.bs:(i + 1) * self.bs]
        self.position += 1
        x, y = self.ds.images[idx], self.ds.labels[idx]
        if self.sharding is not None:
            return jax.device_put(x, self.sharding), jax.device_put(y, self.sharding)
        return jnp.asarray(x), jnp.asarray(y)

    def state(self):
        return {"position": self.position}

    def restore(self, state):
        self.position = int(state["position"])
