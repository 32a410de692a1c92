"""A small ONNX graph evaluated in JAX: read once on the host, then a pure, jit-able function.

Surrogate benchmarks (e.g. YAHPO Gym's NAS-Bench-301 model) ship as ONNX files. This module ports
such a graph to JAX instead of calling onnxruntime, so a surrogate query is a jitted function of
JAX arrays that runs inside jitted search loops like a table lookup:

    program, weights = read_onnx("model.onnx")        # needs the ``onnx`` package (host, once)
    model = from_arrays(to_arrays(program, weights))  # the same through jaxnas's .npz cache
    (y,) = jax.jit(run)(model, x_cat, x_cont)

:func:`read_onnx` turns the file into a :class:`Program` (the node list and the small constants:
static, hashable) and the float weights (a dict of arrays: the pytree leaves). :func:`to_arrays`
and :func:`from_arrays` convert both into a flat dict of numpy arrays for ``np.savez`` and back,
so loading the cache needs neither ``onnx`` nor ``onnxruntime``. :func:`run` walks the nodes at
trace time: values computed from constants alone (shapes, slice bounds) stay NumPy and are folded
on the host; everything that depends on an input or a weight is a ``jnp`` operation, so XLA sees
only the arithmetic.

Only the operators in :data:`SUPPORTED_OPS` are implemented (those of the small MLPs with
embeddings that YAHPO Gym exports from PyTorch), with ONNX's semantics for them; a graph with any
other operator is refused by :func:`read_onnx` with an error naming it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

#: ONNX operators :func:`run` implements (default domain, opsets 11 to 21 for these operators).
SUPPORTED_OPS: frozenset[str] = frozenset({
    "Add", "BatchNormalization", "Cast", "Concat", "Constant", "Div", "Exp", "Gather", "Gemm",
    "Max", "Min", "Mul", "Relu", "Shape", "Sigmoid", "Slice", "Sub", "Unsqueeze",
})

#: format of the flat array dict written by :func:`to_arrays`
FORMAT_VERSION = 1

# ONNX TensorProto data types -> numpy (the ones a graph of SUPPORTED_OPS can carry)
_ONNX_DTYPES: dict[int, str] = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32",
                                7: "int64", 9: "bool", 10: "float16", 11: "float64",
                                12: "uint32", 13: "uint64"}

Array = Any  # np.ndarray (static, folded on the host) or jax.Array (traced)


@dataclasses.dataclass(frozen=True)
class Node:
    """One ONNX node: operator, input and output value names, attributes (hashable values)."""

    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: tuple[tuple[str, Any], ...] = ()

    def attr(self, name: str, default: Any = None) -> Any:
        """The attribute ``name``, or ``default`` when the node does not set it."""
        return dict(self.attrs).get(name, default)


@dataclasses.dataclass(frozen=True, eq=False)
class Program:
    """The static part of a graph: nodes in topological order and the host constants.

    Hashable (a static field of :class:`OnnxModel`, part of jit's cache key); the hash is computed
    once, so passing a model to a jitted function costs no re-hashing of the node list.

    Attributes:
        nodes: the nodes, in the file's (topological) order; ``Constant`` nodes are folded into
            ``consts``.
        consts: ``(name, dtype, shape, raw bytes)`` of every constant value (Constant nodes and
            integer initializers): static, evaluated with NumPy at trace time.
        inputs: ``(name, dtype)`` of the graph inputs, in order.
        outputs: names of the graph outputs, in order.
    """

    nodes: tuple[Node, ...]
    consts: tuple[tuple[str, str, tuple[int, ...], bytes], ...]
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]

    def __post_init__(self):
        key = (self.nodes, self.consts, self.inputs, self.outputs)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Program) and self._hash == other._hash
                                 and self._key == other._key)

    def const_arrays(self) -> dict[str, np.ndarray]:
        """The constants as read-only numpy arrays."""
        return {n: np.frombuffer(b, dtype=d).reshape(s) for n, d, s, b in self.consts}


@flax.struct.dataclass
class OnnxModel:
    """An ONNX graph as a pytree: the float weights are leaves, the program is static.

    Pass it as an argument to jitted functions; every query with the same input shapes reuses
    one compilation.
    """

    weights: dict[str, jax.Array]  # initializer name -> array
    program: Program = flax.struct.field(pytree_node=False)


# --------------------------------------------------------------------------------------------
# Reading the file (host, needs the ``onnx`` package).
# --------------------------------------------------------------------------------------------


def _attr_value(node_name: str, a) -> Any:
    """One ONNX attribute as a hashable Python value."""
    from onnx import AttributeProto, numpy_helper

    t = a.type
    if t == AttributeProto.INT:
        return int(a.i)
    if t == AttributeProto.FLOAT:
        return float(a.f)
    if t == AttributeProto.STRING:
        return a.s.decode()
    if t == AttributeProto.INTS:
        return tuple(int(v) for v in a.ints)
    if t == AttributeProto.FLOATS:
        return tuple(float(v) for v in a.floats)
    if t == AttributeProto.TENSOR:
        return numpy_helper.to_array(a.t)
    raise ValueError(f"ONNX node {node_name!r}: attribute {a.name!r} has a type jaxnas does not "
                     f"read ({AttributeProto.AttributeType.Name(t)}); only ints, floats, strings "
                     f"and tensors are supported")


def _const_entry(name: str, arr: np.ndarray) -> tuple[str, str, tuple[int, ...], bytes]:
    arr = np.array(arr, order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    return name, arr.dtype.str, tuple(int(s) for s in arr.shape), arr.tobytes()


def read_onnx(source: str | os.PathLike | bytes) -> tuple[Program, dict[str, np.ndarray]]:
    """Reads an ONNX file into a :class:`Program` and its float weights (host-side, once).

    Float initializers become weights (pytree leaves); integer initializers and ``Constant``
    nodes become static constants, so shape arithmetic is folded at trace time.

    Args:
        source: path of the ``.onnx`` file, or its bytes.

    Returns:
        ``(program, weights)``, weights as a dict of numpy arrays.

    Raises:
        ValueError: the ``onnx`` package is not installed, or the graph uses an operator outside
            :data:`SUPPORTED_OPS` or a non-default domain (naming every one), or an attribute
            or input type jaxnas does not read.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ValueError("reading an ONNX file needs the onnx package: "
                          "`pip install 'jaxnas[nb301]'` (or `pip install onnx`)") from None
    where = "ONNX bytes" if isinstance(source, bytes) else str(source)
    m = onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(str(source))
    g = m.graph
    unsupported = sorted({n.op_type for n in g.node if n.op_type not in SUPPORTED_OPS}
                         | {f"{n.domain}:{n.op_type}" for n in g.node
                            if n.domain not in ("", "ai.onnx")})
    if unsupported:
        raise ValueError(f"{where} uses ONNX operators jaxnas does not implement: "
                         f"{', '.join(unsupported)} (supported: {', '.join(sorted(SUPPORTED_OPS))})"
                         f"; add them to jaxnas.benchmarks.onnx_graph or export a simpler graph")
    weights: dict[str, np.ndarray] = {}
    consts: list[tuple[str, str, tuple[int, ...], bytes]] = []
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        if np.issubdtype(arr.dtype, np.floating):
            weights[t.name] = np.array(arr)
        else:
            consts.append(_const_entry(t.name, arr))
    nodes: list[Node] = []
    for n in g.node:
        attrs = tuple((a.name, _attr_value(n.name or n.op_type, a)) for a in n.attribute)
        if n.op_type == "Constant":
            (key, value), = attrs
            if key not in ("value", "value_float", "value_floats", "value_int", "value_ints"):
                raise ValueError(f"{where}: Constant node {n.name!r} uses {key!r}, which jaxnas "
                                 f"does not read")
            arr = value if isinstance(value, np.ndarray) else np.asarray(
                value, np.float32 if key.startswith("value_float") else np.int64)
            consts.append(_const_entry(n.output[0], arr))
            continue
        if any(isinstance(v, np.ndarray) for _, v in attrs):
            raise ValueError(f"{where}: node {n.name!r} ({n.op_type}) has a tensor attribute, "
                             f"which jaxnas reads only on Constant nodes")
        nodes.append(Node(n.op_type, tuple(n.input), tuple(n.output), attrs))
    inputs = []
    init_names = {t.name for t in g.initializer}
    for i in g.input:
        if i.name in init_names:  # old exporters list initializers as inputs too
            continue
        dt = _ONNX_DTYPES.get(i.type.tensor_type.elem_type)
        if dt is None:
            raise ValueError(f"{where}: input {i.name!r} has ONNX element type "
                             f"{i.type.tensor_type.elem_type}, which jaxnas does not read")
        inputs.append((i.name, dt))
    program = Program(tuple(nodes), tuple(consts), tuple(inputs), tuple(o.name for o in g.output))
    return program, weights


# --------------------------------------------------------------------------------------------
# The flat array form (jaxnas's .npz caches).
# --------------------------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def to_arrays(program: Program, weights: dict[str, np.ndarray],
              prefix: str = "onnx_") -> dict[str, np.ndarray]:
    """The graph as a flat dict of numpy arrays (for ``np.savez``; no pickles).

    Keys: ``{prefix}program`` (a JSON string: nodes, inputs, outputs, names and dtypes of the
    constants and weights), ``{prefix}const_{i}`` and ``{prefix}weight_{i}``.
    """
    consts = program.const_arrays()
    spec = {
        "format": FORMAT_VERSION,
        "nodes": [[n.op, list(n.inputs), list(n.outputs), [[k, _jsonable(v)] for k, v in n.attrs]]
                  for n in program.nodes],
        "inputs": [list(i) for i in program.inputs],
        "outputs": list(program.outputs),
        "consts": list(consts),
        "weights": list(weights),
    }
    out = {f"{prefix}program": np.array(json.dumps(spec))}
    out.update({f"{prefix}const_{i}": np.asarray(a) for i, a in enumerate(consts.values())})
    out.update({f"{prefix}weight_{i}": np.asarray(w, np.float32) if w.dtype == np.float64 else
                np.asarray(w) for i, w in enumerate(weights.values())})
    return out


