"""One dataset registry and one rule for every command."""

import pytest

from jaxnas import datasets
from jaxnas.benchmarks import nb201
from jaxnas.cli import main
from jaxnas.darts import DartsConfig


@pytest.mark.parametrize("name,want", [("cifar10", "cifar10"), ("CIFAR100", "cifar100"),
                                       ("ImageNet16-120", "imagenet16-120"),
                                       ("imagenet16", "imagenet16-120"),
                                       ("imagenet16_120", "imagenet16-120"),
                                       ("cifar10-valid", "cifar10")])
def test_aliases_mean_the_same_everywhere(name, want):
    assert datasets.canonical(name) == want
    assert nb201.canonical_dataset(name) == want
    assert DartsConfig(dataset=name).dataset == want


@pytest.mark.parametrize("name,match", [("imagenet", "ambiguous"), ("mnist", "unknown dataset")])
def test_bad_names_are_refused_alike(name, match):
    for f in (datasets.canonical, nb201.canonical_dataset, lambda d: DartsConfig(dataset=d)):
        with pytest.raises(ValueError, match=match) as e:
            f(name)
        assert "\n" not in str(e.value) and repr(name) in str(e.value)


def test_svhn_is_a_dataset_but_not_an_nb201_table():
    """SVHN (RobustDARTS's S1-S4 experiments) trains; NAS-Bench-201 has no SVHN table."""
    assert datasets.canonical("SVHN") == "svhn" and DartsConfig(dataset="svhn").dataset == "svhn"
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        nb201.canonical_dataset("svhn")


@pytest.mark.parametrize("cmd", [["search", "--algo", "random_search", "--trials", "2",
                                  "--budget", "5"], ["landscape"], ["darts", "--workdir", "x"]])
def test_cli_refuses_imagenet_with_one_line(cmd, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*cmd, "--dataset", "imagenet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ambiguous" in err and "imagenet16-120" in err
