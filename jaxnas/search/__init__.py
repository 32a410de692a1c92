"""Query-budgeted NAS algorithms on tabular benchmarks (init/step pure functions)."""

from jaxnas.search.base import (
    Algorithm,
    Landscape,
    Oracle,
    SearchState,
    Trajectory,
    make_landscape,
    query,
    run,
    run_one,
)
from jaxnas.search.evolution import evolution
from jaxnas.search.local_search import local_search
from jaxnas.search.na_search import na_local_search, na_random_search
from jaxnas.search.protocol import PROTOCOLS, check_protocol
from jaxnas.search.random_search import random_search

ALGORITHMS = {
    "local_search": local_search,
    "local_search_first": lambda **kw: local_search(first_improvement=True, **kw),
    # naszilla's stop_at_minimum=False: continue from the best queried, unexpanded architecture
    "local_search_continue": lambda **kw: local_search(stop_at_minimum=False, **kw),
    "local_search_first_continue": lambda **kw: local_search(first_improvement=True,
                                                             stop_at_minimum=False, **kw),
    "random_search": random_search,
    "evolution": evolution,
    # neighbourhood-aware (Wang et al. 2021); kwargs: radius=1, k=None, aggregation="mean"
    "na_random_search": na_random_search,
    "na_local_search": na_local_search,
}


#: the neighbourhood-aware algorithms, which take ``radius``, ``k`` and ``aggregation``
NA_ALGORITHMS: tuple[str, ...] = ("na_random_search", "na_local_search")

#: the protocols (:mod:`jaxnas.search.protocol`) each algorithm runs under: naszilla has no
#: neighbourhood-aware search, and the continue variants exist only under naszilla's rules
ALGORITHM_PROTOCOLS: dict[str, tuple[str, ...]] = {
    name: ("jaxnas",) if name in NA_ALGORITHMS
    else ("naszilla",) if name.endswith("_continue") else PROTOCOLS
    for name in ALGORITHMS
}


def check_algorithm(name: str, protocol: str = "jaxnas") -> None:
    """Checks that ``name`` is a registered algorithm that runs under ``protocol``.

    Raises:
        ValueError: one line naming the unknown algorithm or protocol, or the protocol to use.
    """
    if name not in ALGORITHMS:
        raise ValueError(f"unknown search algorithm {name!r}; choose one of {sorted(ALGORITHMS)}")
    check_protocol(protocol)
    ok = ALGORITHM_PROTOCOLS[name]
    if protocol not in ok:
        why = ("naszilla has no neighbourhood-aware search" if name in NA_ALGORITHMS else
               "it is naszilla's stop_at_minimum=False variant")
        raise ValueError(f"{name} has no {protocol!r} protocol ({why}); run it with protocol "
                         f"{ok[0]!r} (jaxnas search --protocol {ok[0]})")


def get_algorithm(name: str, protocol: str = "jaxnas", **kwargs) -> Algorithm:
    """Builds a registered algorithm by name under ``protocol`` (``'jaxnas'``, the default, or
    ``'naszilla'``); raises ValueError naming the known ones (see :func:`check_algorithm`)."""
    check_algorithm(name, protocol)
    if "naszilla" in ALGORITHM_PROTOCOLS[name]:
        kwargs["protocol"] = protocol
    return ALGORITHMS[name](**kwargs)


__all__ = ["ALGORITHMS", "ALGORITHM_PROTOCOLS", "NA_ALGORITHMS", "PROTOCOLS", "Algorithm",
           "Landscape", "Oracle", "SearchState", "Trajectory", "check_algorithm", "evolution",
           "get_algorithm", "local_search", "make_landscape", "na_local_search",
           "na_random_search", "query", "random_search", "run", "run_one"]
