"""Operations of the DARTS search space (Liu, Simonyan, Yang, ICLR 2019).

The operations of DARTS's ``cnn/operations.py`` (and of RobustDARTS / darts-pt, which add
``noise``), by name (:data:`OPS`):

* ``none``: zeros, of the strided shape on a reduction edge;
* ``noise`` (RobustDARTS S4): ``N(0, 1)`` samples of that shape, replacing the input; draws
  from the ``'noise'`` rng stream (``apply(..., rngs={'noise': key})``);
* ``max_pool_3x3``: 3x3 max pooling, padding 1 (padding never wins);
* ``avg_pool_3x3``: 3x3 average pooling, padding 1, padding excluded from the count
  (``count_include_pad=False``: corner windows divide by 4, edge windows by 6);
* ``skip_connect``: the identity, or :class:`FactorizedReduce` at stride 2;
* ``sep_conv_3x3`` / ``sep_conv_5x5``: :class:`SepConv`, two blocks of ReLU -> depthwise conv ->
  pointwise conv -> BatchNorm, the stride in the first block only;
* ``dil_conv_3x3`` / ``dil_conv_5x5``: :class:`DilConv`, ReLU -> depthwise conv with dilation 2
  -> pointwise conv -> BatchNorm.

In the search network (:class:`MixedOp`) the pools are followed by an affine-free BatchNorm, as in
DARTS's ``MixedOp``; every BatchNorm there is affine-free. The evaluation network uses affine
BatchNorms and plain pools. Heights and widths must be even at stride 2 (as in DARTS, whose
:class:`FactorizedReduce` halves would otherwise differ in size).

**Layout.** Inside the DARTS models activations are *channel-major*, ``[C, B, H, W]`` (the
networks take and return NHWC / ``[B, classes]`` at their boundary). On XLA:CPU every
per-channel reduction of these small-channel networks (BatchNorm statistics and their
gradients, the kernel gradients of the depthwise convolutions) then runs over contiguous
memory: 2-4x faster than with channels last, at equal speed for the rest
(experiments/RESULTS_darts_space.md). Parameters keep Flax's layouts: convolution kernels
``[kh, kw, Cin, Cout]``, depthwise kernels ``[k, k, 1, C]`` (``nn.Conv`` with
``feature_group_count = C``), BatchNorm ``scale``/``bias``/``mean``/``var`` ``[C]``.

BatchNorm (:class:`BatchNorm`) follows ``nn.BatchNorm``'s variables and arithmetic (biased batch
variance in the running average, PyTorch's eps and momentum); in training it uses batch
statistics with a closed-form gradient (:func:`normalize_train`).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.models.layers import BN_EPS, BN_MOMENTUM, on_cpu

#: every operation name the models know, in DARTS's ``PRIMITIVES`` order (``noise`` last)
OPS: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                        "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "noise")

#: (kernel, dilation) of the convolution operations
CONV_OPS: dict[str, tuple[int, int]] = {"sep_conv_3x3": (3, 1), "sep_conv_5x5": (5, 1),
                                         "dil_conv_3x3": (3, 2), "dil_conv_5x5": (5, 2)}


def check_op(name: str) -> str:
    """Returns ``name`` if it is an operation of :data:`OPS`; raises ``ValueError`` otherwise."""
    if name not in OPS:
        raise ValueError(f"unknown DARTS operation {name!r}; choose from {OPS}")
    return name


def to_channel_major(x: jax.Array) -> jax.Array:
    """``[B, H, W, C] -> [C, B, H, W]``."""
    return jnp.transpose(x, (3, 0, 1, 2))


def to_channels_last(x: jax.Array) -> jax.Array:
    """``[C, B, H, W] -> [B, H, W, C]``."""
    return jnp.transpose(x, (1, 2, 3, 0))


def _sum_all(terms: list[jax.Array], axes: tuple[int, ...]) -> list[jax.Array]:
    """``[sum(t, axes) for t in terms]`` as one variadic reduction: XLA:CPU reads the operands
    in a single pass instead of one pass per term."""
    zeros = [jnp.zeros((), t.dtype) for t in terms]
    return list(jax.lax.reduce(
        terms, zeros, lambda a, b: tuple(u + v for u, v in zip(a, b, strict=True)), axes))


def _materialize(xs: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
    first = xs[0].reshape(-1)[0]
    # The branches must differ: XLA replaces a conditional with identical branches by them.
    # The second (taken only when the first element is NaN) adds zero.
    return tuple(jax.lax.cond(first == first, lambda *a: a,
                              lambda *a: tuple(v + jnp.zeros((), v.dtype) for v in a), *xs))


@jax.custom_vjp
def _fence(xs: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
    return _materialize(xs)


def _fence_fwd(xs):
    return _materialize(xs), None


def _fence_bwd(_, cts):
    return (_materialize(tuple(cts)),)


_fence.defvjp(_fence_fwd, _fence_bwd)


def fence(*xs: jax.Array):
    """Identity that makes XLA:CPU materialise its arguments (one array, or several), and in
    the backward pass their cotangents.

    XLA:CPU fuses cheap elementwise producers into every consumer, also into the shifted
    windows of a convolution or pooling, which then recompute the producer once per tap (9-25
    times; a 3x3 max pooling's gradient took 25 ms instead of 6 at batch 64, stage 0), and into
    dynamic-update-slices over whole buffers. The operations here read their window inputs
    (and, backward, their output cotangents) through this fence: a conditional on a
    data-dependent predicate (``x[0] == x[0]``) whose branches both return the operands (one
    adds zero), which XLA can neither fold nor fuse across (about 0.2 ms per 4 MB tensor;
    :func:`jaxnas.models.layers.fence`, a product with the identity, costs a GEMM).
    Other backends get the identity.
    """
    if not on_cpu():
        return xs[0] if len(xs) == 1 else xs
    out = _fence(tuple(xs))
    return out[0] if len(xs) == 1 else out


# ---- BatchNorm --------------------------------------------------------------------------------

_STAT_AXES = (1, 2, 3)


def _col(v: jax.Array) -> jax.Array:
    return v[:, None, None, None]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def normalize_train(x: jax.Array, epsilon: float = BN_EPS
                    ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Affine-free training-mode BatchNorm of channel-major ``x [C, B, H, W]``:
    ``(out, mean [C], var [C])``.

    The channel-major counterpart of :func:`jaxnas.models.layers.normalize_train` (same
    arithmetic: float32 statistics, ``var = max(0, E[x^2] - E[x]^2)``,
    ``out = (x - mean) * rsqrt(var + eps)``; same closed-form gradient, whose only large
    residual is ``x``; cotangents of ``mean`` and ``var`` are honoured).
    """
    return _normalize_fwd(x, epsilon)[0]


def _normalize_fwd(x, epsilon):
    dt = jnp.promote_types(x.dtype, jnp.float32)
    xf = x.astype(dt)
    mean, sq = _sum_all([xf, jnp.square(xf)], _STAT_AXES)
    n = x.size // x.shape[0]
    mean, sq = mean / n, sq / n
    var_raw = sq - jnp.square(mean)
    var = jnp.maximum(0.0, var_raw)
    inv = jax.lax.rsqrt(var + epsilon)
    out = ((xf - _col(mean)) * _col(inv)).astype(x.dtype)
    return (out, mean, var), (x, mean, inv, var_raw > 0)


def _normalize_bwd(epsilon, res, cts):
    x, mean, inv, positive = res
    g, g_mean, g_var = cts
    n = x.size // x.shape[0]
    gf = g.astype(mean.dtype)
    xc = x.astype(mean.dtype) - _col(mean)
    sum_g, sum_gx = _sum_all([gf, gf * xc], _STAT_AXES)
    g_v = jnp.where(positive, g_var - 0.5 * inv**3 * sum_gx, 0.0)
    dx = gf * _col(inv) + _col((g_mean - inv * sum_g) / n) + _col((2.0 / n) * g_v) * xc
    return (dx.astype(x.dtype),)


normalize_train.defvjp(_normalize_fwd, _normalize_bwd)


class BatchNorm(nn.Module):
    """BatchNorm of channel-major ``[C, B, H, W]`` activations with ``nn.BatchNorm``'s variables
    (``batch_stats`` ``mean``/``var``; with ``affine``, ``params`` ``scale``/``bias``) and
    PyTorch's defaults.

    Training uses batch statistics (:func:`normalize_train`) and updates the running averages
    (not at initialisation); evaluation uses the running averages.
    """

    affine: bool = False
    momentum: float = BN_MOMENTUM
    epsilon: float = BN_EPS

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        c = x.shape[0]
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
        if train:
            y, mean, var = normalize_train(x, self.epsilon)
            if not self.is_initializing():
                ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
                ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
        else:
            inv = jax.lax.rsqrt(ra_var.value + self.epsilon)
            y = ((x - _col(ra_mean.value)) * _col(inv)).astype(x.dtype)
        if self.affine:
            scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
            bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
            y = y * _col(scale).astype(y.dtype) + _col(bias).astype(y.dtype)
        return y


# ---- convolutions -----------------------------------------------------------------------------


def _out_size(n: int, kernel: int, stride: int, dilation: int, padding: int) -> int:
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _pad_hw(x: jax.Array, p: int, value: float = 0.0) -> jax.Array:
    return jnp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=value)


