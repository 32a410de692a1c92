"""Benchmarks: tables of accuracies per architecture, and surrogate models, queried in jit.

    from jaxnas import benchmarks
    table = benchmarks.load("nb201", "cifar10")          # a tabular.Table in key order
    land = benchmarks.make_landscape(key, table, "standard")

Every benchmark registers a loader under its own name with the name of the search space it
covers (:data:`BENCHMARKS`, :func:`register`); a space may have several (``nb101`` and
``nb101-sample``), and :func:`for_space` gives the default one. The CLI and the search
comparison pick loaders by name. Tables, noise models and a trial's landscape are space-agnostic
(:mod:`jaxnas.benchmarks.tabular`); surrogates are :mod:`jaxnas.benchmarks.surrogate`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

from jaxnas.benchmarks.tabular import (
    NOISE_MODELS,
    PARAMETRIC_NOISE,
    Gaussian,
    Landscape,
    NoisyTable,
    Table,
    check_noise,
    make_landscape,
    make_table,
    noise_model,
    noisy_table,
    noisy_valid,
    objective,
    register_noise,
)


class BenchmarkLoader(NamedTuple):
    """How to load one benchmark.

    Attributes:
        load: ``(dataset, data_dir) -> Table`` (or a surrogate: any pytree with ``space`` and
            ``landscape(key, noise_model)``, see :func:`jaxnas.benchmarks.make_landscape`);
            raises ValueError for an unknown dataset and FileNotFoundError when its files are
            absent.
        datasets: the canonical dataset names.
        canonical_dataset: ``dataset -> canonical name`` (aliases, case); raises ValueError
            naming the valid ones.
        lookup: ``(arch, data_dir) -> record``: every table value of one architecture, for
            reports (e.g. the DARTS report hook); ``None`` if the benchmark has none.
        by_dataset: ``record -> {dataset: {'valid': %, 'test': %}}`` for every dataset (the
            summary selection reports); ``None`` if the benchmark has none.
        name: the benchmark's registry name (e.g. ``'nb201'``, ``'nb301'``).
        space: the name of the search space it covers.
        noises: the noise models it supports (tables: every one; surrogates: ``denoised`` and
            ``gaussian``).
        has_test: whether it has test accuracies (else searches report the true validation
            accuracy of the incumbent).
        title: a readable name for plots and tables (e.g. ``'NAS-Bench-201'``).
    """

    load: Callable[[str, str | os.PathLike | None], Any]
    datasets: tuple[str, ...]
    canonical_dataset: Callable[[str], str]
    lookup: Callable[[Any, str | os.PathLike | None], dict] | None = None
    by_dataset: Callable[[dict], dict] | None = None
    name: str = ""
    space: str = ""
    noises: tuple[str, ...] | None = None
    has_test: bool = True
    title: str = ""

    def check_noise(self, noise: str) -> str:
        """``noise`` if this benchmark supports it; else a one-line ValueError."""
        if noise not in PARAMETRIC_NOISE:
            check_noise(noise)
        if self.noises is not None and noise not in self.noises:
            raise ValueError(f"noise model {noise!r} is not available on {self.name}; use one "
                             f"of {self.noises}")
        return noise


#: benchmark name -> its loader
BENCHMARKS: dict[str, BenchmarkLoader] = {}


def _canonical_in(datasets: tuple[str, ...], space_name: str) -> Callable[[str], str]:
    def canonical(dataset: str) -> str:
        if dataset not in datasets:
            raise ValueError(f"unknown {space_name} dataset {dataset!r}; choose one of {datasets}")
        return dataset

    return canonical


def register(name: str, load: Callable[[str, str | os.PathLike | None], Any],
             datasets: tuple[str, ...], canonical_dataset: Callable[[str], str] | None = None,
             *, space: str | None = None,
             lookup: Callable[[Any, str | os.PathLike | None], dict] | None = None,
             by_dataset: Callable[[dict], dict] | None = None,
             noises: tuple[str, ...] | None = None, has_test: bool = True, title: str = "",
             replace: bool = False) -> BenchmarkLoader:
    """Registers the benchmark called ``name`` over the space called ``space`` (default: the
    same name); returns its loader. The first benchmark registered for a space is its default
    (:func:`for_space`).

    Raises:
        ValueError: if a different one is registered under ``name`` and ``replace`` is false.
    """
    entry = BenchmarkLoader(load, tuple(datasets),
                            canonical_dataset or _canonical_in(tuple(datasets), name),
                            lookup, by_dataset, name=name, space=space or name,
                            noises=None if noises is None else tuple(noises),
                            has_test=has_test, title=title or name)
    old = BENCHMARKS.get(name)
    if old is not None and old != entry and not replace:
        raise ValueError(f"a different benchmark is already registered as {name!r}")
    BENCHMARKS[name] = entry
    return entry


def get(name: str) -> BenchmarkLoader:
    """The benchmark registered as ``name``; ValueError naming the registered ones."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; registered benchmarks: "
                         f"{sorted(BENCHMARKS)}") from None


