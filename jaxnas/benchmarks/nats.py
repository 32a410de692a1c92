"""NATS-Bench's topology archive (``NATS-tss-v1_0-3ffb9-simple``) read without torch.

NATS-Bench (Dong et al., TPAMI 2021) extends NAS-Bench-201: its topology search space ("tss") is
the same 15,625 cells trained with the same protocol. The "simple" archive is a folder (or the
``.tar`` that unpacks to it) of bz2-compressed pickles of plain Python dicts:

* ``meta.pickle.pbz2``: ``{'meta_archs': [arch string of index i], 'total_archs': 15625, ...}``;
* ``{i:06d}.pickle.pbz2``: ``{'12': info, '200': info}`` per training schedule, where
  ``info['all_results'][(dataset, seed)]['eval_acc1es'][f'{split}@{epoch}']`` is an accuracy (%)
  with datasets ``cifar10-valid``, ``cifar10``, ``cifar100``, ``ImageNet16-120`` and splits
  ``x-valid``, ``x-test``, ``ori-test``.

:func:`read_tss` returns the same arrays (official-index order) as the shared
``nb201/accuracies.csv`` + ``seeds.npz``, following the NAS-Bench-201 API's definitions: the
validation accuracy of cifar10 is ``x-valid`` of the ``cifar10-valid`` runs, its test accuracy
``ori-test`` of the ``cifar10`` runs (trained on the full train set); cifar100 and
ImageNet16-120 use ``x-valid`` / ``x-test``; all at the schedule's last epoch, mean over seeds.
Per-seed values (200 epochs) are ``x-valid`` of cifar10-valid and ``ori-test`` of cifar100 and
ImageNet16-120, seeds in increasing order.
"""

from __future__ import annotations

import bz2
import os
import pickle
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from jaxnas.spaces import nb201 as space

#: (column prefix, dataset of the validation runs, split, dataset of the test runs, split)
_COLUMNS = (
    ("cifar10", "cifar10-valid", "x-valid", "cifar10", "ori-test"),
    ("cifar100", "cifar100", "x-valid", "cifar100", "x-test"),
    ("imagenet16", "ImageNet16-120", "x-valid", "ImageNet16-120", "x-test"),
)
#: per-seed arrays: key -> (dataset, split)
_SEEDS = {"cifar10_valid": ("cifar10-valid", "x-valid"),
          "cifar100_valtest": ("cifar100", "ori-test"),
          "imagenet16_valtest": ("ImageNet16-120", "ori-test")}
HPS = ("200", "12")


class _Archive:
    """Reads ``name.pickle.pbz2`` members from a folder or from a ``.tar`` holding one."""

    def __init__(self, path: Path):
        self.path = path
        self.tar = None
        if path.is_dir():
            self.members = None
        elif tarfile.is_tarfile(path):
            self.tar = tarfile.open(path)
            self.members = {Path(m.name).name: m for m in self.tar.getmembers() if m.isfile()}
        else:
            raise ValueError(f"{path} is neither a folder nor a tar archive; pass the unpacked "
                             f"NATS-tss-v1_0-3ffb9-simple folder or its .tar")

    def load(self, name: str):
        fname = f"{name}.pickle.pbz2"
        try:
            if self.tar is None:
                data = (self.path / fname).read_bytes()
            else:
                data = self.tar.extractfile(self.members[fname]).read()
        except (OSError, KeyError) as e:
            raise ValueError(f"{self.path}: missing or unreadable {fname} ({e}); the archive is "
                             f"incomplete") from e
        try:
            return pickle.loads(bz2.decompress(data))
        except Exception as e:  # corrupt bz2 / pickle
            raise ValueError(f"{self.path}: corrupt {fname} ({type(e).__name__}: {e})") from e

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()


def _final(info: dict, dataset: str, split: str, hp: str, index: int) -> list[float]:
    """Per-seed accuracies of ``dataset``/``split`` at the schedule's last epoch, seed order."""
    last = int(hp) - 1
    out = []
    runs = sorted(info["all_results"].items(), key=lambda kv: (str(kv[0][0]), int(kv[0][1])))
    for (d, seed), res in runs:
        if d != dataset:
            continue
        key = f"{split}@{last}"
        if key not in res["eval_acc1es"]:
            raise ValueError(f"architecture {index}, {dataset} seed {seed}, {hp} epochs: no "
                             f"{key!r} accuracy (keys: {sorted(res['eval_acc1es'])[:4]}...)")
        out.append(float(res["eval_acc1es"][key]))
    if not out:
        raise ValueError(f"architecture {index}, {hp} epochs: no runs on {dataset}")
    return out


def read_tss(path: str | os.PathLike,
             progress: Callable[[Iterator], Iterator] | None = None) -> dict[str, np.ndarray]:
    """Reads the NATS-Bench topology "simple" archive into jaxnas's raw NB201 arrays.

    Args:
        path: the ``NATS-tss-v1_0-3ffb9-simple`` folder or its ``.tar``.
        progress: wraps the per-architecture loop (e.g. ``tqdm``); none by default.

    Returns:
        ``{'arch': int32[15625, 6], '{prefix}_{valid|test}_{200|12}': float32[15625],
        'seeds_{key}': float32[15625, 3]}`` in official-index order (the keys of the shared
        ``accuracies.csv`` / ``seeds.npz``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a NATS-tss archive, incomplete or corrupt (naming the member).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"NATS-Bench archive {path} not found")
    arc = _Archive(path)
    try:
        meta = arc.load("meta")
        if not isinstance(meta, dict) or "meta_archs" not in meta:
            raise ValueError(f"{path}: meta.pickle.pbz2 has no 'meta_archs'; not a NATS-Bench "
                             f"topology archive")
        archs = meta["meta_archs"]
        if len(archs) != space.NUM_ARCHS:
            raise ValueError(f"{path}: {len(archs)} architectures, expected {space.NUM_ARCHS} "
                             f"(the topology search space); is this the size archive (sss)?")
        n = len(archs)
        out: dict[str, np.ndarray] = {"arch": np.stack([space.from_string(a) for a in archs])}
        for prefix, *_ in _COLUMNS:
            for hp in HPS:
                out[f"{prefix}_valid_{hp}"] = np.empty(n, np.float32)
                out[f"{prefix}_test_{hp}"] = np.empty(n, np.float32)
        for key in _SEEDS:
            out["seeds_" + key] = np.full((n, 3), np.nan, np.float32)
        indices = range(n) if progress is None else progress(range(n))
        for i in indices:
            rec = arc.load(f"{i:06d}")
            for hp in HPS:
                if hp not in rec:
                    raise ValueError(f"{path}: architecture {i} has no {hp}-epoch results")
                info = rec[hp]
                if info.get("arch_str") not in (None, archs[i]):
                    raise ValueError(f"{path}: member {i:06d} holds {info['arch_str']!r}, but "
                                     f"meta lists {archs[i]!r} at index {i}")
                for prefix, dv, sv, dt, st in _COLUMNS:
                    out[f"{prefix}_valid_{hp}"][i] = np.mean(_final(info, dv, sv, hp, i))
                    out[f"{prefix}_test_{hp}"][i] = np.mean(_final(info, dt, st, hp, i))
            for key, (d, split) in _SEEDS.items():
                vals = _final(rec["200"], d, split, "200", i)[:3]
                out["seeds_" + key][i, :len(vals)] = vals
        return out
    finally:
        arc.close()


__all__ = ["read_tss"]
