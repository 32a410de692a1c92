"""Architecture selection on a trained supernet: DARTS-PT perturbation selection (Wang et al.,
ICLR 2021) and DARTS magnitude selection, as pure functions over a generic scoring function."""

from jaxnas.selection.loop import (
    Problem,
    SelectionState,
    decide_next,
    decisions,
    init_state,
    run_selection,
)
from jaxnas.selection.perturbation import (
    CRITERIA,
    Scores,
    candidate_masks,
    candidate_weights,
    choose,
    edge_order,
    make_edge_scorer,
    project,
    score_candidates,
    score_candidates_sequential,
)
from jaxnas.selection.run import METHODS, Supernet, load_supernet, select, select_supernet

__all__ = ["CRITERIA", "METHODS", "Problem", "Supernet", "load_supernet", "select",
           "select_supernet", "Scores", "SelectionState", "candidate_masks",
           "candidate_weights", "choose", "decide_next", "decisions", "edge_order", "init_state",
           "make_edge_scorer", "project", "run_selection", "score_candidates",
           "score_candidates_sequential"]
