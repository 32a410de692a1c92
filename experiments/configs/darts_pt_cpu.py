"""Issue 20's CPU protocol: DARTS, DARTS-PT, DARTS-PT (fix alpha), NA-DARTS and NA-DARTS with
perturbation selection on NAS-Bench-201 CIFAR-10, shrunk where the claim does not depend on it
so that one supernet takes well under an hour on the shared 2-core CPU.

Command (resumable; run it again after an interruption)::

    python experiments/darts_pt_cpu.py --seeds 0 1 2 --out runs/darts_pt_cpu

Shrunk: a seeded 20,000-image subset of the CIFAR-10 train set (10,000 + 10,000 search halves),
images average-pooled to 16x16 (``--image-size 16``), supernet C=8, N=1, and alpha's Adam learning
rate raised tenfold to 3e-3 (``--alpha-lr``): 50 epochs are 7,800 steps against the paper's 39,000,
and at DARTS's 3e-4 alpha had hardly moved after 12 epochs (1,870 steps: mean entropy 1.6086 of log
5 = 1.6094; mean operation weights within 0.19-0.21; the partial run is kept in
``runs/darts_pt_cpu_alr3e-4_partial``). Kept: the NAS-Bench-201 cell and its 5 operations, batch
64, SGD lr 0.025 cosine, alpha Adam betas (0.5, 0.999) and decay 1e-3, first-order DARTS, 50
epochs, DARTS-PT with 5 fine-tuning epochs between decisions, alpha trained during fine-tuning
(fix-alpha: frozen), criterion ``acc``, random edge order, candidates scored on 32 batches (2,048
images).

Measured step cost (2026-12-03, quiet 2-core CPU): 13-15 steps/s (about 1,700 images/s of 2 x 64
images), i.e. about 10 minutes per 50-epoch supernet; three supernets per seed (DARTS, fix-alpha,
NA-DARTS). Expected result: the paper's ordering (DARTS-PT fix-alpha >= DARTS-PT > DARTS) only if
alpha has settled (alpha-entropy trajectory in the per-run metrics) and magnitude selection has
drifted towards parameter-free operations; at this scale that is what the run tests.
"""

from __future__ import annotations

SHARED_IMAGES = "../shared/data/cifar10"


def get_config() -> dict:
    return {
        "title": "DARTS-PT on NAS-Bench-201, CPU protocol (issue 20)",
        "search": {"image_dir": SHARED_IMAGES, "max_examples": 20000, "image_size": 16,
                   "channels": 8, "cells": 1, "batch_size": 64, "epochs": 50,
                   "alpha_lr": 3e-3, "ckpt_every": 200},
        "variants": {"darts": {}, "fix_alpha": {"fix_alpha": True},
                     "na_darts": {"objective": "neighborhood", "na_samples": 4}},
        "select": {"tune_epochs": 5, "steps_per_epoch": None, "valid_batches": 32,
                   "crit": "acc", "order": "random", "seed": 0},
    }
