"""The jaxnas CLI end to end (in-process), on the shared data."""

import json

import pytest

from jaxnas.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_landscape_json(capsys, data_dir):
    r = _json(capsys, ["landscape", "--dataset", "cifar10", "--noise", "denoised", "--json",
                       "--data-dir", str(data_dir)])
    for k in ("dataset", "noise", "num_archs", "num_local_minima", "mean_iterations",
              "frac_reach_global", "run_seconds", "compile_seconds"):
        assert k in r
    assert r["num_archs"] == 15625 and r["num_local_minima"] == 18
    assert 0 < r["run_seconds"] < 1


def test_landscape_table(capsys, data_dir):
    assert main(["landscape", "--noise", "denoised,random", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "# local min." in out and "denoised" in out and "random" in out


def test_search_json_and_plot(capsys, data_dir, tmp_path):
    png = tmp_path / "s.png"
    r = _json(capsys, ["search", "--algo", "local_search,random_search", "--trials", "50",
                       "--budget", "40", "--json", "--plot", str(png), "--data-dir", str(data_dir)])
    assert [x["algo"] for x in r] == ["local_search", "random_search"]
    for x in r:
        for k in ("algo", "trials", "budget", "final_test_mean", "final_test_std", "run_seconds",
                  "compile_seconds"):
            assert k in x
        assert x["trials"] == 50 and x["budget"] == 40
        assert 85 < x["final_test_mean"] < 94.4
        assert x["checkpoints"]["40"][0] == pytest.approx(x["final_test_mean"], abs=1e-3)
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_search_table(capsys, data_dir):
    assert main(["search", "--algo", "evolution", "--trials", "20", "--budget", "30",
                 "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "evolution" in out and "queries" in out


@pytest.mark.parametrize("argv, msg", [
    (["landscape", "--dataset", "mnist"], "unknown NAS-Bench-201 dataset 'mnist'"),
    (["landscape", "--noise", "loud"], "unknown noise model 'loud'"),
    (["search", "--algo", "hill"], "unknown search algorithm 'hill'"),
    (["search", "--budget", "0"], "trials and budget must be >= 1"),
    (["landscape", "--data-dir", "/nonexistent"], "could not find 'nb201/accuracies.csv'"),
])
def test_errors_exit_2_with_message(capsys, argv, msg):
    assert main(argv) == 2
    assert msg in capsys.readouterr().err
