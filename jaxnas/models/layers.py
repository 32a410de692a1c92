"""Generic layers of the supernets, channels-last (NHWC), and their XLA:CPU workarounds.

Space-independent building blocks: bias-free convolutions (on CPU as chunked im2col GEMMs with a
custom gradient, :func:`conv2d`), BatchNorm with PyTorch's defaults, the affine-free
training-mode BatchNorm with a closed-form gradient (:func:`normalize_train`) and its split form
(:class:`SplitBatchNorm`), :func:`fence`, 3x3 average pooling without padding in the count,
ReLU -> Conv -> BN, the supernet compiler options and a cached jitted initialiser
(:func:`init_variables`). The operations, cells and networks of a search space live in its own
subpackage (e.g. :mod:`jaxnas.models.nb201`).

Inside search cells the BatchNorm has no affine parameters (``affine=False`` in the reference
implementations), so a BatchNorm over the concatenated outputs of several convolutions is exactly
one BatchNorm per convolution; fused search cells rely on this.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

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


def conv(features: int, kernel: int, stride: int = 1, name: str | None = None,
         relu: bool = False) -> Conv:
    """A bias-free convolution with ``(kernel - 1) // 2`` zero padding;
    ``relu=True`` convolves ``relu(x)``."""
    return Conv(features, kernel, stride, relu=relu, name=name)


def on_cpu() -> bool:
    """Whether XLA:CPU workarounds apply (:func:`conv2d` for convolutions, :func:`fence` on node
    values); GPU and TPU use XLA's own convolutions and need no fences."""
    return jax.default_backend() == "cpu"


def compiler_options() -> dict | None:
    """XLA options for jitting supernet programs (``jax.jit(..., compiler_options=...)``).

    On CPU, ``xla_llvm_disable_expensive_passes``: the time of a supernet step is in library
    GEMMs and memory-bound elementwise loops, and skipping LLVM's expensive optimisations
    compiles the C=16, N=5 training step about 3 s faster (2-core CPU, mean of four alternating
    pairs: 19.2 s against 21.9 s) at unchanged throughput (experiments/RESULTS.md, section 4).
    Other backends: ``None`` (XLA's defaults).
    """
    return {"xla_llvm_disable_expensive_passes": True} if on_cpu() else None


