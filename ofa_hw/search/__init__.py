"""Joint search of OFA sub-networks and DPU-like accelerators (NAAS-style)."""

from .accelerators import AcceleratorGrid, AcceleratorSpace, InfeasibleConstraintError
from .codesign import DEFAULT_BUDGETS, search_codesign
from .evaluate import Candidates, Evaluator, Scores
from .evolution import Constraint
from .pareto import hypervolume_2d, pareto_mask
from .result import CodesignResult, Design, GenerationStats

__all__ = [
    "DEFAULT_BUDGETS",
    "AcceleratorGrid",
    "AcceleratorSpace",
    "Candidates",
    "CodesignResult",
    "Constraint",
    "Design",
    "Evaluator",
    "GenerationStats",
    "InfeasibleConstraintError",
    "Scores",
    "hypervolume_2d",
    "pareto_mask",
    "search_codesign",
]
