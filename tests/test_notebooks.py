"""The Colab notebooks run top to bottom (on a CPU, with small sizes set through environment
variables), executed with nbclient as the check that they stay in step with the library. The
DARTS notebook (about a minute: a search and two selections in a fresh kernel) is marked ``slow``
and runs with ``-m slow``; CI runs the local-search one."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO, SHARED_DATA, require_data

NOTEBOOKS = REPO / "colab"


def _execute(name: str, tmp_path, monkeypatch, env: dict[str, str]) -> nbformat.NotebookNode:
    monkeypatch.setenv("JAXNAS_NB_DRIVE", "0")
    monkeypatch.setenv("JAXNAS_NB_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("JAXNAS_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _text(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")


def test_notebooks_are_valid_with_ids_and_python_metadata():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.language_info.name == "python", path
        ids = [c.id for c in nb.cells]
        assert all(ids) and len(set(ids)) == len(ids), path
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
            f"{path}: commit notebooks without outputs"


def test_local_search_notebook_runs(tmp_path, monkeypatch):
    require_data("nb201/accuracies.csv")
    nb = _execute("01_local_search.ipynb", tmp_path, monkeypatch,
                  {"JAXNAS_NB_TRIALS": "16", "JAXNAS_NB_BUDGET": "24"})
    out = _text(nb)
    assert "devices:" in out and "NAS-Bench-201 tables: ok" in out
    assert out.count("local minima") == 9  # 3 datasets x 3 noise models
    assert "cifar10         denoised  iterations 5.44  local minima   18" in out  # RESULTS.md
    assert (tmp_path / "out" / "search.png").stat().st_size > 0


@pytest.mark.slow  # kept out of CI for time; run with -m slow
def test_darts_notebook_runs(tmp_path, monkeypatch):
    require_data("nb201/accuracies.csv")
    require_data("cifar10/train_jpeg.npz")
    nb = _execute("02_darts_selection.ipynb", tmp_path, monkeypatch, {
        "JAXNAS_NB_IMAGE_DIR": str(SHARED_DATA / "cifar10"),
        "JAXNAS_NB_CHANNELS": "4", "JAXNAS_NB_CELLS": "1", "JAXNAS_NB_EPOCHS": "1",
        "JAXNAS_NB_BATCH_SIZE": "8", "JAXNAS_NB_MAX_EXAMPLES": "160",
        "JAXNAS_NB_STEPS_PER_EPOCH": "2", "JAXNAS_NB_TUNE_EPOCHS": "1",
        "JAXNAS_NB_TUNE_STEPS": "1", "JAXNAS_NB_VALID_BATCHES": "1"})
    out = _text(nb)
    assert "NAS-Bench-201 tables: found" in out
    assert "images/s" in out
    assert "magnitude" in out and "perturbation" in out and "cifar10 test:" in out
    assert (tmp_path / "out" / "darts" / "result.json").is_file()
    assert os.path.isdir(tmp_path / "out" / "darts" / "select_perturbation")