def _taps(xp: jax.Array, k: int, stride: int, dilation: int, ho: int, wo: int) -> list[jax.Array]:
    """The ``k * k`` strided windows ``[C, B, Ho, Wo]`` of a padded input, kernel order."""
    sh, sw = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    return [xp[:, :, i * dilation:i * dilation + sh:stride, j * dilation:j * dilation + sw:stride]
            for i in range(k) for j in range(k)]


def depthwise_conv_xla(x: jax.Array, kernel: jax.Array, stride: int = 1, dilation: int = 1,
                       padding: int = 0) -> jax.Array:
    """Depthwise convolution with XLA's grouped convolution (``feature_group_count = C``).

    Args:
        x: ``[C, B, H, W]``.
        kernel: ``[k, k, 1, C]``.
        stride, dilation, padding: as in ``torch.nn.Conv2d`` (zero padding on each side).

    Returns:
        ``[C, B, Ho, Wo]``.
    """
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), ((padding, padding),) * 2, rhs_dilation=(dilation, dilation),
        dimension_numbers=("CNHW", "HWIO", "CNHW"), feature_group_count=x.shape[0])


def _dw_shifted_sum(x, kernel, stride, dilation, padding):
    c, _, h, w = x.shape
    k = kernel.shape[0]
    ho, wo = _out_size(h, k, stride, dilation, padding), _out_size(w, k, stride, dilation, padding)
    kk = kernel.reshape(k * k, c, 1, 1, 1)
    taps = _taps(_pad_hw(x, padding), k, stride, dilation, ho, wo)
    return functools.reduce(jnp.add, [t * kk[i] for i, t in enumerate(taps)])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def depthwise_conv_sum(x: jax.Array, kernel: jax.Array, stride: int = 1, dilation: int = 1,
                       padding: int = 0, fence_input: bool = True) -> jax.Array:
    """Depthwise convolution as a sum of shifted, scaled copies of the input (CPU path).

    Same arguments and result as :func:`depthwise_conv_xla`. XLA:CPU fuses the ``k * k``
    shifted multiply-adds into one loop; its grouped convolution runs 50-200x slower on CPU.
    The backward pass is custom: the input gradient is the correlation of ``dy`` (spread onto
    the stride grid) with the flipped kernel, the kernel gradient
    ``dk[t, c] = sum_(b, h, w) tap_t(x) * dy`` one variadic reduction over all taps (one pass
    over ``x`` and ``dy``). ``x`` (unless ``fence_input=False``: the caller guarantees it is
    materialised, e.g. the output of :func:`fence`) and ``dy`` pass through :func:`fence`; the
    output and the input gradient are materialised (fused into the following 1x1 convolution's
    reshape to a matrix, the shifted sum ran 4x slower).
    """
    return _dw_shifted_sum(x, kernel, stride, dilation, padding)


