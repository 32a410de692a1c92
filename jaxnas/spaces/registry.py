"""The registry of search spaces (a leaf module: spaces register here, everything reads here)."""

from __future__ import annotations

from jaxnas.spaces.base import SearchSpace

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


__all__ = ["SPACES", "get", "register"]
