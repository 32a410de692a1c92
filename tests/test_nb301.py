"""NAS-Bench-301 (YAHPO Gym surrogate) in JAX against onnxruntime on the same ONNX model, the
genotype encoding against a host-side reference written from NB301's and YAHPO's definitions,
and the cache / CLI round trip. Needs ../shared/data/nb301 (skips without it, fails under CI)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.benchmarks import nb301, onnx_graph
from jaxnas.cli import main
from tests.conftest import SHARED_DATA, require_data

OPS = nb301.DARTS_OPS
PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
# DARTS-V2 (Liu et al. 2019), as DARTS's genotypes.py lists it
DARTS_V2 = dict(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
)
EPOCHS = np.array([1, 17, 50, 98], np.float32)


@pytest.fixture(scope="module")
def files():
    return require_data("nb301/model_v2.onnx"), require_data("nb301/encoding_v2.json")


@pytest.fixture(scope="module")
def surrogate(files):
    pytest.importorskip("onnx")
    return nb301.load(SHARED_DATA, write_cache=False)


@pytest.fixture(scope="module")
def session(files):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(files[0]), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def encoding_json(files):
    return json.loads(files[1].read_text())


# --------------------------------------------------------------------------------------------
# Host-side references.
# --------------------------------------------------------------------------------------------


def random_archs(rng: np.random.Generator, n: int) -> np.ndarray:
    """``int32[n, 2, 8, 2]`` valid genotypes: uniform input pairs, ops among the 7 non-none."""
    arch = np.empty((n, 2, 8, 2), np.int32)
    for i in range(4):
        pairs = [(a, b) for b in range(i + 2) for a in range(i + 2) if a != b]  # both orders
        pick = rng.integers(0, len(pairs), (n, 2))
        arch[:, :, 2 * i:2 * i + 2, 0] = np.array(pairs)[pick]
    arch[..., 1] = rng.integers(1, len(OPS), (n, 2, 8))
    return arch


def arch_of(genotype: dict, ops=OPS) -> np.ndarray:
    """A genotype's ``normal``/``reduce`` lists of ``(op, input)`` as ``int32[2, 8, 2]``."""
    return np.array([[[i, ops.index(op)] for op, i in genotype[c]] for c in ("normal", "reduce")],
                    np.int32)


def genotype_of(arch: np.ndarray, ops=OPS) -> dict:
    return {c: [(ops[int(o)], int(i)) for i, o in arch[k]] for k, c in enumerate(("normal", "reduce"))}


def reference_x_cat(genotype: dict, encoding: dict) -> np.ndarray:
    """YAHPO's x_cat of a genotype, the long way: NB301's genotype -> configuration (the op of
    edge ``start + input`` of every node, node k's inputs as sorted ``"i_j"``), then YAHPO's
    column list with ``#na#`` for absent columns, each value looked up in encoding_v2.json."""
    config = {}
    for cell in ("normal", "reduce"):
        start = 0
        for node in range(4):
            slots = genotype[cell][2 * node:2 * node + 2]
            for op, inp in slots:
                config[f"edge_{cell}_{start + inp}"] = op
            if node > 0:
                config[f"inputs_node_{cell}_{node + 2}"] = "_".join(
                    str(i) for i in sorted(inp for _, inp in slots))
            start += node + 2
    columns = ([f"edge_{c}_{e}" for c in ("normal", "reduce") for e in range(14)]
               + [f"inputs_node_{c}_{k}" for c in ("normal", "reduce") for k in (3, 4, 5)])
    return np.array([encoding[PREFIX + col][config.get(col, "#na#")] for col in columns], np.int32)


def ort_predict(session, x_cat: np.ndarray, epoch: np.ndarray) -> np.ndarray:
    return session.run(None, {"x_cat": np.asarray(x_cat, np.int32).reshape(-1, 34),
                              "x_cont": np.asarray(epoch, np.float32).reshape(-1, 1)})[0]


