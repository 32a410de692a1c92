"""On-device augmentation and normalisation (pure JAX, jit-able).

The CIFAR recipe of NAS-Bench-201 / DARTS: ``RandomCrop(32, padding=4)`` and
``RandomHorizontalFlip()`` on the uint8 image, then ``Normalize(mean, std)``. As torchvision
pads the *image* with zeros before normalising, the padded border here is black pixels (value
0), which become ``-mean/std`` after normalisation, not 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def normalize(images_uint8: jax.Array, mean, std) -> jax.Array:
    """``(x / 255 - mean) / std`` per channel.

    Args:
        images_uint8: uint8 ``[..., 3]``.
        mean: ``[3]``, per-channel mean of pixel/255.
        std: ``[3]``, per-channel std of pixel/255.

    Returns:
        float32, the shape of ``images_uint8``.
    """
    x = jnp.asarray(images_uint8).astype(jnp.float32) / 255.0
    return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def crop_flip(key: jax.Array, images_uint8: jax.Array, padding: int = 4) -> jax.Array:
    """Per-image random crop of the zero-padded image and horizontal flip with probability 1/2.

    Consumes ``key`` (split into crop offsets and flip coins).

    Args:
        key: PRNG key.
        images_uint8: ``[B, H, W, C]`` (any dtype; uint8 in the pipeline).
        padding: zero border added on each side before the ``H x W`` crop.

    Returns:
        ``[B, H, W, C]``, same dtype: ``out[b] = flip_b(pad(x[b])[dy:dy+H, dx:dx+W])`` with
        ``dy, dx`` uniform in ``[0, 2 * padding]``.
    """
    b, h, w, c = images_uint8.shape
    k_off, k_flip = jax.random.split(key)
    offsets = jax.random.randint(k_off, (b, 2), 0, 2 * padding + 1)
    flips = jax.random.bernoulli(k_flip, 0.5, (b,))
    padded = jnp.pad(images_uint8, ((0, 0), (padding, padding), (padding, padding), (0, 0)))

    def one(img, off, flip):
        crop = jax.lax.dynamic_slice(img, (off[0], off[1], 0), (h, w, c))
        return jnp.where(flip, crop[:, ::-1], crop)

    return jax.vmap(one)(padded, offsets, flips)


def cutout(key: jax.Array, images: jax.Array, length: int) -> jax.Array:
    """DARTS's Cutout (DeVries & Taylor, 2017): per image, a ``length x length`` square centred
    on a uniformly random pixel (clipped at the border) is set to 0.

    DARTS applies it after normalisation, so the square holds the dataset mean; ``length=0``
    returns ``images`` unchanged. Consumes ``key``.

    Args:
        key: PRNG key.
        images: ``[B, H, W, C]`` (normalised floats in the pipeline).
        length: side of the square in pixels (DARTS: 16).

    Returns:
        ``[B, H, W, C]``, same dtype.
    """
    if length <= 0:
        return images
    b, h, w, _ = images.shape
    k_y, k_x = jax.random.split(key)
    cy = jax.random.randint(k_y, (b, 1, 1), 0, h)
    cx = jax.random.randint(k_x, (b, 1, 1), 0, w)
    ys = jnp.arange(h)[None, :, None]
    xs = jnp.arange(w)[None, None, :]
    # rows [cy - length // 2, cy + length // 2) clipped to the image, as the reference's slice
    inside = ((ys >= cy - length // 2) & (ys < cy + length // 2)
              & (xs >= cx - length // 2) & (xs < cx + length // 2))
    return jnp.where(inside[..., None], jnp.zeros((), images.dtype), images)


def augment(key: jax.Array, images_uint8: jax.Array, mean, std, padding: int = 4) -> jax.Array:
    """Random crop (zero padding ``padding``), horizontal flip, then ``normalize``.

    Deterministic in ``key``; consumes it. Use ``padding=2`` for 16x16 ImageNet16 as
    AutoDL-Projects does.

    Args:
        key: PRNG key.
        images_uint8: uint8 ``[B, H, W, 3]``.
        mean: ``[3]`` per-channel mean of pixel/255.
        std: ``[3]`` per-channel std of pixel/255.
        padding: crop padding in pixels.

    Returns:
        float32 ``[B, H, W, 3]``.
    """
    return normalize(crop_flip(key, images_uint8, padding), mean, std)
