"""DARTS-PT on the DARTS search space, CIFAR-10 (Wang et al., ICLR 2021, Table 1), the paper's
search setting.

Command::

    python experiments/darts_space.py darts_space_full runs/darts_space_full

which is, for each supernet variant (``darts``: alpha trained; ``fix_alpha``: alpha frozen;
``na_darts``: NA-DARTS's neighbourhood objective)::

    jaxnas darts --space darts-7 --workdir runs/darts_space_full/darts \\
        --image-dir ../shared/data/cifar10 --epochs 50 --batch-size 64 --channels 16 --layers 8
    jaxnas select --method magnitude    --workdir runs/darts_space_full/darts
    jaxnas select --method perturbation --workdir runs/darts_space_full/darts --tune-epochs 5

Settings from the reference (``ruocwang/darts-pt``, ``exp_scripts/darts-sota.sh`` and
``darts-proj-sota.sh``: ``--search_space s5``, the DARTS space without ``none``, here
``darts-7``; 50 search epochs; ``--proj_intv 5``, random edge order, criterion ``acc``):
supernet C=16, 8 cells, batch 64 per half, SGD lr 0.025 cosine to 0.001, alpha Adam 3e-4.
Selection decides one normal and one reduction edge per step (14 steps), then one node of each
cell per step (3 steps), fine-tuning 5 epochs between steps with alpha still trained (darts-proj).

Expected result (paper, Table 1, CIFAR-10 test error after the 600-epoch final evaluation, 20
cells, C=36): DARTS 3.00 +- 0.14, DARTS-PT 2.61 +- 0.08, DARTS-PT (fix alpha) 2.86 +- 0.06 %.
Those numbers need ``jaxnas train --protocol darts --from-workdir ...`` on the selections.
jaxnas also reports NAS-Bench-301's predicted validation accuracy of every genotype (``nb301``
surrogate, when its files are present), a cheap proxy.

Run time: the reference takes about 0.8 GPU-days per supernet plus projection on a 1080Ti; on
this 2-core CPU the supernet step runs at about 13 images/s (batch 64), i.e. about 80 hours per
search: not run here.
"""

from __future__ import annotations

SHARED_IMAGES = "../shared/data/cifar10"


def get_config() -> dict:
    """``search``: :class:`jaxnas.darts.DartsConfig` options shared by every variant;
    ``variants``: per-supernet options; ``select``: perturbation-selection options."""
    return {
        "title": "DARTS-PT on the DARTS space (CIFAR-10)",
        "search": {"space": "darts-7", "image_dir": SHARED_IMAGES, "epochs": 50, "layers": 8,
                   "channels": 16, "batch_size": 64, "ckpt_every": 200},
        "variants": {"darts": {}, "fix_alpha": {"fix_alpha": True},
                     "na_darts": {"objective": "neighborhood", "na_samples": 4}},
        "select": {"tune_epochs": 5, "steps_per_epoch": None, "valid_batches": None,
                   "crit": "acc", "order": "random", "seed": 0},
    }
