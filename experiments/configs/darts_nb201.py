"""DARTS (first order) on the NAS-Bench-201 supernet, CIFAR-10, the issue's defaults.

Command (equivalent CLI: ``jaxnas darts --workdir runs/darts_nb201 --image-dir
../shared/data/cifar10``)::

    python experiments/run_darts.py darts_nb201 runs/darts_nb201
    python experiments/run_darts.py darts_nb201:quick runs/darts_quick

Full: C=16, N=5, batch 64 per half, 100 epochs over 25,000 + 25,000 images (390 steps per
epoch), DARTS-PT's reference setting (ruocwang/darts-pt ``nasbench201/train_search.py``,
``--epochs 100``, whose supernet DARTS-PT then selects from; until issue 22 this config and
``jaxnas darts`` used 50, the epochs of NAS-Bench-201's own DARTS baseline,
AutoDL-Projects ``configs/nas-benchmark/algos/DARTS.config``). On NAS-Bench-201, first-order
DARTS is known to collapse to parameter-free operations (skip connections) with a CIFAR-10 test
accuracy near 54% (Dong & Yang, ICLR 2020, Table 5; Wang et al. 2021, Table 3: 54.30 after
100 epochs).
Run time: not measured here (no accelerator was available when this was written).

Quick (``:quick``): 2,000 images, C=8, N=2, 5 epochs, batch 64 (75 steps); on a contended
2-core CPU it took about 12 minutes including compilation and picked an architecture with
92.25% CIFAR-10 test accuracy in the table (alpha has barely moved after 75 Adam steps at
lr 3e-4, so this only shows that the pipeline runs end to end).
"""

from __future__ import annotations

SHARED_IMAGES = "../shared/data/cifar10"


def get_config(variant: str = "") -> dict:
    """Options for :func:`jaxnas.darts.train` (``variant``: ``''`` or ``'quick'``) that differ
    from :class:`jaxnas.darts.DartsConfig`'s defaults (NAS-Bench-201, CIFAR-10, 100 epochs,
    batch 64, C=16, N=5, seed 0)."""
    config = {"image_dir": SHARED_IMAGES, "ckpt_every": 200}
    if variant == "quick":
        config.update(max_examples=2000, channels=8, cells=2, epochs=5, ckpt_every=25)
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; use '' or 'quick'")
    return config
