"""Regularized evolution (Real et al. 2019), as configured in naszilla for NAS-Bench-201.

The first ``num_init`` queries are random architectures. Afterwards, each step draws a
tournament of ``tournament_size`` members of the population uniformly without replacement,
mutates the best of them (a uniformly random valid neighbour, ``space.neighbours``) and queries
the child, which joins the population; once the population holds ``population_size`` members,
the oldest one dies. A parent without valid neighbours is queried again (free).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from jaxnas.search.base import (
    Algorithm,
    Landscape,
    SearchState,
    fast_uniform,
    init_oracle,
    query,
    uniform_arch,
)
from jaxnas.spaces.base import nth_valid


@struct.dataclass
class EvoState:
    archs: jax.Array  # [P, *arch_shape] population (ring buffer, oldest at ``head`` once full)
    values: jax.Array  # [P] float32
    size: jax.Array  # [] int32 members alive
    head: jax.Array  # [] int32 slot of the next child
    num_proposed: jax.Array  # [] int32


def init(key: jax.Array, land: Landscape, budget: int, *, population_size: int) -> SearchState:
    del key
    space = land.space
    algo = EvoState(
        archs=jnp.zeros((population_size, *space.arch_shape), space.arch_dtype),
        values=jnp.full((population_size,), -jnp.inf, jnp.float32),
        size=jnp.zeros((), jnp.int32),
        head=jnp.zeros((), jnp.int32),
        num_proposed=jnp.zeros((), jnp.int32),
    )
    return SearchState(algo=algo, oracle=init_oracle(space, budget))


def step(key: jax.Array, state: SearchState, land: Landscape, *, num_init: int,
         tournament_size: int) -> SearchState:
    space = land.space
    s: EvoState = state.algo
    p = s.archs.shape[0]
    # one draw per step: p tournament keys, a random architecture, a mutation
    u = fast_uniform(key, p + 2)
    alive = jnp.arange(p) < s.size
    # Tournament: the living members with the smallest random ranks (the dead rank last,
    # since a rank is only counted among the living), i.e. a uniform draw without replacement.
    u_tour = jnp.where(alive, u[:p], 2.0)
    rank = jnp.sum(u_tour[None, :] < u_tour[:, None], axis=1)  # ties have probability ~0
    in_tour = alive & (rank < tournament_size)
    parent = s.archs[jnp.argmax(jnp.where(in_tour, s.values, -jnp.inf))]
    nbrs, valid = space.neighbours(parent)
    n_valid = jnp.sum(valid, dtype=jnp.int32)
    nb = jnp.minimum((u[p] * n_valid).astype(jnp.int32), jnp.maximum(n_valid - 1, 0))
    child = jnp.where(n_valid > 0, nbrs[nth_valid(valid, nb)], parent)  # a random valid neighbour
    rand = uniform_arch(space, jax.random.fold_in(key, 1), u[p + 1])
    cand = jnp.where(s.num_proposed < num_init, rand, child)
    v, oracle = query(state.oracle, land, cand)
    algo = EvoState(
        archs=s.archs.at[s.head].set(cand),
        values=s.values.at[s.head].set(v),
        size=jnp.minimum(s.size + 1, p),
        head=(s.head + 1) % p,
        num_proposed=s.num_proposed + 1,
    )
    return SearchState(algo=algo, oracle=oracle)


def evolution(population_size: int = 30, tournament_size: int = 10, num_init: int = 10
              ) -> Algorithm:
    """Regularized evolution; defaults follow naszilla's NAS-Bench-201 settings."""
    for name, val in (("population_size", population_size), ("tournament_size", tournament_size),
                      ("num_init", num_init)):
        if val < 1:
            raise ValueError(f"{name} must be >= 1, got {val}")
    return Algorithm(
        "evolution",
        functools.partial(init, population_size=population_size),
        functools.partial(step, num_init=num_init, tournament_size=tournament_size),
    )
