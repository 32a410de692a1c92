"""The tabular NAS-Bench-201 benchmark on the real shared data, and its noise models."""

import csv

import jax
import numpy as np
import pytest

from jaxnas import benchmarks
from jaxnas.benchmarks import nb201 as B
from jaxnas.benchmarks import tabular as T
from jaxnas.spaces import nb201 as S


@pytest.fixture(scope="module")
def c10(data_dir):
    return B.load("cifar10", data_dir)


def _csv_rows(data_dir):
    with open(data_dir / "nb201" / "accuracies.csv") as f:
        return list(csv.DictReader(f))


def test_spot_checks_from_data_readme(data_dir):
    assert float(B.load("cifar10", data_dir).test.max()) == pytest.approx(94.3733, abs=1e-3)
    c10 = B.load("cifar10", data_dir)
    best = int(np.argmax(np.asarray(c10.valid)))
    assert float(c10.valid[best]) == pytest.approx(91.6067, abs=1e-3)
    assert int(c10.index[best]) == 6111
    assert float(B.load("cifar100", data_dir).test.max()) == pytest.approx(73.5133, abs=1e-3)
    assert float(B.load("imagenet16-120", data_dir).test.max()) == pytest.approx(47.3111, abs=1e-3)


def test_code_order_and_index_conversion(c10, data_dir):
    rows = _csv_rows(data_dir)
    for i in (0, 1, 6111, 15624):
        arch = S.from_string(rows[i]["arch"])
        code = int(S.to_code(arch))
        assert int(c10.index[code]) == i
        assert int(B.index_of(c10, arch)) == i
        np.testing.assert_array_equal(np.asarray(B.arch_of_index(c10, i)), arch)
        assert float(c10.valid[code]) == pytest.approx(float(rows[i]["cifar10_valid_200"]), abs=1e-4)
        assert float(c10.test_12[code]) == pytest.approx(float(rows[i]["cifar10_test_12"]), abs=1e-4)
    assert sorted(np.asarray(c10.index).tolist()) == list(range(15625))


def test_lookup(data_dir):
    r = B.lookup("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", data_dir)
    assert r["index"] == 6111
    assert r["cifar10_valid_200"] == pytest.approx(91.6067, abs=1e-3)
    assert set(r) >= {"cifar100_test_200", "imagenet16_test_200", "cifar10_test_12"}


def test_noise_models(c10):
    k = jax.random.key(0)
    np.testing.assert_array_equal(np.asarray(T.objective(k, c10, "denoised")), np.asarray(c10.valid))
    rnd = np.asarray(T.objective(k, c10, "random"))
    np.testing.assert_array_equal(np.sort(rnd), np.sort(np.asarray(c10.valid)))
    assert not np.array_equal(rnd, np.asarray(c10.valid))
    std = np.asarray(T.objective(k, c10, "standard"))
    # every value is the denoised value plus one available seed's deviation
    options = np.asarray(c10.valid)[:, None] + np.asarray(c10.seed_dev)
    n = np.asarray(c10.num_seeds)
    hit = np.isclose(std[:, None], options, atol=1e-4) & (np.arange(3) < n[:, None])
    assert hit.any(1).all()
    # which seed: roughly uniform among the available ones
    assert 0.3 < np.mean(np.argmax(hit, 1)[n == 2] == 0) < 0.7
    # fixed within a trial (same key), different across trials
    np.testing.assert_array_equal(std, np.asarray(T.objective(k, c10, "standard")))
    assert not np.array_equal(std, np.asarray(T.objective(jax.random.key(1), c10, "standard")))
    # lazy per-code query equals the materialised landscape
    t = T.noisy_table(k, c10, "standard")
    codes = np.array([0, 5, 6111, 15624])
    np.testing.assert_allclose(np.asarray(T.noisy_valid(t, codes)), std[codes])
    # on cifar10 the per-seed values are the validation runs themselves
    seeds = np.asarray(c10.seeds)
    close = np.isclose(std[:, None], seeds, atol=0.02).any(1)
    assert close.mean() > 0.8


