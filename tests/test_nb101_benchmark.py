"""The NAS-Bench-101 table: TFRecord and protobuf readers, the converter on a file in the
official layout that this test writes itself (its own framing, CRC-32C and protobuf encoder),
look-ups inside jit against a dictionary, the noise models, and the ``nb101-sample`` table of
the shared real data."""

from __future__ import annotations

import base64
import json
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.benchmarks import nb101 as B
from jaxnas.benchmarks import tfrecord
from jaxnas.cli import main
from jaxnas.spaces import nb101 as S
from tests.conftest import require_data

SAMPLE_NAMES = {0: S.INPUT, 1: S.CONV1X1, 2: S.CONV3X3, 3: S.MAXPOOL3X3, 4: S.OUTPUT}


# ---- the test's own TFRecord writer and protobuf encoder -----------------------------------


def crc32c_bitwise(data: bytes) -> int:
    """CRC-32C bit by bit (an independent implementation of the reader's table-driven one)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def write_tfrecord(path, records: list[bytes]) -> None:
    with open(path, "wb") as f:
        for r in records:
            head = struct.pack("<Q", len(r))
            f.write(head + struct.pack("<I", masked(crc32c_bitwise(head))) + r
                    + struct.pack("<I", masked(crc32c_bitwise(r))))


def varint(x: int) -> bytes:
    x &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, x = x & 0x7F, x >> 7
        out.append(b | (0x80 if x else 0))
        if not x:
            return bytes(out)


def pb_double(field: int, x: float) -> bytes:
    return varint(field << 3 | 1) + struct.pack("<d", x)


def pb_bytes(field: int, b: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(b)) + b


def model_metrics(evals: list[dict], params: int, total: float) -> bytes:
    """A ``ModelMetrics`` message in the wire format (fields in a shuffled order, as protobuf
    allows; evaluation_data repeated)."""
    body = varint(2 << 3) + varint(params) + pb_double(3, total)
    for e in evals:
        sub = (pb_bytes(6, e.get("checkpoint_path", "").encode())
               + b"".join(pb_double(k, e[n]) for k, n in tfrecord.EVALUATION_FIELDS.items()))
        body += pb_bytes(1, sub)
    return body


def run_metrics(valid: float, test: float, time: float, epochs: int) -> list[dict]:
    """Three evaluations (start, halfway, final), as the official runs have."""
    return [dict(current_epoch=e, training_time=t, train_accuracy=0.5, validation_accuracy=v,
                 test_accuracy=s, checkpoint_path=f"/ckpt/{e}")
            for e, t, v, s in ((0, 0.0, 0.1, 0.1), (epochs / 2, time / 2, valid - 0.1, test - 0.1),
                               (epochs, time, valid, test))]


# ---- the data ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_cells():
    """The first 40 real graphs of the shared sample: (md5, matrix, op names, encoding)."""
    with np.load(require_data("nb101/sample.npz")) as z:
        adj, ops, nv, md5, params = (z["adjacency"][:40], z["ops"][:40], z["num_vertices"][:40],
                                     z["hash"][:40], z["params"][:40])
    out = []
    for i, v in enumerate(nv.astype(int)):
        names = [SAMPLE_NAMES[int(o)] for o in ops[i][:v]]
        out.append((md5[i].decode(), adj[i][:v, :v], names, S.from_spec(adj[i][:v, :v], names),
                    int(params[i])))
    return out


def values(i: int, r: int, epochs: int) -> tuple[float, float, float]:
    """Deterministic (valid, test, training time) of cell i, repeat r, at a budget."""
    return (0.80 + 0.003 * i + 0.0011 * r + epochs / 1e4, 0.79 + 0.002 * i - 0.0007 * r,
            100.0 * epochs + i + r)


def official_records(cells, budgets=(108,), two_seeds=(5,)) -> list[bytes]:
    """One JSON record per run, in the official layout; cell 5 has two 108-epoch runs."""
    recs = []
    for e in budgets:
        for r in range(3):
            for i, (md5, m, names, _, params) in enumerate(cells):
                if r == 2 and i in two_seeds and e == 108:
                    continue
                v, t, s = values(i, r, e)
                metrics = model_metrics(run_metrics(v, t, s, e), params, 2 * s)
                recs.append(json.dumps([md5, e, "".join(str(int(x)) for x in m.ravel()),
                                        ",".join(names),
                                        base64.b64encode(metrics).decode()]).encode())
    return recs


@pytest.fixture(scope="module")
def converted(real_cells, tmp_path_factory):
    """The full-layout file (budgets 4 and 108) converted through the CLI."""
    d = tmp_path_factory.mktemp("nb101")
    src = d / "nasbench_full.tfrecord"
    write_tfrecord(src, official_records(real_cells, budgets=(4, 108)))
    assert main(["data", "convert", "nb101", str(src), "--data-dir", str(d / "data")]) == 0
    return d / "data", B.load(d / "data")


# ---- TFRecord and protobuf -----------------------------------------------------------------


def test_crc32c_check_value_and_batches():
    assert tfrecord.crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    rng = np.random.default_rng(0)
    chunks = [rng.bytes(int(n)) for n in rng.integers(0, 300, 50)] + [b""]
    np.testing.assert_array_equal(tfrecord.crc32c_many(chunks),
                                  [crc32c_bitwise(c) for c in chunks])


def test_read_records_and_corruption(tmp_path):
    recs = [b"", b"x", bytes(range(256)) * 3, b"last"]
    path = tmp_path / "f.tfrecord"
    write_tfrecord(path, recs)
    assert list(tfrecord.read_records(path, batch=3)) == recs
    raw = bytearray(path.read_bytes())
    for pos, what in ((12 + 0 + 4 + 12 + 0, "data"), (8, "length")):
        bad = raw.copy()
        bad[pos] ^= 1
        (tmp_path / "bad.tfrecord").write_bytes(bytes(bad))
        with pytest.raises(ValueError, match=f"CRC mismatch in the {what}"):
            list(tfrecord.read_records(tmp_path / "bad.tfrecord"))
    (tmp_path / "cut.tfrecord").write_bytes(bytes(raw[:-3]))
    with pytest.raises(ValueError, match="truncated TFRecord"):
        list(tfrecord.read_records(tmp_path / "cut.tfrecord"))


def test_model_metrics_decoder_against_google_protobuf():
    """Messages serialised by the protobuf library from a descriptor of model_metrics.proto."""
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fd = descriptor_pb2.FileDescriptorProto(name="mm_test.proto", package="mmtest",
                                            syntax="proto2")
    F = descriptor_pb2.FieldDescriptorProto
    ev = fd.message_type.add(name="EvaluationData")
    for k, name in tfrecord.EVALUATION_FIELDS.items():
        ev.field.add(name=name, number=k, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    ev.field.add(name="checkpoint_path", number=6, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    mm = fd.message_type.add(name="ModelMetrics")
    mm.field.add(name="evaluation_data", number=1, type=F.TYPE_MESSAGE,
                 type_name=".mmtest.EvaluationData", label=F.LABEL_REPEATED)
    mm.field.add(name="trainable_parameters", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    mm.field.add(name="total_time", number=3, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("mmtest.ModelMetrics"))
    for params in (8555530, -5, 0):
        msg = cls(trainable_parameters=params, total_time=1234.5)
        for e in run_metrics(0.93, 0.92, 1768.9, 108):
            msg.evaluation_data.add(**e)
        got = tfrecord.decode_model_metrics(msg.SerializeToString())
        assert got["trainable_parameters"] == params and got["total_time"] == 1234.5
        assert got["evaluation_data"] == run_metrics(0.93, 0.92, 1768.9, 108)
    # our own encoder's bytes decode the same
    ours = tfrecord.decode_model_metrics(model_metrics(run_metrics(0.9, 0.8, 7.0, 4), 77, 1.5))
    assert ours["trainable_parameters"] == 77 and ours["evaluation_data"][2]["test_accuracy"] == 0.8
    with pytest.raises(ValueError, match="malformed protobuf"):
        tfrecord.decode_model_metrics(b"\x0a\x05ab")


# ---- the converter and the cache -----------------------------------------------------------


def test_convert_then_load(converted, real_cells):
    _, table = converted
    n = len(real_cells)
    assert table.name == "nb101" and table.num_rows == table.num_queryable == n
    keys = np.asarray(table.keys)
    assert np.all((keys[1:, 0] > keys[:-1, 0]) | ((keys[1:, 0] == keys[:-1, 0])
                                                 & (keys[1:, 1] > keys[:-1, 1])))  # sorted
    archs = jnp.asarray(np.stack([c[3] for c in real_cells]))
    q = B.query(table, archs)
    assert bool(jnp.all(q.found))
    rows = np.asarray(q.row)
    assert sorted(rows.tolist()) == list(range(n))
    np.testing.assert_array_equal(B.row_of_md5(table, [c[0] for c in real_cells]), rows)
    t = jax.tree.map(np.asarray, table)  # host copies: no device op per element below
    for i, (_, _, _, _, params) in enumerate(real_cells):
        r = rows[i]
        seeds = [values(i, k, 108) for k in range(2 if i == 5 else 3)]
        assert float(q.valid[i]) == pytest.approx(100 * np.mean([s[0] for s in seeds]), abs=1e-4)
        assert float(q.test[i]) == pytest.approx(100 * np.mean([s[1] for s in seeds]), abs=1e-4)
        assert t.train_time[r] == pytest.approx(np.mean([s[2] for s in seeds]))
        assert t.params[r] == params
        assert t.num_seeds[r] == (2 if i == 5 else 3)
        four = [values(i, k, 4) for k in range(3)]
        assert t.extra["valid_4"][r] == pytest.approx(100 * np.mean([s[0] for s in four]),
                                                      abs=1e-4)
        np.testing.assert_allclose(t.extra["seeds_valid"][r][:len(seeds)],
                                   [100 * s[0] for s in seeds], atol=1e-4)
    assert np.isnan(t.extra["seeds_valid"][rows[5]][2])
    # the cell as stored is the file's pruned graph
    assert np.array_equal(t.arch[rows[0]], real_cells[0][3])


def test_convert_refuses_a_graph_that_does_not_match_its_hash(real_cells, tmp_path):
    cells = list(real_cells[:4])
    md5, m, names, arch, params = cells[1]
    cells[1] = (cells[2][0], m, names, arch, params)  # cell 1's graph under cell 2's hash...
    cells[2] = (md5, *cells[2][1:])  # ... and the other way round
    src = tmp_path / "swapped.tfrecord"
    write_tfrecord(src, official_records(cells, two_seeds=()))
    with pytest.raises(ValueError, match="hashes to .* with the official algorithm"):
        B.convert(src, tmp_path / "out.npz", verify_hashes=-1)


def test_convert_errors_are_one_line(tmp_path, capsys):
    src = tmp_path / "notjson.tfrecord"
    write_tfrecord(src, [b"[1, 2"])
    assert main(["data", "convert", "nb101", str(src), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "record 0 is not a NAS-Bench-101 record" in err
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="jaxnas data convert nb101"):
        B.load(tmp_path / "empty")
    assert main(["data", "info", "--data-dir", str(tmp_path / "empty")]) == 0
    out = capsys.readouterr().out
    assert "[missing] nb101:" in out and "then: jaxnas data convert nb101 nasbench_only108" in out
    assert "sha256:4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1" in out


# ---- look-ups ------------------------------------------------------------------------------


def test_find_against_a_dictionary(converted):
    _, table = converted
    keys = np.asarray(table.keys)
    rng = np.random.default_rng(1)
    probe = np.concatenate([
        keys,  # every stored key
        rng.integers(0, 2**32, (200, 2), dtype=np.uint64).astype(np.uint32),  # random keys
        np.stack([keys[:, 0], keys[:, 1] ^ np.uint32(1)], 1),  # first word stored, second not
        np.stack([keys[:, 0] + np.uint32(1), keys[:, 1]], 1),
        np.array([[0, 0], [0xFFFFFFFF, 0xFFFFFFFF]], np.uint32)])
    oracle = {tuple(k): r for r, k in enumerate(keys.tolist())}
    expect = np.array([oracle.get(tuple(k), -1) for k in probe.tolist()])
    got = np.asarray(B.find(table, jnp.asarray(probe)))
    np.testing.assert_array_equal(got, expect)
    # host maps: md5 <-> key
    md5 = B.md5_hex(np.asarray(table.md5))
    np.testing.assert_array_equal(B.key_of_md5(table, md5), keys)
    absent = keys.copy()
    absent[7] = [1, 2]
    np.testing.assert_array_equal(B.md5_of_key(table, absent), np.where(
        np.arange(len(md5)) == 7, "", md5))


def test_noise_models(converted):
    _, table = converted
    archs = table.arch
    seeds = np.asarray(table.extra["seeds_valid"])
    den = B.noisy(jax.random.key(0), table, "denoised")
    np.testing.assert_allclose(np.asarray(B.noisy_valid(den, table, archs)),
                               np.asarray(table.valid), rtol=1e-6)
    trials = [np.asarray(B.noisy_valid(B.noisy(jax.random.key(t), table, "standard"), table,
                                       archs)) for t in range(12)]
    for v in trials:  # every value is one of its cell's seeds
        assert np.all(np.min(np.abs(seeds - v[:, None]), axis=1, where=~np.isnan(seeds),
                             initial=np.inf) < 1e-3)
    stack = np.stack(trials)
    assert np.all(stack.std(0)[np.asarray(table.num_seeds) > 1] > 0)  # seeds vary over trials
    std = B.noisy(jax.random.key(3), table, "standard")  # fixed within a trial
    np.testing.assert_array_equal(np.asarray(B.noisy_valid(std, table, archs)),
                                  np.asarray(B.noisy_valid(std, table, archs[::-1]))[::-1])
    rnd = np.asarray(B.noisy_valid(B.noisy(jax.random.key(1), table, "random"), table, archs))
    np.testing.assert_allclose(np.sort(rnd), np.sort(np.asarray(table.valid)))
    assert not np.allclose(rnd, np.asarray(table.valid))
    # cells outside the table are NaN (row -1)
    other = archs.at[3].set(S.from_spec(np.array([[0, 1], [0, 0]]), [S.INPUT, S.OUTPUT]))
    v = np.asarray(B.noisy_valid(den, table, other))
    assert np.isnan(v[3]) and not np.isnan(np.delete(v, 3)).any()
    q = B.query(table, other)
    assert int(q.row[3]) == -1 and not bool(q.found[3]) and np.isnan(float(q.test[3]))


def test_neighbours_in_a_table(real_cells):
    """A table with one cell and some of its neighbours: only those are valid, at their rows."""
    centre = real_cells[0][3]
    nbrs, ok = S.neighbours(centre)
    nbrs, ok = np.asarray(nbrs), np.asarray(ok)
    pick = np.flatnonzero(ok)[::3]
    archs = np.concatenate([centre[None], nbrs[pick]])
    md5 = [S.module_hash(*S.to_spec(a)) for a in archs]
    table = B.make_table("toy", md5, archs, np.arange(len(archs), dtype=np.float32)[:, None])
    got, valid, rows = B.neighbours(table, jnp.asarray(centre))
    valid, rows = np.asarray(valid), np.asarray(rows)
    np.testing.assert_array_equal(np.flatnonzero(valid), pick)
    np.testing.assert_array_equal(np.asarray(table.valid)[rows[pick]], np.arange(1, len(archs)))
    assert np.all(rows[~valid] == -1)
    r = [int(B.sample_row(jax.random.key(i), table)) for i in range(300)]
    assert set(r) == set(range(len(archs)))


# ---- nb101-sample (real data; not NAS-Bench-101 results) -----------------------------------


def test_the_sample_table():
    path = require_data("nb101/sample.npz")
    table = B.load_sample(path.parent.parent)
    with np.load(path) as z:
        md5, val = z["hash"], z["val_acc"]
    assert table.name == "nb101-sample" and table.num_rows == 20001 and table.num_queryable == 1000
    valid = np.asarray(table.valid)
    assert valid.mean() == pytest.approx(91.0418, abs=1e-3)  # README: mean 0.910418
    assert valid.max() == pytest.approx(94.9119, abs=1e-3)  # README: max 0.949119
    r0 = int(B.row_of_md5(table, "00005c142e6f48ac74fdcf73e3439874"))
    assert r0 < 1000 and valid[r0] == pytest.approx(93.048877, abs=1e-4)
    assert int(table.params[r0]) == 8555530 and np.isnan(float(table.test[r0]))
    rows = B.row_of_md5(table, md5)
    np.testing.assert_allclose(valid[rows], val[:, 3] * 100, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(table.extra["valid_12"])[rows], val[:, 1] * 100,
                               rtol=1e-6)
    # the 1,000 graphs are queryable by architecture; the 19,001 others only by hash
    q = B.query(table, table.arch[:1000])
    assert bool(jnp.all(q.row == jnp.arange(1000)))
    assert np.all(rows[:1000] < 1000) and np.all(rows[1000:] >= 1000)
    hash_only = B.key_of_md5(table, md5[1000:1003])
    assert np.all(hash_only == S.INVALID_KEY)
