"""Shared fixtures. Real data lives in ../shared/data; tests that need it skip when it is
absent, except under CI=true where its absence is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("JAXNAS_DATA_DIR", REPO / ".." / "shared" / "data")).resolve()


def require_data(relative: str) -> Path:
    """Path of a shared data file; skips (or fails under CI=true) when it is absent."""
    p = SHARED_DATA / relative
    if not p.is_file():
        msg = f"shared data file {p} is absent"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true requires it)")
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def data_dir() -> Path:
    require_data("nb201/accuracies.csv")
    return SHARED_DATA


def linked_data(tmp_path: Path, *folders: str) -> Path:
    """A data folder under ``tmp_path`` whose ``folders`` link to the shared ones, for commands
    that write a cache beside the files they read (``nb301`` writes ``nb301_jaxnas.npz`` into its
    data folder): the shared folder stays as it is. Skips (fails under CI) like
    :func:`require_data` when a folder is absent."""
    for f in folders:
        if not (SHARED_DATA / f).is_dir():
            require_data(f)  # absent: skip or fail with the usual message
        link = tmp_path / f
        if not link.exists():
            link.symlink_to(SHARED_DATA / f, target_is_directory=True)
    return tmp_path


def kill_at_first_checkpoint(cmd: list[str], env: dict, workdir: Path,
                             timeout: float = 600) -> None:
    """Starts ``cmd`` (a training command writing ``workdir``), SIGKILLs it as soon as its first
    numbered checkpoint appears, and checks that it was killed mid-run (no ``result.json``)."""
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = workdir / "checkpoints"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if ck.is_dir() and any(p.name.isdigit() for p in ck.iterdir()):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (workdir / "result.json").exists()


def corrupt_newest_checkpoint(src: Path, dst: Path, step: int) -> None:
    """Copies the finished run ``src`` to ``dst``, removes its result and overwrites every file
    of checkpoint ``step`` (the newest) with random bytes."""
    import shutil

    shutil.copytree(src, dst)
    (dst / "result.json").unlink()
    files = [p for p in (dst / "checkpoints" / str(step) / "state").rglob("*") if p.is_file()]
    assert files
    for p in files:
        p.write_bytes(os.urandom(max(p.stat().st_size, 16)))


def random_variables(shapes, seed: int) -> dict:
    """Variables of the given shapes filled from NumPy: scaled normal kernels, non-trivial
    BatchNorm affine parameters and running statistics (so that eval mode really tests them)."""
    import math

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxnas.models.layers import kernel_fan_in

    rng = np.random.default_rng(seed)

    def fill(path, s):
        name = path[-1].key
        if name == "kernel":
            return jnp.asarray(rng.normal(size=s.shape) / math.sqrt(kernel_fan_in(s.shape)),
                               jnp.float32)
        if name == "var":
            return jnp.asarray(rng.uniform(0.5, 1.5, s.shape), jnp.float32)
        if name == "scale":
            return jnp.asarray(rng.uniform(0.8, 1.2, s.shape), jnp.float32)
        return jnp.asarray(rng.uniform(-0.5, 0.5, s.shape), jnp.float32)  # mean, bias

    return dict(jax.tree_util.tree_map_with_path(fill, shapes))
