"""MetricWriter: TensorBoard events through the declared tensorboardX, and a warning without it."""

import json
import sys

import pytest

from jaxnas.darts.writer import MetricWriter


def test_writes_jsonl_and_event_file(tmp_path):
    w = MetricWriter(tmp_path)
    assert w.tb is not None, "tensorboardX is a declared dependency and must be importable"
    w.write({"step": 3, "loss": 1.5, "benchmark": {"cifar10_test_200": 90.0}})
    w.close()
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["loss"] == 1.5
    events = [p for p in (tmp_path / "tensorboard").iterdir() if p.name.startswith("events")]
    assert events and events[0].stat().st_size > 0


def test_warns_when_tensorboardx_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # makes the import fail
    with pytest.warns(RuntimeWarning, match="no TensorBoard events"):
        w = MetricWriter(tmp_path)
    assert w.tb is None
    w.write({"step": 1, "loss": 2.0})
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["step"] == 1
    assert not (tmp_path / "tensorboard").exists()