def _conv(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((padding, padding),) * 2,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


# Pixels per im2col chunk. A chunk's patch matrix ([CHUNK_PIXELS, 9 * Cin] floats: 0.6-2.4 MB for
# Cin 16-64) stays in cache while its GEMM runs; measured on a 2-core AVX2 CPU, 2,048 pixels per
# chunk runs the forward, input-gradient and kernel-gradient GEMMs at 67-135 GFLOP/s, against
# 6-80 GFLOP/s for XLA:CPU's convolution and its gradients (experiments/RESULTS.md, section 4).
CHUNK_PIXELS = 2048


def _patches(x: jax.Array, kh: int, kw: int, stride: int, padding: int, ho: int, wo: int
             ) -> jax.Array:
    """im2col: ``[B * Ho * Wo, kh * kw * Cin]``, patch entries ordered like an HWIO kernel."""
    xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    cols = [xp[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            for i in range(kh) for j in range(kw)]
    # Stacked on a new tap axis: XLA:CPU still emits one slice fusion per tap plus a concatenate
    # copy (it does not fuse large concatenations on either axis), but the supernet step
    # compiles ~4 s faster than with the taps concatenated on the channel axis, at equal speed.
    return jnp.stack(cols, -2).reshape(-1, kh * kw * x.shape[-1])


def _chunks(batch: int, pixels: int, taps: int) -> int:
    """Images per chunk: the whole batch for a 1x1 kernel (``taps == 1``: no patch matrix, one
    GEMM), else the largest divisor of ``batch`` with at most CHUNK_PIXELS pixels (at least one
    image)."""
    if taps == 1:
        return batch
    per = max(1, min(batch, CHUNK_PIXELS // max(pixels, 1)))
    while batch % per:
        per -= 1
    return per


def _over_chunks(one: Callable, per: int, arrays: Sequence[jax.Array],
                 acc_shape: tuple[int, ...] | None = None):
    """Runs ``one(*chunks) -> (out, part)`` over consecutive chunks of ``per`` images of
    ``arrays`` (all with the same batch size), in one ``lax.scan``.

    Returns ``(out, acc)``: the chunk outputs joined along the batch axis (``None`` if ``one``
    returns ``None`` for it), and the sum of the ``part`` terms (shape ``acc_shape``; ``None``
    without one). A single chunk (``per`` = batch) is a plain call without a loop.
    """
    b = arrays[0].shape[0]
    if per == b:
        return one(*arrays)
    split = [a.reshape(b // per, per, *a.shape[1:]) for a in arrays]
    init = None if acc_shape is None else jnp.zeros(acc_shape, arrays[-1].dtype)

    def body(acc, chunk):
        out, part = one(*chunk)
        return (None if acc is None else acc + part), out

    acc, out = jax.lax.scan(body, init, split)
    return (None if out is None else out.reshape(b, *out.shape[2:])), acc


def _same(kernel: jax.Array, stride: int, padding: int) -> bool:
    kh, kw = kernel.shape[:2]
    return stride == 1 and kh == kw and kh % 2 == 1 and padding == (kh - 1) // 2


def _relu_if(x: jax.Array, relu: bool) -> jax.Array:
    return jnp.maximum(x, 0) if relu else x


def _kernel_grad_part(x: jax.Array, dy: jax.Array, kh: int, kw: int, stride: int, padding: int
                      ) -> jax.Array:
    """``patches(x)^T @ dy``: ``[kh * kw * Cin, Cout]``."""
    p = _patches(x, kh, kw, stride, padding, dy.shape[1], dy.shape[2])
    return jax.lax.dot_general(p, dy.reshape(-1, dy.shape[-1]), (((0,), (0,)), ((), ())))


def _gemm_conv(x: jax.Array, kernel: jax.Array, padding: int, relu: bool) -> jax.Array:
    """Stride-1 "same" convolution of ``relu?(x)`` as a loop of im2col GEMMs over chunks of
    images (the ReLU is applied per chunk, so ``relu(x)`` is never stored)."""
    b, h, w, ci = x.shape
    kh, kw, _, co = kernel.shape
    k2 = kernel.reshape(kh * kw * ci, co)

    def one(xc):
        y = _patches(_relu_if(xc, relu), kh, kw, 1, padding, h, w) @ k2
        return y.reshape(xc.shape[0], h, w, co), None

    return _over_chunks(one, _chunks(b, h * w, kh * kw), [x])[0]


def _col2im(z: jax.Array, b: int, h: int, w: int, kh: int, kw: int, padding: int) -> jax.Array:
    """Transpose of :func:`_patches` for a stride-1 "same" kernel: sums the ``kh * kw`` tap
    blocks of ``z [b * h * w, kh * kw * C]`` into the pixels they were read from, ``[b, h, w, C]``.
    """
    z = z.reshape(b, h, w, kh * kw, -1)
    zp = jnp.pad(z, ((0, 0), (padding, padding), (padding, padding), (0, 0), (0, 0)))
    return sum(zp[:, kh - 1 - i:kh - 1 - i + h, kw - 1 - j:kw - 1 - j + w, i * kw + j]
               for i in range(kh) for j in range(kw))


def _gemm_conv_grads(x: jax.Array, kernel: jax.Array, dy: jax.Array, padding: int, relu: bool
                     ) -> tuple[jax.Array, jax.Array]:
    """Both gradients of :func:`_gemm_conv` in one loop over chunks: the input gradient
    ``col2im(dy @ K^T)`` (one GEMM to per-tap contributions ``[pixels, kh * kw * Cin]``, then a
    shifted sum, times the ReLU mask; cheaper than im2col of ``dy`` whenever ``Cout >= Cin``, as
    in every search cell) and the kernel gradient ``sum_chunks patches(relu?(x))^T @ dy``."""
    b, h, w, ci = x.shape
    kh, kw, _, co = kernel.shape
    kt = kernel.reshape(kh * kw * ci, co).T

    def one(xc, dc):
        z = dc.reshape(-1, co) @ kt
        dx = _col2im(z, xc.shape[0], h, w, kh, kw, padding)
        if relu:
            dx = jnp.where(xc > 0, dx, 0)
        return dx, _kernel_grad_part(_relu_if(xc, relu), dc, kh, kw, 1, padding)

    dx, dk = _over_chunks(one, _chunks(b, h * w, kh * kw), [x, dy], (kh * kw * ci, co))
    return dx, dk.reshape(kernel.shape)


def _gemm_kernel_grad(x: jax.Array, dy: jax.Array, kh: int, kw: int, stride: int, padding: int
                      ) -> jax.Array:
    """``sum over chunks of patches(x)^T @ dy``: the kernel gradient ``[kh, kw, Cin, Cout]`` of
    any convolution (used for the strided ones)."""
    ci, co = x.shape[-1], dy.shape[-1]
    dk = _over_chunks(lambda xc, dc: (None, _kernel_grad_part(xc, dc, kh, kw, stride, padding)),
                      _chunks(x.shape[0], dy.shape[1] * dy.shape[2], kh * kw), [x, dy],
                      (kh * kw * ci, co))[1]
    return dk.reshape(kh, kw, ci, co)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv2d(x: jax.Array, kernel: jax.Array, stride: int = 1, padding: int = 0,
           relu: bool = False) -> jax.Array:
    """NHWC / HWIO convolution of ``relu(x)`` (or ``x``) as cache-sized im2col GEMMs (CPU path).

    XLA:CPU runs the supernet convolutions at 70-80 GFLOP/s forward and lowers the kernel
    gradient to an image-window convolution at 6-60 GFLOP/s. Here:

    * "same" padding, stride 1 (the cell convolutions): the forward pass is a loop of im2col
      GEMMs over chunks of :data:`CHUNK_PIXELS` pixels; the backward pass is one loop computing,
      per chunk, the input gradient (``col2im(dy @ K^T)``: per-tap contributions summed back
      into the pixels they came from) and the chunk's share of the kernel gradient
      ``patches^T @ dy``. A 1x1 kernel is one GEMM;
    * anything else (stride 2 in the reduction blocks): XLA's convolution and input gradient,
      the chunked im2col kernel gradient.

    ``relu=True`` computes ``conv(relu(x))`` with the ReLU applied chunk by chunk (the cells'
    ReLU -> Conv -> BN), so the rectified input is never stored.

    Args:
        x: ``[B, H, W, Cin]``.
        kernel: ``[kh, kw, Cin, Cout]``.
        stride: spatial stride.
        padding: zero padding on each spatial side.
        relu: rectify the input first.

    Returns:
        ``[B, Ho, Wo, Cout]``.
    """
    return _conv2d_fwd(x, kernel, stride, padding, relu)[0]


def _conv2d_fwd(x, kernel, stride, padding, relu):
    if _same(kernel, stride, padding):
        y = _gemm_conv(x, kernel, padding, relu)
    else:
        y = _conv(_relu_if(x, relu), kernel, stride, padding)
    return y, (x, kernel)


def _conv2d_bwd(stride, padding, relu, res, dy):
    x, kernel = res
    if _same(kernel, stride, padding):
        dx, dk = _gemm_conv_grads(x, kernel, dy, padding, relu)
    else:
        xr = _relu_if(x, relu)
        dx = jax.vjp(lambda x_: _conv(x_, kernel, stride, padding), xr)[1](dy)[0]
        if relu:
            dx = jnp.where(x > 0, dx, 0)
        dk = _gemm_kernel_grad(xr, dy, *kernel.shape[:2], stride, padding)
    return dx, dk.astype(kernel.dtype)


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


class Conv(nn.Module):
    """Bias-free square convolution, parameter ``kernel [k, k, Cin, Cout]`` like ``nn.Conv``
    (same name, shape and LeCun-normal initialiser). On the CPU backend it is computed with
    :func:`conv2d` (chunked im2col GEMMs, a workaround for XLA:CPU's slow convolution
    gradients); on GPU/TPU with XLA's own convolution and gradients."""

    features: int
    kernel: int
    stride: int = 1
    relu: bool = False  # convolve relu(x)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.param("kernel", nn.initializers.lecun_normal(),
                       (self.kernel, self.kernel, x.shape[-1], self.features), jnp.float32)
        k = k.astype(x.dtype)
        pad = (self.kernel - 1) // 2
        if on_cpu():
            return conv2d(x, k, self.stride, pad, self.relu)
        return _conv(nn.relu(x) if self.relu else x, k, self.stride, pad)


def _bn_axes(x: jax.Array) -> tuple[int, ...]:
    return tuple(range(x.ndim - 1))


def _stats_dtype(x: jax.Array):
    return jnp.promote_types(x.dtype, jnp.float32)  # float32, or float64 for float64 inputs


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def normalize_train(x: jax.Array, epsilon: float = BN_EPS
                    ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Affine-free training-mode BatchNorm over all axes but the last: ``(out, mean, var)``.

    ``mean`` and ``var = max(0, E[x^2] - E[x]^2)`` are batch statistics (float32, or float64 for
    float64 inputs) and ``out = (x - mean) * rsqrt(var + epsilon)``, the arithmetic of
    ``nn.BatchNorm`` without scale and bias. The gradient is the closed form (``g``: cotangent of ``out``; cotangents of
    ``mean`` and ``var`` are honoured too)::

        dx = inv * (g - mean(g)) - (x - mean) * inv^3 * mean(g * (x - mean))

    whose only large residual is ``x``. Autodiff of the forward pass kept three more tensors of
    ``x``'s size (``2 x`` for the square and ``x - mean`` twice), which the supernet step wrote
    and read back for every convolution of every cell.

    Args:
        x: ``[..., C]``.
        epsilon: added to the variance.

    Returns:
        ``out`` (``x``'s dtype), ``mean [C]``, ``var [C]``.
    """
    return _normalize_fwd(x, epsilon)[0]


def _normalize_fwd(x, epsilon):
    axes = _bn_axes(x)
    xf = x.astype(_stats_dtype(x))
    mean = jnp.mean(xf, axes)
    var_raw = jnp.mean(jnp.square(xf), axes) - jnp.square(mean)
    var = jnp.maximum(0.0, var_raw)
    inv = jax.lax.rsqrt(var + epsilon)
    return (((xf - mean) * inv).astype(x.dtype), mean, var), (x, mean, inv, var_raw > 0)


def _normalize_bwd(epsilon, res, cts):
    x, mean, inv, positive = res
    g, g_mean, g_var = cts
    axes = _bn_axes(x)
    n = x.size // x.shape[-1]
    gf = g.astype(mean.dtype)
    xc = x.astype(mean.dtype) - mean
    sum_g = jnp.sum(gf, axes)
    # Cotangent of var (zero where var was clipped at 0, as max's derivative there).
    g_v = jnp.where(positive, g_var - 0.5 * inv**3 * jnp.sum(gf * xc, axes), 0.0)
    dx = gf * inv + (g_mean - inv * sum_g) / n + (2.0 / n) * g_v * xc
    return (dx.astype(x.dtype),)


normalize_train.defvjp(_normalize_fwd, _normalize_bwd)


class SplitBatchNorm(nn.Module):
    """Affine-free BatchNorm of several tensors as if they were concatenated on channels.

    Same variables (``batch_stats``: ``mean``, ``var`` over the concatenated channels) and the
    same arithmetic as ``nn.BatchNorm(use_scale=False, use_bias=False)`` applied to
    ``jnp.concatenate(xs, -1)`` (float32 statistics, ``var = max(0, E[x^2] - E[x]^2)``, running
    averages updated only in training and not at initialisation), but without materialising the
    concatenation. Per-channel normalisation makes the split exact. In training, each tensor goes
    through :func:`normalize_train` (closed-form gradient, one residual).
    """

    momentum: float = BN_MOMENTUM
    epsilon: float = BN_EPS

    @nn.compact
    def __call__(self, xs: Sequence[jax.Array], use_running_average: bool) -> list[jax.Array]:
        sizes = [x.shape[-1] for x in xs]
        total = sum(sizes)
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((total,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((total,), jnp.float32))
        if not use_running_average:
            res = [normalize_train(x, self.epsilon) for x in xs]
            if not self.is_initializing():
                mean = jnp.concatenate([m for _, m, _ in res])
                var = jnp.concatenate([v for _, _, v in res])
                ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
                ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
            return [o for o, _, _ in res]
        inv = jax.lax.rsqrt(ra_var.value + self.epsilon)
        out, off = [], 0
        for x, n in zip(xs, sizes, strict=True):
            out.append(((x - ra_mean.value[off:off + n]) * inv[off:off + n]).astype(x.dtype))
            off += n
        return out


def fence(x: jax.Array) -> jax.Array:
    """Identity that makes XLA:CPU materialise ``x`` (and, in the backward pass, its cotangent).

    Node values of a search cell are elementwise expressions (weighted sums of skip connections,
    pooling and normalised convolutions) of earlier nodes. XLA:CPU fuses such producers into
    each elementwise consumer, duplicating them, so the chains through skip connections and
    pooling were recomputed cell after cell: forward and backward time grew quadratically with
    depth (C=16, N=5 at batch 256: 22.6 s per gradient). ``optimization_barrier`` does not stop
    this (it is expanded before fusion), a matrix product does: ``x @ I`` runs as a library
    GEMM whose operand and result are buffers, and its transpose ``g @ I`` cuts the backward
    chain the same way. It costs ``2 * size(x) * C`` FLOPs and is exact for finite ``x`` (an
    infinity becomes NaN). Other backends get the identity.
    """
    if not on_cpu():
        return x
    return x @ jnp.eye(x.shape[-1], dtype=x.dtype)


def avg_pool_3x3(x: jax.Array) -> jax.Array:
    """3x3 average pooling, stride 1, padding excluded from the count (``count_include_pad=False``).

    Args:
        x: ``[B, H, W, C]``.
    Returns:
        ``[B, H, W, C]``.
    """
    # Window sums as shifted adds of the zero-padded input (separable: rows, then columns), times
    # a constant reciprocal count. XLA:CPU fuses the adds (and their transposes in the backward
    # pass) into single loops; reduce_window ran ~6x slower there, and nn.avg_pool
    # (count_include_pad=False) would also run a second reduce_window over ones for the count.
    h, w = x.shape[-3], x.shape[-2]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    r = xp[:, :, :-2] + xp[:, :, 1:-1] + xp[:, :, 2:]
    s = r[:, :-2] + r[:, 1:-1] + r[:, 2:]
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
        y = conv(self.features, self.kernel, self.stride, name="conv", relu=True)(x)
        return batch_norm(self.affine, name="bn")(y, use_running_average=not train)


def kernel_fan_in(shape: Sequence[int]) -> int:
    """Fan-in of a ``kernel`` parameter: ``kh * kw * Cin`` for a convolution
    ``[kh, kw, Cin, Cout]``, also when stacked over a scanned stage (``[N, kh, kw, Cin, Cout]``);
    ``Din`` for a dense layer ``[Din, Dout]``."""
    return math.prod(shape[-4:-1] if len(shape) >= 4 else shape[:-1])


@functools.cache
def _jitted_init():
    # Initialisation runs once per run, so it is compiled without XLA's backend optimisation: at
    # the default level XLA:CPU spends ~25 s optimising the ~50 inlined truncated-normal samplers
    # of the kernels (C=4, N=1 or C=16, N=5: 3.5-4 s this way). Eager op-by-op initialisation
    # compiled ~300 small programs and took 35-55 s on a 2-core CPU.
    opts = {"xla_backend_optimization_level": 0} if on_cpu() else None
    return jax.jit(lambda net, key, x, w: net.init(key, x, w, train=False), static_argnums=0,
                   compiler_options=opts)


def init_variables(key: jax.Array, net: nn.Module, op_weights=None,
                   image_shape: Sequence[int] = (32, 32, 3)) -> dict:
    """Initial variables ``{'params', 'batch_stats'}`` of a network called as
    ``net(x, op_weights, train=...)`` (one jitted program, cached per network, image shape and
    op-weight layout). ``op_weights``: any weights of the supernet's layout (their values do not
    matter), ``None`` for a discrete network. Consumes ``key``."""
    x = jnp.zeros((1, *image_shape), jnp.float32)
    if isinstance(key, jax.core.Tracer):  # inside a transformation (e.g. jax.eval_shape)
        return dict(net.init(key, x, op_weights, train=False))
    return dict(_jitted_init()(net, key, x, op_weights))


__all__ = ["BN_EPS", "BN_MOMENTUM", "CHUNK_PIXELS", "Conv", "ReLUConvBN", "SplitBatchNorm",
           "avg_pool_3x3", "batch_norm", "compiler_options", "conv", "conv2d", "fence",
           "init_variables", "kernel_fan_in", "normalize_train", "on_cpu"]
