"""Data pipeline for NAS-Bench-201 search and training: datasets, search split, augmentation,
resumable sharded batches. See ``jaxnas.data.sources`` for the sources and layouts."""

from jaxnas.data.augment import augment, crop_flip, cutout, normalize
from jaxnas.data.batches import Batches, batch_sharding
from jaxnas.data.sources import (
    DATASETS,
    MEAN_STD,
    NUM_CLASSES,
    PADDING,
    Dataset,
    cache_dir,
    decode_jpegs,
    downsample,
    load,
    search_split,
)

__all__ = ["DATASETS", "MEAN_STD", "NUM_CLASSES", "PADDING", "Batches", "Dataset", "augment",
           "batch_sharding", "cache_dir", "crop_flip", "cutout", "decode_jpegs", "downsample", "load", "normalize",
           "search_split"]
