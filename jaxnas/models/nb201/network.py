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

from jaxnas.models.layers import batch_norm, conv, init_variables
from jaxnas.models.nb201.cell import (
    DiscreteCell,
    FusedSearchCell,
    MixedSearchCell,
    unfuse_cell_params,
)
from jaxnas.models.nb201.ops import ResNetBasicBlock
from jaxnas.spaces import nb201_topology as nb201

CELLS = {"fused": FusedSearchCell, "mixed": MixedSearchCell}


class _ScanBody(nn.Module):
    """One search cell as an ``nn.scan`` body: ``(x, op_weights) -> (cell(x), None)``."""

    cell: str
    features: int
    train: bool

    @nn.compact
    def __call__(self, x: jax.Array, op_weights: jax.Array) -> tuple[jax.Array, None]:
        return CELLS[self.cell](self.features, name="cell")(x, op_weights, self.train), None


class Network(nn.Module):
    """NAS-Bench-201 search network (or, with ``arch``, one discrete network).

    Attributes:
        channels: ``C``, channels of the first stage.
        cells_per_stage: ``N``.
        num_classes: classifier outputs.
        cell: ``'fused'`` (fast) or ``'mixed'`` (reference) search cell; ignored with ``arch``.
        arch: a tuple of 6 operation indices for a standalone network; ``None`` for the supernet.
        affine: affine BatchNorms in the standalone network's cell operations (NAS-Bench-201's
            training networks, ``InferCell``); ``False`` (default) keeps the supernet's
            affine-free operations, so a one-hot supernet equals the standalone network.
        scan: run the fused cells of each stage as one ``nn.scan`` (parameters ``stage{s}_cells``
            stacked over the stage's cells): XLA compiles one cell per stage instead of N, which
            cuts compile time by a third at N=5. ``False`` unrolls them (``stage{s}_cell{i}``, the
            layout of the mixed and discrete networks, which are always unrolled).
    """

    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    cell: str = "fused"
    arch: tuple[int, ...] | None = None
    scan: bool = True
    affine: bool = False

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
            make = functools.partial(DiscreteCell, arch=tuple(int(a) for a in self.arch),
                                     affine=self.affine)
        c = self.channels
        x = conv(c, 3, name="stem_conv")(x)
        x = batch_norm(True, name="stem_bn")(x, use_running_average=not train)
        for s in range(3):
            if s > 0:
                x = ResNetBasicBlock(c * 2**s, name=f"reduce{s}")(x, train)
            if self.scan and self.arch is None and self.cell == "fused":
                stage = nn.scan(_ScanBody, variable_axes={"params": 0, "batch_stats": 0},
                                split_rngs={"params": True}, in_axes=nn.broadcast,
                                length=self.cells_per_stage)
                x, _ = stage(self.cell, c * 2**s, train, name=f"stage{s}_cells")(x, op_weights)
                continue
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
        if not name.startswith("stage"):
            continue
        s = int(name[len("stage")])
        if name.endswith("_cells"):  # scanned stage: leaves stacked over the stage's cells
            p_stack, s_stack = params.pop(name)["cell"], stats.pop(name)["cell"]
            n = jax.tree_util.tree_leaves(p_stack)[0].shape[0]
            for i in range(n):
                p_i, s_i = jax.tree_util.tree_map(lambda a, i=i: a[i], (p_stack, s_stack))
                params[f"stage{s}_cell{i}"], stats[f"stage{s}_cell{i}"] = unfuse_cell_params(
                    p_i, s_i, channels * 2**s)
        elif "_cell" in name:
            params[name], stats[name] = unfuse_cell_params(params[name], stats[name],
                                                           channels * 2**s)
    return {"params": params, "batch_stats": stats}


def init(key: jax.Array, net: Network, image_shape: Sequence[int] = (32, 32, 3)) -> dict:
    """Initial variables ``{'params', 'batch_stats'}`` of ``net`` (supernet or discrete; one
    jitted program, cached per network and image shape). Consumes ``key``."""
    w = None if net.arch is not None else jnp.full((nb201.NUM_EDGES, nb201.NUM_OPS), 1.0 / nb201.NUM_OPS)
    return init_variables(key, net, w, image_shape)


__all__ = ["CELLS", "Network", "init", "supernet_to_per_edge"]
