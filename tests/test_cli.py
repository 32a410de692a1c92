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
    assert "# local min." in out
    rows = {ln.split()[1]: ln.split() for ln in out.splitlines() if ln.startswith("cifar10")}
    assert rows["denoised"][3] == "18" and rows["random"][3] == "644"  # as in the JSON tests


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
    row = next(ln.split() for ln in out.splitlines() if ln.split()[:1] == ["30"])
    assert 90 < float(row[1]) < 94.4 and row[2] == "+-"  # mean +- std after 30 queries


def test_search_na_algorithms_with_options(capsys, data_dir):
    """NA options reach the NA algorithms only; flatness is reported for every algorithm."""
    r = _json(capsys, ["search", "--algo", "na_random_search,na_local_search,random_search,"
                       "local_search", "--trials", "30", "--budget", "60", "--radius", "1",
                       "--na-samples", "6", "--aggregation", "median", "--json",
                       "--data-dir", str(data_dir)])
    assert [x["algo"] for x in r] == ["na_random_search", "na_local_search", "random_search",
                                      "local_search"]
    want = {"radius": 1, "k": 6, "aggregation": "median"}
    assert [x["options"] for x in r] == [want, want, {}, {}]
    for x in r:
        assert 80 < x["final_test_mean"] < 94.4
        # neighbours of a returned architecture are worse than it on average, and spread out
        assert 60 < x["final_neighbour_test_mean"] < x["final_test_mean"]
        assert 0.2 < x["final_neighbour_test_std_mean"] < 20
    # the options change NA-RS: the full neighbourhood scores fewer centres at 60 queries
    full = _json(capsys, ["search", "--algo", "na_random_search", "--trials", "30", "--budget",
                          "60", "--json", "--data-dir", str(data_dir)])
    assert full["options"] == {}
    assert full["mean_steps"] < r[0]["mean_steps"]


def test_search_help_lists_na_algorithms_and_options(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = capsys.readouterr().out
    for word in ("na_random_search", "na_local_search", "--radius", "--na-samples",
                 "--aggregation"):
        assert word in out


@pytest.mark.parametrize("argv, msg", [
    (["search", "--algo", "random_search", "--radius", "2"],
     "--radius applies only to neighbourhood-aware algorithms"),
    (["search", "--algo", "na_random_search", "--aggregation", "avg", "--trials", "2",
      "--budget", "30"], "unknown aggregation 'avg'"),
    (["search", "--algo", "na_random_search", "--na-samples", "30", "--trials", "2",
      "--budget", "30"], "must be in [1, 24] for radius 1"),
    (["landscape", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["search", "--algo", "random_search", "--plot", "/nonexistent/dir/x.png"],
     "folder '/nonexistent/dir' does not exist"),
    (["search", "--algo", "random_search", "--plot", "out.txt"], "use one of the extensions"),
    (["landscape", "--noise", "loud"], "unknown noise model 'loud'"),
    (["search", "--algo", "hill"], "unknown search algorithm 'hill'"),
    (["search", "--budget", "0"], "trials and budget must be >= 1"),
    (["landscape", "--data-dir", "/nonexistent"], "could not find 'nb201/accuracies.csv'"),
])
def test_errors_exit_2_with_message(capsys, argv, msg):
    assert main(argv) == 2
    assert msg in capsys.readouterr().err


@pytest.mark.parametrize("space, bench, data", [
    # the NB101 graph hash makes this compile take ~10 s: kept out of the quick suite
    pytest.param("nb101", "nb101-sample", "nb101/sample.npz", marks=pytest.mark.slow),
    ("darts", "nb301", "nb301/model_v2.onnx"),
])
def test_search_na_local_search_on_spaces_too_large_to_enumerate(capsys, tmp_path, space, bench,
                                                                 data):
    """NA local search runs through ``jaxnas search`` on nb101-sample (masked neighbourhoods:
    most sampled neighbours are outside the sample) and on NB301 (120 neighbours, hashed keys)."""
    from tests.conftest import linked_data, require_data

    require_data(data)
    folder = linked_data(tmp_path, data.split("/")[0])  # nb301 writes its cache there
    r = _json(capsys, ["search", "--space", space, "--benchmark", bench, "--algo",
                       "na_local_search", "--na-samples", "2", "--trials", "3", "--budget", "12",
                       "--json", "--data-dir", str(folder)])
    assert (r["benchmark"], r["metric"], r["options"]) == (bench, "valid", {"k": 2})
    # each step scores one architecture with at most 2 sampled neighbours: >= 4 steps for 12
    assert r["mean_steps"] >= 4
    assert 85 < r["final_valid_mean"] < 100 and r["checkpoints"]["12"][0] == pytest.approx(
        r["final_valid_mean"], abs=1e-3)
    from jaxnas import spaces

    spaces.get(space).from_string(r["most_returned_arch"])  # a valid architecture of the space
