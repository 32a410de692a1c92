"""Regularized evolution (Real et al. 2019), as configured in naszilla for NAS-Bench-201
(population 30, tournament 10, 10 random initial architectures), under two protocols
(:mod:`jaxnas.search.protocol`).

``jaxnas`` protocol (:func:`init`/:func:`step`): the first ``num_init`` queries are random
architectures. Afterwards, each step draws a tournament of ``tournament_size`` members of the
population uniformly without replacement, mutates the best of them (a uniformly random valid
neighbour, ``space.neighbours``: every child is a neighbour, none is a clone) and queries the
child, which joins the population; once the population holds ``population_size`` members, the
oldest one dies. A repeated child is free (the budget counts distinct architectures) but joins
the population. A parent without valid neighbours is queried again (free).

``naszilla`` protocol (:func:`naszilla_init`/:func:`naszilla_step`), as
``naszilla/nas_algorithms.py:evolution_search``: the first ``num_init`` queries are *distinct*
random architectures (``generate_random_dataset``: a duplicate draw is drawn again, free), the
first ``min(num_init, population_size)`` of which form the population. Each later step draws
``tournament_size`` members with replacement (``np.random.choice``), mutates the best of them
(the first of equals in draw order) with :meth:`~jaxnas.spaces.SearchSpace.mutate_edges`
(on NAS-Bench-201 every edge changes with probability 1/4), queries the child and charges it,
clone or repeat alike (a repeat is a new evaluation: a fresh training seed under ``standard``
noise); the child joins the population, and when the population then holds
``population_size`` members the oldest dies (so at most ``population_size - 1`` members compete
once it has filled up).
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
    seen,
    uniform_arch,
)
from jaxnas.search.protocol import check_protocol, query_charged
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


@struct.dataclass
class NaszillaEvoState:
    # ring buffer of population_size + 1 slots: a child may join a full population before the
    # oldest member dies
    archs: jax.Array  # [P + 1, *arch_shape] members, oldest at ``start``
    values: jax.Array  # [P + 1] float32 the value each member was queried with
    start: jax.Array  # [] int32 slot of the oldest member
    size: jax.Array  # [] int32 members alive
    init_done: jax.Array  # [] int32 distinct random architectures queried so far


def naszilla_init(key: jax.Array, land: Landscape, budget: int, *, population_size: int
                  ) -> SearchState:
    del key
    space = land.space
    c = population_size + 1
    algo = NaszillaEvoState(
        archs=jnp.zeros((c, *space.arch_shape), space.arch_dtype),
        values=jnp.full((c,), -jnp.inf, jnp.float32),
        start=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
        init_done=jnp.zeros((), jnp.int32),
    )
    return SearchState(algo=algo, oracle=init_oracle(space, budget))


def tournament_with_replacement(u: jax.Array, values: jax.Array, start: jax.Array,
                                size: jax.Array) -> jax.Array:
    """The winner's slot of a tournament drawn with replacement from a ring-buffer population.

    Args:
        u: ``[T]`` uniforms in ``[0, 1)``, one per draw (``T`` = tournament size).
        values: ``[C]`` the members' values (slot order).
        start, size: the oldest member's slot and the number of members (``>= 1``).

    Returns:
        ``int32[]`` the slot of the best drawn member, the first drawn of equals
        (``np.random.choice(population, T)`` then a stable sort by loss).
    """
    c = values.shape[0]
    draws = jnp.minimum((u * size).astype(jnp.int32), size - 1)
    slots = (start + draws) % c
    return slots[jnp.argmax(values[slots])]


def naszilla_step(key: jax.Array, state: SearchState, land: Landscape, *, num_init: int,
                  tournament_size: int, population_size: int) -> SearchState:
    """One query: a new random architecture (until ``num_init`` distinct ones), else a
    charged child of the tournament winner. Consumes ``key``."""
    space = land.space
    s: NaszillaEvoState = state.algo
    c = s.archs.shape[0]
    u = fast_uniform(key, tournament_size + 1)
    init_phase = s.init_done < num_init
    parent = s.archs[tournament_with_replacement(u[:tournament_size], s.values, s.start,
                                                 jnp.maximum(s.size, 1))]
    child = space.mutate_edges(jax.random.fold_in(key, 1), parent)
    rand = uniform_arch(space, jax.random.fold_in(key, 2), u[tournament_size])
    cand = jnp.where(init_phase, rand, child)
    new = init_phase & ~seen(space, state.oracle, space.arch_key(cand))
    v_rand, oracle_rand = query(state.oracle, land, cand, active=new)
    v_child, oracle_child = query_charged(state.oracle, land, cand, active=~init_phase)
    oracle = jax.tree.map(lambda a, b: jnp.where(init_phase, a, b), oracle_rand, oracle_child)
    v = jnp.where(init_phase, v_rand, v_child)
    # the first min(num_init, P) initial architectures form the population; every child joins
    join = (new & (s.size < population_size)) | ~init_phase
    slot = (s.start + s.size) % c
    size = s.size + join.astype(jnp.int32)
    die = ~init_phase & (size >= population_size)  # naszilla: len(population) >= P -> kill
    algo = NaszillaEvoState(
        archs=jnp.where(join, s.archs.at[slot].set(cand), s.archs),
        values=jnp.where(join, s.values.at[slot].set(v), s.values),
        start=jnp.where(die, (s.start + 1) % c, s.start),
        size=size - die.astype(jnp.int32),
        init_done=s.init_done + new.astype(jnp.int32),
    )
    return SearchState(algo=algo, oracle=oracle)


def evolution(population_size: int = 30, tournament_size: int = 10, num_init: int = 10, *,
              protocol: str = "jaxnas") -> Algorithm:
    """Regularized evolution; defaults follow naszilla's NAS-Bench-201 settings.

    Args:
        population_size, tournament_size, num_init: as in naszilla's ``evolution_search``.
        protocol: ``'jaxnas'`` or ``'naszilla'`` (see the module docstring).

    Raises:
        ValueError: for a size below 1 or an unknown protocol, naming it.
    """
    check_protocol(protocol)
    for name, val in (("population_size", population_size), ("tournament_size", tournament_size),
                      ("num_init", num_init)):
        if val < 1:
            raise ValueError(f"{name} must be >= 1, got {val}")
    if protocol == "naszilla":
        return Algorithm(
            "evolution",
            functools.partial(naszilla_init, population_size=population_size),
            functools.partial(naszilla_step, num_init=num_init, tournament_size=tournament_size,
                              population_size=population_size),
        )
    return Algorithm(
        "evolution",
        functools.partial(init, population_size=population_size),
        functools.partial(step, num_init=num_init, tournament_size=tournament_size),
    )
