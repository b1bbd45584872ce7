"""Geometric transformations of GEOM ("geo") and Geo+ ("geo-plus"), on whole batches.

Building blocks (any dtype, batches (N, C, H, W), tensor operations only):

- `hflip`: mirror the columns;
- `shift(x, dy, dx, mode)`: integer translation, out[r, c] = in[r - dy, c - dx] (positive values
  move the content down / right), done as pad-and-crop with one of two boundary rules:
  'symmetric' duplicates the edge pixel (... c b a | a b c ...; numpy 'symmetric', which is
  scipy.ndimage / Keras 'reflect', the GEOM code's rule) and 'reflect' does not
  (... d c b | a b c d ...; PyTorch 'reflect' = OpenCV BORDER_REFLECT_101, the Geo+ code's rule);
- `rot90(x, k)`: k quarter turns counter-clockwise, as numpy's rot90 on the spatial axes.

Every transformation is a fixed map from output pixel to source pixel, so a `TransformSet`
precomputes, once per image side, an index map per transformation by running the building blocks
above on an image of pixel indices. Applying transformation t to a batch (`apply`) or a different
transformation to each image (`apply_each`) is then one index/gather over the flattened pixels:
vectorised, no Python loop over images, and by construction identical to composing the blocks.

GEOM, 72 transformations (baselines.md 3.2; izikgo/AnomalyDetectionTransformations Transformer):
flip the columns, then translate, then rotate; label = 36*flip + 12*i(t_x) + 4*i(t_y) + k with i()
the position in (0, -s, +s) and s = side // 4 (8 px at 32, 7 at 28, 2 at 8). As in Keras (row,
column order), t_x moves rows and t_y columns, and a positive value moves the content towards
index 0 (out[r] = in[r + t_x]). With 8 transformations (the code's SimpleTransformer, flip x
rotation): label = 4*flip + k.

Geo+, 36 transformations (baselines.md 4.2; hendrycks/ss-ood train.py / test.py): translate first
(reflect-101 boundary), then rotate; translation labels refer to the pre-rotation translation.
Label = 12*i(v) + 4*i(h) + r with i() the position in (0, -s, +s) (index 0 = no shift,
1 = negative, 2 = positive, the ImageNet code's order), v the vertical (rows) and h the horizontal
(columns) shift, positive = content moves down / right, r the quarter turns. Heads: rotation r
(4-way), vertical i(v) (3-way), horizontal i(h) (3-way).
"""

from __future__ import annotations

import itertools

from ..heavy import torch

MODES = ("symmetric", "reflect")


def hflip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


def rot90(x: torch.Tensor, k: int) -> torch.Tensor:
    """k quarter turns counter-clockwise of the last two axes (numpy.rot90(img, k) on (H, W))."""
    return torch.rot90(x, int(k) % 4, dims=(-2, -1))


def _pad_axis(x: torch.Tensor, p: int, dim: int, mode: str) -> torch.Tensor:
    if p == 0:
        return x
    n = x.shape[dim]
    if mode == "symmetric":
        if p > n:
            raise ValueError(f"symmetric padding {p} exceeds the side {n}")
        lo, hi = x.narrow(dim, 0, p), x.narrow(dim, n - p, p)
    elif mode == "reflect":
        if p >= n:
            raise ValueError(f"reflect padding {p} must be smaller than the side {n}")
        lo, hi = x.narrow(dim, 1, p), x.narrow(dim, n - 1 - p, p)
    else:
        raise ValueError(f"unknown boundary mode '{mode}'; use one of {MODES}")
    return torch.cat([lo.flip(dim), x, hi.flip(dim)], dim)


def pad(x: torch.Tensor, p: int, mode: str) -> torch.Tensor:
    """Pad the last two axes by p on every side: 'symmetric' (edge duplicated) or 'reflect'
    (reflect-101, equal to torch.nn.functional.pad(mode='reflect'))."""
    return _pad_axis(_pad_axis(x, p, -2, mode), p, -1, mode)


def shift(x: torch.Tensor, dy: int, dx: int, mode: str) -> torch.Tensor:
    """Integer translation: out[..., r, c] = in[..., r - dy, c - dx], the border filled by `mode`."""
    h, w = x.shape[-2:]
    p = max(abs(int(dy)), abs(int(dx)))
    if p == 0:
        return x
    xp = pad(x, p, mode)
    return xp[..., p - dy:p - dy + h, p - dx:p - dx + w]


