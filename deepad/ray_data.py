"""The data of a Ray sweep travel with it: the driver decodes each data set (its train and test
splits) and each OE pool once, as uint8 numpy arrays, and puts them into Ray's object store; a
task gets them as arguments (Ray keeps one copy per node and maps it into every task there) and
cuts its run's task from them (data.tasks.build_task). Workers need no DEEPAD_DATA and read no
files. A sweep whose data do not fit the object store is refused before anything starts."""

from __future__ import annotations

import warnings

import numpy as np

from .errors import DeepadError

FIT = 0.8  # of the object store's memory the shipped data may take


def dataset_key(cfg) -> tuple:
    return (cfg.dataset, cfg.dataset_id)


def pool_key(cfg) -> tuple | None:
    """Runs that share an OE pool (data set, identity, JPEG treatment); None without OE. The
    pool is made at the nominal data's shape, which its data set fixes."""
    if cfg.oe == "none":
        return None
    return (cfg.oe, cfg.oe_id, cfg.oe_jpeg, cfg.dataset, cfg.dataset_id)


def _mb(n: float) -> str:
    return f"{n / 2 ** 20:,.0f} MB"


def decode(configs) -> tuple[dict, dict, int]:
    """({dataset key: arrays}, {pool key: arrays}, bytes) of every data set and OE pool the
    configs use, decoded here. Arrays are plain numpy (uint8 images, int labels) and names."""
    from .data import sources
    from .data.tasks import oe_pool
    datasets, pools, total = {}, {}, 0
    shapes = {}
    for cfg in configs:
        dk = dataset_key(cfg)
        if dk not in datasets:
            src = sources.locate(cfg.dataset, cfg.dataset_id)
            train, test = src.load("train"), src.load("test")
            datasets[dk] = {"train_images": train.images.numpy(), "train_labels": train.labels.numpy(),
                            "test_images": test.images.numpy(), "test_labels": test.labels.numpy(),
                            "classes": list(test.classes), "prep": src.preprocessing()}
            shapes[dk] = tuple(train.images.shape[1:])
            total += sum(v.nbytes for v in datasets[dk].values() if isinstance(v, np.ndarray))
        pk = pool_key(cfg)
        if pk is not None and pk not in pools:
            pool = oe_pool(cfg, shapes[dk])
            size = len(pool) * int(np.prod(shapes[dk]))
            if size > 2 ** 34:  # 16 GB: e.g. the 80 Million Tiny Images binary
                raise DeepadError(f"the OE pool {cfg.oe} would take {_mb(size)} decoded: too large "
                                  f"to ship to Ray workers; give --oe-size runs a smaller pool or "
                                  f"use --executor local")
            pools[pk] = {"images": pool.take(np.arange(len(pool))).numpy(),
                         "labels": np.asarray(pool.labels), "classes": list(pool.classes)}
            total += pools[pk]["images"].nbytes
    return datasets, pools, total


def check_fits(total: int, store_bytes: float) -> None:
    if store_bytes and total > FIT * store_bytes:
        raise DeepadError(f"the data of this sweep take {_mb(total)}, more than {FIT:.0%} of the "
                          f"Ray object store ({_mb(store_bytes)}); start the cluster's nodes with "
                          f"a larger --object-store-memory, or split the sweep by data set")


def task_of(cfg, data: dict, pool: dict | None):
    """The run's task from shipped arrays (on a worker): build_task with the splits and pool
    given, so nothing is read from disk. The arrays are read-only views of the object store;
    training copies what it changes."""
    import torch

    from .data.base import ImageSet
    from .data.source import TensorPool
    from .data.tasks import build_task
    with warnings.catch_warnings():  # read-only arrays: torch warns, nothing writes to them
        warnings.simplefilter("ignore", UserWarning)
        t = torch.from_numpy
        train = ImageSet(t(data["train_images"]), t(data["train_labels"]), data["classes"])
        test = ImageSet(t(data["test_images"]), t(data["test_labels"]), data["classes"])
        oe = None if pool is None else TensorPool(t(pool["images"]), pool["labels"], pool["classes"])
    return build_task(cfg, splits=(train, test, data["prep"]), pool=oe)