def _tupled(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def from_arrays(arrays: dict[str, np.ndarray] | Any, prefix: str = "onnx_") -> OnnxModel:
    """The :class:`OnnxModel` of a dict written by :func:`to_arrays` (or an open ``np.load``).

    Raises:
        ValueError: the dict lacks the program or an array, or has another format version.
    """
    key = f"{prefix}program"
    if key not in arrays:
        raise ValueError(f"no {key!r} entry: not a jaxnas ONNX cache; convert the .onnx again")
    spec = json.loads(str(arrays[key]))
    if spec.get("format") != FORMAT_VERSION:
        raise ValueError(f"ONNX cache format {spec.get('format')!r} is not {FORMAT_VERSION}; "
                         f"convert the .onnx again with this jaxnas")
    try:
        consts = tuple(_const_entry(n, np.asarray(arrays[f"{prefix}const_{i}"]))
                       for i, n in enumerate(spec["consts"]))
        weights = {n: jnp.asarray(arrays[f"{prefix}weight_{i}"])
                   for i, n in enumerate(spec["weights"])}
    except KeyError as e:
        raise ValueError(f"ONNX cache lacks the array {e}; convert the .onnx again") from None
    nodes = tuple(Node(op, tuple(i), tuple(o), tuple((k, _tupled(v)) for k, v in attrs))
                  for op, i, o, attrs in spec["nodes"])
    program = Program(nodes, consts, tuple(tuple(i) for i in spec["inputs"]),
                      tuple(spec["outputs"]))
    return OnnxModel(weights=weights, program=program)


def load_onnx(path: str | os.PathLike) -> OnnxModel:
    """:func:`read_onnx` then :class:`OnnxModel` (weights as ``jnp`` arrays); needs ``onnx``."""
    program, weights = read_onnx(Path(path))
    return OnnxModel(weights={k: jnp.asarray(v) for k, v in weights.items()}, program=program)


# --------------------------------------------------------------------------------------------
# Evaluation.
# --------------------------------------------------------------------------------------------


def _static(*xs: Array) -> bool:
    return all(isinstance(x, (np.ndarray, np.generic)) for x in xs)


def _xp(*xs: Array):
    """numpy when every operand is a host constant (folded at trace time), else jax.numpy."""
    return np if _static(*xs) else jnp


def _need_static(node: Node, x: Array, what: str) -> np.ndarray:
    if not _static(x):
        raise ValueError(f"ONNX {node.op} node {node.outputs[0]!r}: its {what} depends on an "
                         f"input or a weight; jaxnas needs it constant (static shapes)")
    return np.asarray(x)


def _binary(f_np: Callable, f_jnp: Callable) -> Callable:
    def op(node: Node, a: Array, b: Array) -> tuple[Array]:
        return ((f_np if _static(a, b) else f_jnp)(a, b),)
    return op


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX integer Div: truncation toward zero (C semantics), unlike Python's floor."""
    q = np.abs(a) // np.abs(b)
    return (np.sign(a) * np.sign(b) * q).astype(np.result_type(a, b))


def _div(node: Node, a: Array, b: Array) -> tuple[Array]:
    if _static(a, b):
        a, b = np.asarray(a), np.asarray(b)
        if np.issubdtype(np.result_type(a, b), np.integer):
            return (_int_div(a, b),)
        return (a / b,)
    if jnp.issubdtype(jnp.result_type(a, b), jnp.integer):
        a, b = jnp.broadcast_arrays(a, b)
        return (lax.div(a, b),)
    return (a / b,)


def _variadic(f_np: Callable, f_jnp: Callable) -> Callable:
    def op(node: Node, *xs: Array) -> tuple[Array]:
        return (functools.reduce(f_np if _static(*xs) else f_jnp, xs),)
    return op


def _unary(f_np: Callable, f_jnp: Callable) -> Callable:
    def op(node: Node, x: Array) -> tuple[Array]:
        return ((f_np if _static(x) else f_jnp)(x),)
    return op


def _cast(node: Node, x: Array) -> tuple[Array]:
    to = node.attr("to")
    if to not in _ONNX_DTYPES:
        raise ValueError(f"ONNX Cast node {node.outputs[0]!r}: target type {to} is not supported")
    dt = np.dtype(_ONNX_DTYPES[to])
    if _static(x):
        return (np.asarray(x).astype(dt),)
    return (x.astype(jax.dtypes.canonicalize_dtype(dt)),)


def _concat(node: Node, *xs: Array) -> tuple[Array]:
    return (_xp(*xs).concatenate(xs, axis=node.attr("axis")),)


def _gather(node: Node, data: Array, indices: Array) -> tuple[Array]:
    axis = node.attr("axis", 0)
    if _static(data, indices):
        return (np.take(np.asarray(data), np.asarray(indices), axis=axis),)
    axis = axis % data.ndim
    if _static(indices) and np.ndim(indices) == 0:
        # one constant index: a slice, not a gather, in the compiled program
        i = int(indices) % data.shape[axis]
        return (lax.index_in_dim(data, i, axis, keepdims=False),)
    # Out-of-range indices give NaN (mode "fill"): onnxruntime raises instead, which a traced
    # function cannot, and a NaN shows an invalid input rather than hiding it.
    return (jnp.take(data, indices, axis=axis, mode="fill"),)


def _gemm(node: Node, a: Array, b: Array, c: Array | None = None) -> tuple[Array]:
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    a = a.T if node.attr("transA", 0) else a
    b = b.T if node.attr("transB", 0) else b
    y = _xp(a, b).matmul(a, b)
    if alpha != 1.0:
        y = y * np.float32(alpha)
    if c is not None:
        y = y + (c if beta == 1.0 else c * np.float32(beta))
    return (y,)


def _batch_norm(node: Node, x: Array, scale: Array, bias: Array, mean: Array,
                var: Array) -> tuple[Array]:
    if node.attr("training_mode", 0) or any(o for o in node.outputs[1:]):
        raise ValueError(f"ONNX BatchNormalization node {node.outputs[0]!r} is in training mode; "
                         f"jaxnas evaluates inference-mode graphs only")
    shape = (-1,) + (1,) * (x.ndim - 2)  # channels on axis 1
    xp = _xp(x, scale, bias, mean, var)
    inv = scale / xp.sqrt(var + np.float32(node.attr("epsilon", 1e-5)))
    return ((x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape),)


def _shape(node: Node, x: Array) -> tuple[Array]:
    s = np.array(np.shape(x), np.int64)
    start, end = node.attr("start", 0), node.attr("end", None)
    return (s[start:end],)


def _slice(node: Node, data: Array, starts: Array, ends: Array, axes: Array | None = None,
           steps: Array | None = None) -> tuple[Array]:
    starts = _need_static(node, starts, "starts")
    ends = _need_static(node, ends, "ends")
    axes = (np.arange(len(starts)) if axes is None else _need_static(node, axes, "axes"))
    steps = np.ones(len(starts), np.int64) if steps is None else _need_static(node, steps, "steps")
    idx = [slice(None)] * np.ndim(data)
    for s, e, a, st in zip(starts.tolist(), ends.tolist(), axes.tolist(), steps.tolist(),
                           strict=True):
        idx[a % np.ndim(data)] = slice(s, e, st)  # Python's slicing clamps as ONNX does
    return (data[tuple(idx)],)


def _unsqueeze(node: Node, x: Array, axes: Array | None = None) -> tuple[Array]:
    axes = node.attr("axes") if axes is None else _need_static(node, axes, "axes").tolist()
    rank = np.ndim(x) + len(axes)
    for a in sorted(int(a) % rank for a in axes):
        x = _xp(x).expand_dims(x, a)
    return (x,)


def _sigmoid_np(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


_OPS: dict[str, Callable[..., tuple[Array, ...]]] = {
    "Add": _binary(np.add, jnp.add),
    "Sub": _binary(np.subtract, jnp.subtract),
    "Mul": _binary(np.multiply, jnp.multiply),
    "Div": _div,
    "Max": _variadic(np.maximum, jnp.maximum),
    "Min": _variadic(np.minimum, jnp.minimum),
    "Relu": _unary(lambda x: np.maximum(x, 0).astype(x.dtype), jax.nn.relu),
    "Sigmoid": _unary(_sigmoid_np, jax.nn.sigmoid),
    "Exp": _unary(np.exp, jnp.exp),
    "Cast": _cast,
    "Concat": _concat,
    "Gather": _gather,
    "Gemm": _gemm,
    "BatchNormalization": _batch_norm,
    "Shape": _shape,
    "Slice": _slice,
    "Unsqueeze": _unsqueeze,
}
assert set(_OPS) | {"Constant"} == SUPPORTED_OPS


# --------------------------------------------------------------------------------------------
# Load-time rewrites (exact: the same values, fewer and cheaper XLA operations).
# --------------------------------------------------------------------------------------------

#: internal operator of :func:`optimize`: a run of embedding lookups of one input's columns,
#: concatenated (inputs: the index matrix, the tables flattened into one vector)
EMBEDDINGS_OP = "jaxnas.Embeddings"


def _embeddings(node: Node, x: Array, flat: Array) -> tuple[Array]:
    """``concat([W_k[x[:, c_k]] for k], axis=1)`` as one gather from the flattened tables."""
    cols, rows, dims = (np.asarray(node.attr(k), np.int64) for k in ("cols", "rows", "dims"))
    if np.ndim(x) != 2:
        raise ValueError(f"{EMBEDDINGS_OP} node {node.outputs[0]!r} takes a [batch, columns] "
                         f"index matrix, got shape {np.shape(x)}")
    rows_f, dims_f = np.repeat(rows, dims), np.repeat(dims, dims)  # per output feature
    starts = np.concatenate([[0], np.cumsum(rows * dims)[:-1]])
    base_f = np.repeat(starts, dims) + np.concatenate([np.arange(d) for d in dims])
    codes = jnp.take(x, np.repeat(cols, dims), axis=1)  # [B, F]
    codes = jnp.where(codes < 0, codes + rows_f, codes)  # ONNX Gather: negative = from the end
    ok = (codes >= 0) & (codes < rows_f)
    flat_idx = base_f + jnp.clip(codes, 0, rows_f - 1) * dims_f
    vals = flat.at[flat_idx].get(mode="promise_in_bounds")
    return (jnp.where(ok, vals, jnp.nan).astype(flat.dtype),)


_OPS[EMBEDDINGS_OP] = _embeddings


def _producers(nodes: Sequence[Node]) -> dict[str, Node]:
    return {o: n for n in nodes for o in n.outputs if o}


def _fuse_embeddings(nodes: list[Node], weights: dict[str, np.ndarray],
                     consts: dict[str, np.ndarray]) -> list[Node]:
    """Concat inputs that are ``Gather(W_k, Gather(X, c_k, axis=1))`` (W_k a 2-D weight, c_k a
    constant scalar), consecutive and of the same X, become one :data:`EMBEDDINGS_OP` node."""
    prod = _producers(nodes)

    def lookup(name: str) -> tuple[str, int, str] | None:  # (X, column, table) of an embedding
        p = prod.get(name)
        if p is None or p.op != "Gather" or p.attr("axis", 0) != 0 or len(p.inputs) != 2:
            return None
        table, idx = p.inputs
        q = prod.get(idx)
        if (table not in weights or weights[table].ndim != 2 or q is None or q.op != "Gather"
                or q.attr("axis", 0) != 1 or q.inputs[1] not in consts
                or np.ndim(consts[q.inputs[1]]) != 0 or q.inputs[0] in prod):
            return None
        return q.inputs[0], int(consts[q.inputs[1]]), table

    out: list[Node] = []
    for n in nodes:
        if n.op != "Concat" or n.attr("axis") not in (1, -1):
            out.append(n)
            continue
        # consecutive Concat inputs that are lookups into the same X, grouped
        groups: list[list[tuple[str, tuple[str, int, str] | None]]] = []
        for i in n.inputs:
            e = lookup(i)
            head = groups[-1][0][1] if groups else None
            if e is not None and head is not None and head[0] == e[0]:
                groups[-1].append((i, e))
            else:
                groups.append([(i, e)])
        new_inputs: list[str] = []
        for g in groups:
            if len(g) == 1:
                new_inputs.append(g[0][0])
                continue
            name = f"{n.outputs[0]}/embeddings_{len(new_inputs)}"
            tables = [e[2] for _, e in g]
            weights[name + "/tables"] = np.concatenate([weights[t].ravel() for t in tables])
            attrs = (("cols", tuple(e[1] for _, e in g)),
                     ("rows", tuple(weights[t].shape[0] for t in tables)),
                     ("dims", tuple(weights[t].shape[1] for t in tables)))
            out.append(Node(EMBEDDINGS_OP, (g[0][1][0], name + "/tables"), (name,), attrs))
            new_inputs.append(name)
        out.append(dataclasses.replace(n, inputs=tuple(new_inputs)))
    return out


def _pretranspose(nodes: list[Node], weights: dict[str, np.ndarray]) -> list[Node]:
    """``Gemm(A, W, transB=1)`` with a weight W: stores W transposed once, at load time (else
    XLA transposes the weight on every call when it is an argument rather than a constant)."""
    out = []
    for n in nodes:
        b = n.inputs[1] if n.op == "Gemm" else None
        if b in weights and weights[b].ndim == 2 and n.attr("transB", 0):
            t = f"{b}/transposed"
            weights.setdefault(t, np.ascontiguousarray(weights[b].T))
            attrs = tuple((k, 0 if k == "transB" else v) for k, v in n.attrs)
            n = Node(n.op, (n.inputs[0], t, *n.inputs[2:]), n.outputs, attrs)
        out.append(n)
    return out


def _prune(nodes: list[Node], outputs: Sequence[str]) -> list[Node]:
    """Drops nodes none of whose outputs is used."""
    needed = set(outputs)
    keep = []
    for n in reversed(nodes):
        if any(o in needed for o in n.outputs):
            keep.append(n)
            needed.update(i for i in n.inputs if i)
    return keep[::-1]


def optimize(model: OnnxModel) -> OnnxModel:
    """Exact load-time rewrites of a graph for speed (host-side, once).

    * runs of embedding lookups feeding a ``Concat`` (``Gather(W_k, Gather(X, c_k, axis=1))``)
      become one gather from the flattened tables (:data:`EMBEDDINGS_OP`), instead of two
      small operations per column;
    * ``Gemm`` weights with ``transB=1`` are stored transposed;
    * nodes and weights nothing uses any more are dropped.

    The outputs are the same values (the same products and sums, copied table entries); only
    XLA's operation count and per-call weight copies change.
    """
    weights = {k: np.asarray(v) for k, v in model.weights.items()}
    consts = model.program.const_arrays()
    nodes = _fuse_embeddings(list(model.program.nodes), weights, consts)
    nodes = _pretranspose(nodes, weights)
    nodes = _prune(nodes, model.program.outputs)
    used = {i for n in nodes for i in n.inputs}
    program = dataclasses.replace(model.program, nodes=tuple(nodes))
    return OnnxModel(weights={k: jnp.asarray(v) for k, v in weights.items() if k in used},
                     program=program)


def run(model: OnnxModel, *inputs: jax.Array | np.ndarray) -> tuple[jax.Array, ...]:
    """Evaluates the graph on its inputs (pure, jit/vmap-able).

    Args:
        model: the graph (:func:`load_onnx`, :func:`from_arrays`).
        *inputs: one array per graph input, in the graph's order (``model.program.inputs``);
            each is cast to the input's declared dtype.

    Returns:
        One array per graph output, in order.

    Raises:
        ValueError: wrong number of inputs, or a node whose semantics jaxnas does not implement
            (raised at trace time, naming the node).
    """
    prog = model.program
    if len(inputs) != len(prog.inputs):
        raise ValueError(f"the graph takes {len(prog.inputs)} inputs "
                         f"({', '.join(n for n, _ in prog.inputs)}), got {len(inputs)}")
    env: dict[str, Array] = dict(prog.const_arrays())
    env.update(model.weights)
    for (name, dt), x in zip(prog.inputs, inputs, strict=True):
        env[name] = jnp.asarray(x).astype(jax.dtypes.canonicalize_dtype(np.dtype(dt)))
    for node in prog.nodes:
        fn = _OPS.get(node.op)
        if fn is None:  # read_onnx refuses these; a hand-built Program may not
            raise ValueError(f"ONNX operator {node.op!r} (node {node.outputs[0]!r}) is not "
                             f"implemented; supported: {', '.join(sorted(SUPPORTED_OPS))}")
        args = [env[i] if i else None for i in node.inputs]
        while args and args[-1] is None:  # trailing optional inputs left out
            args.pop()
        outs = fn(node, *args)
        for name, v in zip(node.outputs, outs, strict=False):  # unused trailing outputs
            if name:
                env[name] = v
    return tuple(jnp.asarray(env[o]) for o in prog.outputs)


def input_names(model: OnnxModel) -> Sequence[str]:
    """The names of the graph's inputs, in the order :func:`run` takes them."""
    return [n for n, _ in model.program.inputs]


__all__ = ["EMBEDDINGS_OP", "FORMAT_VERSION", "SUPPORTED_OPS", "Node", "OnnxModel", "Program",
           "from_arrays", "input_names", "load_onnx", "optimize", "read_onnx", "run", "to_arrays"]
