"""NAS-Bench-201 cell operations (Dong & Yang, ICLR 2020) and the residual block between stages.

The five operations of an edge, in :data:`jaxnas.spaces.nb201.OPS` order:

* ``none``: zeros (contributes nothing to the destination node);
* ``skip_connect``: the identity;
* ``nor_conv_1x1`` / ``nor_conv_3x3``: ReLU -> Conv (no bias) -> BatchNorm (affine-free in the
  supernet; affine in the standalone training network);
* ``avg_pool_3x3``: 3x3 average pooling, stride 1, padding 1, padding excluded from the count.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnas.models.layers import ReLUConvBN, avg_pool_3x3, conv


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


def apply_op(op: int, x: jax.Array, features: int, train: bool, edge: int,
             affine: bool = False) -> jax.Array:
    """Applies operation ``op`` (index into ``OPS``) of edge ``edge`` inside a compact module.

    Parameters are named ``edge{e}_conv1x1`` / ``edge{e}_conv3x3`` so that the unfused and the
    discrete cells share one parameter layout; ``affine`` gives the convolutions' BatchNorms a
    scale and a bias (NAS-Bench-201's standalone training networks).
    """
    if op == 0:
        return jnp.zeros_like(x)
    if op == 1:
        return x
    if op == 2:
        return ReLUConvBN(features, 1, affine=affine, name=f"edge{edge}_conv1x1")(x, train)
    if op == 3:
        return ReLUConvBN(features, 3, affine=affine, name=f"edge{edge}_conv3x3")(x, train)
    if op == 4:
        return avg_pool_3x3(x)
    raise ValueError(f"operation index {op!r} is out of range [0, 5)")


__all__ = ["ResNetBasicBlock", "apply_op"]
