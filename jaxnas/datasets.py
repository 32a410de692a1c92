"""Dataset names: one registry and one rule for every command (search, landscape, theory, darts,
select).

A name is accepted when it is a canonical name or an unambiguous alias, case-insensitively:
``imagenet16``, ``imagenet16_120`` and ``ImageNet16-120`` all mean ``imagenet16-120``
(NAS-Bench-201's 16x16, 120-class ImageNet); ``cifar10-valid`` means ``cifar10``. A bare
``imagenet`` is refused: it would silently mean the downsampled subset, not ImageNet.
"""

from __future__ import annotations

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120", "svhn")
#: the datasets of NAS-Bench-201's tables
NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
ALIASES: dict[str, str] = {"imagenet16": "imagenet16-120", "imagenet16_120": "imagenet16-120",
                           "cifar10-valid": "cifar10"}
_AMBIGUOUS = {"imagenet": "full ImageNet is not supported; NAS-Bench-201's 16x16, 120-class "
                          "subset is 'imagenet16-120'"}


def canonical(dataset: str, known: tuple[str, ...] = DATASETS) -> str:
    """The canonical name of ``dataset``; ``known`` restricts the names a caller supports.

    Raises:
        ValueError: one line naming the offending value and the valid names.
    """
    if not isinstance(dataset, str):
        raise ValueError(f"dataset must be a name, got {dataset!r}; choose one of {known}")
    d = dataset.strip().lower()
    if d in _AMBIGUOUS:
        raise ValueError(f"dataset {dataset!r} is ambiguous: {_AMBIGUOUS[d]}")
    d = ALIASES.get(d, d)
    if d not in known:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {known}")
    return d


__all__ = ["ALIASES", "DATASETS", "NB201_DATASETS", "canonical"]