def _dw_fwd(x, kernel, stride, dilation, padding, fence_input):
    if fence_input:
        x = fence(x)
    y = _materialize((_dw_shifted_sum(x, kernel, stride, dilation, padding),))[0]
    return y, (x, kernel)


def _dilate_pad(dy: jax.Array, stride: int, lo: int, hi_h: int, hi_w: int) -> jax.Array:
    """``dy`` spread onto the stride grid (``stride - 1`` zeros between pixels) and zero-padded
    by ``lo`` before and ``hi_h`` / ``hi_w`` after, in one pad (no scatter)."""
    return jax.lax.pad(dy, jnp.zeros((), dy.dtype),
                       ((0, 0, 0), (0, 0, 0), (lo, hi_h, stride - 1), (lo, hi_w, stride - 1)))


def _dw_bwd(stride, dilation, padding, fence_input, res, dy):
    x, kernel = res
    dy = fence(dy)
    k, c = kernel.shape[0], kernel.shape[-1]
    h, w = x.shape[2], x.shape[3]
    ho, wo = dy.shape[2], dy.shape[3]
    # Input gradient: the correlation of dy, dilated by the stride and padded, with the flipped
    # kernel (a stride-1 shifted sum over one padded buffer: no per-element bounds checks).
    span = dilation * (k - 1)
    lo = span - padding
    dyp = _dilate_pad(dy, stride, lo, h + span - stride * (ho - 1) - 1 - lo,
                      w + span - stride * (wo - 1) - 1 - lo)
    dx = _materialize((_dw_shifted_sum(dyp, kernel[::-1, ::-1], 1, dilation, 0),))[0]
    prods = [t * dy for t in _taps(_pad_hw(x, padding), k, stride, dilation, ho, wo)]
    dk = jnp.stack(_sum_all(prods, _STAT_AXES))
    return dx, dk.reshape(k, k, 1, c).astype(kernel.dtype)


