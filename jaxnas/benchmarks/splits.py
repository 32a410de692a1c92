"""Named test splits of a tabular benchmark: which test accuracy a search reports.

A :class:`~jaxnas.benchmarks.tabular.Table` reports one test accuracy per architecture
(``table.test``). A benchmark that has several test sets for one dataset keeps each as an extra
array named ``'test@<split>'`` (``table.extra``), one of them equal to ``table.test`` (the
loader's default). NAS-Bench-201 on CIFAR-100 and ImageNet16-120 has two: ``x-test``, the half
of the original test set the benchmark calls test (the loader's default), and ``ori-test``, the
whole original test set, which naszilla reports. Both halves (``x-valid``, the validation set,
and ``x-test``) are evaluated with the same trained model and have the same size, so
``ori-test = (x-valid + x-test) / 2`` per architecture. CIFAR-10 has ``ori-test`` only (the
model trained on the whole train set).

A split whose array is all NaN is not available: a loader can give every dataset's table the
same extra arrays (the same pytree structure, so one compiled search runs on all of them).
"""

from __future__ import annotations

import jax
import numpy as np

from jaxnas.benchmarks.tabular import Table

PREFIX = "test@"


def named_splits(table: Table) -> dict[str, jax.Array]:
    """The available named test splits of ``table``: ``{split: [N] test accuracies}`` (may be
    empty; host side)."""
    return {k[len(PREFIX):]: v for k, v in table.extra.items()
            if k.startswith(PREFIX) and not np.all(np.isnan(np.asarray(v)))}


def reported_split(table: Table) -> str | None:
    """The name of the split ``table.test`` holds, or ``None`` if the table names none
    (host side)."""
    test = np.asarray(table.test)
    for name, arr in named_splits(table).items():
        if np.array_equal(np.asarray(arr), test):
            return name
    return None


def with_test_split(table: Table, split: str | None, what: str = "this benchmark") -> Table:
    """``table`` reporting the test split ``split`` (``None``: unchanged).

    Args:
        what: how error messages name the table, e.g. ``"nb201 cifar10"``.

    Raises:
        ValueError: one line naming the split and the ones ``table`` has.
    """
    if split is None:
        return table
    splits = named_splits(table)
    if split not in splits:
        have = (f"it has {sorted(splits)}" if splits else "it names no test splits")
        raise ValueError(f"test split {split!r} is not available for {what}: {have}; omit "
                         f"--test-split or choose one of those")
    return table.replace(test=splits[split])


__all__ = ["PREFIX", "reported_split", "named_splits", "with_test_split"]
