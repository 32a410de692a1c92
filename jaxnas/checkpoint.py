"""Orbax checkpoints of a DARTS run, with a fallback past corrupt or partial steps.

A checkpoint step holds two items: ``state`` (the :class:`~jaxnas.darts.state.TrainState`:
weights, BatchNorm statistics, alpha, both optimizer states, step, PRNG key) and ``extra`` (JSON:
data-iterator positions, the running epoch sums of the metrics, and ``state_sha256``, a digest of
the saved state). Orbax writes a step to a temporary directory and renames it when complete, so a
process killed while saving leaves no visible step. A step whose files fail to restore, or whose
restored state does not match its digest, is moved to ``<workdir>/corrupt_checkpoints/`` with a
warning, and the previous step is tried.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


def tree_sha256(tree: Any) -> str:
    """sha256 over ``(keystr(path), dtype, shape, bytes)`` of every leaf in ``jax.tree`` order
    (dict keys sorted), so equal trees give equal digests on any machine."""
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        a = np.asarray(jax.device_get(leaf))
        h.update(jax.tree_util.keystr(path).encode())
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def make_manager(directory: str | Path, keep: int = 3) -> ocp.CheckpointManager:
    """A synchronous :class:`orbax.checkpoint.CheckpointManager` keeping the last ``keep`` steps."""
    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                        enable_async_checkpointing=False)
    return ocp.CheckpointManager(Path(directory).absolute(), options=opts,
                                 item_names=("state", "extra"))


def save(mgr: ocp.CheckpointManager, step: int, state: Any, extra: dict) -> None:
    """Saves ``state`` and ``extra`` (JSON-able) as step ``step``, with the state's digest."""
    extra = dict(extra, state_sha256=tree_sha256(state))
    mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                           extra=ocp.args.JsonSave(extra)), force=True)
    mgr.wait_until_finished()


def abstract_like(tree: Any, sharding) -> Any:
    """``ShapeDtypeStruct`` leaves with ``sharding``, the restore target of ``tree``."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def restore_latest(mgr: ocp.CheckpointManager, abstract_state: Any,
                   quarantine: str | Path | None = None) -> tuple[Any, dict] | None:
    """The newest step that restores and matches its digest, as ``(state, extra)``.

    Args:
        mgr: the manager.
        abstract_state: restore target (:func:`abstract_like`).
        quarantine: where unreadable steps are moved (default: not moved, only skipped).

    Returns:
        ``(state, extra)``, or ``None`` when no step restores.
    """
    for step in sorted(mgr.all_steps(), reverse=True):
        try:
            r = mgr.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), extra=ocp.args.JsonRestore()))
            state, extra = r["state"], dict(r["extra"])
            digest = tree_sha256(state)
            if digest != extra.get("state_sha256"):
                raise ValueError(f"restored state digest {digest[:12]} differs from the saved "
                                 f"{str(extra.get('state_sha256'))[:12]}")
            return state, extra
        except Exception as e:  # noqa: BLE001 -- any failure means: try the previous step
            warnings.warn(f"checkpoint step {step} in {mgr.directory} is corrupt or partial "
                          f"({type(e).__name__}: {str(e)[:200]}); falling back to the previous "
                          "step", stacklevel=2)
            if quarantine is not None and jax.process_index() == 0:
                dst = Path(quarantine) / f"{step}-{int(time.time())}"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(Path(mgr.directory) / str(step)), str(dst))
    return None


__all__ = ["abstract_like", "make_manager", "restore_latest", "save", "tree_sha256"]
