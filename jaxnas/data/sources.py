"""Image datasets as in-memory uint8 arrays: TFDS, or local ``.npz`` files for offline runs.

The NAS-Bench-201 datasets (Dong & Yang, ICLR 2020) are CIFAR-10, CIFAR-100 and ImageNet16-120
(ImageNet downsampled to 16x16, restricted to 120 classes). All three fit in memory as uint8
(CIFAR: 50,000 x 32 x 32 x 3 = 150 MB; ImageNet16-120: about 151,700 x 16 x 16 x 3 = 117 MB), so
``load`` returns NumPy arrays and the rest of the pipeline (shuffling, batching, augmentation on
device) works on those. TFDS is read through ``tfds.data_source`` (ArrayRecord random access; it
needs no TensorFlow); the local source reads the raw or JPEG-bytes ``.npz`` layouts and caches
decoded JPEGs under ``$JAXNAS_CACHE_DIR`` (default ``~/.cache/jaxnas``).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxnas import datasets
from jaxnas.datasets import DATASETS

NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120, "svhn": 10}

# Per-channel mean / std of pixel/255. CIFAR-10: the usual constants; CIFAR-100 and ImageNet16
# as in AutoDL-Projects (lib/datasets/get_dataset_with_transform.py), which NAS-Bench-201 used.
MEAN_STD = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": (tuple(x / 255 for x in (129.3, 124.1, 112.4)),
                 tuple(x / 255 for x in (68.2, 65.4, 70.4))),
    "imagenet16-120": (tuple(x / 255 for x in (122.68, 116.66, 104.01)),
                       tuple(x / 255 for x in (63.22, 61.26, 65.09))),
    # SVHN: RobustDARTS's and darts-pt's constants (utils._data_transforms_svhn)
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}

# Crop padding of the training augmentation: pad-4 crops for 32x32 CIFAR, pad-2 for 16x16
# ImageNet16 (AutoDL-Projects' RandomCrop(16, padding=2)).
PADDING = {"cifar10": 4, "cifar100": 4, "imagenet16-120": 2, "svhn": 4}

# TFDS names; imagenet16-120 is imagenet_resized/16x16 with labels < 120 kept.
TFDS_NAMES = {"cifar10": "cifar10", "cifar100": "cifar100",
              "imagenet16-120": "imagenet_resized/16x16", "svhn": "svhn_cropped"}


class Dataset(NamedTuple):
    """An in-memory image classification dataset.

    Attributes:
        images: uint8 ``[N, H, W, 3]``.
        labels: int32 ``[N]`` in ``[0, num_classes)``.
        num_classes: number of classes.
        mean: float32 ``[3]``, per-channel mean of pixel/255 (dataset constant, not recomputed).
        std: float32 ``[3]``, per-channel standard deviation of pixel/255.
        name: dataset name, one of ``DATASETS``.
    """

    images: np.ndarray  # uint8 [N, H, W, 3]
    labels: np.ndarray  # int32 [N]
    num_classes: int
    mean: np.ndarray  # float32 [3]
    std: np.ndarray  # float32 [3]
    name: str

    @property
    def size(self) -> int:
        """Number of examples N (``len(ds)`` is the NamedTuple's field count)."""
        return int(self.labels.shape[0])

    def subset(self, indices: np.ndarray | Sequence[int]) -> Dataset:
        """The examples at ``indices`` (int array ``[M]``), same metadata."""
        idx = np.asarray(indices)
        return self._replace(images=self.images[idx], labels=self.labels[idx])


def _check_name(dataset: str) -> str:
    return datasets.canonical(dataset, DATASETS)


def cache_dir() -> Path:
    """Folder for decoded-image caches: ``$JAXNAS_CACHE_DIR`` or ``~/.cache/jaxnas``."""
    return Path(os.environ.get("JAXNAS_CACHE_DIR", Path.home() / ".cache" / "jaxnas"))


def _subset_indices(n: int, max_examples: int | None, seed: int) -> np.ndarray | None:
    if max_examples is None or max_examples >= n:
        return None
    if max_examples <= 0:
        raise ValueError(f"max_examples={max_examples} must be positive (or None for all)")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_examples, replace=False))


def _decode_one(buf: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(buf)) as im:
        return np.asarray(im.convert("RGB"))


