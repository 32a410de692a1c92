"""DARTS-PT on NAS-Bench-201 (Wang et al., ICLR 2021), the paper's setting, CIFAR-10.

Command::

    python experiments/darts_pt.py darts_pt_full runs/darts_pt_full

which is, for each of the two supernets (``darts``: alpha trained; ``fix_alpha``: alpha frozen)::

    jaxnas darts --workdir runs/darts_pt_full/darts --image-dir ../shared/data/cifar10 \\
        --epochs 100 --batch-size 64 --channels 16 --cells 5 [--fix-alpha]
    jaxnas select --method magnitude    --workdir runs/darts_pt_full/darts
    jaxnas select --method perturbation --workdir runs/darts_pt_full/darts --tune-epochs 5

Settings from the reference code (``ruocwang/darts-pt``: ``nasbench201/train_search.py`` defaults,
``exp_scripts/darts-201.sh``, ``blank-201.sh`` and ``darts-proj-201.sh``): supernet C=16, N=5,
batch 64 per half, SGD lr 0.025 cosine to 0.001, momentum 0.9, weight decay 3e-4, alpha Adam
3e-4, **100 search epochs** (``train_search.py --epochs 100``; the projection scripts resume the
supernet at epoch 100; jaxnas darts' default since issue 22) on the two halves of the CIFAR-10
train set; selection with random edge
order, criterion ``acc``, 5 fine-tuning epochs (``--proj_intv 5``) between decisions at lr/10,
candidates scored on the whole architecture half (25,000 images).

Expected result (paper, Table 3, CIFAR-10 test accuracy over 4 seeds): DARTS 54.30 (all skip
connections), DARTS-PT 88.11 +- 1.80, DARTS-PT (fix alpha) 93.80 +- 0.08. Differences here: the
CIFAR-10 images are JPEG re-encodings (slightly lower accuracies), one seed. (Since issue 20,
alpha of undecided edges keeps training during DARTS-PT fine-tuning, as in the reference.)

Run time: about 1 GPU-day in the reference (PyTorch, one GPU: ~10 h per supernet plus ~6 h of
projection); not run here (no accelerator was available for this issue).
"""

from __future__ import annotations

SHARED_IMAGES = "../shared/data/cifar10"


def get_config() -> dict:
    """``search``: :class:`jaxnas.darts.DartsConfig` options shared by both supernets (only
    those that differ from its defaults: C=16, N=5, batch 64, CIFAR-10, seed 0);
    ``variants``: the per-supernet options; ``select``: :func:`jaxnas.selection.run.select`
    options of the perturbation selection."""
    return {
        "search": {"image_dir": SHARED_IMAGES, "ckpt_every": 200},  # 100 epochs: the default
        "variants": {"darts": {}, "fix_alpha": {"fix_alpha": True}},
        "select": {"tune_epochs": 5, "steps_per_epoch": None, "valid_batches": None,
                   "crit": "acc", "order": "random", "seed": 0},
    }
