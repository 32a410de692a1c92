"""The NAS-Bench-201 network (Dong & Yang, ICLR 2020): the DARTS supernet and discrete networks.

Stem Conv3x3 + BN; three stages of ``N`` cells with ``C, 2C, 4C`` channels joined by stride-2
residual blocks; final BN + ReLU, global average pooling, linear classifier. Inputs are NHWC.

The forward pass of the supernet takes explicit per-edge operation weights::

    net = Network(channels=16, cells_per_stage=5, num_classes=10)          # fused search cells
    logits = net.apply(variables, images, op_weights, train=False)          # op_weights [6, 5]

The same weights are shared by every cell (as in DARTS on NAS-Bench-201). ``Network(arch=...)``
builds the standalone network of one architecture; :func:`supernet_to_per_edge` converts supernet
variables into its parameter layout, so a one-hot ``op_weights`` gives the standalone output.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnas.models.cell import DiscreteCell, FusedSearchCell, MixedSearchCell, unfuse_cell_params
from jaxnas.models.ops import ResNetBasicBlock, batch_norm, conv
from jaxnas.spaces import nb201

CELLS = {"fused": FusedSearchCell, "mixed": MixedSearchCell}


class Network(nn.Module):
    """NAS-Bench-201 search network (or, with ``arch``, one discrete network).

    Attributes:
        channels: ``C``, channels of the first stage.
        cells_per_stage: ``N``.
        num_classes: classifier outputs.
        cell: ``'fused'`` (fast) or ``'mixed'`` (reference) search cell; ignored with ``arch``.
        arch: a tuple of 6 operation indices for a standalone network; ``None`` for the supernet.
    """

    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    cell: str = "fused"
    arch: tuple[int, ...] | None = None

    @nn.compact
    def __call__(self, x: jax.Array, op_weights: jax.Array | None = None,
                 train: bool = False) -> jax.Array:
        """Logits of a batch.

        Args:
            x: images ``[B, H, W, 3]`` (normalised floats).
            op_weights: per-edge operation weights ``[6, 5]`` (supernet only).
            train: batch statistics in BatchNorm (and update the running averages).

        Returns:
            logits ``[B, num_classes]``.
        """
        if self.arch is None:
            if self.cell not in CELLS:
                raise ValueError(f"unknown cell {self.cell!r}; choose one of {sorted(CELLS)}")
            if op_weights is None or op_weights.shape != (nb201.NUM_EDGES, nb201.NUM_OPS):
                shape = None if op_weights is None else op_weights.shape
                raise ValueError(f"the supernet needs op_weights of shape [6, 5], got {shape}; "
                                 "pass e.g. jax.nn.softmax(alpha, -1)")
            make = functools.partial(CELLS[self.cell])
        else:
            make = functools.partial(DiscreteCell, arch=tuple(int(a) for a in self.arch))
        c = self.channels
        x = conv(c, 3, name="stem_conv")(x)
        x = batch_norm(True, name="stem_bn")(x, use_running_average=not train)
        for s in range(3):
            if s > 0:
                x = ResNetBasicBlock(c * 2**s, name=f"reduce{s}")(x, train)
            for i in range(self.cells_per_stage):
                x = make(c * 2**s, name=f"stage{s}_cell{i}")(x, op_weights, train)
        x = batch_norm(True, name="final_bn")(x, use_running_average=not train)
        x = jnp.mean(nn.relu(x), axis=(1, 2))
        return nn.Dense(self.num_classes, name="classifier")(x)


def supernet_to_per_edge(variables: dict, channels: int) -> dict:
    """Converts fused-supernet variables to the per-edge layout of ``cell='mixed'``/``arch=...``.

    Args:
        variables: ``{'params': ..., 'batch_stats': ...}`` of a ``Network(cell='fused')``.
        channels: the network's ``C``.

    Returns:
        Variables for a ``Network(cell='mixed')`` or ``Network(arch=...)`` of the same size
        (extra per-edge entries are ignored by a discrete network).
    """
    params = dict(variables["params"])
    stats = dict(variables["batch_stats"])
    for name in list(params):
        if name.startswith("stage") and "_cell" in name:
            s = int(name[len("stage")])
            params[name], stats[name] = unfuse_cell_params(params[name], stats[name],
                                                           channels * 2**s)
    return {"params": params, "batch_stats": stats}


def init(key: jax.Array, net: Network, image_shape: Sequence[int] = (32, 32, 3)) -> dict:
    """Initial variables ``{'params', 'batch_stats'}`` of ``net``. Consumes ``key``."""
    x = jnp.zeros((1, *image_shape), jnp.float32)
    w = jnp.full((nb201.NUM_EDGES, nb201.NUM_OPS), 1.0 / nb201.NUM_OPS)
    return dict(net.init(key, x, None if net.arch is not None else w, train=False))


def one_hot(arch) -> jax.Array:
    """Operation weights ``[6, 5]`` selecting architecture ``arch`` (``int[6]``)."""
    return jax.nn.one_hot(jnp.asarray(arch, jnp.int32), nb201.NUM_OPS)
