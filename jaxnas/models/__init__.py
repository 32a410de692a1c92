"""Flax models: generic layers (:mod:`jaxnas.models.layers`) and one subpackage per search space
(:mod:`jaxnas.models.nb201`). Library code gets a space's networks from the space
(``space.supernet(...)``, ``space.network(arch, ...)``)."""

from jaxnas.models.layers import compiler_options, init_variables, kernel_fan_in, on_cpu
from jaxnas.models.nb201 import Network, init, supernet_to_per_edge

__all__ = ["Network", "compiler_options", "init", "init_variables", "kernel_fan_in", "on_cpu",
           "supernet_to_per_edge"]