def default_shift(side: int) -> int:
    """A quarter of the side: 8 px at 32, 7 at 28, 2 at 8."""
    return max(1, int(side) // 4)


class TransformSet:
    """A fixed list of pixel-permuting transformations of square images of one side.

    `params[t]` describes transformation t (method-specific tuple); `fn(x, *params[t])` applies it
    with the building blocks above. Index maps are computed once (on `device`, cached per device).
    """

    def __init__(self, side: int, params: list[tuple], fn):
        self.side, self.params, self.fn = int(side), list(params), fn
        idx = torch.arange(self.side * self.side).view(1, 1, self.side, self.side)
        self._maps = {torch.device("cpu"): torch.stack([fn(idx, *p).reshape(-1) for p in self.params])}

    def __len__(self) -> int:
        return len(self.params)

    def maps(self, device) -> torch.Tensor:
        device = torch.device(device)
        if device not in self._maps:
            self._maps[device] = self._maps[torch.device("cpu")].to(device)
        return self._maps[device]

    def _check(self, x):
        if x.shape[-1] != self.side or x.shape[-2] != self.side:
            raise ValueError(f"transformations built for {self.side}x{self.side} images, got "
                             f"{tuple(x.shape[-2:])}")

    def apply(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """Transformation t on every image of x (N, C, H, W)."""
        self._check(x)
        m = self.maps(x.device)[int(t)]
        return x.flatten(-2)[..., m].reshape(x.shape)

    def apply_many(self, x: torch.Tensor, ts) -> torch.Tensor:
        """Each transformation of `ts` on every image: (len(ts) * N, C, H, W), transformation-major
        (rows t*N .. t*N + N - 1 hold transformation ts[t])."""
        self._check(x)
        m = self.maps(x.device)[torch.as_tensor(list(ts), dtype=torch.long, device=x.device)]
        out = x.flatten(-2)[..., m]  # (N, C, T, HW)
        return out.permute(2, 0, 1, 3).reshape(len(m) * x.shape[0], *x.shape[1:])

    def apply_each(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Transformation labels[i] on image i (one gather for the whole batch)."""
        self._check(x)
        n, c = x.shape[:2]
        m = self.maps(x.device)[labels.to(x.device).long()]  # (N, HW)
        idx = m[:, None, :].expand(n, c, m.shape[1])
        return x.reshape(n, c, -1).gather(2, idx).reshape(x.shape)


# ---------------------------------------------------------------------------------------- GEOM
def _geo_fn(x, flip, tx, ty, k):
    if flip:
        x = hflip(x)
    if tx or ty:
        # Keras: t_x moves rows, t_y columns, out[r] = in[r + t]; shift() moves by -t
        x = shift(x, -tx, -ty, "symmetric")
    return rot90(x, k)


def geo_params(side: int, n: int = 72) -> list[tuple]:
    """(flip, t_x, t_y, k) per label, in the GEOM code's itertools.product order."""
    s = default_shift(side)
    if n == 72:
        return [(f, tx, ty, k) for f, tx, ty, k in
                itertools.product((0, 1), (0, -s, s), (0, -s, s), range(4))]
    if n == 8:
        return [(f, 0, 0, k) for f, k in itertools.product((0, 1), range(4))]
    raise ValueError(f"GEOM has 72 transformations (or the 8 of flip x rotation), not {n}")


def geo_transforms(side: int, n: int = 72) -> TransformSet:
    return TransformSet(side, geo_params(side, n), _geo_fn)


# ---------------------------------------------------------------------------------------- Geo+
def _geo_plus_fn(x, v, h, r):
    return rot90(shift(x, v, h, "reflect"), r)


def geo_plus_params(side: int) -> list[tuple]:
    """(v, h, r) per label = 12*i(v) + 4*i(h) + r, shifts in (0, -s, +s)."""
    s = default_shift(side)
    return [(v, h, r) for v, h, r in itertools.product((0, -s, s), (0, -s, s), range(4))]


def geo_plus_transforms(side: int) -> TransformSet:
    return TransformSet(side, geo_plus_params(side), _geo_plus_fn)


def geo_plus_labels(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rotation, vertical, horizontal) head labels of Geo+ transformation labels t."""
    t = t.long()
    return t % 4, t // 12, (t // 4) % 3


def geo_plus_subset(n: int) -> list[int]:
    """Test transformations: 36 = all; 20 = 4 rotations x {centre, +-s vertical only, +-s
    horizontal only} (baselines.md 4.7); 4 = the rotations of the untranslated image."""
    if n == 36:
        return list(range(36))
    if n == 20:
        return [12 * iv + 4 * ih + r for iv, ih in ((0, 0), (1, 0), (2, 0), (0, 1), (0, 2))
                for r in range(4)]
    if n == 4:
        return [0, 1, 2, 3]
    raise ValueError(f"Geo+ scores on 36, 20 or 4 transformations, not {n}")
