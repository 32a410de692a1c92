"""Which benchmark files jaxnas reads, where the official ones are published, how to convert them.

Used by ``jaxnas data info`` and by the missing-data errors. Every figure below is what the
publisher states or what we measured on the file itself; where a publisher states no size or
checksum, we say so instead of guessing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from jaxnas import paths


@dataclasses.dataclass(frozen=True)
class Source:
    """An official file a user downloads.

    Attributes:
        name: the file's official name.
        page: the public page that publishes it.
        size: its size as published or measured (None: not stated by the publisher).
        checksum: what identifies the file (e.g. ``sha256:...``), or how the publisher marks it.
        convert: the exact command that turns it into what jaxnas reads ('' if used as is).
        note: what it is.
    """

    name: str
    page: str
    size: str | None
    checksum: str
    convert: str
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One benchmark: the files jaxnas looks for (any one set suffices) and its sources."""

    name: str
    what: str
    file_sets: tuple[tuple[str, ...], ...]  # paths relative to the data folder
    sources: tuple[Source, ...]
    sha256: dict[str, str] = dataclasses.field(default_factory=dict)  # verified file -> digest


NB201_CACHE = "nb201_jaxnas.npz"
NB301_CACHE = "nb301_jaxnas.npz"
NB101_CACHE = "nb101_jaxnas.npz"

