"""Landscape analysis: exact local-minima statistics, the theory of local search, synthetic
landscapes and neighbourhood-aware scores (White, Nolen & Savani 2020; Wang et al. 2021)."""
