"""The ``nb201-quick`` protocol: NAS-Bench-201's pipeline shrunk to a few minutes on a CPU.

Command::

    jaxnas train --from-workdir runs/nb201_search --protocol nb201-quick --workdir runs/nq \\
        --image-dir ../shared/data/cifar10

As ``train_nb201`` with N=1, C=8, batch 64, 2 epochs on a seeded subset of 2,048 train images,
tested on 2,000 test images.

Expected result: a test accuracy above chance (10%), meaningless as a number; it checks the
path from a search to a test accuracy. Run time: about a minute or two on a contended 2-core
CPU, compilation included (experiments/RESULTS_train.md).
"""

from __future__ import annotations


def get_config() -> dict:
    return {"space": "nb201", "protocol": "nb201-quick", "options": {}}
