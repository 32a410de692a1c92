"""DARTS's final evaluation on CIFAR-10 (Liu et al., ICLR 2019): the ``darts`` protocol.

Command (a DARTS-space search directory, or ``--arch "Genotype(...)"``)::

    jaxnas train --from-workdir runs/darts_search --protocol darts --workdir runs/darts_eval
    jaxnas train --space darts --arch "$(python -c 'from jaxnas.spaces.darts import DARTS_V2; print(DARTS_V2)')" \\
        --protocol darts --workdir runs/darts_v2 --image-dir ../shared/data/cifar10

20 cells, C=36, auxiliary head (weight 0.4), cutout 16, drop path 0.2 ramped linearly, SGD
momentum 0.9, lr 0.025 cosine to 0 per epoch, weight decay 3e-4, gradient clipping 5, batch 96,
600 epochs, the 50,000 train images; test on the 10,000 test images.

Expected result: DARTS-V2 reaches 97.24 +- 0.09% test accuracy in the paper (3.3M parameters:
3,349,342 here without the auxiliary head). On the shared JPEG re-encodings expect a little less.
Run time: about 1.5 GPU-days on the paper's GPU; impractical on this 2-core CPU (a training step
of batch 96 takes seconds; see experiments/RESULTS_train.md). Not run here.
"""

from __future__ import annotations


def get_config() -> dict:
    return {"space": "darts", "protocol": "darts", "options": {}}
