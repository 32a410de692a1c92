"""Search spaces: a registry of static, hashable space objects (see :mod:`jaxnas.spaces.base`).

    from jaxnas import spaces
    space = spaces.get("nb201")
    arch = space.sample(jax.random.key(0))
    nbrs, valid = space.neighbours(arch)

A new space is a module in this package that subclasses :class:`SearchSpace` (or
:class:`ProductSpace`) and calls :func:`register` with one instance; every module here is imported
when the package is, so nothing else in the library changes. Spaces defined elsewhere register
themselves when their module is imported.
"""

from __future__ import annotations

import importlib as _importlib
import pkgutil as _pkgutil

from jaxnas.spaces.base import ProductSpace, SearchSpace, nth_valid
from jaxnas.spaces.registry import SPACES, get, register

# built-in spaces: every module of this package registers its spaces on import
for _m in _pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_") and _m.name not in ("base", "registry"):
        _importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["SPACES", "ProductSpace", "SearchSpace", "get", "nth_valid", "register"]
