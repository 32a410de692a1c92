"""jaxnas: neural architecture search in JAX.

Implements White, Nolen & Savani 2020 (local search and the NAS loss landscape), Wang et al. 2021
(DARTS-PT perturbation-based selection) and Wang, Cao, Li & Kitani 2021 (neighbourhood-aware NAS).
"""

__version__ = "0.1.0"
