"""The ``darts-quick`` protocol: DARTS's evaluation pipeline shrunk to a few minutes on a CPU.

Command::

    jaxnas train --from-workdir runs/darts_search --protocol darts-quick --workdir runs/dq \\
        --image-dir ../shared/data/cifar10

As ``train_darts`` (auxiliary head, cutout, drop path, clipping, per-epoch cosine) with 5 cells,
C=8, batch 64, 2 epochs on a seeded subset of 2,048 train images, tested on 2,000 test images.

Expected result: a test accuracy well above chance (10%) but meaningless as a number (about 2
epochs of 32 steps); it checks the path from a search to a test accuracy. Run time: a few
minutes on a contended 2-core CPU, compilation included (experiments/RESULTS_train.md).
"""

from __future__ import annotations


def get_config() -> dict:
    return {"space": "darts", "protocol": "darts-quick", "options": {}}