def assert_outputs_close(ours, ref) -> None:
    """Accuracy (fraction) and cross-entropy to 1e-4; the runtimes (seconds, up to ~10^4) to a
    relative 1e-5, float32's resolution there."""
    ours, ref = np.asarray(ours).reshape(-1, 4), np.asarray(ref).reshape(-1, 4)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours[:, :2], ref[:, :2], rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours[:, 2:], ref[:, 2:], rtol=1e-5, atol=1e-4)


# Every query below has one shape (N genotypes, N epochs), so the module compiles the surrogate
# once; x_cat_of is cheap to compile.
N = 128
predict = jax.jit(nb301.predict, static_argnames="ops")
x_cat_of = jax.jit(nb301.x_cat_of, static_argnames="ops")


def padded(archs: np.ndarray, seed: int = 0) -> np.ndarray:
    """``archs`` first, then random genotypes up to N rows."""
    return np.concatenate([archs, random_archs(np.random.default_rng(seed), N - len(archs))])


# --------------------------------------------------------------------------------------------
# The surrogate against onnxruntime.
# --------------------------------------------------------------------------------------------


def test_matches_onnxruntime_on_random_genotypes_at_several_epochs(surrogate, session):
    archs = random_archs(np.random.default_rng(0), N)
    x_cat = np.asarray(x_cat_of(surrogate, archs))
    for shift in range(2):  # every genotype at two of the four epochs
        epochs = np.roll(np.resize(EPOCHS, N), shift)
        ours = predict(surrogate, archs, epochs)
        assert ours.shape == (N, 4) and ours.dtype == jnp.float32
        ref = ort_predict(session, x_cat, epochs)
        assert_outputs_close(ours, ref)
        assert np.ptp(ref[:, 0]) > 0.05  # the genotypes and epochs do move the prediction
    late, early = predict(surrogate, archs, np.full(N, 98.0)), predict(surrogate, archs, np.ones(N))
    assert float(jnp.mean(late[:, 0])) > float(jnp.mean(early[:, 0])) + 0.2  # training helps


def test_graph_port_matches_onnxruntime_on_every_code(files, surrogate, session):
    """The node-by-node port and the optimized graph on raw inputs (every code of every column,
    negative ones included, which ONNX's Gather counts from the end)."""
    raw = onnx_graph.load_onnx(files[0])
    rows = [len(c) for c in surrogate.encoding.codes]
    rng = np.random.default_rng(1)
    x_cat = np.stack([rng.integers(-r, r, 64) for r in rows], 1).astype(np.int32)
    x_cont = rng.uniform(1, 98, (64, 1)).astype(np.float32)
    ref = ort_predict(session, x_cat, x_cont)
    run = jax.jit(onnx_graph.run)
    (y_raw,) = run(raw, x_cat, x_cont)
    (y_opt,) = run(surrogate.model, x_cat, x_cont)
    assert_outputs_close(y_raw, ref)
    assert_outputs_close(y_opt, ref)
    ops = [n.op for n in surrogate.model.program.nodes]
    assert ops.count(onnx_graph.EMBEDDINGS_OP) == 1 and "Gather" in [n.op for n in raw.program.nodes]


def test_darts_v2(surrogate, session, encoding_json):
    archs = padded(arch_of(DARTS_V2)[None])
    x_cat = np.asarray(x_cat_of(surrogate, archs))[0]
    np.testing.assert_array_equal(x_cat, reference_x_cat(DARTS_V2, encoding_json))
    # by hand: normal edges 0-3 sep_conv_3x3, 5 skip, 6 sep_conv_3x3, 9 skip, 11 dil_conv_3x3
    assert x_cat[:14].tolist() == [5, 5, 5, 5, 0, 7, 5, 0, 0, 7, 0, 2, 0, 0]
    assert x_cat[28:].tolist() == [1, 1, 2, 3, 2, 5]  # 0_1 0_1 0_2 | 1_2 0_2 1_2
    ours = predict(surrogate, archs, np.full(N, 98.0))[0]
    assert_outputs_close(ours, ort_predict(session, x_cat, [98.0]))
    assert float(ours[0]) == pytest.approx(0.929, abs=5e-4)  # the data README's figure


