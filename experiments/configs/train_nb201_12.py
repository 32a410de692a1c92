"""NAS-Bench-201's 12-epoch schedule (``hyper-opts/12E.config``: the cosine spans 12 epochs): the
``nb201-12`` protocol, compared with the benchmark's ``*_12`` columns by
``experiments/nb201_train_check.py``.

Command::

    jaxnas train --arch "|...|" --protocol nb201-12 --workdir runs/nb201_12 \\
        --image-dir ../shared/data/cifar10

Expected result: close to the benchmark's ``cifar10_test_12`` for the architecture (trained on
the 50,000 train images and tested on the 10,000 test images, as that column), a little lower
on the JPEG re-encodings. Run time: 12 epochs of 195 steps (batch 256) of C=16, N=5; tens of
minutes to hours per architecture on this 2-core CPU (experiments/RESULTS_train.md).
"""

from __future__ import annotations


def get_config() -> dict:
    return {"space": "nb201", "protocol": "nb201-12", "options": {}}
