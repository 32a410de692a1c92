"""Search spaces: a registry of static, hashable space objects (see :mod:`jaxnas.spaces.base`).

    from jaxnas import spaces
    space = spaces.get("nb201")
    arch = space.sample(jax.random.key(0))
    nbrs, valid = space.neighbours(arch)

A new space is a module that subclasses :class:`SearchSpace` (or :class:`ProductSpace`) and calls
:func:`register` with one instance; nothing else in the library changes.
"""

from __future__ import annotations

# built-in spaces register themselves on import
from jaxnas.spaces import nb201 as _nb201  # noqa: E402,F401
from jaxnas.spaces.base import ProductSpace, SearchSpace, nth_valid
from jaxnas.spaces.registry import SPACES, get, register

__all__ = ["SPACES", "ProductSpace", "SearchSpace", "get", "nth_valid", "register"]
