"""TFRecord files and protobuf messages without TensorFlow or protobuf definitions.

Just enough to read NAS-Bench-101's official files (:mod:`jaxnas.benchmarks.nb101`):

* TFRecord framing (read only): every record is ``uint64 length``, ``uint32
  masked_crc32c(length bytes)``, ``length`` data bytes, ``uint32 masked_crc32c(data)``, all
  little-endian; the mask is
  ``((crc >> 15) | (crc << 17)) + 0xA282EAD8`` (mod 2**32). :func:`read_records` checks both
  CRCs, vectorised over batches of records with NumPy.
* The protobuf wire format (varint, 64-bit, length-delimited and 32-bit fields):
  :func:`decode_fields` splits a message into its fields; :func:`decode_model_metrics` reads
  nasbench's ``ModelMetrics`` (``nasbench/lib/model_metrics.proto``).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _make_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(_POLY), t >> 1)
    t.setflags(write=False)
    return t


_TABLE = _make_table()
_TABLE_LIST = _TABLE.tolist()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (pure Python; for short inputs)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE_LIST[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c_many(chunks: Sequence[bytes]) -> np.ndarray:
    """CRC-32C of every byte string, ``uint32[n]``, vectorised over the strings."""
    n = len(chunks)
    lens = np.fromiter((len(c) for c in chunks), np.int64, n)
    crc = np.full(n, 0xFFFFFFFF, np.uint32)
    if n == 0 or lens.max() == 0:
        return crc ^ np.uint32(0xFFFFFFFF)
    order = np.argsort(-lens, kind="stable")  # longest first: the active rows are a prefix
    lens_sorted = lens[order]
    width = int(lens_sorted[0])
    buf = np.zeros((n, width), np.uint8)
    flat = np.frombuffer(b"".join(chunks[i] for i in order), np.uint8)
    rows = np.repeat(np.arange(n), lens_sorted)
    starts = np.repeat(np.cumsum(lens_sorted) - lens_sorted, lens_sorted)
    buf[rows, np.arange(flat.size) - starts] = flat
    c = crc.copy()
    active = np.searchsorted(-lens_sorted, -np.arange(1, width + 1), side="right")
    for t in range(width):
        m = active[t]  # rows with more than t bytes
        c[:m] = _TABLE[(c[:m] ^ buf[:m, t]) & 0xFF] ^ (c[:m] >> 8)
    crc[order] = c
    return crc ^ np.uint32(0xFFFFFFFF)


def masked_crc(crc: np.ndarray | int) -> np.ndarray | int:
    """TFRecord's masked CRC of a CRC-32C value (int or ``uint32`` array)."""
    if isinstance(crc, np.ndarray):
        c = crc.astype(np.uint32)
        return ((c >> np.uint32(15)) | (c << np.uint32(17))) + np.uint32(0xA282EAD8)
    c = int(crc) & 0xFFFFFFFF
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path: str | os.PathLike, verify: bool = True, batch: int = 4096,
                 progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The records of a TFRecord file, in order.

    Args:
        path: the file (uncompressed TFRecord).
        verify: check both CRCs of every record.
        batch: records checked together (the CRC is vectorised over a batch).
        progress: called with the number of bytes consumed after every batch.

    Raises:
        ValueError: a truncated file or a CRC mismatch, naming the file and the record's offset.
    """
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            off = 0
            while off < size:
                offsets, heads, head_crcs, datas, data_crcs = [], [], [], [], []
                while off < size and len(datas) < batch:
                    if off + 12 > size:
                        raise ValueError(f"{path}: truncated TFRecord header at byte {off} "
                                         f"(file size {size}); download the file again")
                    length, head_crc = struct.unpack_from("<QI", mm, off)
                    end = off + 12 + length + 4
                    if end > size:
                        raise ValueError(f"{path}: truncated TFRecord of {length} bytes at byte "
                                         f"{off} (file size {size}); download the file again")
                    offsets.append(off)
                    heads.append(mm[off:off + 8])
                    head_crcs.append(head_crc)
                    datas.append(mm[off + 12:off + 12 + length])
                    data_crcs.append(struct.unpack_from("<I", mm, off + 12 + length)[0])
                    off = end
                if verify:
                    _check_crcs(path, offsets, heads, head_crcs, "length")
                    _check_crcs(path, offsets, datas, data_crcs, "data")
                yield from datas
                if progress is not None:
                    progress(off)


def _check_crcs(path: Path, offsets: list[int], chunks: list[bytes], stored: list[int],
                what: str) -> None:
    got = masked_crc(crc32c_many(chunks))
    bad = np.flatnonzero(got != np.asarray(stored, np.uint32))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{path}: CRC mismatch in the {what} of the TFRecord at byte "
                         f"{offsets[i]} (corrupt file); download it again")


# --------------------------------------------------------------------------------------------
# Protobuf wire format.
# --------------------------------------------------------------------------------------------

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("malformed protobuf: a varint runs past the end of the message")
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, pos
        shift += 7
        if shift > 63:
            raise ValueError("malformed protobuf: a varint longer than 10 bytes")


def decode_fields(buf: bytes) -> dict[int, list[tuple[int, int | bytes]]]:
    """The fields of one protobuf message: ``{field number: [(wire type, raw value), ...]}``.

    Raw values are ``int`` (varint), 8 bytes (64-bit), 4 bytes (32-bit) or ``bytes``
    (length-delimited: strings and sub-messages); repeated fields keep their order.

    Raises:
        ValueError: for a malformed message (truncated, unknown wire type).
    """
    out: dict[int, list[tuple[int, int | bytes]]] = {}
    pos, n = 0, len(buf)
    while pos < n:
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == VARINT:
            val, pos = _varint(buf, pos)
        elif wire == I64:
            val, pos = bytes(buf[pos:pos + 8]), pos + 8
        elif wire == LEN:
            length, pos = _varint(buf, pos)
            val, pos = bytes(buf[pos:pos + length]), pos + length
        elif wire == I32:
            val, pos = bytes(buf[pos:pos + 4]), pos + 4
        else:
            raise ValueError(f"malformed protobuf: field {field} has wire type {wire} "
                             f"(groups and unknown types are not supported)")
        if pos > n:
            raise ValueError(f"malformed protobuf: field {field} runs past the end of the message")
        out.setdefault(field, []).append((wire, val))
    return out


def _last(fields: dict, number: int, wire: int, what: str):
    vals = fields.get(number)
    if not vals:
        return None
    w, v = vals[-1]  # proto2: the last value of a non-repeated field wins
    if w != wire:
        raise ValueError(f"malformed {what}: field {number} has wire type {w}, expected {wire}")
    return v


def _double(fields: dict, number: int, what: str) -> float:
    v = _last(fields, number, I64, what)
    return 0.0 if v is None else struct.unpack("<d", v)[0]  # proto2 default 0


def _int32(fields: dict, number: int, what: str) -> int:
    v = _last(fields, number, VARINT, what)
    if v is None:
        return 0
    v &= 0xFFFFFFFF  # negative int32 values are sign-extended to 64 bits on the wire
    return v - (1 << 32) if v >= 1 << 31 else v


#: nasbench ``EvaluationData`` doubles, by field number
EVALUATION_FIELDS = {1: "current_epoch", 2: "training_time", 3: "train_accuracy",
                     4: "validation_accuracy", 5: "test_accuracy"}


def decode_model_metrics(buf: bytes) -> dict:
    """nasbench's ``ModelMetrics`` message (``nasbench/lib/model_metrics.proto``).

    Returns:
        ``{'evaluation_data': [{'current_epoch', 'training_time', 'train_accuracy',
        'validation_accuracy', 'test_accuracy': float, 'checkpoint_path': str}, ...],
        'trainable_parameters': int, 'total_time': float}``; absent fields read as proto2's
        defaults (0, '').

    Raises:
        ValueError: for a malformed message.
    """
    f = decode_fields(buf)
    evals = []
    for wire, sub in f.get(1, []):
        if wire != LEN:
            raise ValueError(f"malformed ModelMetrics: evaluation_data has wire type {wire}")
        e = decode_fields(sub)
        row = {name: _double(e, k, "EvaluationData") for k, name in EVALUATION_FIELDS.items()}
        path = _last(e, 6, LEN, "EvaluationData")
        row["checkpoint_path"] = "" if path is None else path.decode("utf-8", "replace")
        evals.append(row)
    return {"evaluation_data": evals, "trainable_parameters": _int32(f, 2, "ModelMetrics"),
            "total_time": _double(f, 3, "ModelMetrics")}


__all__ = ["EVALUATION_FIELDS", "crc32c", "crc32c_many", "decode_fields",
           "decode_model_metrics", "masked_crc", "read_records"]
