"""``jaxnas data``: info on a machine without data, and the NATS-Bench converter on an archive in
the official layout (bz2 pickles of plain dicts) that the test writes itself."""

import bz2
import json
import pickle
import sys
import tarfile

import numpy as np
import pytest

from jaxnas.benchmarks import nats
from jaxnas.benchmarks import nb201 as bench
from jaxnas.cli import main
from jaxnas.spaces import nb201 as space

N = space.NUM_ARCHS


def _acc(i: int, salt: int) -> float:
    return float((i * 37 + salt * 11) % 1000) / 10.0  # distinct, deterministic, in [0, 100)


def _run(d, s, split, acc):
    return {"name": d, "seed": f"{s:04d}", "eval_acc1es": {f"{split}@{e}": acc + e for e in (-3, 0)}}


def _results(i: int, hp: str) -> dict:
    last = int(hp) - 1
    out = {}
    for s_i, seed in enumerate((777, 888, 999)):
        if i % 2 and seed == 999:
            continue  # odd architectures have two seeds, like 7,456 real ones
        base = _acc(i, s_i) + (0 if hp == "200" else -20)
        acc = {}
        for d, splits in (("cifar10-valid", ("x-valid", "ori-test")), ("cifar10", ("ori-test",)),
                          ("cifar100", ("ori-test", "x-valid", "x-test")),
                          ("ImageNet16-120", ("ori-test", "x-valid", "x-test"))):
            r = {"name": d, "seed": f"{seed:04d}", "eval_acc1es": {}}
            for k, sp in enumerate(splits):
                r["eval_acc1es"][f"{sp}@{last}"] = base + k + len(d) / 10
                r["eval_acc1es"][f"{sp}@0"] = 1.0
            acc[(d, seed)] = r
        out.update(acc)
    return out


def _write_archive(folder, n=N):
    folder.mkdir()
    archs = [space.to_string(space.from_code(c)) for c in np.random.default_rng(0).permutation(N)]
    meta = {"meta_archs": archs, "total_archs": N, "arch2infos": {}, "evaluated_indexes": set()}
    (folder / "meta.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps(meta), 1))
    for i in range(n):
        rec = {hp: {"arch_index": i, "arch_str": archs[i], "all_results": _results(i, hp),
                    "dataset_seed": {}, "clear_net_done": True} for hp in ("12", "200")}
        (folder / f"{i:06d}.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps(rec), 1))
    return archs


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("nats")
    archs = _write_archive(root / "NATS-tss-v1_0-3ffb9-simple")
    return root / "NATS-tss-v1_0-3ffb9-simple", archs


def test_read_tss_follows_the_api_definitions(archive):
    folder, archs = archive
    raw = nats.read_tss(folder)
    i = 5  # odd: two seeds
    r = _results(i, "200")
    expect_c10_valid = np.mean([r[("cifar10-valid", s)]["eval_acc1es"]["x-valid@199"] for s in (777, 888)])
    assert raw["cifar10_valid_200"][i] == pytest.approx(expect_c10_valid, abs=1e-4)
    expect = np.mean([r[("cifar100", s)]["eval_acc1es"]["x-test@199"] for s in (777, 888)])
    assert raw["cifar100_test_200"][i] == pytest.approx(expect, abs=1e-4)
    r12 = _results(i, "12")
    expect12 = np.mean([r12[("ImageNet16-120", s)]["eval_acc1es"]["x-valid@11"] for s in (777, 888)])
    assert raw["imagenet16_valid_12"][i] == pytest.approx(expect12, abs=1e-4)
    seeds = raw["seeds_cifar100_valtest"][i]
    assert np.isnan(seeds[2]) and seeds[0] == pytest.approx(r[("cifar100", 777)]["eval_acc1es"]["ori-test@199"])
    assert np.array_equal(raw["arch"][i], space.from_string(archs[i]))


def test_convert_then_load_through_the_cli(archive, tmp_path, capsys):
    folder, archs = archive
    data = tmp_path / "data"
    assert main(["data", "convert", "nb201", str(folder), "--data-dir", str(data)]) == 0
    assert (data / "nb201_jaxnas.npz").is_file()
    b = bench.load("cifar10", data)
    i = 8  # even: three seeds
    code = int(space.to_code(space.from_string(archs[i])))
    assert int(b.index[code]) == i
    r = _results(i, "200")
    assert float(b.test[code]) == pytest.approx(
        np.mean([r[("cifar10", s)]["eval_acc1es"]["ori-test@199"] for s in (777, 888, 999)]), abs=1e-4)
    assert int(b.num_seeds[code]) == 3
    capsys.readouterr()
    assert main(["data", "info", "--data-dir", str(data), "--json"]) == 0
    info = {r["benchmark"]: r for r in json.loads(capsys.readouterr().out)["benchmarks"]}
    assert info["nb201"]["found"] and info["nb201"]["files"]["nb201_jaxnas.npz"].endswith("nb201_jaxnas.npz")
    assert not info["nb301"]["found"]


def test_tar_archive_and_a_corrupt_member(archive, tmp_path):
    folder, _ = archive
    tar = tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar"
    with tarfile.open(tar, "w") as t:
        t.add(folder / "meta.pickle.pbz2", arcname="NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2")
        t.add(folder / "000000.pickle.pbz2", arcname="NATS-tss-v1_0-3ffb9-simple/000000.pickle.pbz2")
    with pytest.raises(ValueError, match="missing or unreadable 000001.pickle.pbz2"):
        nats.read_tss(tar)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.pickle.pbz2").write_bytes(b"not bz2")
    with pytest.raises(ValueError, match="corrupt meta.pickle.pbz2"):
        nats.read_tss(bad)


def test_info_on_a_machine_without_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "info", "--data-dir", str(empty)]) == 0
    out = capsys.readouterr().out
    assert "[missing] nb201" in out and "NATS-tss-v1_0-3ffb9-simple.tar" in out
    assert "jaxnas data convert nb201 NATS-tss-v1_0-3ffb9-simple.tar" in out
    assert "https://github.com/D-X-Y/NATS-Bench" in out
    assert "sha256:e7168d49" in out  # the nb301 model's checksum is given