def test_bad_inputs(data_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        B.load("mnist", data_dir)
    with pytest.raises(ValueError, match="unknown noise model 'loud'"):
        T.objective(jax.random.key(0), B.load("cifar10", data_dir), "loud")
    with pytest.raises(ValueError, match="index 15625 is out of range"):
        B.check_index(15625)
    with pytest.raises(FileNotFoundError, match="accuracies.csv.*looked in"):
        B.load("cifar10", tmp_path)
    (tmp_path / "nb201").mkdir()
    np.savez(tmp_path / "nb201" / "seeds.npz", cifar10_valid=np.zeros((1, 3)))
    (tmp_path / "nb201" / "accuracies.csv").write_text("index,arch,x\n0,|none~0|,1\n")
    with pytest.raises(ValueError, match="has 1 architectures, expected 15625"):
        B.load("cifar10", tmp_path)
    (tmp_path / "nb201" / "accuracies.csv").write_text("hello\n")
    with pytest.raises(ValueError, match="not a NAS-Bench-201 accuracy table"):
        B.load("cifar10", tmp_path)


def test_cache_round_trip_without_torch(data_dir, tmp_path):
    """The jaxnas cache (what convert_official writes) loads like the shared files."""
    fake = _FakeAPI(data_dir)
    out = B.convert_official("unused.pth", tmp_path / B.CACHE_NAME, api=fake)
    a, b = B.load("cifar100", tmp_path), B.load("cifar100", data_dir)
    for f in ("valid", "test", "valid_12", "test_12", "index"):
        np.testing.assert_allclose(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(a.seeds), np.asarray(b.seeds), equal_nan=True)
    assert out.stat().st_size < 3_000_000


class _FakeAPI:
    """Stands in for nas_201_api.NASBench201API, serving the shared tables (first 15625 rows)."""

    _MAP = {"cifar10-valid": "cifar10", "cifar10": "cifar10", "cifar100": "cifar100",
            "ImageNet16-120": "imagenet16"}
    _SEEDS = {("cifar10-valid", "x-valid"): "cifar10_valid", ("cifar100", "ori-test"): "cifar100_valtest",
              ("ImageNet16-120", "ori-test"): "imagenet16_valtest"}

    def __init__(self, data_dir):
        self.rows = _csv_rows(data_dir)
        self.seeds = dict(np.load(data_dir / "nb201" / "seeds.npz"))

    def __len__(self):
        return len(self.rows)

    def arch(self, i):
        return self.rows[i]["arch"]

    def get_more_info(self, i, dataset, iepoch=None, hp="12", is_random=True):
        p = self._MAP[dataset]
        split = "valid" if dataset == "cifar10-valid" else None
        r = self.rows[i]
        return {"valid-accuracy": float(r[f"{p}_valid_{hp}"]),
                "test-accuracy": float(r[f"{p}_test_{hp}"]),
                "split": split}

    def query_by_index(self, i, dataset, hp="200"):
        fake = self

        class Run:
            def __init__(self, j):
                self.j = j

            def get_eval(self, split):
                return {"accuracy": float(fake.seeds[fake._SEEDS[(dataset, split)]][i, self.j])}

        vals = [j for j in range(3) if not np.isnan(self.seeds["cifar10_valid"][i, j])]
        return {777 + 111 * j: Run(j) for j in vals}


def test_benchmark_registry_loads_by_name(data_dir):
    assert "nb201" in benchmarks.BENCHMARKS
    t = benchmarks.load("nb201", "cifar100", data_dir)
    assert isinstance(t, T.Table) and t.space.name == "nb201"
    assert float(t.test.max()) == float(B.load("cifar100", data_dir).test.max())
    assert benchmarks.canonical_dataset("nb201", "ImageNet16") == "imagenet16-120"
    assert benchmarks.for_space("nb201").name == "nb201"
    assert benchmarks.get("nb201").space == "nb201" and benchmarks.get("nb201").has_test
    with pytest.raises(ValueError, match="unknown benchmark 'nb999'"):
        benchmarks.load("nb999", "cifar10")
    with pytest.raises(ValueError, match="no benchmark for search space 'nb999'"):
        benchmarks.for_space("nb999")
    with pytest.raises(ValueError, match="covers the space 'nb201', not 'toy'"):
        benchmarks.for_space("toy", "nb201")
    with pytest.raises(ValueError, match="already registered as 'nb201'"):
        benchmarks.register("nb201", lambda d, p=None: None, ("x",))
