"""NAS-Bench-201's training protocol (Dong & Yang, ICLR 2020; AutoDL-Projects
``configs/nas-benchmark/hyper-opts/200E.config``): the ``nb201`` protocol.

Command::

    jaxnas train --arch "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|" \\
        --protocol nb201 --workdir runs/nb201_best --image-dir ../shared/data/cifar10

N=5 cells per stage, C=16, SGD with Nesterov momentum 0.9, lr 0.1 cosine to 0 per iteration,
weight decay 5e-4, batch 256, 200 epochs, crop and flip; test on the 10,000 test images.

Expected result: the benchmark's ``cifar10_test_200`` column (94.37% for this, the best
architecture), a little less on the JPEG re-encodings. Run time: hours on a GPU; days here.
"""

from __future__ import annotations


def get_config() -> dict:
    return {"space": "nb201", "protocol": "nb201", "options": {}}
