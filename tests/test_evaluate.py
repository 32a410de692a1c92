"""``jaxnas evaluate``: one architecture's benchmark values, and one-line errors."""

from __future__ import annotations

import json
import re

import pytest

from jaxnas.cli import main

ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
        "nor_conv_3x3~2|")


def test_evaluate_nb201_gives_the_table_row(data_dir, capsys):
    from jaxnas.benchmarks import nb201

    assert main(["evaluate", "--space", "nb201", "--arch", ARCH, "--dataset", "cifar10",
                 "--data-dir", str(data_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    t = nb201.load("cifar10", data_dir)
    code = int(nb201.space.to_code(nb201.space.from_string(ARCH)))
    assert out["dataset"] == "cifar10" and out["arch"] == ARCH
    assert out["valid_accuracy"] == pytest.approx(float(t.valid[code]))
    assert out["test_accuracy"] == pytest.approx(float(t.test[code]))
    assert out["record"]["index"] == int(t.index[code])


@pytest.mark.parametrize(("argv", "match"), [
    (["--space", "nb201", "--arch", "|nor_conv_3x3~0|+|bad|"], "malformed NB201 string"),
    (["--space", "darts", "--arch", "Genotype(normal=[('sep_conv_3x3', 0)"],
     "malformed genotype"),
    (["--space", "darts", "--arch",
      "Genotype(normal=[('sep_conv_9x9', 0)]*8, reduce=[])"], "'sep_conv_9x9'"),
    (["--space", "nb201", "--arch", ARCH, "--epoch", "3"], "--epoch does not apply"),
])
def test_evaluate_errors_are_one_line(argv, match, data_dir, capsys):
    assert main(["evaluate", *argv, "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert re.search(match, err), err