def decode_jpegs(jpeg: np.ndarray, offsets: np.ndarray,
                 indices: np.ndarray | None = None, num_threads: int | None = None) -> np.ndarray:
    """Decode concatenated JPEG files with Pillow, in threads (Pillow releases the GIL).

    Args:
        jpeg: uint8 ``[total_bytes]``, all JPEG files concatenated.
        offsets: int ``[N + 1]``; image i is ``jpeg[offsets[i]:offsets[i + 1]]``.
        indices: optional int ``[M]``, which images to decode (default all, in order).
        num_threads: worker threads (default ``os.cpu_count()``).

    Returns:
        uint8 ``[M, H, W, 3]`` (all images must share one size).
    """
    idx = np.arange(len(offsets) - 1) if indices is None else np.asarray(indices)
    raw = jpeg.tobytes() if isinstance(jpeg, np.ndarray) else bytes(jpeg)
    bufs = [raw[offsets[i]:offsets[i + 1]] for i in idx]
    if not bufs:
        raise ValueError("no JPEG images to decode (empty index list)")
    first = _decode_one(bufs[0])
    out = np.empty((len(bufs), *first.shape), np.uint8)
    out[0] = first

    def work(chunk: range) -> None:
        for i in chunk:
            out[i] = _decode_one(bufs[i])

    n_threads = num_threads or os.cpu_count() or 1
    step = max(1, -(-(len(bufs) - 1) // n_threads))
    chunks = [range(s, min(s + step, len(bufs))) for s in range(1, len(bufs), step)]
    with ThreadPoolExecutor(n_threads) as ex:
        list(ex.map(work, chunks))
    return out


def _cached_decode(path: Path, jpeg: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """All images of a JPEG npz, decoded once and cached, keyed by path, size and mtime."""
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    cfile = cache_dir() / f"{path.stem}_decoded_{key}.npy"
    if cfile.is_file():
        try:
            arr = np.load(cfile, mmap_mode="r")
            if arr.shape[0] == len(offsets) - 1 and arr.dtype == np.uint8:
                return np.asarray(arr)
        except (OSError, ValueError):
            pass  # a corrupt cache is rebuilt below
    images = decode_jpegs(jpeg, offsets)
    try:
        cfile.parent.mkdir(parents=True, exist_ok=True)
        tmp = cfile.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, images)
        os.replace(tmp, cfile)
    except OSError:
        pass  # caching is an optimisation; a read-only home must not break loading
    return images


def _load_local(dataset: str, split: str, image_dir: Path, max_examples: int | None,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    jpeg_path = image_dir / f"{split}_jpeg.npz"
    raw_path = image_dir / f"{split}.npz"
    if jpeg_path.is_file():
        with np.load(jpeg_path) as z:
            missing = {"jpeg", "offsets", "labels"} - set(z.files)
            if missing:
                raise ValueError(f"{jpeg_path} lacks arrays {sorted(missing)}; the JPEG layout "
                                 "needs jpeg (uint8 bytes), offsets (int [N+1]) and labels ([N])")
            jpeg, offsets, labels = z["jpeg"], z["offsets"].astype(np.int64), z["labels"]
        idx = _subset_indices(len(labels), max_examples, seed)
        if idx is None:
            images = _cached_decode(jpeg_path, jpeg, offsets)
        else:
            images = decode_jpegs(jpeg, offsets, idx)
            labels = labels[idx]
        return images, labels
    if raw_path.is_file():
        with np.load(raw_path) as z:
            missing = {"images", "labels"} - set(z.files)
            if missing:
                raise ValueError(f"{raw_path} lacks arrays {sorted(missing)}; the raw layout "
                                 "needs images (uint8 [N, H, W, 3]) and labels ([N])")
            images, labels = z["images"], z["labels"]
        idx = _subset_indices(len(labels), max_examples, seed)
        if idx is not None:
            images, labels = images[idx], labels[idx]
        return images, labels
    raise FileNotFoundError(
        f"no {dataset} split {split!r} in {image_dir}: looked for {jpeg_path.name} (JPEG layout: "
        f"jpeg, offsets, labels) and {raw_path.name} (raw: images uint8 [N,H,W,3], labels). "
        "Point --image-dir at such a folder (e.g. ../shared/data/cifar10), or leave it unset to "
        "use TFDS.")


def _load_tfds(dataset: str, split: str, data_dir: str | os.PathLike | None,
               max_examples: int | None, seed: int,
               download: bool) -> tuple[np.ndarray, np.ndarray]:
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - tfds is a dependency
        raise ImportError("tensorflow-datasets is needed without image_dir; "
                          "pip install tensorflow-datasets, or pass image_dir") from e
    name = TFDS_NAMES[dataset]
    if dataset == "imagenet16-120" and split == "test":
        split = "validation"  # imagenet_resized has no test split; NAS-Bench-201 uses val.
    try:
        src = tfds.data_source(name, split=split, data_dir=data_dir, download=download)
    except Exception as e:
        raise FileNotFoundError(
            f"TFDS dataset {name!r} split {split!r} is not available in data_dir="
            f"{data_dir or '~/tensorflow_datasets'} ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}). "
            + ("Check the internet connection and the TFDS data folder, or pass --image-dir "
               "with local .npz files." if download else
               "Rerun with --download (download=True) once with internet access, or pass "
               "--image-dir with local .npz files.")) from e
    n = len(src)
    if dataset == "imagenet16-120":
        # Labels must be read to filter; the ImageNet16 images are tiny, so read all once.
        records = [src[i] for i in range(n)]
        keep = np.array([int(r["label"]) < 120 for r in records], bool)
        records = [r for r, k in zip(records, keep, strict=True) if k]
        idx = _subset_indices(len(records), max_examples, seed)
        if idx is not None:
            records = [records[i] for i in idx]
    else:
        idx = _subset_indices(n, max_examples, seed)
        records = [src[int(i)] for i in (range(n) if idx is None else idx)]
    images = np.stack([np.asarray(r["image"], np.uint8) for r in records])
    labels = np.array([int(r["label"]) for r in records])
    return images, labels


def load(dataset: str, split: str = "train", *, image_dir: str | os.PathLike | None = None,
         max_examples: int | None = None, seed: int = 0,
         tfds_data_dir: str | os.PathLike | None = None, download: bool = False) -> Dataset:
    """Load a NAS-Bench-201 dataset split into memory.

    Args:
        dataset: one of ``DATASETS``.
        split: ``"train"`` or ``"test"`` (any TFDS split string with TFDS; for imagenet16-120
            ``"test"`` means TFDS ``"validation"``).
        image_dir: folder with local files ``{split}_jpeg.npz`` (arrays ``jpeg``, ``offsets``,
            ``labels``; decoded with Pillow and cached, see ``cache_dir``) or ``{split}.npz``
            (``images`` uint8 ``[N, H, W, 3]``, ``labels``). ``None``: read TFDS.
        max_examples: keep a seeded random subset of this many examples (indices sorted).
        seed: seed of that subset.
        tfds_data_dir: TFDS data folder (default TFDS's own, ``~/tensorflow_datasets``).
        download: let TFDS download and prepare a missing dataset (needs internet).

    Returns:
        The ``Dataset``, images uint8 ``[N, H, W, 3]``, labels int32 ``[N]``.

    Raises:
        ValueError: unknown dataset, malformed files, or labels outside ``[0, num_classes)``.
        FileNotFoundError: the files (local) or the prepared TFDS dataset are absent.
    """
    dataset = _check_name(dataset)
    if image_dir is not None:
        image_dir = Path(image_dir)
        if not image_dir.is_dir():
            raise FileNotFoundError(f"image_dir {image_dir} is not a folder; expected one holding "
                                    f"{split}_jpeg.npz or {split}.npz")
        images, labels = _load_local(dataset, split, image_dir, max_examples, seed)
    else:
        images, labels = _load_tfds(dataset, split, tfds_data_dir, max_examples, seed, download)
    images = np.ascontiguousarray(images, np.uint8)
    labels = np.asarray(labels).astype(np.int32)
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{dataset}/{split}: images {images.shape} and labels {labels.shape} "
                         "must be [N, H, W, 3] and [N]")
    k = NUM_CLASSES[dataset]
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"{dataset}/{split}: labels span [{labels.min()}, {labels.max()}], "
                         f"outside [0, {k}); is the folder really {dataset}?")
    mean, std = MEAN_STD[dataset]
    return Dataset(images, labels, k, np.asarray(mean, np.float32), np.asarray(std, np.float32),
                   dataset)


def downsample(ds: Dataset, size: int) -> Dataset:
    """The dataset with its images average-pooled to ``size x size`` (an integer factor of the
    image side; rounded back to uint8). The mean/std constants are kept (average pooling keeps
    the per-channel mean). A cheap way to shrink a search on a CPU (issue 20's protocol).

    Raises:
        ValueError: ``size`` does not divide the image side.
    """
    h, w = ds.images.shape[1:3]
    if size < 1 or h % size or w % size:
        raise ValueError(f"image size {size} must divide the images' {h}x{w} sides "
                         f"(e.g. {h // 2} or {h // 4})")
    if (h, w) == (size, size):
        return ds
    fh, fw = h // size, w // size
    x = ds.images.reshape(-1, size, fh, size, fw, 3).astype(np.float32).mean(axis=(2, 4))
    return ds._replace(images=np.clip(np.rint(x), 0, 255).astype(np.uint8))


def search_split(ds: Dataset, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split a training set in two equal halves for DARTS-style bilevel search.

    NAS-Bench-201's search setting trains the weights on one half of the training set and the
    architecture on the other. The halves come from a seeded permutation; each half keeps the
    original order (its indices sorted); with odd N one example is dropped.

    Args:
        ds: the training set, N examples.
        seed: seed of the permutation.

    Returns:
        ``(weights_half, arch_half)``, each with ``N // 2`` examples, disjoint.
    """
    n = ds.size
    if n < 2:
        raise ValueError(f"search_split needs at least 2 examples, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    half = n // 2
    return ds.subset(np.sort(perm[:half])), ds.subset(np.sort(perm[half:2 * half]))
