"""NA-DARTS vs DARTS on NAS-Bench-201 at the paper's DARTS budget (GPU/TPU).

Command::

    python experiments/darts_pt.py na_darts_full runs/na_darts_full --results experiments/RESULTS_na_darts.md

Two supernets with the search settings of ``darts_pt_full`` (C=16, N=5, 100 epochs, batch 64,
all 50,000 CIFAR-10 training images split in halves): ``darts`` (the DARTS objective) and
``na_darts`` (``objective='neighborhood'``: the architecture loss is the mean over
``softmax(alpha)`` and 4 sampled swap neighbours, see :mod:`jaxnas.analysis.neighbourhood`), each followed by
magnitude and perturbation selection. Expected result: not measured (no GPU was lent while this
was written); the neighbourhood objective multiplies the cost of the architecture step by
``na_samples + 1``, so expect about 3x the DARTS search time (the DARTS search is about a GPU-day
at this budget in the reference PyTorch code).
"""

from __future__ import annotations

from configs import load


def get_config(base: str = "darts_pt_full", na_samples: int = 4) -> dict:
    config = load(base).get_config()
    config["variants"] = {"darts": {}, "na_darts": {"objective": "neighborhood",
                                                    "na_samples": na_samples}}
    config["title"] = "NA-DARTS vs DARTS on NAS-Bench-201"
    return config
