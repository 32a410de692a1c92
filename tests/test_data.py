"""Tests for jaxnas.data: sources (local JPEG / raw npz, TFDS mock), search split, augmentation
against a NumPy oracle, and deterministic, resumable, sharded batches."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jaxnas.data import (
    Batches,
    Dataset,
    augment,
    batch_sharding,
    crop_flip,
    decode_jpegs,
    load,
    normalize,
    search_split,
)
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXNAS_CACHE_DIR", str(tmp_path / "cache"))


def _toy(n=50, h=8, seed=0, k=10) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.integers(0, 256, (n, h, h, 3), dtype=np.uint8),
                   rng.integers(0, k, n).astype(np.int32), k,
                   np.array([0.5, 0.4, 0.3], np.float32), np.array([0.2, 0.25, 0.3], np.float32),
                   "cifar10")


# ---------------------------------------------------------------- sources

@pytest.fixture(scope="module")
def cifar512(data_dir):
    d = data_dir / "cifar10"
    if not (d / "train_jpeg.npz").is_file():
        pytest.skip(f"{d}/train_jpeg.npz is absent")
    return load("cifar10", image_dir=d, max_examples=512, seed=3)


def test_jpeg_npz_subset(cifar512, data_dir):
    ds = cifar512
    assert ds.images.shape == (512, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int32 and ds.num_classes == 10 and ds.name == "cifar10"
    np.testing.assert_allclose(ds.mean, [0.4914, 0.4822, 0.4465], atol=1e-6)
    # The subset is the seeded sorted choice; check one image against a direct Pillow decode.
    from PIL import Image
    with np.load(data_dir / "cifar10" / "train_jpeg.npz") as z:
        jpeg, off, labels = z["jpeg"], z["offsets"], z["labels"]
    idx = np.sort(np.random.default_rng(3).choice(len(labels), 512, replace=False))
    np.testing.assert_array_equal(ds.labels, labels[idx])
    i = idx[100]
    ref = np.asarray(Image.open(io.BytesIO(jpeg[off[i]:off[i + 1]].tobytes())).convert("RGB"))
    np.testing.assert_array_equal(ds.images[100], ref)
    assert len(np.unique(ds.labels)) == 10  # a random subset, not the class-sorted head
    # Per-channel statistics of real images match the dataset constants (JPEG is lossy).
    x = np.asarray(normalize(ds.images, ds.mean, ds.std))
    np.testing.assert_allclose(x.mean((0, 1, 2)), 0.0, atol=0.12)
    np.testing.assert_allclose(x.std((0, 1, 2)), 1.0, atol=0.12)


def _write_jpeg_npz(path, images, labels):
    from PIL import Image
    bufs = []
    for im in images:
        b = io.BytesIO()
        Image.fromarray(im).save(b, format="JPEG", quality=90)
        bufs.append(np.frombuffer(b.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in bufs])]).astype(np.int64)
    np.savez(path, jpeg=np.concatenate(bufs), offsets=offsets, labels=labels.astype(np.uint8))
    return bufs


def test_jpeg_decode_and_cache(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 100, 40)
    d = tmp_path / "c100"
    d.mkdir()
    bufs = _write_jpeg_npz(d / "train_jpeg.npz", images, labels)
    ds = load("cifar100", image_dir=d)
    from PIL import Image
    ref = np.stack([np.asarray(Image.open(io.BytesIO(b.tobytes())).convert("RGB")) for b in bufs])
    np.testing.assert_array_equal(ds.images, ref)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.num_classes == 100
    cached = list((tmp_path / "cache").glob("train_jpeg_decoded_*.npy"))
    assert len(cached) == 1
    np.testing.assert_array_equal(np.load(cached[0]), ref)
    # The second load reads the cache: poison it and see the poison come back.
    poisoned = ref.copy()
    poisoned[0] = 7
    np.save(cached[0], poisoned)
    np.testing.assert_array_equal(load("cifar100", image_dir=d).images[0], 7)
    # Threaded decoding of a subset equals decoding those images alone.
    with np.load(d / "train_jpeg.npz") as z:
        sub = decode_jpegs(z["jpeg"], z["offsets"], np.array([3, 17, 39]), num_threads=3)
    np.testing.assert_array_equal(sub, ref[[3, 17, 39]])


def test_raw_npz(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (30, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 120, 30)
    np.savez(tmp_path / "test.npz", images=images, labels=labels)
    ds = load("imagenet16-120", "test", image_dir=tmp_path)
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.labels.dtype == np.int32 and ds.num_classes == 120
    np.testing.assert_allclose(ds.mean * 255, [122.68, 116.66, 104.01], rtol=1e-6)
    sub = load("imagenet16-120", "test", image_dir=tmp_path, max_examples=10, seed=5)
    idx = np.sort(np.random.default_rng(5).choice(30, 10, replace=False))
    np.testing.assert_array_equal(sub.images, images[idx])
    np.testing.assert_array_equal(sub.labels, labels[idx])
    # Labels outside the dataset's classes are rejected with the range.
    with pytest.raises(ValueError, match=r"outside \[0, 10\)"):
        load("cifar10", "test", image_dir=tmp_path)


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load("mnist", image_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="train_jpeg.npz.*train.npz"):
        load("cifar10", image_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load("cifar10", image_dir=tmp_path / "nope")
    np.savez(tmp_path / "train.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="lacks arrays"):
        load("cifar10", image_dir=tmp_path)


def _tfds():
    try:
        import tensorflow_datasets as tfds
        tfds.testing.mock_data  # noqa: B018
        import array_record  # noqa: F401  (data_source's storage)
    except Exception as e:  # pragma: no cover
        pytest.skip(f"tensorflow_datasets mock data unavailable offline: {e}")
    return tfds


def test_tfds_mock():
    tfds = _tfds()
    with tfds.testing.mock_data(num_examples=20):
        ds = load("cifar10", max_examples=8, seed=1)
        assert ds.images.shape == (8, 32, 32, 3) and ds.images.dtype == np.uint8
        assert ds.labels.dtype == np.int32 and ds.labels.max() < 10
        again = load("cifar10", max_examples=8, seed=1)
        np.testing.assert_array_equal(ds.images, again.images)
        full = load("cifar100", "test")
        assert full.images.shape[0] == 20 and full.num_classes == 100
    with tfds.testing.mock_data(num_examples=300):
        im = load("imagenet16-120", "test")  # 1000 mock classes, ~12% kept
        assert im.images.shape[1:] == (16, 16, 3)
        assert 5 < im.size < 100 and im.labels.max() < 120


def test_tfds_missing_is_clear(tmp_path):
    _tfds()
    with pytest.raises(FileNotFoundError, match="--image-dir"):
        load("cifar10", tfds_data_dir=tmp_path)


# ---------------------------------------------------------------- search split

def test_search_split():
    ds = _toy(n=51)
    ds.labels[:] = np.arange(51)  # labels identify examples
    w, a = search_split(ds, seed=4)
    assert w.size == a.size == 25
    assert not set(w.labels) & set(a.labels)
    assert len(set(w.labels) | set(a.labels)) == 50
    np.testing.assert_array_equal(w.images, ds.images[w.labels])
    w2, a2 = search_split(ds, seed=4)
    np.testing.assert_array_equal(w.labels, w2.labels)
    np.testing.assert_array_equal(a.labels, a2.labels)
    w3, _ = search_split(ds, seed=5)
    assert not np.array_equal(w.labels, w3.labels)


# ---------------------------------------------------------------- augmentation

def _oracle_candidates(img, pad):
    """All pad-crop/flip results of one image: dict (dy, dx, flip) -> [H, W, C]."""
    h, w, _ = img.shape
    p = np.pad(img, ((pad, pad), (pad, pad), (0, 0)))
    out = {}
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            c = p[dy:dy + h, dx:dx + w]
            out[(dy, dx, 0)] = c
            out[(dy, dx, 1)] = c[:, ::-1]
    return out


def test_crop_flip_matches_numpy_oracle():
    ds = _toy(n=64, h=8)
    out = np.asarray(jax.jit(crop_flip, static_argnums=2)(jax.random.key(0), ds.images, 4))
    assert out.shape == ds.images.shape and out.dtype == np.uint8
    seen = []
    for img, o in zip(ds.images, out, strict=True):
        matches = [k for k, c in _oracle_candidates(img, 4).items() if np.array_equal(c, o)]
        assert len(matches) == 1, matches  # random images: exactly one shift/flip fits
        seen.append(matches[0])
    seen = np.array(seen)
    assert set(seen[:, 2]) == {0, 1}
    assert seen[:, 0].min() == 0 or seen[:, 0].max() == 8  # offsets reach the border
    assert len({tuple(s) for s in seen}) > 20


def test_augment_deterministic_and_normalised():
    ds = _toy(n=16, h=8)
    f = jax.jit(augment)
    a = np.asarray(f(jax.random.key(1), ds.images, ds.mean, ds.std))
    b = np.asarray(f(jax.random.key(1), ds.images, ds.mean, ds.std))
    c = np.asarray(f(jax.random.key(2), ds.images, ds.mean, ds.std))
    assert a.dtype == np.float32 and a.shape == (16, 8, 8, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    crop = np.asarray(crop_flip(jax.random.key(1), ds.images))
    ref = (crop.astype(np.float32) / 255 - ds.mean) / ds.std
    np.testing.assert_allclose(a, ref, rtol=1e-6, atol=1e-6)
    # Padding is black pixels normalised (torchvision order), so zero-border value = -mean/std.
    zero = np.asarray(normalize(np.zeros((1, 1, 1, 3), np.uint8), ds.mean, ds.std))[0, 0, 0]
    np.testing.assert_allclose(zero, -ds.mean / ds.std, rtol=1e-6)


# ---------------------------------------------------------------- batches

def _drain(it, k):
    return [tuple(np.asarray(x) for x in next(it)) for _ in range(k)]


def test_batches_order_restore_permutation():
    ds = _toy(n=50)
    ds.labels[:] = np.arange(50)
    it = Batches(ds, 8, seed=3)
    assert it.steps_per_epoch == 6
    first = _drain(it, 14)  # two full epochs and two batches of the third
    again = _drain(Batches(ds, 8, seed=3), 14)
    for (x, y), (x2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
        np.testing.assert_array_equal(x, ds.images[y])
        assert x.dtype == np.uint8 and y.dtype == np.int32
    for e in range(2):
        seen = np.concatenate([y for _, y in first[6 * e:6 * e + 6]])
        assert len(np.unique(seen)) == 48  # an epoch: 48 distinct examples, 2 dropped
        np.testing.assert_array_equal(seen, np.random.default_rng([3, e]).permutation(50)[:48])
    assert not np.array_equal(first[0][1], first[6][1])  # epochs are reshuffled
    other = _drain(Batches(ds, 8, seed=4), 1)
    assert not np.array_equal(first[0][1], other[0][1])
    # Restoring a saved position continues exactly.
    it2 = Batches(ds, 8, seed=3)
    _drain(it2, 5)
    st = it2.state()
    assert st == {"position": 5}
    it3 = Batches(ds, 8, seed=3)
    it3.restore(st)
    for (_, y), (_, y3) in zip(first[5:], _drain(it3, 9), strict=True):
        np.testing.assert_array_equal(y, y3)
    assert it3.position == 14 and it3.epoch == 2
    # No shuffle: dataset order.
    plain = _drain(Batches(ds, 10, shuffle=False), 6)
    np.testing.assert_array_equal(plain[5][1], np.arange(10))
    with pytest.raises(ValueError, match="batch_size=51"):
        Batches(ds, 51)


def test_batches_sharded_over_8_devices():
    code = textwrap.dedent("""
        import jax, numpy as np
        from jaxnas.data import Batches, Dataset, batch_sharding
        assert jax.device_count() == 8, jax.devices()
        rng = np.random.default_rng(0)
        ds = Dataset(rng.integers(0, 256, (100, 4, 4, 3), dtype=np.uint8),
                     np.arange(100, dtype=np.int32), 100, np.zeros(3, np.float32),
                     np.ones(3, np.float32), "cifar100")
        sh = batch_sharding()
        a, b = Batches(ds, 16, seed=1, sharding=sh), Batches(ds, 16, seed=1)
        for _ in range(8):
            (x, y), (x0, y0) = next(a), next(b)
            assert x.sharding == sh and y.sharding == sh
            assert len(x.sharding.device_set) == 8
            assert {s.data.shape for s in x.addressable_shards} == {(2, 4, 4, 3)}
            assert len({s.device for s in y.addressable_shards}) == 8
            np.testing.assert_array_equal(np.asarray(x), np.asarray(x0))
            np.testing.assert_array_equal(np.asarray(y), np.asarray(y0))
        try:
            Batches(ds, 12, sharding=sh)
        except ValueError as e:
            assert "8 devices" in str(e)
        else:
            raise AssertionError("batch 12 over 8 devices accepted")
        print("OK")
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120, cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stderr[-3000:]


def test_batch_sharding_default():
    sh = batch_sharding()
    assert sh.spec == jax.sharding.PartitionSpec("data")
    assert sh.mesh.axis_names == ("data",) and sh.mesh.size == jax.device_count()


def test_downsample_average_pools_to_the_requested_size():
    from jaxnas import data

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    ds = data.Dataset(imgs, np.zeros(3, np.int32), 10, np.zeros(3, np.float32),
                      np.ones(3, np.float32), "cifar10")
    small = data.downsample(ds, 16)
    assert small.images.shape == (3, 16, 16, 3) and small.images.dtype == np.uint8
    want = imgs[:, :2, :2].astype(np.float64).mean(axis=(1, 2))  # the top-left 2x2 block
    np.testing.assert_allclose(small.images[:, 0, 0], np.rint(want), atol=0.5)
    assert data.downsample(ds, 32) is ds
    with pytest.raises(ValueError, match="must divide"):
        data.downsample(ds, 12)
