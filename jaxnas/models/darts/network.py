"""DARTS networks (Liu, Simonyan, Yang, ICLR 2019): the search supernet and the evaluation
network ``NetworkCIFAR`` with its auxiliary head. Images in NHWC, logits out; activations inside
are channel-major (:mod:`jaxnas.models.darts.ops`).

Both: a stem (3x3 convolution to ``stem_multiplier * C`` channels + affine BatchNorm), ``layers``
cells, the cells at ``layers // 3`` and ``2 * layers // 3`` reduction cells (stride 2, channels
doubled), global average pooling and a linear classifier. Each cell reads the outputs of the two
previous cells (the stem output for both at the start)::

    net = DartsSupernet(channels=16, layers=8, num_classes=10)         # DARTS's 8 ops per edge
    w = {"normal": jax.nn.softmax(alpha_n, -1), "reduce": jax.nn.softmax(alpha_r, -1)}
    logits = net.apply(variables, images, w, train=True, mutable=["batch_stats"])[0]

    net = NetworkCIFAR(genotype_array(*DARTS_V2), DARTS_OPS, channels=36, layers=20)
    logits, aux = net.apply(variables, images, train=True, drop_path_rate=0.2,
                            rngs={"drop_path": key}, mutable=["batch_stats"])[0]

The supernet takes its operation weights explicitly, ``{'normal': [14, K_n], 'reduce': [14,
K_r]}`` (softmax(alpha), a one-hot architecture, a mask, any mixture); the ``noise`` operation
(RobustDARTS S4) draws from the ``'noise'`` rng stream (``rngs={'noise': key}``).
:func:`init` builds variables, :func:`param_counts` counts parameters (with and without the
auxiliary head), :func:`scan_to_per_edge` unstacks scanned cells, and
:func:`supernet_to_network` maps supernet variables onto a discrete network (so a one-hot
supernet can be compared with it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.models.darts.candidates import DARTS_OPS, EdgeOps, check_candidates, uniform
from jaxnas.models.darts.cell import (
    EvalCell,
    ScanSearchCell,
    SearchCell,
    check_genotype_cell,
    edge_groups,
    edge_offsets,
    num_edges,
)
from jaxnas.models.darts.ops import (
    BatchNorm,
    PointwiseConv,
    check_op,
    to_channel_major,
)
from jaxnas.models.layers import Conv, init_variables, on_cpu
from jaxnas.models.layers import compiler_options as _layers_compiler_options

AUX_NAME = "auxiliary_head"


def cell_plan(layers: int, channels: int) -> list[tuple[bool, bool, int]]:
    """``(reduction, reduction_prev, C)`` of every cell: reductions at ``layers // 3`` and
    ``2 * layers // 3``, where ``C`` doubles."""
    out, c, prev = [], channels, False
    for i in range(layers):
        red = i in (layers // 3, 2 * layers // 3)
        c = 2 * c if red else c
        out.append((red, prev, c))
        prev = red
    return out


class Stem(nn.Module):
    """3x3 convolution (no bias) + affine BatchNorm (parameters ``conv``, ``bn``): NHWC images
    in, channel-major ``[C, B, H, W]`` activations out."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = to_channel_major(Conv(self.features, 3, name="conv")(x))
        return BatchNorm(True, name="bn")(y, train)


def _classify(x: jax.Array, num_classes: int) -> jax.Array:
    """Global average pooling of ``[C, B, H, W]`` and the linear classifier ``classifier``."""
    return nn.Dense(num_classes, name="classifier")(jnp.mean(x, axis=(2, 3)).T)


class DartsSupernet(nn.Module):
    """The DARTS search network with explicit operation weights.

    Attributes:
        channels: ``C``, channels of the first cells (doubled at each reduction).
        layers: number of cells.
        num_classes: classifier outputs.
        normal_ops: candidates of the normal cells' 14 edges (:func:`~.candidates.uniform`).
        reduce_ops: candidates of the reduction cells' 14 edges.
        steps: intermediate nodes per cell.
        multiplier: nodes concatenated into a cell's output.
        stem_multiplier: the stem has ``stem_multiplier * C`` channels.
        scan: run the edges of a cell as loops (:class:`~jaxnas.models.darts.cell.
            ScanSearchCell`) when all its edges have the same candidates (every space here but
            S1): XLA then compiles one mixed operation per loop instead of one per edge.
            ``False``, or per-edge candidates, unrolls them (:class:`~jaxnas.models.darts.cell.
            SearchCell`). Same function either way.

    Parameters: ``stem``, ``cell{i}`` (``preprocess0``, ``preprocess1`` and, unrolled,
    ``edge{e}/{op name}``; scanned, ``edges/op/{op name}`` in normal cells and
    ``input_edges/op/{op name}``, ``node_edges/op/{op name}`` in reduction cells, stacked over
    the loops' edges, see :func:`scan_to_per_edge`), ``classifier``.
    """

    channels: int = 16
    layers: int = 8
    num_classes: int = 10
    normal_ops: EdgeOps = uniform(DARTS_OPS)
    reduce_ops: EdgeOps = uniform(DARTS_OPS)
    steps: int = 4
    multiplier: int = 4
    stem_multiplier: int = 3
    scan: bool = True

    @property
    def alpha_shapes(self) -> dict[str, tuple[int, int]]:
        """Shapes of the operation weights: ``{'normal': (14, K_n), 'reduce': (14, K_r)}``."""
        return {k: (num_edges(self.steps), len(ops[0]))
                for k, ops in (("normal", self.normal_ops), ("reduce", self.reduce_ops))}

    @nn.compact
    def __call__(self, x: jax.Array, op_weights: dict[str, jax.Array],
                 train: bool = False) -> jax.Array:
        """Logits of a batch.

        Args:
            x: images ``[B, H, W, 3]`` (H, W divisible by 4).
            op_weights: ``{'normal': [14, K_n], 'reduce': [14, K_r]}``.
            train: batch statistics in BatchNorm (update the running averages with
                ``mutable=['batch_stats']``).

        Returns:
            logits ``[B, num_classes]``.
        """
        edges = num_edges(self.steps)
        cands = {"normal": check_candidates(self.normal_ops, edges),
                 "reduce": check_candidates(self.reduce_ops, edges)}
        for k, ops in cands.items():
            shape = None if k not in op_weights else tuple(op_weights[k].shape)
            if shape != (edges, len(ops[0])):
                raise ValueError(f"op_weights[{k!r}] must have shape {(edges, len(ops[0]))} "
                                 f"(edges, candidates), got {shape}; pass e.g. {{'normal': "
                                 "softmax(alpha_normal), 'reduce': softmax(alpha_reduce)}")
        s0 = s1 = Stem(self.stem_multiplier * self.channels, name="stem")(x, train)
        for i, (red, red_prev, c) in enumerate(cell_plan(self.layers, self.channels)):
            kind = "reduce" if red else "normal"
            scanned = self.scan and len(set(cands[kind])) == 1 and self.multiplier <= self.steps
            make = ScanSearchCell if scanned else SearchCell
            cell = make(c, red, red_prev, cands[kind], self.steps, self.multiplier,
                        name=f"cell{i}")
            s0, s1 = s1, cell(s0, s1, op_weights[kind], train)
        return _classify(s1, self.num_classes)


class _ValidConv(nn.Module):
    """Bias-free ``kernel x kernel`` convolution without padding, channel-major."""

    features: int
    kernel: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.param("kernel", nn.initializers.lecun_normal(),
                       (self.kernel, self.kernel, x.shape[0], self.features), jnp.float32)
        return jax.lax.conv_general_dilated(x, k.astype(x.dtype), (1, 1), "VALID",
                                            dimension_numbers=("CNHW", "HWIO", "CNHW"))


class AuxiliaryHeadCIFAR(nn.Module):
    """DARTS's auxiliary classifier on the 8x8 output of the cell at 2/3 depth: ReLU -> 5x5
    average pooling, stride 3 (-> 2x2) -> 1x1 conv (128) -> BN -> ReLU -> 2x2 conv (768) ->
    BN -> ReLU -> linear (affine BatchNorms)."""

    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Args: x ``[C, B, 8, 8]`` (channel-major). Returns logits ``[B, num_classes]``."""
        x = jax.lax.reduce_window(nn.relu(x), 0.0, jax.lax.add, (1, 1, 5, 5), (1, 1, 3, 3),
                                  "VALID") / 25.0
        x = nn.relu(BatchNorm(True, name="bn1")(PointwiseConv(128, name="conv1")(x), train))
        x = nn.relu(BatchNorm(True, name="bn2")(_ValidConv(768, 2, name="conv2")(x), train))
        x = jnp.transpose(x, (1, 0, 2, 3)).reshape(x.shape[1], -1)  # torch's flatten order
        return nn.Dense(self.num_classes, name="classifier")(x)


def _genotype_tuple(genotype: Any) -> tuple[tuple[tuple[int, int], ...], ...]:
    a = np.asarray(genotype)
    if a.ndim != 3 or a.shape[0] != 2 or a.shape[2] != 2:
        raise ValueError(f"a genotype is an int array [2, 2 * steps, 2] (cell, slot, (input, "
                         f"op)), got shape {a.shape}")
    return tuple(tuple((int(s), int(o)) for s, o in cell) for cell in a)


class NetworkCIFAR(nn.Module):
    """DARTS's evaluation network of one genotype (``cnn/model.py``'s ``NetworkCIFAR``).

    Attributes:
        genotype: ``int32[2, 8, 2]`` (array or nested tuples; stored as tuples): ``[cell,
            slot, (input, op index)]``.
        ops: the operation names the op indices refer to.
        channels: ``C`` (DARTS's CIFAR-10 network: 36).
        layers: cells (20).
        num_classes: classifier outputs.
        auxiliary: build the auxiliary head after the cell at ``2 * layers // 3`` (its logits
            are returned in training).
        affine: affine BatchNorms in the cells (DARTS: yes; ``False`` gives the search
            network's affine-free operations, for comparisons with a one-hot supernet).
        stem_multiplier: the stem has ``stem_multiplier * C`` channels.

    Parameters: ``stem``, ``cell{i}`` (``preprocess0``, ``preprocess1``, ``slot{j}``),
    ``auxiliary_head``, ``classifier``.
    """

    genotype: Any
    ops: tuple[str, ...] = DARTS_OPS
    channels: int = 36
    layers: int = 20
    num_classes: int = 10
    auxiliary: bool = True
    affine: bool = True
    stem_multiplier: int = 3

    def __post_init__(self):
        # Hashable attributes (the module is a static argument of jitted functions).
        object.__setattr__(self, "genotype", _genotype_tuple(self.genotype))
        object.__setattr__(self, "ops", tuple(check_op(o) for o in self.ops))
        for cell in self.genotype:
            check_genotype_cell(cell, len(self.ops), len(cell) // 2)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False,
                 drop_path_rate: jax.Array | float = 0.0) -> tuple[jax.Array, jax.Array | None]:
        """Logits of a batch.

        Args:
            x: images ``[B, H, W, 3]`` (32x32 for the auxiliary head).
            train: batch statistics in BatchNorm, drop path, auxiliary logits.
            drop_path_rate: drop path probability (may be traced, e.g. a schedule; the constant
                0 disables it); needs ``rngs={'drop_path': key}`` otherwise.

        Returns:
            ``(logits [B, num_classes], aux_logits [B, num_classes] or None)``; the auxiliary
            logits only in training with ``auxiliary``.
        """
        s0 = s1 = Stem(self.stem_multiplier * self.channels, name="stem")(x, train)
        aux = None
        aux_at = 2 * self.layers // 3
        for i, (red, red_prev, c) in enumerate(cell_plan(self.layers, self.channels)):
            cell = EvalCell(c, red, red_prev, self.genotype[int(red)], self.ops, self.affine,
                            name=f"cell{i}")
            s0, s1 = s1, cell(s0, s1, train, drop_path_rate)
            if i == aux_at and self.auxiliary and (train or self.is_initializing()):
                aux = AuxiliaryHeadCIFAR(self.num_classes, name=AUX_NAME)(s1, train)
        return _classify(s1, self.num_classes), (aux if train else None)


# ---- initialisation, counting, mapping ----------------------------------------------------


def compiler_options() -> dict | None:
    """XLA options for jitting DARTS-space training programs.

    :func:`jaxnas.models.layers.compiler_options` plus, on CPU, reassociation of floating-point
    arithmetic (``xla_cpu_enable_fast_math`` with NaN, infinity, division and function
    semantics kept exact): XLA:CPU then vectorises the per-channel reductions (BatchNorm
    statistics, depthwise kernel gradients), which dominate these small-channel cells; the
    supernet training step runs about 15% faster (experiments/RESULTS_darts_space.md). Results
    differ from the default options by rounding only (summation order). Other backends:
    ``None``.
    """
    base = _layers_compiler_options()
    if base is None:
        return None
    return {**base, "xla_cpu_enable_fast_math": True, "xla_cpu_fast_math_honor_nans": True,
            "xla_cpu_fast_math_honor_infs": True, "xla_cpu_fast_math_honor_division": True,
            "xla_cpu_fast_math_honor_functions": True}


def uniform_weights(net: DartsSupernet) -> dict[str, jax.Array]:
    """Operation weights ``1 / K`` on every edge."""
    return {k: jnp.full(s, 1.0 / s[1], jnp.float32) for k, s in net.alpha_shapes.items()}


def init(key: jax.Array, net: DartsSupernet | NetworkCIFAR,
         image_shape: Sequence[int] = (32, 32, 3)) -> dict:
    """Initial variables ``{'params', 'batch_stats'}`` of a supernet or an evaluation network
    (one jitted program, cached per network and image shape). Consumes ``key``."""
    if isinstance(net, DartsSupernet):
        return init_variables(key, net, uniform_weights(net), image_shape)
    return dict(_init_eval(net, key, tuple(image_shape)))


@functools.cache
def _jitted_eval_init():
    # As layers.init_variables: compiled without backend optimisation (initialisation runs once).
    opts = {"xla_backend_optimization_level": 0} if on_cpu() else None
    return jax.jit(lambda net, key, x: net.init(key, x, train=False), static_argnums=0,
                   compiler_options=opts)


def _init_eval(net: NetworkCIFAR, key: jax.Array, image_shape: tuple[int, ...]) -> dict:
    x = jnp.zeros((1, *image_shape), jnp.float32)
    if isinstance(key, jax.core.Tracer):  # inside a transformation (e.g. jax.eval_shape)
        return net.init(key, x, train=False)
    return _jitted_eval_init()(net, key, x)


def param_count(params: Any, auxiliary: bool = True) -> int:
    """Number of parameters (scalars) in a ``params`` tree; ``auxiliary=False`` leaves out the
    auxiliary head (DARTS reports sizes without it)."""
    if not auxiliary and isinstance(params, dict) and AUX_NAME in params:
        params = {k: v for k, v in params.items() if k != AUX_NAME}
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params)))