# --------------------------------------------------------------------------------------------
# The encoding.
# --------------------------------------------------------------------------------------------


def test_x_cat_of_against_the_reference_on_random_genotypes(surrogate, encoding_json):
    archs = random_archs(np.random.default_rng(2), N)
    ours = np.asarray(x_cat_of(surrogate.encoding, archs))
    ref = np.stack([reference_x_cat(genotype_of(a), encoding_json) for a in archs])
    np.testing.assert_array_equal(ours, ref)
    assert ours.dtype == np.int32 and ours.shape == (N, 34)


def test_slot_order_does_not_matter(surrogate):
    archs = random_archs(np.random.default_rng(3), N)
    swapped = archs.copy()
    flip = np.random.default_rng(4).random((N, 2, 4)) < 0.5
    for i in range(4):
        a, b = archs[:, :, 2 * i], archs[:, :, 2 * i + 1]
        swapped[:, :, 2 * i] = np.where(flip[..., i, None], b, a)
        swapped[:, :, 2 * i + 1] = np.where(flip[..., i, None], a, b)
    assert (swapped != archs).any()
    np.testing.assert_array_equal(x_cat_of(surrogate, swapped), x_cat_of(surrogate, archs))


def test_op_names_are_a_static_argument(surrogate):
    """The darts-7 space's op indices (no 'none') give the same columns with its op tuple."""
    archs = random_archs(np.random.default_rng(5), N)
    seven = archs.copy()
    seven[..., 1] -= 1
    np.testing.assert_array_equal(x_cat_of(surrogate, seven, OPS[1:]), x_cat_of(surrogate, archs))
    with pytest.raises(ValueError, match="'sep_conv_7x7' is not in NB301's DARTS ops"):
        nb301.x_cat_of(surrogate, archs, (*OPS[1:], "sep_conv_7x7"))


def test_invalid_genotypes_give_nan(surrogate):
    good = arch_of(DARTS_V2)
    same_inputs = good.copy()
    same_inputs[0, 3, 0] = same_inputs[0, 2, 0]  # node 3 takes input 0 twice
    none_op = good.copy()
    none_op[1, 5, 1] = OPS.index("none")
    future = good.copy()
    future[0, 1, 0] = 3  # node 2 cannot read node 3
    op_range = good.copy()
    op_range[0, 0, 1] = len(OPS)
    archs = padded(np.stack([good, same_inputs, none_op, future, op_range]))
    out = np.asarray(predict(surrogate, archs, np.full(N, 98.0)))
    assert np.isfinite(out[0]).all() and np.isnan(out[1:5]).all() and np.isfinite(out[5:]).all()
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 2, 8, 2\].*\(2, 8\)"):
        nb301.x_cat_of(surrogate, good[..., 0])


# --------------------------------------------------------------------------------------------
# jit / vmap.
# --------------------------------------------------------------------------------------------


def test_vmap_equals_the_batched_call(surrogate):
    """vmap traces the single-genotype path ([2, 8, 2] -> scalar)."""
    archs = random_archs(np.random.default_rng(6), N)
    epochs = np.resize(np.array([1.0, 98.0, 30.0, 60.0, 5.0], np.float32), N)
    mapped = jax.jit(jax.vmap(nb301.valid_accuracy, in_axes=(None, 0, 0)))(surrogate, archs, epochs)
    assert mapped.shape == (N,)
    np.testing.assert_allclose(mapped, predict(surrogate, archs, epochs)[:, 0] * 100, rtol=1e-6)


def test_large_batches_run_in_chunks_with_the_same_values(surrogate, session):
    archs = random_archs(np.random.default_rng(9), N)
    epochs = np.resize(EPOCHS, N)
    chunked = jax.jit(nb301.predict, static_argnames="chunk")(surrogate, archs, epochs, chunk=48)
    assert "while" in jax.jit(nb301.predict, static_argnames="chunk").lower(
        surrogate, archs, epochs, chunk=48).as_text()  # 3 steps of 48 rows (16 padded)
    np.testing.assert_allclose(chunked, predict(surrogate, archs, epochs), rtol=1e-6, atol=1e-6)
    assert_outputs_close(chunked, ort_predict(session, x_cat_of(surrogate, archs), epochs))


