"""``jaxnas theory`` end to end (in-process): synthetic form on small graphs, benchmark form on
the shared data, and argument errors."""

import json

import pytest

from jaxnas.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


KEYS = ("n", "s", "eps", "predicted_local_minima", "measured_local_minima",
        "predicted_frac_within_eps", "measured_frac_within_eps", "run_seconds")


def test_synthetic_iid_json(capsys):
    r = _json(capsys, ["theory", "--synthetic", "iid", "--n", "300", "--s", "4", "--seeds", "8",
                       "--eps", "1.0", "--json"])
    for k in (*KEYS, "measured_local_minima_ci", "measured_frac_within_eps_ci"):
        assert k in r
    assert (r["n"], r["s"], r["eps"]) == (300, 4, 1.0)
    assert r["predicted_local_minima"] == pytest.approx(60.0, rel=5e-3)  # n / (s + 1)
    lo, hi = r["measured_local_minima_ci"]
    assert lo <= 60.0 <= hi  # n / (s + 1) inside the simulation's confidence interval
    assert 0 < r["predicted_frac_within_eps"] < 1


def test_synthetic_markov_table(capsys):
    assert main(["theory", "--synthetic", "markov", "--n", "300", "--s", "4", "--rho", "0.3",
                 "--seeds", "4"]) == 0
    out = capsys.readouterr().out
    assert "# local minima" in out and "95% CI" in out and "s=4" in out


@pytest.mark.parametrize("argv,msg", [
    (["--synthetic", "foo", "--n", "100", "--s", "4"], "unknown --synthetic model"),
    (["--synthetic", "markov", "--n", "100", "--s", "24", "--rho", "0.5"], "1/sqrt"),
    (["--synthetic", "markov", "--n", "100", "--s", "4"], "needs --rho"),
    (["--synthetic", "iid", "--n", "101", "--s", "3"], "odd number"),
    (["--synthetic", "iid", "--rho", "0.2"], "markov model only"),
    (["--synthetic", "iid", "--seeds", "0"], "--seeds"),
    (["--synthetic", "iid", "--dataset", "cifar10"], "cannot be combined"),
    (["--eps", "-1"], "--eps"),
    (["--rho", "0.3"], "--rho applies only with --synthetic"),
    (["--noise", "loud"], "unknown noise model"),
])
def test_bad_args(capsys, argv, msg):
    assert main(["theory", *argv]) == 2
    assert msg in capsys.readouterr().err


def test_benchmark_json_and_plot(capsys, data_dir, tmp_path):
    png = tmp_path / "nbhd.png"
    r = _json(capsys, ["theory", "--dataset", "cifar10", "--noise", "random", "--eps", "1",
                       "--json", "--plot", str(png), "--data-dir", str(data_dir)])
    for k in (*KEYS, "dataset", "noise", "neighbour_rho"):
        assert k in r
    assert (r["n"], r["s"], r["measured_local_minima"]) == (15625, 24, 644)
    assert r["predicted_local_minima"] == pytest.approx(625, rel=0.03)
    assert png.stat().st_size > 10_000