def of_space(space_name: str) -> list[BenchmarkLoader]:
    """Every benchmark over the space called ``space_name``, default first."""
    return [b for b in BENCHMARKS.values() if b.space == space_name]


def for_space(space_name: str, benchmark: str | None = None) -> BenchmarkLoader:
    """The benchmark ``benchmark`` (checked to cover ``space_name``) or the space's default.

    Raises:
        ValueError: no benchmark for the space, or ``benchmark`` covers another space.
    """
    if benchmark is not None:
        b = get(benchmark)
        if b.space != space_name:
            raise ValueError(f"benchmark {benchmark!r} covers the space {b.space!r}, not "
                             f"{space_name!r}; use --space {b.space}")
        return b
    bs = of_space(space_name)
    if not bs:
        with_one = sorted({b.space for b in BENCHMARKS.values()})
        raise ValueError(f"no benchmark for search space {space_name!r}; spaces with one: "
                         f"{with_one}")
    return bs[0]


def default_for(space_name: str) -> BenchmarkLoader | None:
    """The default benchmark of a space, or ``None`` when it has none."""
    bs = of_space(space_name)
    return bs[0] if bs else None


def load(name: str = "nb201", dataset: str | None = None,
         data_dir: str | os.PathLike | None = None) -> Any:
    """One dataset (default: the first) of the benchmark called ``name``."""
    b = get(name)
    return b.load(b.datasets[0] if dataset is None else dataset, data_dir)


def canonical_dataset(name: str, dataset: str) -> str:
    """The canonical name of ``dataset`` in the benchmark called ``name``."""
    return get(name).canonical_dataset(dataset)


def _lazy(module: str, name: str) -> Callable:
    """``jaxnas.benchmarks.<module>.<name>``, imported on first call (``python -m
    jaxnas.benchmarks.nb201`` runs that module as ``__main__``; surrogates import onnx
    machinery only when used)."""

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(f"jaxnas.benchmarks.{module}"), name)(*args,
                                                                                     **kwargs)

    return call


def _nb201(name: str) -> Callable:
    return _lazy("nb201", name)


def _register_builtin() -> None:
    from jaxnas import datasets

    def nb201_dataset(d: str) -> str:
        return datasets.canonical(d, datasets.NB201_DATASETS)

    register("nb201", _nb201("load"), datasets.NB201_DATASETS, nb201_dataset,
             lookup=_nb201("lookup"), by_dataset=_nb201("by_dataset"), title="NAS-Bench-201")
    register("nb101", _lazy("nb101", "load_benchmark"), ("cifar10",), space="nb101",
             title="NAS-Bench-101")
    register("nb101-sample", _lazy("nb101", "load_sample_benchmark"), ("cifar10",),
             space="nb101", noises=("denoised", "random", "gaussian"), has_test=False,
             title="NB101 sample (1,000 cells, not NAS-Bench-101 results)")
    register("nb301", _lazy("nb301", "load_benchmark"), ("cifar10",), space="darts",
             lookup=_lazy("nb301", "lookup"), by_dataset=_lazy("nb301", "by_dataset"),
             noises=("denoised", "gaussian"), has_test=False,
             title="NB301 (YAHPO surrogate)")


_register_builtin()

__all__ = ["BENCHMARKS", "NOISE_MODELS", "PARAMETRIC_NOISE", "BenchmarkLoader", "Gaussian",
           "Landscape", "NoisyTable", "Table", "canonical_dataset", "check_noise", "default_for",
           "for_space", "get", "load", "noise_model", "of_space", "make_landscape", "make_table",
           "noisy_table", "noisy_valid", "objective", "register", "register_noise"]
