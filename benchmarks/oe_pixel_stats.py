"""Low-level statistics of CIFAR-10 and of the Tiny-ImageNet OE pool at 32 px, as deepad feeds them.

    DEEPAD_DATA=../shared/data python benchmarks/oe_pixel_stats.py

A classifier trained to tell nominal images from OE images can use any difference between them,
including ones that every CIFAR-10 image shares (anomalies too). This prints two such traits for
2,000 images of each set (every 5th CIFAR-10 training image, every 5th OE image):

  gradient   mean |x[i, j+1] - x[i, j]| over pixels and channels (grey levels): how much fine
             detail and noise the images carry;
  blockiness the same mean at 8-pixel block borders (columns 7|8, 15|16, 23|24) divided by the
             mean elsewhere: JPEG's 8x8 block artefacts (1.0 = none).

OE rows: as decoded by default (Pillow's fast JPEG draft mode scales 64 px to 32 px in the DCT
domain), and as `--oe-jpeg 75` makes it (full decode, antialiased resize, JPEG quality 75, as the
CIFAR-10 copy here was made).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from deepad import make_config  # noqa: E402
from deepad.data import sources  # noqa: E402
from deepad.data.tasks import oe_pool  # noqa: E402


def traits(x: torch.Tensor) -> tuple[float, float]:
    d = (x[..., :, 1:].float() - x[..., :, :-1].float()).abs().mean(dim=(0, 1, 2))  # per column gap
    border = d[7::8]
    inner = torch.cat([d[i::8] for i in range(8) if i != 7])
    return d.mean().item(), (border.mean() / inner.mean()).item()


def main() -> int:
    data = Path(os.environ.get("DEEPAD_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    os.environ["DEEPAD_DATA"] = str(data)
    pool_dir = data / "tiny-imagenet-200-val" / "images"
    if not pool_dir.is_dir():
        print(f"error: no Tiny-ImageNet pool at {pool_dir}; point DEEPAD_DATA at the shared data",
              file=sys.stderr)
        return 2
    cifar = sources.get("cifar10").load("train").images[::5][:2000]
    oe = f"folder:{pool_dir}"
    rows = [("CIFAR-10 training images (JPEG copy, quality 75)", cifar)]
    for q in (None, 75):
        cfg = make_config(dataset="cifar10", method="hsc", oe=oe, oe_jpeg=q, epochs=1)
        pool = oe_pool(cfg, (3, 32, 32))
        x = pool.take(np.arange(0, len(pool), 5)[:2000])  # with q: re-encoded by the pool
        rows.append(("Tiny-ImageNet OE as decoded by default" if q is None else
                     f"Tiny-ImageNet OE with --oe-jpeg {q}", x))
    print(f"{'images':52} {'gradient':>9} {'blockiness':>11}")
    for name, x in rows:
        g, b = traits(x)
        print(f"{name:52} {g:9.2f} {b:11.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
