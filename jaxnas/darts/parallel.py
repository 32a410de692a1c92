"""Data parallelism for the DARTS step: one ``Mesh`` over all devices, the train state
replicated, batches sharded along their leading axis, one ``jax.jit`` (no ``pmap``).

Under ``jit`` a sharded batch is still one global batch, so BatchNorm statistics and the mean
loss are over the whole batch and the step computes the same function on 1 or 8 devices (up to
the order of floating-point reductions). Multi-host: :func:`maybe_initialize_distributed` calls
``jax.distributed.initialize()`` when the environment describes several processes; the mesh then
spans every process's devices.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxnas.models.layers import compiler_options

DATA_AXIS = "data"


def maybe_initialize_distributed() -> bool:
    """Initialises ``jax.distributed`` when the environment says multi-process.

    Triggers on ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` > 1 (the address is read
    by ``jax.distributed.initialize`` itself; ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` are
    passed to it here, as JAX does not read them), ``SLURM_NTASKS`` > 1 or
    ``OMPI_COMM_WORLD_SIZE`` > 1 (auto-detected by JAX). Returns whether it initialised.
    """
    def many(name):
        try:
            return int(os.environ.get(name, "1")) > 1
        except ValueError:
            return False

    if not (os.environ.get("JAX_COORDINATOR_ADDRESS") or many("JAX_NUM_PROCESSES")
            or many("SLURM_NTASKS") or many("OMPI_COMM_WORLD_SIZE")):
        return False
    if jax.distributed.is_initialized():
        return True
    kwargs = {}
    for env, arg in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        if os.environ.get(env, "").strip().isdigit():
            kwargs[arg] = int(os.environ[env])
    jax.distributed.initialize(**kwargs)
    return True


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``'data'`` over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    n = mesh.devices.size
    if batch_size % n:
        raise ValueError(f"batch size {batch_size} is not divisible by the {n} devices; "
                         f"use a multiple of {n}")


def jit_step(train_step: Callable, mesh: Mesh, donate: bool = True) -> Callable:
    """``jax.jit`` of ``train_step(state, w_batch, a_batch)`` with the state replicated and the
    batches sharded over ``mesh``; the state argument is donated; supernet compiler options
    (:func:`jaxnas.models.layers.compiler_options`)."""
    rep, bat = replicated(mesh), batch_sharded(mesh)
    return jax.jit(train_step, in_shardings=(rep, (bat, bat), (bat, bat)),
                   out_shardings=(rep, rep), donate_argnums=(0,) if donate else (),
                   compiler_options=compiler_options())


def replicate(tree, mesh: Mesh):
    """Places every leaf of ``tree`` replicated on ``mesh``."""
    return jax.device_put(tree, replicated(mesh))


__all__ = ["DATA_AXIS", "batch_sharded", "check_batch_size", "jit_step", "make_mesh",
           "maybe_initialize_distributed", "replicate", "replicated"]
