"""Per-epoch metrics: ``metrics.jsonl`` (one JSON object per epoch) and TensorBoard events."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

from jaxnas.jsonio import json_safe


class MetricWriter:
    """Appends epoch records to ``<workdir>/metrics.jsonl`` and scalars to TensorBoard event files
    in ``<workdir>/tensorboard`` through tensorboardX (a declared dependency; it needs no
    tensorflow). If tensorboardX cannot be imported or cannot write there, a warning says so and
    only ``metrics.jsonl`` is written. Only process 0 writes.

    Args:
        workdir: the run directory.
        resume_step: on resume, records with ``step`` beyond it (written after the checkpoint
            that is being resumed) are dropped, so the file has one record per epoch.
        enabled: ``False`` on processes other than 0.
        prefix: TensorBoard tag prefix of keys without a ``/`` (``search/loss_w``).
    """

    def __init__(self, workdir: str | Path, resume_step: int = 0, enabled: bool = True,
                 prefix: str = "search"):
        self.enabled = enabled
        self.prefix = prefix
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
        except Exception as e:  # ImportError, or a writer that cannot create its folder
            self.tb = None
            warnings.warn(
                f"no TensorBoard events will be written to {tb_dir} ({type(e).__name__}: {e}); "
                f"install tensorboardX (`pip install tensorboardX`, a jaxnas dependency) to get "
                f"them. metrics.jsonl is written as usual.",
                RuntimeWarning, stacklevel=2)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(json_safe(record)) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    name = k if "/" in k else f"{self.prefix}/{k}"
                    self.tb.add_scalar(name, v, record["step"])
            for k, v in (record.get("op_weight") or {}).items():  # alpha's mean op weights
                self.tb.add_scalar(f"op_weight/{k}", float(v), record["step"])
            bench = record.get("benchmark") or {}
            for k, v in bench.items():
                if k.endswith("_200") and isinstance(v, float):
                    self.tb.add_scalar(f"benchmark/{k}", v, record["step"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


__all__ = ["MetricWriter"]
