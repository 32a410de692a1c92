"""Tabular benchmarks: one table of accuracies per architecture of an enumerable search space.

    from jaxnas import benchmarks
    table = benchmarks.load("nb201", "cifar10")          # a tabular.Table in key order
    land = benchmarks.make_landscape(key, table, "standard")

Every benchmark registers a loader under its space's name (:data:`BENCHMARKS`,
:func:`register`); the CLI and the search comparison pick loaders by space name. Tables,
noise models and a trial's landscape are space-agnostic (:mod:`jaxnas.benchmarks.tabular`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

from jaxnas.benchmarks.tabular import (
    NOISE_MODELS,
    Landscape,
    NoisyTable,
    Table,
    check_noise,
    make_landscape,
    make_table,
    noisy_table,
    noisy_valid,
    objective,
    register_noise,
)


class BenchmarkLoader(NamedTuple):
    """How to load the tabular benchmark of one search space.

    Attributes:
        load: ``(dataset, data_dir) -> Table``; raises ValueError for an unknown dataset and
            FileNotFoundError when its files are absent.
        datasets: the canonical dataset names.
        canonical_dataset: ``dataset -> canonical name`` (aliases, case); raises ValueError
            naming the valid ones.
        lookup: ``(arch, data_dir) -> record``: every table value of one architecture, for
            reports (e.g. the DARTS report hook); ``None`` if the benchmark has none.
        by_dataset: ``record -> {dataset: {'valid': %, 'test': %}}`` for every dataset (the
            summary selection reports); ``None`` if the benchmark has none.
    """

    load: Callable[[str, str | os.PathLike | None], Table]
    datasets: tuple[str, ...]
    canonical_dataset: Callable[[str], str]
    lookup: Callable[[Any, str | os.PathLike | None], dict] | None = None
    by_dataset: Callable[[dict], dict] | None = None


#: space name -> the loader of its tabular benchmark
BENCHMARKS: dict[str, BenchmarkLoader] = {}


def _canonical_in(datasets: tuple[str, ...], space_name: str) -> Callable[[str], str]:
    def canonical(dataset: str) -> str:
        if dataset not in datasets:
            raise ValueError(f"unknown {space_name} dataset {dataset!r}; choose one of {datasets}")
        return dataset

    return canonical


def register(space_name: str, load: Callable[[str, str | os.PathLike | None], Table],
             datasets: tuple[str, ...], canonical_dataset: Callable[[str], str] | None = None,
             *, lookup: Callable[[Any, str | os.PathLike | None], dict] | None = None,
             by_dataset: Callable[[dict], dict] | None = None,
             replace: bool = False) -> BenchmarkLoader:
    """Registers the tabular benchmark of the space called ``space_name``; returns its loader.

    Raises:
        ValueError: if one is registered for that space already and ``replace`` is false.
    """
    entry = BenchmarkLoader(load, tuple(datasets),
                            canonical_dataset or _canonical_in(tuple(datasets), space_name),
                            lookup, by_dataset)
    old = BENCHMARKS.get(space_name)
    if old is not None and old != entry and not replace:
        raise ValueError(f"a tabular benchmark is already registered for space {space_name!r}")
    BENCHMARKS[space_name] = entry
    return entry


def get(space_name: str) -> BenchmarkLoader:
    """The loader registered for ``space_name``; ValueError naming the registered ones."""
    try:
        return BENCHMARKS[space_name]
    except KeyError:
        raise ValueError(f"no tabular benchmark for search space {space_name!r}; spaces with "
                         f"one: {sorted(BENCHMARKS)}") from None


def load(space_name: str = "nb201", dataset: str | None = None,
         data_dir: str | os.PathLike | None = None) -> Table:
    """One dataset (default: the first) of the tabular benchmark of ``space_name``."""
    b = get(space_name)
    return b.load(b.datasets[0] if dataset is None else dataset, data_dir)


def canonical_dataset(space_name: str, dataset: str) -> str:
    """The canonical name of ``dataset`` in the benchmark of ``space_name``."""
    return get(space_name).canonical_dataset(dataset)


def _nb201(name: str) -> Callable:
    """``jaxnas.benchmarks.nb201.<name>``, imported on first call (``python -m
    jaxnas.benchmarks.nb201`` runs that module as ``__main__``)."""

    def call(*args):
        from jaxnas.benchmarks import nb201

        return getattr(nb201, name)(*args)

    return call


def _register_builtin() -> None:
    from jaxnas import datasets

    register("nb201", _nb201("load"), datasets.DATASETS, datasets.canonical,
             lookup=_nb201("lookup"), by_dataset=_nb201("by_dataset"))


_register_builtin()

__all__ = ["BENCHMARKS", "NOISE_MODELS", "BenchmarkLoader", "Landscape", "NoisyTable", "Table",
           "canonical_dataset", "check_noise", "get", "load", "make_landscape", "make_table",
           "noisy_table", "noisy_valid", "objective", "register", "register_noise"]