BENCHMARKS: dict[str, Benchmark] = {
    "nb201": Benchmark(
        name="nb201",
        what="NAS-Bench-201: 15,625 cells, CIFAR-10/100 and ImageNet16-120, per-seed values",
        file_sets=((NB201_CACHE,), ("nb201/accuracies.csv", "nb201/seeds.npz")),
        sources=(
            Source(
                name="NATS-tss-v1_0-3ffb9-simple.tar",
                page="https://github.com/D-X-Y/NATS-Bench",
                size=None,
                checksum="MD5 ends in 3ffb9 (NATS-Bench names its files "
                         "NATS-tss-[version]-[md5])",
                convert="jaxnas data convert nb201 NATS-tss-v1_0-3ffb9-simple.tar",
                note="NATS-Bench's topology archive (the same 15,625 cells); read without torch",
            ),
            Source(
                name="NAS-Bench-201-v1_1-096897.pth",
                page="https://github.com/D-X-Y/NAS-Bench-201",
                size=None,
                checksum="the name's suffix 096897 is the file's checksum tag, as the "
                         "publisher names its files (last six hex digits)",
                convert="pip install 'jaxnas[nb201]' && "
                        "jaxnas data convert nb201 NAS-Bench-201-v1_1-096897.pth",
                note="the official NAS-Bench-201 file; read through the nas-bench-201 API "
                     "(needs torch)",
            ),
        ),
    ),
    "nb301": Benchmark(
        name="nb301",
        what="NAS-Bench-301 surrogate of the DARTS space (YAHPO Gym's ONNX model)",
        file_sets=((NB301_CACHE,), ("nb301/model_v2.onnx", "nb301/encoding_v2.json")),
        sources=(
            Source(
                name="nb301/model_v2.onnx",
                page="https://github.com/slds-lmu/yahpo_data",
                size="2,781,646 bytes",
                checksum="sha256:e7168d495cf7fe6419b69234a052571536c2a5f6d7a8a2aead4e9d04dffac1d6",
                convert="pip install 'jaxnas[nb301]' && jaxnas data convert nb301 nb301/",
                note="YAHPO Gym's surrogate (Apache-2.0); download it with nb301/encoding_v2.json "
                     "(6,706 bytes, sha256:b16bb8db9aa5a9b688cd97e782643abe96bd166baa445675f57cb"
                     "cf5e6128a98) into one folder; read as is where onnx is installed",
            ),
        ),
        sha256={"nb301/model_v2.onnx":
                "e7168d495cf7fe6419b69234a052571536c2a5f6d7a8a2aead4e9d04dffac1d6",
                "nb301/encoding_v2.json":
                "b16bb8db9aa5a9b688cd97e782643abe96bd166baa445675f57cbcf5e6128a98"},
    ),
    "nb101": Benchmark(
        name="nb101",
        what="NAS-Bench-101: 423,624 graph cells, CIFAR-10, 3 seeds at 108 epochs (and 4/12/36 "
             "from the full file)",
        file_sets=((NB101_CACHE,),),
        sources=(
            Source(
                name="nasbench_only108.tfrecord",
                page="https://github.com/google-research/nasbench",
                size="~499 MB (as the publisher states)",
                checksum="sha256:4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1",
                convert="jaxnas data convert nb101 nasbench_only108.tfrecord",
                note="the official file, 108-epoch runs only; read without TensorFlow",
            ),
            Source(
                name="nasbench_full.tfrecord",
                page="https://github.com/google-research/nasbench",
                size="~1.95 GB (as the publisher states)",
                checksum="sha256:3d64db8180fb1b0207212f9032205064312b6907a3bbc81eabea10db2f5c7e9c",
                convert="jaxnas data convert nb101 nasbench_full.tfrecord",
                note="the official file with the 4, 12, 36 and 108-epoch runs",
            ),
        ),
    ),
    "nb101-sample": Benchmark(
        name="nb101-sample",
        what="a 20,001-cell NAS-Bench-101 sample (1,000 with graphs) for tests; its results are "
             "not NAS-Bench-101 results",
        file_sets=(("nb101/sample.npz",),),
        sources=(
            Source(
                name="nb101/sample.npz",
                page="https://github.com/tiga1231/nasbench-vis",
                size=None,
                checksum="not stated by the publisher",
                convert="",
                note="the shared test data (../shared/data/README.md); not the benchmark",
            ),
        ),
    ),
    "cifar10": Benchmark(
        name="cifar10",
        what="CIFAR-10 images for DARTS (JPEG npz); jaxnas darts can also read them through TFDS",
        file_sets=(("cifar10/train_jpeg.npz", "cifar10/test_jpeg.npz"),),
        sources=(
            Source(
                name="cifar10 (TensorFlow Datasets)",
                page="https://www.tensorflow.org/datasets/catalog/cifar10",
                size="about 163 MB (as TFDS states)",
                checksum="verified by TFDS on download",
                convert="",
                note="read through TFDS when no --image-dir is given",
            ),
        ),
    ),
}


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def locate(relative: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """Where the loaders would find ``relative`` (:func:`jaxnas.paths.find_file`), or None."""
    try:
        return paths.find_file(relative, data_dir)
    except FileNotFoundError:
        return None


def status(data_dir: str | os.PathLike | None = None, verify: bool = True) -> list[dict]:
    """What jaxnas finds for every benchmark: one dict per benchmark, JSON-able.

    Keys: ``benchmark``, ``what``, ``found`` (bool), ``files`` (path per file of the first
    complete set, or ``{}``), ``checksum_ok`` (True/False where a digest is known, else None),
    ``sources`` (the official files with page, size, checksum and convert command).
    """
    out = []
    for b in BENCHMARKS.values():
        files: dict[str, str] = {}
        for fs in b.file_sets:
            found = {f: locate(f, data_dir) for f in fs}
            if all(found.values()):
                files = {f: str(p) for f, p in found.items()}
                break
        ok = None
        if files and verify and b.sha256:
            ok = all(sha256(files[f]) == d for f, d in b.sha256.items() if f in files)
        out.append({"benchmark": b.name, "what": b.what, "found": bool(files), "files": files,
                    "checksum_ok": ok,
                    "sources": [dataclasses.asdict(s) for s in b.sources]})
    return out


def how_to_get(name: str) -> str:
    """One sentence for an error message: the command that fixes a missing benchmark."""
    b = BENCHMARKS[name]
    cmds = [s.convert for s in b.sources if s.convert]
    fix = f"download {b.sources[0].name} from {b.sources[0].page}"
    if cmds:
        fix += f" and run `{cmds[0]}`"
    return f"To get {b.name}: {fix}; `jaxnas data info` lists every option."


__all__ = ["BENCHMARKS", "NB101_CACHE", "NB201_CACHE", "NB301_CACHE", "Benchmark", "Source",
           "how_to_get", "locate", "sha256", "status"]