def param_counts(net: DartsSupernet | NetworkCIFAR,
                 image_shape: Sequence[int] = (32, 32, 3)) -> dict[str, int]:
    """``{'total': ..., 'without_aux': ...}`` parameter counts of ``net`` (shapes only: nothing
    is computed)."""
    shapes = jax.eval_shape(lambda k: init(k, net, image_shape), jax.random.key(0))
    return {"total": param_count(shapes["params"]),
            "without_aux": param_count(shapes["params"], auxiliary=False)}


def scan_to_per_edge(variables: dict, steps: int = 4) -> dict:
    """Unstacks the scanned cells of a :class:`DartsSupernet` into the per-edge layout of
    ``DartsSupernet(scan=False)`` (``cell{i}/edge{e}/{op name}``); unrolled cells are kept.

    Args:
        variables: ``{'params', 'batch_stats'}`` (or any collections of that layout).
        steps: intermediate nodes per cell.

    Returns:
        The same variables in the per-edge layout.
    """
    groups = dict(zip(("input_edges", "node_edges"), edge_groups(steps), strict=True))
    groups["edges"] = tuple(range(num_edges(steps)))
    out = {}
    for col, tree in variables.items():
        tree = dict(tree)
        for name, cell in list(tree.items()):
            if not (name.startswith("cell") and any(g in cell for g in groups)):
                continue
            new = {k: v for k, v in cell.items() if k not in groups}
            for g, edges in groups.items():
                for k, e in enumerate(edges):
                    if g in cell:
                        new[f"edge{e}"] = jax.tree.map(lambda a, k=k: a[k], dict(cell[g]["op"]))
            tree[name] = new
        out[col] = tree
    return out


