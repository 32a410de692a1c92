"""RobustDARTS's evaluation of S1-S4 cells on CIFAR-100 and SVHN (Zela et al., ICLR 2020): the
``robustdarts`` protocol.

Command::

    jaxnas train --space s3 --arch "Genotype(...)" --dataset cifar100 --protocol robustdarts \\
        --workdir runs/s3_c100

The ``darts`` protocol with 8 cells and 16 initial channels (600 epochs, batch 96, auxiliary
head 0.4, cutout 16, drop path 0.2). CIFAR-100 and SVHN come from TFDS (``--download`` once).

Expected result: RobustDARTS reports test errors of roughly 20-30% on CIFAR-100 and 2.5-4.5% on
SVHN for S1-S4 cells (their Table 2); not reproduced here. Run time: GPU-days; not run here.
"""

from __future__ import annotations


def get_config() -> dict:
    return {"space": "s3", "protocol": "robustdarts", "options": {"dataset": "cifar100"}}
