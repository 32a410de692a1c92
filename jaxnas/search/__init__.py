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
from jaxnas.search.random_search import random_search

ALGORITHMS = {
    "local_search": local_search,
    "local_search_first": lambda: local_search(first_improvement=True),
    "random_search": random_search,
    "evolution": evolution,
    # neighbourhood-aware (Wang et al. 2021); kwargs: radius=1, k=None, aggregation="mean"
    "na_random_search": na_random_search,
    "na_local_search": na_local_search,
}


#: the neighbourhood-aware algorithms, which take ``radius``, ``k`` and ``aggregation``
NA_ALGORITHMS: tuple[str, ...] = ("na_random_search", "na_local_search")


def get_algorithm(name: str, **kwargs) -> Algorithm:
    """Builds a registered algorithm by name; raises ValueError naming the known ones."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown search algorithm {name!r}; choose one of {sorted(ALGORITHMS)}")
    return ALGORITHMS[name](**kwargs)


__all__ = ["ALGORITHMS", "NA_ALGORITHMS", "Algorithm", "Landscape", "Oracle", "SearchState",
           "Trajectory", "evolution", "get_algorithm", "local_search", "make_landscape",
           "na_local_search", "na_random_search", "query", "random_search", "run", "run_one"]
