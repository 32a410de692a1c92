"""Random search: query uniformly random architectures (``space.sample``); return the best seen."""

from __future__ import annotations

import jax

from jaxnas.search.base import Algorithm, Landscape, SearchState, init_oracle, query


def init(key: jax.Array, land: Landscape, budget: int) -> SearchState:
    del key
    return SearchState(algo=(), oracle=init_oracle(land.space, budget))


def step(key: jax.Array, state: SearchState, land: Landscape) -> SearchState:
    _, oracle = query(state.oracle, land, land.space.sample(key))
    return state.replace(oracle=oracle)


def random_search() -> Algorithm:
    return Algorithm("random_search", init, step)
