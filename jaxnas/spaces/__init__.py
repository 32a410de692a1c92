"""Search spaces: a registry of static, hashable space objects (see :mod:`jaxnas.spaces.base`).

    from jaxnas import spaces
    space = spaces.get("nb201")
    arch = space.sample(jax.random.key(0))
    nbrs, valid = space.neighbours(arch)

A new space is a module that subclasses :class:`SearchSpace` (or :class:`ProductSpace`) and calls
:func:`register` with one instance; nothing else in the library changes.
"""

from __future__ import annotations

from jaxnas.spaces.base import ProductSpace, SearchSpace, nth_valid

#: name -> space, every registered search space
SPACES: dict[str, SearchSpace] = {}


def register(space: SearchSpace, *, replace: bool = False) -> SearchSpace:
    """Adds ``space`` to :data:`SPACES` under ``space.name``; returns it.

    Raises:
        ValueError: if the name is taken by a different space and ``replace`` is false.
    """
    old = SPACES.get(space.name)
    if old is not None and old != space and not replace:
        raise ValueError(f"a different search space is already registered as {space.name!r}")
    SPACES[space.name] = space
    return space


def get(name: str | SearchSpace) -> SearchSpace:
    """The registered space called ``name`` (a space object is returned as is).

    Raises:
        ValueError: for an unknown name, listing the registered ones.
    """
    if isinstance(name, SearchSpace):
        return name
    try:
        return SPACES[name]
    except KeyError:
        raise ValueError(
            f"unknown search space {name!r}; registered spaces: {sorted(SPACES)}") from None


# built-in spaces register themselves on import
from jaxnas.spaces import nb201 as _nb201  # noqa: E402,F401

__all__ = ["SPACES", "ProductSpace", "SearchSpace", "get", "nth_valid", "register"]
