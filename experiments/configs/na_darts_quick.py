"""NA-DARTS vs DARTS on NAS-Bench-201, shrunk to run on a 2-core CPU (pipeline check).

Command::

    python experiments/darts_pt.py na_darts_quick runs/na_darts_quick --results experiments/RESULTS_na_darts.md

The search and selection settings of ``darts_pt_quick`` (8,000 CIFAR-10 JPEG images, C=8, N=1,
batch 32, 4 epochs = 500 steps; perturbation selection with 2x20 fine-tuning steps per edge on 32
validation batches) for two supernets: ``darts`` and ``na_darts`` with 2 sampled neighbours (the
architecture step then costs 3 supernet passes instead of 1). The ``darts`` supernet is the same
run as ``darts_pt_quick``'s, so its work directory can be copied over and is reused.
Expected result: the pipeline runs; at this budget alpha hardly moves from its initialisation, so
the two objectives cannot be told apart (see RESULTS_na_darts.md). Run time: about 15 minutes on
the development CPU (2 cores), most of it the NA search.
"""

from __future__ import annotations

from configs import na_darts_full


def get_config() -> dict:
    return na_darts_full.get_config(base="darts_pt_quick", na_samples=2)
