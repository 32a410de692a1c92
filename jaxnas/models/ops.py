"""NAS-Bench-201 cell operations (Dong & Yang, ICLR 2020), channels-last (NHWC).

The five operations of an edge, in :data:`jaxnas.spaces.nb201.OPS` order:

* ``none``: zeros (contributes nothing to the destination node);
* ``skip_connect``: the identity;
* ``nor_conv_1x1`` / ``nor_conv_3x3``: ReLU -> Conv (no bias) -> BatchNorm;
* ``avg_pool_3x3``: 3x3 average pooling, stride 1, padding 1, padding excluded from the count.

Inside search cells the BatchNorm has no affine parameters (``affine=False`` in the reference
implementations), so a BatchNorm over the concatenated outputs of several convolutions is exactly
one BatchNorm per convolution; :mod:`jaxnas.models.cell` relies on this to fuse edges.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# PyTorch's BatchNorm2d defaults (momentum 0.1 there is 0.9 here; same eps).
BN_MOMENTUM = 0.9
BN_EPS = 1e-5


def batch_norm(affine: bool, name: str | None = None) -> nn.BatchNorm:
    """A BatchNorm with PyTorch's defaults; ``affine=False`` drops scale and bias."""
    return nn.BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPS, use_scale=affine, use_bias=affine,
                        name=name)


def conv(features: int, kernel: int, stride: int = 1, name: str | None = None) -> Conv:
    """A bias-free convolution with ``(kernel - 1) // 2`` zero padding, as in NAS-Bench-201."""
    return Conv(features, kernel, stride, name=name)


def _conv(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((padding, padding),) * 2,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d(x: jax.Array, kernel: jax.Array, stride: int = 1, padding: int = 0) -> jax.Array:
    """NHWC / HWIO convolution whose kernel gradient is one im2col matrix product.

    XLA:CPU lowers the kernel gradient of a convolution to a convolution with an image-sized
    window, several times slower than the forward pass; ``patches^T @ dy`` (contracting over
    ``B * H * W``) is a single large GEMM. The input gradient keeps XLA's transposed convolution.

    Args:
        x: ``[B, H, W, Cin]``.
        kernel: ``[kh, kw, Cin, Cout]``.
        stride: spatial stride.
        padding: zero padding on each spatial side.

    Returns:
        ``[B, Ho, Wo, Cout]``.
    """
    return _conv(x, kernel, stride, padding)


def _conv2d_fwd(x, kernel, stride, padding):
    return _conv(x, kernel, stride, padding), (x, kernel)


def _conv2d_bwd(stride, padding, res, dy):
    x, kernel = res
    dx = jax.vjp(lambda x_: _conv(x_, kernel, stride, padding), x)[1](dy)[0]
    kh, kw, ci, co = kernel.shape
    ho, wo = dy.shape[1], dy.shape[2]
    xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    cols = [xp[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            for i in range(kh) for j in range(kw)]
    patches = cols[0] if len(cols) == 1 else jnp.concatenate(cols, -1)  # [B, Ho, Wo, kh*kw*ci]
    dk = jax.lax.dot_general(patches.reshape(-1, kh * kw * ci), dy.reshape(-1, co),
                             (((0,), (0,)), ((), ())))
    return dx, dk.reshape(kh, kw, ci, co).astype(kernel.dtype)


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


class Conv(nn.Module):
    """Bias-free square convolution, parameter ``kernel [k, k, Cin, Cout]`` like ``nn.Conv``
    (same name, shape and LeCun-normal initialiser). On the CPU backend it is computed with
    :func:`conv2d` (im2col kernel gradient, a workaround for XLA:CPU); on GPU/TPU with XLA's own
    convolution and gradient."""

    features: int
    kernel: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.param("kernel", nn.initializers.lecun_normal(),
                       (self.kernel, self.kernel, x.shape[-1], self.features), jnp.float32)
        fn = conv2d if jax.default_backend() == "cpu" else _conv
        return fn(x, k.astype(x.dtype), self.stride, (self.kernel - 1) // 2)


def avg_pool_3x3(x: jax.Array) -> jax.Array:
    """3x3 average pooling, stride 1, padding excluded from the count (``count_include_pad=False``).

    Args:
        x: ``[B, H, W, C]``.
    Returns:
        ``[B, H, W, C]``.
    """
    # Window sums times a constant reciprocal count: nn.avg_pool(count_include_pad=False) would
    # run a second reduce_window over ones for the count on every call.
    h, w = x.shape[-3], x.shape[-2]
    s = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1),
                              ((0, 0), (1, 1), (1, 1), (0, 0)))
    return s * _inv_count(h, w).astype(x.dtype)


@functools.cache
def _inv_count(h: int, w: int) -> np.ndarray:
    """``1 / (number of in-image pixels)`` of every 3x3 window, ``[H, W, 1]``."""
    ch = np.full(h, 3.0)
    ch[0] -= 1
    ch[-1] -= 1
    cw = np.full(w, 3.0)
    cw[0] -= 1
    cw[-1] -= 1
    return (1.0 / np.outer(ch, cw))[:, :, None].astype(np.float32)


class ReLUConvBN(nn.Module):
    """ReLU -> Conv(kernel, stride, no bias) -> BatchNorm (affine or not)."""

    features: int
    kernel: int
    stride: int = 1
    affine: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = conv(self.features, self.kernel, self.stride, name="conv")(nn.relu(x))
        return batch_norm(self.affine, name="bn")(y, use_running_average=not train)


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201's stride-2 residual block between stages (affine BatchNorms).

    ``out = ReLUConvBN3x3(stride 2) -> ReLUConvBN3x3 (x) + Conv1x1(AvgPool2x2(x))``.
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = ReLUConvBN(self.features, 3, 2, affine=True, name="conv_a")(x, train)
        y = ReLUConvBN(self.features, 3, 1, affine=True, name="conv_b")(y, train)
        r = nn.avg_pool(x, (2, 2), strides=(2, 2))
        r = conv(self.features, 1, name="downsample")(r)
        return r + y


def apply_op(op: int, x: jax.Array, features: int, train: bool, edge: int) -> jax.Array:
    """Applies operation ``op`` (index into ``OPS``) of edge ``edge`` inside a compact module.

    Parameters are named ``edge{e}_conv1x1`` / ``edge{e}_conv3x3`` so that the unfused and the
    discrete cells share one parameter layout.
    """
    if op == 0:
        return jnp.zeros_like(x)
    if op == 1:
        return x
    if op == 2:
        return ReLUConvBN(features, 1, name=f"edge{edge}_conv1x1")(x, train)
    if op == 3:
        return ReLUConvBN(features, 3, name=f"edge{edge}_conv3x3")(x, train)
    if op == 4:
        return avg_pool_3x3(x)
    raise ValueError(f"operation index {op!r} is out of range [0, 5)")


__all__ = ["BN_EPS", "BN_MOMENTUM", "Conv", "ReLUConvBN", "ResNetBasicBlock", "apply_op", "avg_pool_3x3",
           "batch_norm", "conv", "conv2d"]