def test_one_compile_per_shape(surrogate, files):
    @jax.jit
    @chex.assert_max_traces(n=1)
    def query(s, a, e):
        return nb301.valid_accuracy(s, a, e)

    rng = np.random.default_rng(7)
    e = np.full(N, 98.0, np.float32)
    a = query(surrogate, random_archs(rng, N), e)
    b = query(surrogate, random_archs(rng, N), e)
    again = nb301.load(SHARED_DATA, write_cache=False)  # a new, equal surrogate
    c = query(again, random_archs(np.random.default_rng(7), N), e)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)
    chex.clear_trace_counter()


# --------------------------------------------------------------------------------------------
# Files: the cache, the CLI, the errors.
# --------------------------------------------------------------------------------------------


def test_convert_then_load_without_onnx(tmp_path, files, surrogate, monkeypatch, capsys):
    data = tmp_path / "data"
    assert main(["data", "convert", "nb301", str(files[0].parent), "--data-dir", str(data),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cache"].endswith("nb301_jaxnas.npz")
    monkeypatch.setitem(sys.modules, "onnx", None)  # the cache needs no onnx
    cached = nb301.load(data)
    assert cached.encoding == surrogate.encoding and cached.model.program == surrogate.model.program
    archs, epochs = random_archs(np.random.default_rng(8), N), np.full(N, 98.0)
    np.testing.assert_array_equal(predict(cached, archs, epochs), predict(surrogate, archs, epochs))
    assert main(["data", "info", "--data-dir", str(data), "--json"]) == 0
    info = {r["benchmark"]: r for r in json.loads(capsys.readouterr().out)["benchmarks"]}
    assert info["nb301"]["found"] and list(info["nb301"]["files"]) == ["nb301_jaxnas.npz"]


def test_load_converts_once_and_errors_are_one_line(tmp_path, files, monkeypatch):
    pytest.importorskip("onnx")
    folder = tmp_path / "nb301"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    nb301.load(tmp_path)  # converts and writes the cache beside the files
    assert (tmp_path / "nb301_jaxnas.npz").is_file()
    (tmp_path / "nb301_jaxnas.npz").unlink()
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ValueError, match=r"needs the onnx package: `pip install 'jaxnas\[nb301\]'`") as e:
        nb301.load(tmp_path)
    assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="slds-lmu/yahpo_data") as e:
        nb301.load(tmp_path / "empty")
    assert "\n" not in str(e.value)
    (tmp_path / "nb301_jaxnas.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="corrupt jaxnas cache"):
        nb301.load(tmp_path)


def test_data_info_verifies_the_shared_files(files, capsys):
    assert main(["data", "info", "--data-dir", str(SHARED_DATA), "--json"]) == 0
    info = {r["benchmark"]: r for r in json.loads(capsys.readouterr().out)["benchmarks"]}
    nb = info["nb301"]
    assert nb["found"] and nb["checksum_ok"] is True
    assert set(nb["files"]) == {"nb301/model_v2.onnx", "nb301/encoding_v2.json"}
    assert "github.com/slds-lmu/yahpo_data" in nb["sources"][0]["page"]


def test_unsupported_operator_is_named(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])
    graph = helper.make_graph([helper.make_node("Tanh", ["x"], ["h"]),
                               helper.make_node("Relu", ["h"], ["y"])], "g", [x], [y])
    path = tmp_path / "tanh.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match="operators jaxnas does not implement: Tanh "):
        onnx_graph.read_onnx(path)


@pytest.mark.skipif(importlib.util.find_spec("jaxnas.spaces.darts") is None,
                    reason="jaxnas.spaces.darts is not in this tree yet")
def test_op_order_is_the_darts_space_order():
    from jaxnas.spaces import darts

    assert darts.DARTS_OPS == nb301.DARTS_OPS
