"""jaxnas: neural architecture search in JAX.

Implements White, Nolen & Savani 2020 (local search and the NAS loss landscape), Wang et al. 2021
(DARTS-PT perturbation-based selection) and Wang, Cao, Li & Kitani 2021 (neighbourhood-aware NAS).

The public API, by subpackage (each imported on first use)::

    jaxnas.spaces      get, SPACES, register, SearchSpace, ProductSpace
    jaxnas.benchmarks  load, BENCHMARKS, Table, make_table, NOISE_MODELS, objective, make_landscape
    jaxnas.search      run, ALGORITHMS, get_algorithm, local_search, random_search, evolution, ...
    jaxnas.analysis    landscape, neighbourhood, theory, synthetic (pure maths)
    jaxnas.darts       DartsConfig, make_config, train, load_run, build, benchmark_report
    jaxnas.selection   select, select_supernet
    jaxnas.models      layers, nb201 (Flax networks)
    jaxnas.data        images, augmentation, sharded batches
    jaxnas.reports     the drivers behind the CLI (landscape, theory reports, plots)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = ("analysis", "benchmarks", "checkpoint", "darts", "data", "models", "reports",
                "search", "selection", "spaces")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'jaxnas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBPACKAGES])


__all__ = ["__version__", *_SUBPACKAGES]
