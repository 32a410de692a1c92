"""Search protocols: which rules of budget accounting and which algorithm details a search
follows.

* ``jaxnas`` (the default): the budget counts *distinct* architectures (re-querying one is free
  and returns the same value), local search starts from one random architecture and follows the
  paper's local-search map (Algorithm 1: every neighbour is evaluated, seen or not, so a run
  walks exactly the trees that ``jaxnas landscape`` counts), evolution mutates one edge (a
  uniformly random valid neighbour) and draws its tournament without replacement.
* ``naszilla``: the rules of the reference code behind the paper's experiments
  (``naszilla/naszilla``, ``nas_algorithms.py`` and ``nas_bench_201/cell_201.py``; the same
  loops as ``realityengines/local_search``):

  - local search starts from the best of ``num_init = 10`` new random architectures (each
    charged); a neighbour queried before (anywhere in the trial) is skipped: not charged, not
    compared, never moved to; first improvement (naszilla's default, ``query_full_nbhd=False``)
    or best improvement over the *newly* queried neighbours (``query_full_nbhd=True``, the
    realityengines default); at a centre with no improving new neighbour it restarts from 10 new
    random architectures (``stop_at_minimum=True``) or continues from the best queried
    architecture not yet expanded (``stop_at_minimum=False``);
  - evolution draws ``num_init`` distinct random architectures, then every child (clones of
    the parent and repeats included) is charged and joins the population; the tournament is
    drawn with replacement; a child is :meth:`~jaxnas.spaces.SearchSpace.mutate_edges` of its
    parent; the oldest member dies as soon as the population reaches ``population_size``
    (so 29 members compete once it is full);
  - random search is the same as jaxnas's (distinct uniform architectures, duplicates redrawn
    for free).

  A repeated query is a new training run: under a noise model that draws a training seed
  (``standard``) it draws a new one (:meth:`jaxnas.benchmarks.tabular.Landscape.valid_draw`),
  as naszilla's noisy queries do.

Functions here are the naszilla protocol's oracle operations; the algorithms live in their own
modules and take ``protocol=`` in their factories.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnas.search.base import Landscape, Oracle, record_query, seen
from jaxnas.spaces.base import SearchSpace

#: the protocols every factory of :data:`jaxnas.search.ALGORITHMS` may accept
PROTOCOLS: tuple[str, ...] = ("jaxnas", "naszilla")


def check_protocol(protocol: str) -> str:
    """Returns ``protocol`` if it is one of :data:`PROTOCOLS`; else a one-line ValueError."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown search protocol {protocol!r}; choose one of {PROTOCOLS}")
    return protocol


def times_queried(space: SearchSpace, oracle: Oracle, key: jax.Array) -> jax.Array:
    """How many times the architecture with key ``key`` was queried (``int32[]``); with
    :func:`query_charged` an architecture may fill several slots."""
    hit = space.keys_equal(oracle.keys, key) & (jnp.arange(oracle.values.shape[0])
                                                < oracle.num_queries)
    return jnp.sum(hit, dtype=jnp.int32)


def query_charged(oracle: Oracle, land: Landscape, arch: jax.Array, active: jax.Array | bool = True
                  ) -> tuple[jax.Array, Oracle]:
    """Queries ``arch`` and charges it, whether seen before or not (naszilla's evolution).

    A repeat fills a new slot of the oracle with the value of a new evaluation
    (:meth:`~jaxnas.benchmarks.tabular.Landscape.valid_draw`, draw = earlier queries of it).
    Once the budget is spent, or when ``active`` is false, nothing changes.

    Returns:
        ``(value, oracle)``.
    """
    space = land.space
    key = space.arch_key(arch)
    v = land.valid_draw(arch, times_queried(space, oracle, key))
    return v, record_query(oracle, arch, key, v, active)


def seen_each(space: SearchSpace, oracle: Oracle, archs: jax.Array) -> jax.Array:
    """Whether each of ``archs`` (``[S, *arch_shape]``) was queried, ``bool[S]``."""
    return jax.vmap(lambda k: seen(space, oracle, k))(space.arch_key(archs))


def slot_arch(space: SearchSpace, oracle: Oracle, slot: jax.Array) -> jax.Array:
    """The architecture in query slot ``slot`` (stored, or decoded from its key)."""
    if oracle.archs is not None:
        return oracle.archs[slot]
    return space.arch_of_key(jnp.maximum(oracle.keys[slot], 0))


__all__ = ["PROTOCOLS", "check_protocol", "query_charged", "seen_each", "slot_arch",
           "times_queried"]