depthwise_conv_sum.defvjp(_dw_fwd, _dw_bwd)


def depthwise_conv(x: jax.Array, kernel: jax.Array, stride: int = 1, dilation: int = 1,
                   padding: int = 0, fence_input: bool = True) -> jax.Array:
    """Depthwise convolution ``[C, B, H, W] * [k, k, 1, C]``: :func:`depthwise_conv_sum` on
    CPU, :func:`depthwise_conv_xla` elsewhere."""
    if on_cpu():
        return depthwise_conv_sum(x, kernel, stride, dilation, padding, fence_input)
    return depthwise_conv_xla(x, kernel, stride, dilation, padding)


def pointwise_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """1x1 convolution ``[Cin, B, H, W] x [1, 1, Cin, Cout] -> [Cout, B, H, W]``: one GEMM."""
    cin, b, h, w = x.shape
    y = jax.lax.dot_general(kernel[0, 0], x.reshape(cin, -1), (((0,), (0,)), ((), ())))
    return y.reshape(-1, b, h, w)


class DepthwiseConv(nn.Module):
    """Bias-free depthwise convolution, parameter ``kernel [k, k, 1, C]`` (``nn.Conv``'s layout
    with ``feature_group_count = C``; LeCun-normal, fan-in ``k * k``)."""

    kernel: int
    stride: int = 1
    dilation: int = 1
    padding: int = 0
    fence_input: bool = True  # False: the caller guarantees x is materialised (see fence)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.param("kernel", nn.initializers.lecun_normal(),
                       (self.kernel, self.kernel, 1, x.shape[0]), jnp.float32).astype(x.dtype)
        return depthwise_conv(x, k, self.stride, self.dilation, self.padding, self.fence_input)


