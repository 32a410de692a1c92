"""Per-epoch metrics: ``metrics.jsonl`` (one JSON object per epoch) and TensorBoard events."""

from __future__ import annotations

import json
import math
from pathlib import Path

from jaxnas.jsonio import json_safe


class MetricWriter:
    """Appends epoch records to ``<workdir>/metrics.jsonl`` and scalars to TensorBoard event files
    in ``<workdir>/tensorboard`` (tensorboardX if installed, else ``flax.metrics.tensorboard``,
    else none). Only process 0 writes.

    Args:
        workdir: the run directory.
        resume_step: on resume, records with ``step`` beyond it (written after the checkpoint
            that is being resumed) are dropped, so the file has one record per epoch.
        enabled: ``False`` on processes other than 0.
    """

    def __init__(self, workdir: str | Path, resume_step: int = 0, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(workdir) / "metrics.jsonl"
        self.tb = None
        if not enabled:
            return
        if self.path.exists():
            keep = [ln for ln in self.path.read_text().splitlines()
                    if ln.strip() and json.loads(ln).get("step", 0) <= resume_step]
            self.path.write_text("".join(ln + "\n" for ln in keep))
        tb_dir = str(Path(workdir) / "tensorboard")
        try:
            from tensorboardX import SummaryWriter
            self.tb = SummaryWriter(tb_dir)
        except ImportError:
            try:
                from flax.metrics.tensorboard import SummaryWriter
                self.tb = SummaryWriter(tb_dir)
            except ImportError:
                self.tb = None

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(json_safe(record)) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    name = k if "/" in k else f"search/{k}"
                    if hasattr(self.tb, "add_scalar"):
                        self.tb.add_scalar(name, v, record["step"])
                    else:
                        self.tb.scalar(name, v, record["step"])
            bench = record.get("benchmark") or {}
            for k, v in bench.items():
                if k.endswith("_200") and isinstance(v, float):
                    if hasattr(self.tb, "add_scalar"):
                        self.tb.add_scalar(f"benchmark/{k}", v, record["step"])
                    else:
                        self.tb.scalar(f"benchmark/{k}", v, record["step"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


__all__ = ["MetricWriter"]
