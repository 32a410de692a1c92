"""DARTS-PT on NAS-Bench-201, shrunk to run on a CPU in 10-15 minutes (pipeline check).

Command::

    python experiments/darts_pt.py darts_pt_quick runs/darts_pt_quick

Real CIFAR-10 images (``../shared/data/cifar10``, JPEG re-encodings), but a seeded subset of
8,000 train images (4,000 per search half), supernet C=8, N=1, batch 32, 4 search epochs (500
steps) for each supernet (DARTS and fix-alpha); DARTS-PT scores candidates on 32 validation
batches (1,024 images) and fine-tunes 2 epochs of 20 steps between decisions. Everything else as
``darts_pt_full`` (random edge order, criterion ``acc``, fine-tuning lr 0.0025).

Expected result: the pipeline runs end to end and writes ``experiments/RESULTS_darts_pt_quick.md``;
with 500 steps alpha has barely moved from its initialisation (Adam lr 3e-4), so the magnitude
pick is close to the argmax of the initial noise, and the supernet is far from trained, so the
perturbation scores are noisy; none of the numbers says anything about the methods. Run time:
about 10-15 minutes on a contended 2-core CPU (compilation included).
"""

from __future__ import annotations

from configs import darts_pt_full


def get_config() -> dict:
    config = darts_pt_full.get_config()
    config["search"].update(max_examples=8000, channels=8, cells=1, batch_size=32, epochs=4,
                            ckpt_every=125)
    config["select"].update(tune_epochs=2, steps_per_epoch=20, valid_batches=32)
    return config
