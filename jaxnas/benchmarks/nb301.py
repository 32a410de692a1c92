"""NAS-Bench-301 on the DARTS space as a pure JAX function (YAHPO Gym's surrogate).

Siems et al. 2020, *NAS-Bench-301 and the Case for Surrogate Benchmarks for Neural Architecture
Search*, fit surrogates to ~60k trained DARTS-space architectures on CIFAR-10. The official
ensembles are not available offline; jaxnas uses YAHPO Gym's ``nb301`` surrogate (Pfisterer et
al. 2022), a small MLP with embeddings fitted to the same data and published as ONNX
(slds-lmu/yahpo_data ``nb301/model_v2.onnx``, Apache-2.0). Report figures on it as "NB301 (YAHPO
surrogate)". Its graph runs in JAX (:mod:`jaxnas.benchmarks.onnx_graph`), so a query is a jitted
function of an architecture array, usable inside jitted search loops like a table lookup:

    from jaxnas.benchmarks import nb301
    s = nb301.load()                                   # a pytree: pass it into jit
    acc = jax.jit(nb301.valid_accuracy)(s, archs)      # archs int32[B, 2, 8, 2] -> float32[B] (%)

Architectures are DARTS genotypes as ``int32[2, 8, 2]``: ``[cell (0 normal, 1 reduce), slot j,
(input, op)]``. Slot j is entry j of DARTS's ``Genotype.normal``/``.reduce`` list
``(op_name, input)``; it belongs to intermediate node ``j // 2`` (DARTS node ``j // 2 + 2``), its
input is in ``0 .. j // 2 + 1`` (0 and 1: the cell inputs c_{k-2}, c_{k-1}) and its op indexes an
op-name tuple (:data:`DARTS_OPS` by default; the ``darts-7`` space passes its own). The two slots
of a node have distinct inputs, in either order.

The surrogate's inputs are YAHPO's 34 categorical columns (:data:`COLUMNS`): the op on each of
the 14 DARTS edges of both cells (``#na#`` where the edge is not one of its node's two inputs;
node i owns edges ``EDGE_OFFSET[i] + input``) and, for DARTS nodes 3 to 5, the pair of inputs
``"i_j"`` (i < j); plus the training epoch (1 to 98). The integer codes come from YAHPO's
``encoding_v2.json`` at load time. Outputs: :data:`OUTPUTS`.

Files: jaxnas's cache ``nb301_jaxnas.npz`` (weights, op program and encoding; read with numpy
only), else ``nb301/model_v2.onnx`` + ``nb301/encoding_v2.json``, converted on first use when the
``onnx`` package is installed (``pip install 'jaxnas[nb301]'``; ``jaxnas data convert nb301 PATH``
does it explicitly).
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import paths
from jaxnas.benchmarks import official, onnx_graph, surrogate
from jaxnas.spaces.darts import DARTS_OPS  # op names of the ``darts`` space, in index order

CELLS: tuple[str, ...] = ("normal", "reduce")
NUM_NODES = 4  # intermediate nodes per cell
NUM_EDGES = 14  # DARTS edges per cell
#: edge of (intermediate node i, input) is EDGE_OFFSET[i] + input (DARTS / NB301 numbering)
EDGE_OFFSET: tuple[int, ...] = (0, 2, 5, 9)
ARCH_SHAPE: tuple[int, int, int] = (2, 2 * NUM_NODES, 2)
#: YAHPO's prefix of every column name (NB301's ``NetworkSelectorDatasetInfo:darts:``)
PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
#: the surrogate's categorical inputs, in the model's column order (YAHPO's ``cat_names``)
COLUMNS: tuple[str, ...] = (
    *(f"edge_{c}_{e}" for c in CELLS for e in range(NUM_EDGES)),
    *(f"inputs_node_{c}_{k}" for c in CELLS for k in range(3, 2 + NUM_NODES)),
)
NA = "#na#"  # YAHPO's value of an inactive column
#: the surrogate's outputs, in order
OUTPUTS: tuple[str, ...] = ("valid_accuracy", "valid_cross_entropy", "runtime",
                            "runtime_increase")
MIN_EPOCH, MAX_EPOCH = 1, 98
#: the code :func:`x_cat_of` writes for an invalid architecture: the model then returns NaN
INVALID_CODE = np.iinfo(np.int32).max
CACHE_NAME = official.NB301_CACHE
MODEL_FILE = "nb301/model_v2.onnx"
ENCODING_FILE = "nb301/encoding_v2.json"
CACHE_FORMAT = 1

# node (0..3) and input of each of the 14 edges of a cell
_EDGE_NODE = np.array([i for i in range(NUM_NODES) for _ in range(i + 2)], np.int32)
_EDGE_SRC = np.array([s for i in range(NUM_NODES) for s in range(i + 2)], np.int32)
assert tuple(np.flatnonzero(_EDGE_SRC == 0)) == EDGE_OFFSET


@jax.tree_util.register_static  # a jit argument without static_argnames, like the Surrogate
@dataclasses.dataclass(frozen=True, eq=False)
class Encoding:
    """YAHPO's integer code of every value of every column (from ``encoding_v2.json``).

    Static and hashable (a static field of :class:`Surrogate`); the hash is computed once.

    Attributes:
        codes: one ``((value, code), ...)`` tuple per column of :data:`COLUMNS`, in that order.
    """

    codes: tuple[tuple[tuple[str, int], ...], ...]

    def __post_init__(self):
        if len(self.codes) != len(COLUMNS):
            raise ValueError(f"an NB301 encoding has {len(COLUMNS)} columns, got {len(self.codes)}")
        object.__setattr__(self, "_hash", hash(self.codes))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Encoding) and self._hash == other._hash
                                 and self.codes == other.codes)

    @classmethod
    def from_json(cls, table: dict[str, dict[str, int]], where: str = "encoding") -> Encoding:
        """From YAHPO's ``encoding_v2.json`` dict (full column name -> value -> code).

        Raises:
            ValueError: a column or a value the DARTS space needs is missing (naming it).
        """
        codes = []
        for col in COLUMNS:
            full = PREFIX + col
            if full not in table:
                raise ValueError(f"{where} has no column {full!r}; is it YAHPO's nb301 "
                                 f"encoding_v2.json?")
            vals = table[full]
            need = [NA] + (list(DARTS_OPS[1:]) if col.startswith("edge_") else
                           [f"{i}_{j}" for j in range(int(col[-1])) for i in range(j)])
            missing = [v for v in need if v not in vals]
            if missing:
                raise ValueError(f"{where}: column {full!r} lacks the values {missing}")
            codes.append(tuple((str(v), int(c)) for v, c in vals.items()))
        return cls(tuple(codes))

    def column(self, name: str) -> dict[str, int]:
        """value -> code of the column ``name`` (short, e.g. ``'edge_normal_3'``, or full)."""
        short = name.removeprefix(PREFIX)
        if short not in COLUMNS:
            raise ValueError(f"unknown NB301 column {name!r}; the columns are {COLUMNS}")
        return dict(self.codes[COLUMNS.index(short)])

    def edge_table(self, ops: Sequence[str]) -> np.ndarray:
        """``int32[2, 14, len(ops)]``: the code of op name ``ops[k]`` on edge e of cell c.

        ``'none'`` (DARTS's zero op, never in a genotype) gets :data:`INVALID_CODE`.

        Raises:
            ValueError: an op name other than ``'none'`` that the encoding does not know.
        """
        out = np.empty((len(CELLS), NUM_EDGES, len(ops)), np.int32)
        for c, cell in enumerate(CELLS):
            for e in range(NUM_EDGES):
                col = self.column(f"edge_{cell}_{e}")
                for k, op in enumerate(ops):
                    if op == "none":
                        out[c, e, k] = INVALID_CODE
                    elif op in col and op != NA:
                        out[c, e, k] = col[op]
                    else:
                        raise ValueError(f"op {op!r} is not in NB301's DARTS ops "
                                         f"{sorted(v for v in col if v != NA)}; pass the "
                                         f"space's op names")
        return out

    def na_table(self) -> np.ndarray:
        """``int32[2, 14]``: the code of an inactive edge (``#na#``) per cell and edge."""
        return np.array([[self.column(f"edge_{cell}_{e}")[NA] for e in range(NUM_EDGES)]
                         for cell in CELLS], np.int32)

    def pair_table(self) -> np.ndarray:
        """``int32[2, 3, 5, 5]``: code of the input pair ``"i_j"`` of DARTS node ``3 + n`` at
        ``[cell, n, i, j]`` (i < j); :data:`INVALID_CODE` elsewhere."""
        out = np.full((len(CELLS), NUM_NODES - 1, NUM_NODES + 1, NUM_NODES + 1), INVALID_CODE,
                      np.int32)
        for c, cell in enumerate(CELLS):
            for n in range(NUM_NODES - 1):
                col = self.column(f"inputs_node_{cell}_{n + 3}")
                for j in range(n + 3):
                    for i in range(j):
                        out[c, n, i, j] = col[f"{i}_{j}"]
        return out


@flax.struct.dataclass
class Surrogate:
    """The NB301 surrogate: the ONNX graph's weights (leaves) and program, and the encoding.

    A pytree: pass it as an argument to jitted functions (one compilation per input shape).
    """

    model: onnx_graph.OnnxModel
    encoding: Encoding = flax.struct.field(pytree_node=False)


# --------------------------------------------------------------------------------------------
# Queries (pure, jit/vmap-able).
# --------------------------------------------------------------------------------------------


def _check_arch(arch: jax.Array) -> jax.Array:
    arch = jnp.asarray(arch)
    if arch.ndim < 3 or arch.shape[-3:] != ARCH_SHAPE:
        raise ValueError(f"an NB301 architecture has shape [..., 2, 8, 2] ([cell, slot, "
                         f"(input, op)]), got {arch.shape}")
    if not jnp.issubdtype(arch.dtype, jnp.integer):
        raise ValueError(f"an NB301 architecture holds integers (inputs and op indices), got "
                         f"dtype {arch.dtype}")
    return arch


def x_cat_of(encoding: Encoding | Surrogate, arch: jax.Array,
             ops: Sequence[str] = DARTS_OPS) -> jax.Array:
    """YAHPO's categorical columns of architectures: ``int32[..., 2, 8, 2] -> int32[..., 34]``.

    Pure and jit-able (``ops`` is static); the order of a node's two slots does not matter. An
    invalid architecture (an op index out of range or naming ``'none'``, a node whose two inputs
    are equal or out of ``0 .. node + 1``) gets :data:`INVALID_CODE` in the affected columns, so
    the surrogate returns NaN for it.

    Args:
        encoding: the surrogate's :class:`Encoding` (or the :class:`Surrogate`).
        arch: ``int[..., 2, 8, 2]`` genotypes (see the module docstring).
        ops: op name of every op index (static).
    """
    if isinstance(encoding, Surrogate):
        encoding = encoding.encoding
    table = encoding.edge_table(ops)  # [2, 14, K]; checks the op names first
    arch = _check_arch(arch)
    batch = arch.shape[:-3]
    inp, op = arch[..., 0], arch[..., 1]  # [..., 2, 8]
    lo = jnp.minimum(inp[..., 0::2], inp[..., 1::2])  # [..., 2, 4]
    hi = jnp.maximum(inp[..., 0::2], inp[..., 1::2])
    node_ok = (lo >= 0) & (lo < hi) & (hi <= np.arange(NUM_NODES) + 1)  # [..., 2, 4]

    # edge e of node i: the op of the slot of node i whose input is e's source, if any
    slot0, slot1 = 2 * _EDGE_NODE, 2 * _EDGE_NODE + 1
    op0, op1 = op[..., slot0], op[..., slot1]  # [..., 2, 14]
    sel = jnp.where(inp[..., slot0] == _EDGE_SRC, op0,
                    jnp.where(inp[..., slot1] == _EDGE_SRC, op1, -1))
    k = len(ops)
    cell = np.arange(len(CELLS))[:, None]
    edge = np.arange(NUM_EDGES)[None, :]
    code = jnp.asarray(table)[cell, edge, jnp.clip(sel, 0, k - 1)]
    code = jnp.where(sel >= 0, code, encoding.na_table())
    slot_ok = (op >= 0) & (op < k)  # [..., 2, 8]
    edge_ok = node_ok[..., _EDGE_NODE] & slot_ok[..., slot0] & slot_ok[..., slot1]
    code = jnp.where(edge_ok, code, INVALID_CODE)

    # input pairs of DARTS nodes 3..5 (intermediate nodes 1..3)
    pairs = jnp.asarray(encoding.pair_table())[
        cell, np.arange(NUM_NODES - 1)[None, :],
        jnp.clip(lo[..., 1:], 0, NUM_NODES), jnp.clip(hi[..., 1:], 0, NUM_NODES)]
    pairs = jnp.where(node_ok[..., 1:], pairs, INVALID_CODE)  # [..., 2, 3]
    return jnp.concatenate([code.reshape(*batch, -1), pairs.reshape(*batch, -1)],
                           axis=-1).astype(jnp.int32)


#: rows per step of large batches on CPU (see :func:`predict`)
CPU_CHUNK = 1024


def predict_columns(surrogate: Surrogate, x_cat: jax.Array, epoch: jax.Array | float = MAX_EPOCH,
                    chunk: int | None = None) -> jax.Array:
    """The surrogate on YAHPO's raw inputs: ``x_cat int[n, 34]`` -> ``float32[n, 4]``.

    Pure and jit-able (``chunk`` static); :func:`predict` without the genotype encoding.

    Args:
        surrogate: from :func:`load`.
        x_cat: YAHPO's categorical columns (:data:`COLUMNS`, codes of ``encoding_v2.json``).
        epoch: scalar or ``[n]``.
        chunk: batches larger than this run ``chunk`` rows at a time in a ``lax.map`` (the same
            values; on a CPU the activations then stay in cache, faster at 10^4-10^5 rows);
            ``None``: :data:`CPU_CHUNK` on CPU, one step on other backends; 0: one step.
    """
    n = x_cat.shape[0]
    x_cont = jnp.broadcast_to(jnp.asarray(epoch, jnp.float32), (n,)).reshape(n, 1)
    if chunk is None:
        chunk = CPU_CHUNK if jax.default_backend() == "cpu" else 0
    if not chunk or n <= chunk:
        return onnx_graph.run(surrogate.model, x_cat, x_cont)[0]
    steps = -(-n // chunk)
    per_step = -(-n // steps)
    size = -(-per_step // 8) * 8  # rows per step: ceil(n / steps) rounded up to 8, little padding
    pad = steps * size - n
    xs = jnp.pad(x_cat, ((0, pad), (0, 0))).reshape(steps, size, -1)  # code 0: a valid row
    es = jnp.pad(x_cont, ((0, pad), (0, 0)), constant_values=MAX_EPOCH).reshape(steps, size, 1)
    y = jax.lax.map(lambda a: onnx_graph.run(surrogate.model, *a)[0], (xs, es))
    return y.reshape(steps * size, -1)[:n]


def predict(surrogate: Surrogate, arch: jax.Array, epoch: jax.Array | float = MAX_EPOCH,
            ops: Sequence[str] = DARTS_OPS, chunk: int | None = None) -> jax.Array:
    """All surrogate outputs (:data:`OUTPUTS`) of architectures: ``[..., 2, 8, 2] -> [..., 4]``.

    Pure and jit/vmap-able (``ops`` and ``chunk`` static). Invalid architectures give NaN
    (:func:`x_cat_of`).

    Args:
        surrogate: from :func:`load`.
        arch: ``int[..., 2, 8, 2]`` genotypes.
        epoch: training epoch the prediction is for, 1 to 98 (the surrogate's range; it
            extrapolates outside it); a scalar or an array broadcastable to ``arch.shape[:-3]``.
        ops: op name of every op index.
        chunk: rows per step of large batches (:func:`predict_columns`).

    Returns:
        ``float32[..., 4]``: validation accuracy (fraction), validation cross-entropy, runtime
        (s) and runtime increase, as the ONNX model outputs them.
    """
    x_cat = x_cat_of(surrogate.encoding, arch, ops)
    batch = x_cat.shape[:-1]
    epoch = jnp.broadcast_to(jnp.asarray(epoch, jnp.float32), batch).reshape(-1)
    y = predict_columns(surrogate, x_cat.reshape(-1, len(COLUMNS)), epoch, chunk)
    return y.reshape(*batch, y.shape[-1])


def valid_accuracy(surrogate: Surrogate, arch: jax.Array, epoch: jax.Array | float = MAX_EPOCH,
                   ops: Sequence[str] = DARTS_OPS) -> jax.Array:
    """Predicted CIFAR-10 validation accuracy in percent: ``[..., 2, 8, 2] -> float32[...]``.

    Pure and jit/vmap-able; see :func:`predict` for the arguments.
    """
    return predict(surrogate, arch, epoch, ops)[..., 0] * 100.0


# --------------------------------------------------------------------------------------------
# Loading and conversion.
# --------------------------------------------------------------------------------------------


def _how_to_get() -> str:
    return official.how_to_get("nb301")


def _read_encoding(path: Path) -> Encoding:
    try:
        table = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read the NB301 encoding {path} ({type(e).__name__}: {e}); "
                         f"download encoding_v2.json again") from None
    return Encoding.from_json(table, str(path))


def _check_consistent(model: onnx_graph.OnnxModel, encoding: Encoding, where: str) -> None:
    """The embedding tables of YAHPO's MLP have one row per code of their column."""
    for k, col in enumerate(encoding.codes):
        w = model.weights.get(f"embds_fct.{k}.weight")
        if w is not None and w.shape[0] <= max(c for _, c in col):
            raise ValueError(f"{where}: embedding {k} has {w.shape[0]} rows but column "
                             f"{COLUMNS[k]!r} uses code {max(c for _, c in col)}: the model and "
                             f"encoding_v2.json do not belong together")


def cache_arrays(model_path: str | os.PathLike,
                 encoding_path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The contents of jaxnas's cache for YAHPO's ``model_v2.onnx`` (needs the ``onnx`` package).

    Args:
        model_path: the ``.onnx`` file.
        encoding_path: YAHPO's ``encoding_v2.json`` (default: next to the model).

    Raises:
        ValueError: onnx is not installed, or the files are not YAHPO's nb301 model/encoding.
    """
    model_path = Path(model_path)
    encoding_path = Path(encoding_path or model_path.with_name("encoding_v2.json"))
    if not encoding_path.is_file():
        raise FileNotFoundError(f"{encoding_path} not found; it comes with model_v2.onnx "
                                f"(slds-lmu/yahpo_data, nb301/): put both in one folder")
    encoding = _read_encoding(encoding_path)
    program, weights = onnx_graph.read_onnx(model_path)
    model = onnx_graph.OnnxModel(weights=weights, program=program)
    _check_consistent(model, encoding, str(model_path))
    names = [i for i, _ in program.inputs]
    if names != ["x_cat", "x_cont"]:
        raise ValueError(f"{model_path} takes inputs {names}, not YAHPO nb301's "
                         f"['x_cat', 'x_cont']")
    out = onnx_graph.to_arrays(program, weights)
    out["nb301_format"] = np.array(CACHE_FORMAT)
    out["nb301_encoding"] = np.array(json.dumps([list(map(list, c)) for c in encoding.codes]))
    out["nb301_source_sha256"] = np.array(official.sha256(model_path))
    return out


def convert(model_path: str | os.PathLike, out_path: str | os.PathLike,
            encoding_path: str | os.PathLike | None = None) -> Path:
    """Converts YAHPO's ``model_v2.onnx`` (+ ``encoding_v2.json``) into jaxnas's cache.

    Args:
        model_path: the ``.onnx`` file, or the folder holding it and ``encoding_v2.json``.
        out_path: where to write; name it ``nb301_jaxnas.npz`` inside a data folder.
        encoding_path: default: ``encoding_v2.json`` next to the model.

    Returns:
        The path written.
    """
    model_path = Path(model_path)
    if model_path.is_dir():
        model_path = model_path / "model_v2.onnx"
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path} not found. {_how_to_get()}")
    return _save(cache_arrays(model_path, encoding_path), Path(out_path))


def _save(arrays: dict[str, np.ndarray], out: Path) -> Path:
    """Writes the cache atomically (a half-written file never carries the cache's name)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    return out


def from_arrays(arrays, optimize: bool = True) -> Surrogate:
    """The :class:`Surrogate` of a cache's arrays (:func:`cache_arrays`, or an open ``np.load``).

    Args:
        arrays: the cache's arrays.
        optimize: apply :func:`jaxnas.benchmarks.onnx_graph.optimize` (the same values, several
            times faster for small batches); ``False`` evaluates the ONNX graph node by node.

    Raises:
        ValueError: not an NB301 cache, or written in another format.
    """
    if "nb301_format" not in arrays or int(arrays["nb301_format"]) != CACHE_FORMAT:
        raise ValueError(f"not an NB301 cache of format {CACHE_FORMAT}; convert again with "
                         f"`jaxnas data convert nb301 PATH`")
    codes = json.loads(str(arrays["nb301_encoding"]))
    encoding = Encoding(tuple(tuple((str(v), int(c)) for v, c in col) for col in codes))
    model = onnx_graph.from_arrays(arrays)
    return Surrogate(model=onnx_graph.optimize(model) if optimize else model, encoding=encoding)


def load(data_dir: str | os.PathLike | None = None, *, write_cache: bool = True,
         optimize: bool = True) -> Surrogate:
    """Loads the NB301 surrogate (host, once); the result is a pytree to pass into jit.

    Reads jaxnas's cache ``nb301_jaxnas.npz`` when there is one (numpy only). Otherwise reads
    ``nb301/model_v2.onnx`` and ``nb301/encoding_v2.json`` with the ``onnx`` package and, if
    ``write_cache``, writes the cache into the data folder (``data_dir``, else
    ``$JAXNAS_DATA_DIR``, else ``~/.jaxnas/data``) so later loads need no onnx; a folder that
    cannot be written only costs the conversion (about a second) on every load.

    Args:
        data_dir: folder holding the files; default: ``$JAXNAS_DATA_DIR``, ``../shared/data``,
            ``~/.jaxnas/data``.
        write_cache: write the cache after converting the ONNX file.
        optimize: see :func:`from_arrays`.

    Raises:
        FileNotFoundError: neither the cache nor the ONNX model found (naming where it looked
            and how to get them).
        ValueError: a corrupt file, or the ONNX model found but the ``onnx`` package missing.
    """
    try:
        cache = paths.find_file(CACHE_NAME, data_dir)
    except FileNotFoundError:
        cache = None
    if cache is not None:
        try:
            with np.load(cache) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise ValueError(f"corrupt jaxnas cache {cache} ({type(e).__name__}: {e}); delete it "
                             f"and convert again (`jaxnas data convert nb301 PATH`)") from e
        return from_arrays(arrays, optimize)
    model_path = paths.find_file(MODEL_FILE, data_dir, _how_to_get())
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ValueError(f"found {model_path} but no jaxnas cache, and converting it needs the "
                         f"onnx package: `pip install 'jaxnas[nb301]'` (or run `jaxnas data "
                         f"convert nb301 {model_path}` where onnx is installed)") from None
    arrays = cache_arrays(model_path)
    if write_cache:
        out = paths.write_dir(data_dir) / CACHE_NAME
        try:
            _save(arrays, out)
        except OSError as e:
            warnings.warn(f"could not write the NB301 cache {out} ({e}); the ONNX model is "
                          f"converted again on every load", stacklevel=2)
    return from_arrays(arrays, optimize)


# --------------------------------------------------------------------------------------------
# The registered benchmark ``nb301`` (space ``darts``): a jaxnas surrogate benchmark.
# --------------------------------------------------------------------------------------------

DATASETS: tuple[str, ...] = ("cifar10",)


def _valid_percent(params: Surrogate, archs: jax.Array) -> jax.Array:
    """Validation accuracy (%) at the last epoch of ``darts`` genotypes (static, hashable)."""
    return valid_accuracy(params, archs, MAX_EPOCH, DARTS_OPS)


def load_benchmark(dataset: str = "cifar10",
                   data_dir: str | os.PathLike | None = None) -> surrogate.Surrogate:
    """The ``nb301`` benchmark: :func:`load`'s surrogate as a
    :class:`jaxnas.benchmarks.surrogate.Surrogate` over the ``darts`` space (validation accuracy
    in percent at epoch 98), searched like a table inside jit."""
    from jaxnas import spaces

    if dataset != "cifar10":
        raise ValueError(f"NAS-Bench-301 covers CIFAR-10 only, got dataset {dataset!r}")
    return surrogate.Surrogate(space=spaces.get("darts"), predict=_valid_percent,
                               params=load(data_dir), name="nb301")


def lookup(arch, data_dir: str | os.PathLike | None = None, epoch: int = MAX_EPOCH) -> dict:
    """The surrogate's prediction for one genotype (``int[2, 8, 2]`` or a ``Genotype(...)``
    string) at ``epoch`` (1..98): ``{'arch', 'epoch', 'valid_accuracy' (%),
    'valid_cross_entropy', 'runtime_s'}``."""
    from jaxnas import spaces

    space = spaces.get("darts")
    a = space.parse(arch)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 1 <= epoch <= MAX_EPOCH:
        raise ValueError(f"--epoch {epoch!r}: the NB301 surrogate was fitted on epochs 1.."
                         f"{MAX_EPOCH}")
    y = np.asarray(predict(load(data_dir), jnp.asarray(a), float(epoch), DARTS_OPS), np.float64)
    return {"arch": space.to_string(a), "epoch": epoch, "valid_accuracy": float(y[0] * 100),
            "valid_cross_entropy": float(y[1]), "runtime_s": float(y[2])}


def by_dataset(record: dict) -> dict[str, dict[str, float]]:
    """``{'cifar10': {'valid': %}}`` of a :func:`lookup` record (no test accuracy)."""
    return {"cifar10": {"valid": record["valid_accuracy"]}}


__all__ = ["ARCH_SHAPE", "CACHE_NAME", "COLUMNS", "DARTS_OPS", "EDGE_OFFSET", "INVALID_CODE",
           "OUTPUTS", "Encoding", "Surrogate", "cache_arrays", "convert", "from_arrays", "load",
           "predict", "predict_columns", "valid_accuracy", "x_cat_of"]
