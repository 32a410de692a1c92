"""Landscape analysis: exact local-minima statistics, the theory of local search, synthetic
landscapes and neighbourhood-aware scores (White, Nolen & Savani 2020; Wang et al. 2021).

Pure computations on arrays and search spaces; the drivers that load benchmarks, time and
tabulate live in :mod:`jaxnas.reports`.
"""

from jaxnas.analysis import landscape, neighbourhood, synthetic, theory

__all__ = ["landscape", "neighbourhood", "synthetic", "theory"]
