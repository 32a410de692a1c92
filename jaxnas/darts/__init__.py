"""DARTS on a search space's supernet (Liu, Simonyan & Yang, ICLR 2019; on NAS-Bench-201: Dong &
Yang, ICLR 2020).

Alternating first-order (or unrolled second-order) updates of alpha (Adam) on one half of the
train set and of the supernet weights (SGD, cosine lr) on the other; a fixed-alpha mode (DARTS-PT)
and the NA-DARTS neighbourhood objective; data parallel over a device mesh; orbax
checkpoint/resume. The supernet, alpha's layout and the magnitude rule come from the space
(``config.space``). Work directory contract and entry points: :mod:`jaxnas.darts.run`.

    from jaxnas import darts, spaces
    config = darts.DartsConfig(epochs=100)
    result = darts.train(config, "runs/darts",                           # or `jaxnas darts ...`
                         report=darts.benchmark_report(spaces.get(config.space)))
    config, state = darts.load_run("runs/darts")                         # newest checkpoint
    net, (w_half, a_half) = darts.build(config)                          # same net and data
"""

from jaxnas.checkpoint import restore_latest, tree_sha256
from jaxnas.darts.config import DartsConfig, config_differences, make_config, read_config
from jaxnas.darts.optim import alpha_optimizer, weight_lr_schedule, weight_optimizer
from jaxnas.darts.parallel import jit_step, make_mesh, maybe_initialize_distributed
from jaxnas.darts.report import alpha_entropy, benchmark_of, benchmark_report
from jaxnas.darts.run import build, finish, load_run, params_sha256, run_loop, setup, train
from jaxnas.darts.state import TrainState, init_state
from jaxnas.darts.step import MODES, OBJECTIVES, make_loss, make_train_step, op_weights

__all__ = ["DartsConfig", "MODES", "OBJECTIVES", "TrainState", "alpha_entropy",
           "alpha_optimizer", "benchmark_of", "benchmark_report", "build", "config_differences",
           "finish", "init_state", "jit_step", "load_run", "make_config", "make_loss",
           "make_mesh", "make_train_step", "maybe_initialize_distributed", "op_weights",
           "params_sha256", "read_config", "restore_latest", "run_loop", "setup", "train",
           "tree_sha256", "weight_lr_schedule", "weight_optimizer"]
