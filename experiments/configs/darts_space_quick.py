"""DARTS-PT on the DARTS space, shrunk to run end to end on this 2-core CPU in about half an
hour (a pipeline check on real CIFAR-10 images, not a result).

Command::

    python experiments/darts_space.py darts_space_quick runs/darts_space_quick

As ``darts_space_full`` (space ``darts-7``, the three supernet variants, magnitude and
perturbation selection) but a seeded subset of 2,000 train images (1,000 per search half),
C=8, 5 cells, batch 32, 2 search epochs (62 steps); selection fine-tunes 1 epoch of 2 steps
between steps and scores candidates on 2 validation batches (64 images).

Expected result: every stage runs and writes Genotype strings that ``jaxnas train`` and PyTorch
DARTS code accept; alpha has not moved in 62 steps, so the selections say nothing about the
methods. Run time: about 20-40 minutes on the shared 2-core CPU (compilation included).
"""

from __future__ import annotations

from configs import darts_space_full


def get_config() -> dict:
    config = darts_space_full.get_config()
    config["title"] = "DARTS-PT on the DARTS space (CIFAR-10), quick CPU pipeline check"
    config["search"].update(max_examples=2000, channels=8, layers=5, batch_size=32, epochs=2,
                            ckpt_every=20)
    config["variants"]["na_darts"]["na_samples"] = 2
    config["select"].update(tune_epochs=1, steps_per_epoch=2, valid_batches=2)
    return config
