"""DARTS, DARTS-PT and DARTS-PT (fix alpha) on RobustDARTS's spaces S1-S4 (Zela et al., ICLR
2020), CIFAR-10, CIFAR-100 and SVHN (Wang et al., ICLR 2021, Table 4).

Command (``SPACE`` one of s1..s4, ``DATASET`` one of cifar10, cifar100, svhn)::

    python experiments/darts_space.py robustdarts runs/robustdarts-SPACE-DATASET \\
        --set space=SPACE --set dataset=DATASET

i.e. ``jaxnas darts --space SPACE --dataset DATASET --layers 8 --channels 16 --epochs 50``, then
``jaxnas select`` by magnitude and perturbation (as ``darts_space_full``). RobustDARTS and
darts-pt search S1-S4 with the DARTS search protocol (8 cells, C=16, 50 epochs, batch 64; on
SVHN too). ``--image-dir`` is needed for CIFAR-10 only if TFDS is not used; CIFAR-100 and SVHN
come from TFDS (``--download`` fetches them once).

Expected result (paper, Table 4, test error % of the final evaluation: 20 cells, C=36 on
CIFAR-10; 8 cells, C=16 on CIFAR-100 and SVHN): DARTS-PT on S1-S4 CIFAR-10 3.50, 2.79, 2.49,
2.64; CIFAR-100 24.48, 23.16, 22.03, 20.80; SVHN 2.37, 2.53, 2.42, 2.42. Run time: ~0.4
GPU-days per search on a 1080Ti; not run here (no accelerator, no CIFAR-100/SVHN offline).
"""

from __future__ import annotations

from configs import darts_space_full


def get_config(space: str = "s3", dataset: str = "cifar10") -> dict:
    if space not in ("s1", "s2", "s3", "s4"):
        raise ValueError(f"space={space!r}: choose s1, s2, s3 or s4")
    config = darts_space_full.get_config()
    config["title"] = f"DARTS-PT on RobustDARTS {space.upper()} ({dataset})"
    config["search"].update(space=space, dataset=dataset)
    if dataset != "cifar10":
        config["search"].pop("image_dir")
    config["variants"].pop("na_darts")
    return config
