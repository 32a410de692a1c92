"""DARTS on the NAS-Bench-201 supernet (Liu, Simonyan & Yang, ICLR 2019; Dong & Yang, ICLR 2020).

Alternating first-order (or unrolled second-order) updates of alpha (Adam) on one half of the
train set and of the supernet weights (SGD, cosine lr) on the other; a fixed-alpha mode (DARTS-PT)
and the NA-DARTS neighbourhood objective; data parallel over a device mesh; orbax
checkpoint/resume. Work directory contract and entry points: :mod:`jaxnas.darts.run`.

    from jaxnas import darts
    result = darts.train(darts.make_config(epochs=50), "runs/darts")   # or `jaxnas darts ...`
    config, state = darts.load_run("runs/darts")                         # newest checkpoint
    net, (w_half, a_half) = darts.build(config)                          # same net and data
"""

from jaxnas.checkpoint import restore_latest, tree_sha256
from jaxnas.darts.config import DEFAULTS, config_differences, make_config, mode_of
from jaxnas.darts.magnitude import alpha_entropy, benchmark_of, magnitude_select
from jaxnas.darts.optim import alpha_optimizer, weight_lr_schedule, weight_optimizer
from jaxnas.darts.parallel import jit_step, make_mesh, maybe_initialize_distributed
from jaxnas.darts.run import build, load_run, params_sha256, train
from jaxnas.darts.state import TrainState, init_state
from jaxnas.darts.step import MODES, OBJECTIVES, make_loss, make_train_step

__all__ = ["DEFAULTS", "MODES", "OBJECTIVES", "TrainState", "alpha_entropy", "alpha_optimizer",
           "benchmark_of", "build", "config_differences", "init_state", "jit_step", "load_run",
           "make_config", "make_loss", "make_mesh", "make_train_step", "magnitude_select",
           "maybe_initialize_distributed", "mode_of", "params_sha256", "restore_latest", "train",
           "tree_sha256", "weight_lr_schedule", "weight_optimizer"]
