"""``jaxnas landscape --space``: the space choice, and the JSON fields documented in README."""

import json

import pytest

from jaxnas.cli import main

FIELDS = ["dataset", "noise", "seed", "num_archs", "num_local_minima", "mean_iterations",
          "frac_reach_global", "global_arch", "global_valid", "largest_basins", "run_seconds",
          "compile_seconds"]


def test_space_nb201_json_fields(capsys, data_dir):
    assert main(["landscape", "--space", "nb201", "--dataset", "cifar100", "--noise", "denoised",
                 "--json", "--data-dir", str(data_dir)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert list(r) == FIELDS
    assert (r["dataset"], r["num_archs"], r["num_local_minima"]) == ("cifar100", 15625, 27)
    assert r["global_arch"].startswith("|") and len(r["largest_basins"]) == 10


def test_unknown_space_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        main(["landscape", "--space", "tiny3x3"])
    assert e.value.code == 2
    assert "invalid choice: 'tiny3x3'" in capsys.readouterr().err
