"""Training a discovered architecture from scratch: the final evaluation of a NAS result.

The discrete network of an architecture comes from its search space (NAS-Bench-201's standalone
network, DARTS's ``NetworkCIFAR``), the protocol from a preset (:data:`PROTOCOLS`: ``darts``,
``robustdarts``, ``nb201``, ``nb201-12`` and quick CPU variants); runs are resumable, data
parallel, multi-process and can train several seeds in one vmapped program. Work directory
contract and entry points: :mod:`jaxnas.train.run`.

    from jaxnas import train
    config = train.make_config("darts", "darts-quick", arch=DARTS_V2_STRING,
                               image_dir="../shared/data/cifar10")
    train.describe(config)          # {'num_params': ..., 'num_params_aux': ...}
    result = train.train(config, "runs/darts_v2")   # or `jaxnas train ...`
"""

from jaxnas.train.config import (
    PROTOCOLS,
    TrainConfig,
    config_differences,
    default_protocol,
    make_config,
    read_config,
)
from jaxnas.train.optim import cosine_lr, sgd
from jaxnas.train.run import (
    arch_from_workdir,
    describe,
    evaluate,
    finish,
    load_data,
    network,
    params_sha256,
    run_loop,
    setup,
    train,
)
from jaxnas.train.state import TrainState, build_network, init_state, param_counts, seed_keys
from jaxnas.train.step import drop_path_rate, make_eval_step, make_train_step

__all__ = ["PROTOCOLS", "TrainConfig", "TrainState", "arch_from_workdir", "build_network",
           "config_differences", "cosine_lr", "default_protocol", "describe", "drop_path_rate",
           "evaluate", "finish", "init_state", "load_data", "make_config", "make_eval_step",
           "make_train_step", "network", "param_counts", "params_sha256", "read_config",
           "run_loop", "seed_keys", "setup", "sgd", "train"]
