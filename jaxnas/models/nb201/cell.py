"""NAS-Bench-201 cells: the fused search cell, the plain mixed-op search cell, a discrete cell.

A cell has nodes 0..3; node 0 is the cell input, node ``j`` is the sum over edges ``(j, i)``,
``i < j``, of the edge's operation applied to node ``i``; the cell output is node 3. In a search
cell every edge is a *mixed operation* ``sum_o w[e, o] * op_o(x_i)`` with explicit weights
``op_weights[6, 5]`` (softmax(alpha), a mask, a one-hot architecture, any mixture).

:class:`FusedSearchCell` computes exactly the same function as :class:`MixedSearchCell`, but
regroups the work: all edges leaving node ``i`` apply ReLU and convolutions to the *same* input,
so their 1x1 convolutions are one convolution with ``n_out * C`` output channels (likewise the
3x3 ones), normalised by one affine-free BatchNorm over both (per-channel, hence identical to
per-edge BatchNorms; :class:`~jaxnas.models.layers.SplitBatchNorm` keeps one set of statistics
without concatenating); the pooled input is computed once per node; ``none`` is skipped. Each
cell then runs 6 convolutions instead of 12 and the weighted sums fuse into a few elementwise
kernels. Node values pass through :func:`~jaxnas.models.layers.fence` so that XLA:CPU materialises
them instead of recomputing skip/pool chains across cells. :func:`unfuse_cell_params` maps the
fused parameters to the per-edge layout of the other two cells (the oracle used in the tests).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnas.models.layers import SplitBatchNorm, avg_pool_3x3, conv, fence
from jaxnas.models.nb201.ops import apply_op
from jaxnas.spaces.nb201_topology import EDGES, NUM_NODES

# For every source node i < 3: the edges leaving it, in encoding order, as (edge, dst).
OUT_EDGES: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    tuple((e, d) for e, (d, s) in enumerate(EDGES) if s == i) for i in range(NUM_NODES - 1)
)


class FusedSearchCell(nn.Module):
    """Search cell with the convolutions of each source node fused (see module docstring).

    Parameters: ``node{i}_conv1x1`` and ``node{i}_conv3x3`` kernels with ``n_out(i) * C`` output
    channels (edge ``OUT_EDGES[i][k]`` owns channels ``[k*C, (k+1)*C)``), and BatchNorm statistics
    ``node{i}_bn`` over ``[conv1x1 channels, conv3x3 channels]``.
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, op_weights: jax.Array, train: bool) -> jax.Array:
        """Args: x ``[B, H, W, C]``; op_weights ``[6, 5]``. Returns ``[B, H, W, C]``."""
        c = self.features
        w = op_weights.astype(x.dtype)
        nodes = [fence(x)]
        acc: dict[int, jax.Array] = {}
        for i, outs in enumerate(OUT_EDGES):
            xi = nodes[i]
            n = len(outs)
            y1 = conv(n * c, 1, name=f"node{i}_conv1x1", relu=True)(xi)
            y3 = conv(n * c, 3, name=f"node{i}_conv3x3", relu=True)(xi)
            y1, y3 = SplitBatchNorm(name=f"node{i}_bn")([y1, y3], use_running_average=not train)
            pool = avg_pool_3x3(xi)
            for k, (e, dst) in enumerate(outs):
                out = (w[e, 1] * xi + w[e, 2] * y1[..., k * c:(k + 1) * c]
                       + w[e, 3] * y3[..., k * c:(k + 1) * c] + w[e, 4] * pool)
                acc[dst] = out if dst not in acc else acc[dst] + out
            nodes.append(acc[i + 1] if i + 1 == NUM_NODES - 1 else fence(acc[i + 1]))
        return nodes[-1]


class MixedSearchCell(nn.Module):
    """The textbook search cell: one mixed operation per edge, every operation run separately.

    Same function as :class:`FusedSearchCell`; kept as the readable reference and test oracle.
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, op_weights: jax.Array, train: bool) -> jax.Array:
        w = op_weights.astype(x.dtype)
        nodes = [x]
        for j in range(1, NUM_NODES):
            total = 0.0
            for e, (d, s) in enumerate(EDGES):
                if d != j:
                    continue
                total = total + sum(w[e, o] * apply_op(o, nodes[s], self.features, train, e)
                                    for o in range(5))
            nodes.append(total)
        return nodes[-1]


class DiscreteCell(nn.Module):
    """A standalone cell of one architecture ``arch`` (``tuple`` of 6 op indices).

    ``none`` edges are dropped; a node with only ``none`` inputs is zeros. ``affine``: affine
    BatchNorms in the convolutions (NAS-Bench-201's ``InferCell``); ``False`` matches the
    supernet's affine-free operations.
    """

    features: int
    arch: tuple[int, ...]
    affine: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, op_weights=None, train: bool = False) -> jax.Array:
        nodes = [x]
        for j in range(1, NUM_NODES):
            total = jnp.zeros_like(x)
            for e, (d, s) in enumerate(EDGES):
                if d == j and self.arch[e] != 0:
                    total = total + apply_op(self.arch[e], nodes[s], self.features, train, e,
                                             self.affine)
            nodes.append(total)
        return nodes[-1]


def unfuse_cell_params(params: dict, batch_stats: dict, features: int) -> tuple[dict, dict]:
    """Maps one :class:`FusedSearchCell`'s variables to the per-edge layout.

    Args:
        params: the fused cell's ``params`` subtree.
        batch_stats: the fused cell's ``batch_stats`` subtree.
        features: the cell's channel count ``C``.

    Returns:
        ``(params, batch_stats)`` for :class:`MixedSearchCell` / :class:`DiscreteCell`.
    """
    c = features
    p_out, s_out = {}, {}
    for i, outs in enumerate(OUT_EDGES):
        n = len(outs)
        k1 = params[f"node{i}_conv1x1"]["kernel"]
        k3 = params[f"node{i}_conv3x3"]["kernel"]
        st = batch_stats[f"node{i}_bn"]
        for k, (e, _) in enumerate(outs):
            for name, kern, off in (("conv1x1", k1, k * c), ("conv3x3", k3, (n + k) * c)):
                kk = k * c
                p_out[f"edge{e}_{name}"] = {"conv": {"kernel": kern[..., kk:kk + c]}}
                s_out[f"edge{e}_{name}"] = {"bn": {"mean": st["mean"][off:off + c],
                                                   "var": st["var"][off:off + c]}}
    return p_out, s_out


__all__ = ["DiscreteCell", "FusedSearchCell", "MixedSearchCell", "OUT_EDGES", "unfuse_cell_params"]
