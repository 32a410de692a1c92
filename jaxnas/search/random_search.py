"""Random search: query uniformly random architectures (``space.sample``); return the best seen.

Both protocols (:mod:`jaxnas.search.protocol`) run the same algorithm: naszilla's
``random_search`` is ``generate_random_dataset(num=total_queries)``, which draws uniformly
random cells and drops a duplicate without charging it, exactly as a repeated query is free
here. Its one difference, a cap of ``5 * total_queries`` draws (``patience_factor``), matters
only when the budget approaches the size of the space (300 distinct architectures out of
NAS-Bench-201's 15,625 need about 303 draws); it is not reproduced.
"""

from __future__ import annotations

import jax

from jaxnas.search.base import Algorithm, Landscape, SearchState, init_oracle, query
from jaxnas.search.protocol import check_protocol


def init(key: jax.Array, land: Landscape, budget: int) -> SearchState:
    del key
    return SearchState(algo=(), oracle=init_oracle(land.space, budget))


def step(key: jax.Array, state: SearchState, land: Landscape) -> SearchState:
    _, oracle = query(state.oracle, land, land.space.sample(key))
    return state.replace(oracle=oracle)


def random_search(*, protocol: str = "jaxnas") -> Algorithm:
    """Random search over distinct architectures (the same under both protocols).

    Raises:
        ValueError: for an unknown protocol.
    """
    check_protocol(protocol)
    return Algorithm("random_search", init, step)