def supernet_to_network(variables: dict, genotype: Any, ops: Sequence[str],
                        normal_ops: EdgeOps, reduce_ops: EdgeOps, steps: int = 4) -> dict:
    """Variables of a :class:`NetworkCIFAR` (``auxiliary=False``) taken from a supernet's.

    Slot ``j`` of a cell (node ``j // 2``, input ``s``, operation ``ops[o]``) gets the weights of
    the supernet's operation ``ops[o]`` on edge ``EDGE_OFFSETS[j // 2] + s``. The pools'
    BatchNorm statistics of the supernet have no counterpart (the evaluation network's pools
    are plain) and are dropped. With ``NetworkCIFAR(..., affine=False)`` and one-hot operation
    weights on the genotype's edges (zero elsewhere), both networks compute the same function
    wherever the pools' BatchNorms are the identity.

    Args:
        variables: ``{'params', 'batch_stats'}`` of a :class:`DartsSupernet` (scanned or not).
        genotype: ``int32[2, 2 * steps, 2]``.
        ops: the operation names of the genotype's op indices.
        normal_ops, reduce_ops: the supernet's candidates.
        steps: intermediate nodes per cell.

    Returns:
        ``{'params', 'batch_stats'}`` for ``NetworkCIFAR(genotype, ops, ..., auxiliary=False)``.

    Raises:
        ValueError: a slot's operation is not a candidate of its edge, or two slots of one node
            use the same edge (the supernet has one operation per edge and name).
    """
    geno = _genotype_tuple(genotype)
    offsets = edge_offsets(steps)
    variables = scan_to_per_edge(variables, steps)
    out = {col: {k: v for k, v in variables[col].items() if not k.startswith("cell")}
           for col in ("params", "batch_stats")}
    cells = sorted((n for n in variables["params"] if n.startswith("cell")),
                   key=lambda n: int(n[4:]))
    plan = cell_plan(len(cells), 1)
    for col in ("params", "batch_stats"):
        src = variables[col]
        for i, name in enumerate(cells):
            red = plan[i][0]
            cands = reduce_ops if red else normal_ops
            new = {k: v for k, v in src.get(name, {}).items() if k.startswith("preprocess")}
            used = set()
            for j, (s, o) in enumerate(geno[int(red)]):
                e = offsets[j // 2] + s
                op = ops[o]
                if op not in cands[e]:
                    raise ValueError(f"cell {i} slot {j}: {op!r} is not a candidate of edge {e} "
                                     f"({cands[e]})")
                if (e, op) in used:
                    raise ValueError(f"cell {i}: two slots use {op!r} on edge {e}")
                used.add((e, op))
                sub = src.get(name, {}).get(f"edge{e}", {}).get(op)
                if sub is not None and not op.endswith("pool_3x3"):
                    new[f"slot{j}"] = sub
            out[col][name] = new
    return out


__all__ = ["AUX_NAME", "AuxiliaryHeadCIFAR", "DartsSupernet", "NetworkCIFAR", "Stem",
           "cell_plan", "compiler_options", "init", "param_count", "param_counts",
           "scan_to_per_edge",
           "supernet_to_network", "uniform_weights"]