class PointwiseConv(nn.Module):
    """Bias-free 1x1 convolution, parameter ``kernel [1, 1, Cin, Cout]`` (``nn.Conv``'s
    layout and LeCun-normal initialiser)."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.param("kernel", nn.initializers.lecun_normal(),
                       (1, 1, x.shape[0], self.features), jnp.float32).astype(x.dtype)
        return pointwise_conv(x, k)


# ---- operations -----------------------------------------------------------------------------


class ReLUConvBN(nn.Module):
    """ReLU -> 1x1 Conv (no bias) -> BatchNorm (DARTS's ``ReLUConvBN``, the cells' input
    preprocessing). Parameters ``conv``, ``bn``."""

    features: int
    affine: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = PointwiseConv(self.features, name="conv")(nn.relu(x))
        return BatchNorm(self.affine, name="bn")(y, train)


class SepConv(nn.Module):
    """DARTS's separable convolution: ``[ReLU -> depthwise k x k (stride) -> pointwise -> BN]``
    then ``[ReLU -> depthwise k x k -> pointwise -> BN]``, padding ``k // 2``.

    Parameters ``dw1``, ``pw1``, ``bn1``, ``dw2``, ``pw2``, ``bn2``.
    """

    features: int
    kernel: int
    stride: int = 1
    affine: bool = False
    rectified: bool = False  # x is relu(input), materialised (see fence): skip the first ReLU

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        c_in, p = x.shape[0], self.kernel // 2
        y = DepthwiseConv(self.kernel, self.stride, 1, p, fence_input=not self.rectified,
                          name="dw1")(x if self.rectified else nn.relu(x))
        y = BatchNorm(self.affine, name="bn1")(PointwiseConv(c_in, name="pw1")(y), train)
        y = DepthwiseConv(self.kernel, 1, 1, p, name="dw2")(nn.relu(y))
        return BatchNorm(self.affine, name="bn2")(PointwiseConv(self.features, name="pw2")(y),
                                                   train)


class DilConv(nn.Module):
    """DARTS's dilated convolution: ReLU -> depthwise k x k, dilation 2, padding ``k - 1``
    (stride) -> pointwise -> BN. Parameters ``dw``, ``pw``, ``bn``."""

    features: int
    kernel: int
    stride: int = 1
    dilation: int = 2
    affine: bool = False
    rectified: bool = False  # x is relu(input), materialised (see fence): skip the ReLU

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        p = self.dilation * (self.kernel - 1) // 2
        y = DepthwiseConv(self.kernel, self.stride, self.dilation, p,
                          fence_input=not self.rectified,
                          name="dw")(x if self.rectified else nn.relu(x))
        return BatchNorm(self.affine, name="bn")(PointwiseConv(self.features, name="pw")(y),
                                                  train)


class FactorizedReduce(nn.Module):
    """Halves height and width: ReLU, then two stride-2 1x1 convolutions with ``features // 2``
    outputs each, the second on the input shifted by one pixel (``x[..., 1:, 1:]``),
    concatenated on channels, then BatchNorm. Parameters ``conv_1``, ``conv_2``, ``bn``."""

    features: int
    affine: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.features % 2:
            raise ValueError(f"FactorizedReduce needs an even number of features, got "
                             f"{self.features}")
        if x.shape[2] % 2 or x.shape[3] % 2:
            raise ValueError(f"FactorizedReduce needs even height and width, got {x.shape[2:]}")
        x = nn.relu(x)
        half = self.features // 2
        # A stride-2 1x1 convolution reads every other pixel: subsample, then one GEMM.
        y1 = PointwiseConv(half, name="conv_1")(x[:, :, ::2, ::2])
        y2 = PointwiseConv(half, name="conv_2")(x[:, :, 1::2, 1::2])
        return BatchNorm(self.affine, name="bn")(jnp.concatenate([y1, y2], 0), train)


def _max_pool_fwd_value(x: jax.Array, stride: int) -> jax.Array:
    xp = _pad_hw(x, 1, -jnp.inf)
    r = jnp.maximum(jnp.maximum(xp[..., :-2], xp[..., 1:-1]), xp[..., 2:])
    out = jnp.maximum(jnp.maximum(r[:, :, :-2], r[:, :, 1:-1]), r[:, :, 2:])
    return out[:, :, ::stride, ::stride] if stride > 1 else out


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def max_pool_3x3(x: jax.Array, stride: int = 1, fence_input: bool = True) -> jax.Array:
    """3x3 max pooling, padding 1, stride 1 or 2: ``[C, B, H, W] -> [C, B, Ho, Wo]``.

    The gradient goes to the first maximum of each window in row-major order, as in PyTorch
    (the forward pass keeps that tap's index, one byte per output; autodiff of the shifted
    maxima split the gradient between ties and ran ~10x slower on CPU).
    """
    return _max_pool_fwd_value(x, stride)


def _max_pool_fwd(x, stride, fence_input):
    if stride > 1 and (x.shape[2] % stride or x.shape[3] % stride):
        raise ValueError(f"strided max pooling needs sizes divisible by {stride}, got "
                         f"{x.shape[2:]}")
    if fence_input:
        x = fence(x)
    y = _max_pool_fwd_value(x, stride)
    taps = _taps(_pad_hw(x, 1, -jnp.inf), 3, stride, 1, y.shape[2], y.shape[3])
    idx = jnp.full(y.shape, 8, jnp.int8)
    for t in range(7, -1, -1):  # the first tap equal to the maximum
        idx = jnp.where(taps[t] == y, jnp.int8(t), idx)
    y, idx = fence(y, idx)
    return y, idx


def _max_pool_bwd(stride, fence_input, idx, dy):
    dy = fence(dy)
    c, b, ho, wo = idx.shape
    h, w = ho * stride, wo * stride
    sh, sw = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    parts = []
    for t in range(9):
        g = jnp.where(idx == t, dy, jnp.zeros((), dy.dtype))
        i, j = divmod(t, 3)
        # Back onto the stride grid (interior padding) at the window's offset.
        parts.append(jax.lax.pad(g, jnp.zeros((), g.dtype),
                                 ((0, 0, 0), (0, 0, 0), (i, h + 2 - i - sh, stride - 1),
                                  (j, w + 2 - j - sw, stride - 1))))
    return _materialize((functools.reduce(jnp.add, parts)[:, :, 1:h + 1, 1:w + 1],))


max_pool_3x3.defvjp(_max_pool_fwd, _max_pool_bwd)


def _avg_pool_value(x: jax.Array, stride: int) -> jax.Array:
    h, w = x.shape[2], x.shape[3]
    xp = _pad_hw(x, 1)
    r = xp[..., :-2] + xp[..., 1:-1] + xp[..., 2:]
    out = (r[:, :, :-2] + r[:, :, 1:-1] + r[:, :, 2:]) * _inv_count(h, w).astype(x.dtype)
    # Window i at stride 2 is the stride-1 window 2i, so subsampling is exact.
    return out[:, :, ::stride, ::stride] if stride > 1 else out


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def avg_pool_3x3(x: jax.Array, stride: int = 1, fence_input: bool = True) -> jax.Array:
    """3x3 average pooling, padding 1 excluded from the count, stride 1 or 2:
    ``[C, B, H, W] -> [C, B, Ho, Wo]``. Shifted adds (separable), times the reciprocal window
    sizes; the input (unless ``fence_input=False``) and the output cotangent pass through
    :func:`fence`."""
    return _avg_pool_value(x, stride)


def _avg_pool_fwd(x, stride, fence_input):
    y = _avg_pool_value(fence(x) if fence_input else x, stride)
    return y, jnp.zeros(x.shape[2:], x.dtype)  # shape carrier


def _avg_pool_bwd(stride, fence_input, hw, dy):
    # The adjoint of "window sum times 1/count": the window sum (3x3 ones kernel, symmetric) of
    # dy / count spread back onto the stride grid.
    h, w = hw.shape
    ho, wo = dy.shape[2], dy.shape[3]
    inv = _inv_count(h, w)[::stride, ::stride].astype(dy.dtype)
    g = _dilate_pad(fence(dy) * inv, stride, 1, h - stride * (ho - 1), w - stride * (wo - 1))
    r = g[..., :-2] + g[..., 1:-1] + g[..., 2:]
    return _materialize((r[:, :, :-2] + r[:, :, 1:-1] + r[:, :, 2:],))


avg_pool_3x3.defvjp(_avg_pool_fwd, _avg_pool_bwd)


@functools.cache
def _inv_count(h: int, w: int) -> np.ndarray:
    """``1 / (number of in-image pixels)`` of every 3x3 window, ``[H, W]``."""
    ch, cw = np.full(h, 3.0), np.full(w, 3.0)
    ch[[0, -1]] -= 1
    cw[[0, -1]] -= 1
    return (1.0 / np.outer(ch, cw)).astype(np.float32)


def strided_shape(x: jax.Array, stride: int) -> tuple[int, ...]:
    """Shape of ``x[:, :, ::stride, ::stride]``."""
    c, b, h, w = x.shape
    return (c, b, -(-h // stride), -(-w // stride))


class Op(nn.Module):
    """One DARTS operation ``op`` on ``C = features`` channels at ``stride`` (1 or 2), on
    channel-major activations ``[C, B, H, W]``.

    Attributes:
        op: operation name (see :data:`OPS`).
        features: channels (input = output).
        stride: 2 on the reduction cells' edges from the cell inputs, else 1.
        affine: affine BatchNorms (evaluation network) or not (search network).
        pool_bn: follow the pools by an affine-free BatchNorm (DARTS's ``MixedOp``); its
            statistics are the variables ``bn``.

    Sub-modules: ``sep`` (:class:`SepConv`), ``dil`` (:class:`DilConv`), ``reduce``
    (:class:`FactorizedReduce`), ``bn``.
    """

    op: str
    features: int
    stride: int = 1
    affine: bool = False
    pool_bn: bool = False
    fenced: bool = False  # x is the output of fence(): the window operations read it directly

    @nn.compact
    def __call__(self, x: jax.Array, train: bool, x_relu: jax.Array | None = None
                 ) -> jax.Array:
        """Args: x ``[C, B, H, W]``; train: batch statistics; x_relu: optionally
        ``fence(relu(x))``, which the convolutions then read (shared by a mixed operation's
        convolutions). Returns ``[C, B, H/s, W/s]``."""
        n, c, s, f = check_op(self.op), self.features, self.stride, not self.fenced
        if n == "none":
            return jnp.zeros(strided_shape(x, s), x.dtype)
        if n == "noise":
            if not self.has_rng("noise"):
                if self.is_initializing():
                    return jnp.zeros(strided_shape(x, s), x.dtype)  # no parameters to create
                raise ValueError("the 'noise' operation draws from the 'noise' rng stream: pass "
                                 "rngs={'noise': key} to apply")
            return jax.random.normal(self.make_rng("noise"), strided_shape(x, s), x.dtype)
        if n == "skip_connect":
            return x if s == 1 else FactorizedReduce(c, self.affine, name="reduce")(x, train)
        if n in ("max_pool_3x3", "avg_pool_3x3"):
            y = max_pool_3x3(x, s, f) if n == "max_pool_3x3" else avg_pool_3x3(x, s, f)
            return BatchNorm(False, name="bn")(y, train) if self.pool_bn else y
        k, d = CONV_OPS[n]
        r = x_relu is not None
        xin = x_relu if r else x
        if d == 1:
            return SepConv(c, k, s, self.affine, r, name="sep")(xin, train)
        return DilConv(c, k, s, d, self.affine, r, name="dil")(xin, train)


def is_identity(name: str, stride: int) -> bool:
    """Whether operation ``name`` at ``stride`` is DARTS's ``Identity`` (skip at stride 1),
    the only operation drop path leaves alone."""
    return name == "skip_connect" and stride == 1


class MixedOp(nn.Module):
    """The search network's mixed operation ``sum_k w[k] * op_k(x)`` over the candidate
    operations ``ops`` of one edge (affine-free BatchNorms, pools followed by BatchNorm).

    Every candidate runs whatever its weight (a static, jit-friendly forward pass); ``none``
    contributes nothing. Sub-modules: one :class:`Op` per candidate, named by the operation.
    """

    ops: tuple[str, ...]
    features: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, weights: jax.Array, train: bool) -> jax.Array:
        """Args: x ``[C, B, H, W]``; weights ``[K]``. Returns ``[C, B, H/s, W/s]``."""
        w = weights.astype(x.dtype)
        # Materialised once for all window operations (and, backward, their gradients' sums).
        x = fence(x)
        xr = fence(nn.relu(x)) if any(n in CONV_OPS for n in self.ops) else None
        out = None
        for k, name in enumerate(self.ops):
            if name == "none":
                continue
            op = Op(name, self.features, self.stride, False, True, fenced=True, name=name)
            y = w[k] * op(x, train, xr)
            out = y if out is None else out + y
        return jnp.zeros(strided_shape(x, self.stride), x.dtype) if out is None else out


def drop_path(key: jax.Array, x: jax.Array, rate: jax.Array | float) -> jax.Array:
    """DARTS's drop path on channel-major ``x [C, B, H, W]``: each sample is zeroed with
    probability ``rate``, the others scaled by ``1 / (1 - rate)``. ``rate`` may be traced (a
    schedule); consumes ``key``."""
    keep = 1.0 - jnp.asarray(rate, x.dtype)
    mask = jax.random.bernoulli(key, keep, (1, x.shape[1], 1, 1))
    return jnp.where(mask, x / keep, jnp.zeros((), x.dtype))


__all__ = ["BatchNorm", "CONV_OPS", "DepthwiseConv", "DilConv", "FactorizedReduce", "MixedOp",
           "OPS", "Op", "PointwiseConv", "ReLUConvBN", "SepConv", "avg_pool_3x3", "check_op",
           "depthwise_conv", "depthwise_conv_sum", "depthwise_conv_xla", "drop_path", "fence",
           "is_identity", "max_pool_3x3", "normalize_train", "pointwise_conv", "strided_shape",
           "to_channel_major", "to_channels_last"]