def test_convert_errors_are_one_line(tmp_path, capsys, monkeypatch):
    assert main(["data", "convert", "nb201", str(tmp_path / "nope.tar")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err
    pth = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    pth.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "nas_201_api", None)  # the API not installed
    assert main(["data", "convert", "nb201", str(pth), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "jaxnas[nb201]" in err


def test_corrupt_seeds_file_is_one_line(tmp_path, capsys, data_dir):
    d = tmp_path / "data"
    (d / "nb201").mkdir(parents=True)
    (d / "nb201" / "accuracies.csv").symlink_to(data_dir / "nb201" / "accuracies.csv")
    (d / "nb201" / "seeds.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    assert main(["landscape", "--data-dir", str(d)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(err) == 1 and "corrupt" in err[0] and "jaxnas data convert nb201" in err[0]


def test_module_entry_point_help_and_errors():
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "jaxnas.benchmarks.nb201", "--help"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "convert PATH" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "jaxnas.benchmarks.nb201", "convert",
                          "/nonexistent.pth"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "does not exist" in bad.stderr and "Traceback" not in bad.stderr


# --- the official .pth through the nas-bench-201 API ----------------------------------------
def _require_api():
    """The API and torch: skipped without them, except under CI=true (.ci/run installs both)."""
    import os

    try:
        import nas_201_api  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true needs nas-bench-201 and torch to test the .pth converter ({e})")
        pytest.skip(f"nas-bench-201 / torch not installed ({e})")


def _official_dict(archs):
    """A NAS-Bench-201 v1.1 file's content for ``archs``, built with the official API's classes
    (ArchResults / ResultsCount state dicts, as NASBench201API reads them)."""
    from nas_201_api.api_utils import ArchResults, ResultsCount

    splits = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
              "cifar100": ("ori-test", "x-valid", "x-test"),
              "ImageNet16-120": ("ori-test", "x-valid", "x-test")}
    infos = {}
    for i, arch in enumerate(archs):
        per_hp = {}
        for hp, epochs in (("less", 12), ("full", 200)):
            res = ArchResults(i, arch)
            for d, names in splits.items():
                for s_i, seed in enumerate((777, 888) if i % 2 else (777, 888, 999)):
                    rc = ResultsCount(d, None, {epochs - 1: 50.0}, {epochs - 1: 1.0}, 1.0, 10.0,
                                      {"arch_str": arch}, seed, epochs, [0.01])
                    for k, name in enumerate(names):
                        acc = _acc(i, s_i) + k + len(d) / 10 - (20 if epochs == 12 else 0)
                        rc.eval_names.append(name)
                        rc.eval_acc1es[f"{name}@{epochs - 1}"] = acc
                        rc.eval_losses[f"{name}@{epochs - 1}"] = 0.5
                    res.update(d, seed, rc)
            per_hp[hp] = res.state_dict()
        infos[i] = per_hp
    return {"meta_archs": list(archs), "arch2infos": infos, "evaluated_indexes": set(infos)}


def test_convert_official_pth_through_the_api(tmp_path, capsys):
    _require_api()
    import torch

    archs = [space.to_string(space.from_code(c)) for c in (0, 11393, 15624)]
    pth = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(_official_dict(archs), pth)
    out = tmp_path / "data"
    assert main(["data", "convert", "nb201", str(pth), "--data-dir", str(out)]) == 0
    with np.load(out / "nb201_jaxnas.npz") as z:
        got = {k: z[k] for k in z.files}
    assert np.array_equal(got["arch"], np.stack([space.from_string(a) for a in archs]))
    for i in range(3):
        seeds = (0, 1) if i % 2 else (0, 1, 2)

        def mean(k, d, hp=0, i=i, seeds=seeds):
            return np.mean([_acc(i, s) + k + len(d) / 10 - hp for s in seeds])

        assert got["cifar10_valid_200"][i] == pytest.approx(mean(0, "cifar10-valid"))
        assert got["cifar10_test_200"][i] == pytest.approx(mean(0, "cifar10"))
        assert got["cifar100_valid_200"][i] == pytest.approx(mean(1, "cifar100"))
        assert got["cifar100_test_200"][i] == pytest.approx(mean(2, "cifar100"))
        assert got["imagenet16_valid_12"][i] == pytest.approx(mean(1, "ImageNet16-120", 20))
        want = [_acc(i, s) + 0 + len("cifar100") / 10 for s in seeds]
        assert got["seeds_cifar100_valtest"][i][:len(seeds)] == pytest.approx(want)
        assert np.isnan(got["seeds_cifar100_valtest"][i][len(seeds):]).all()
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a torch file")
    capsys.readouterr()
    assert main(["data", "convert", "nb201", str(bad), "--data-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "download it again" in err
