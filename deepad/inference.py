"""Using a stored model on new images: scoring files and folders, heatmaps, export.

Nothing here writes to the run store: a damaged run is reported, not repaired (asking for it
through get_or_train repairs it).
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import sources
from .data.augment import center_crop
from .data.images import decode, is_image_name
from .errors import DeepadError
from .store import RunStore, StoredRun
from .train import Detector


def load_run(key: str, store: RunStore | None = None) -> tuple[StoredRun, Detector]:
    """A verified stored run and its detector (CPU), or DeepadError naming the fix."""
    store = store or RunStore()
    if not isinstance(key, str) or not key.strip():
        raise DeepadError("give a run key with --run; `python -m deepad runs` lists them")
    key = key.strip()
    if key not in store:
        raise DeepadError(f"no run '{key}' in the store {store.root}; `python -m deepad runs` "
                          f"lists the stored runs and their keys")
    run = store.get(key, repair=False)
    if run is None:
        raise DeepadError(f"run {key} is damaged (a checksum does not match); train it again with "
                          f"`python -m deepad run` and the same settings, which replaces it")
    from .experiments import load_detector
    return run, load_detector(run, device="cpu")


def stored_shape(run: StoredRun) -> tuple[int, int, int]:
    """(C, H, W) of the images the run's model was trained on (before any crop)."""
    return tuple(sources.locate(run.config.dataset, run.config.dataset_id).load("test").images.shape[1:])


def image_paths(paths: list[str]) -> list[str]:
    """Image files from files and folders (recursive, sorted); DeepadError when there are none."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            for dirpath, dirnames, files in os.walk(p):
                dirnames.sort()
                out += [os.path.join(dirpath, f) for f in sorted(files) if is_image_name(f)]
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise DeepadError(f"{p} does not exist; give image files or folders")
    if not out:
        raise DeepadError(f"no images found in {', '.join(paths)}; give image files (PNG, JPEG, "
                          f"...) or folders that hold them")
    return out


@dataclass
class Scored:
    rows: list[dict]       # path, score, threshold, anomalous
    skipped: list[tuple]   # (path, reason)
    converted: int         # images resized or converted to the model's shape
    images: np.ndarray     # uint8 (n, C, H, W) of the scored rows


def score_paths(run: StoredRun, det: Detector, paths: list[str]) -> Scored:
    """Score image files with a stored model, preprocessing them as in training."""
    from PIL import Image
    shape = stored_shape(run)
    files = image_paths(paths)
    imgs, kept, skipped, converted = [], [], [], 0
    for f in files:
        try:
            with Image.open(f) as im:
                native = (1 if im.mode in ("1", "L", "LA", "I", "I;16", "F") else 3, im.height, im.width)
            imgs.append(decode(f, shape[0], shape[1]))
            kept.append(f)
            converted += native != tuple(shape)
        except Exception as e:  # noqa: BLE001 - PIL raises many types; reported by path
            skipped.append((f, str(e) or type(e).__name__))
    if not imgs:
        raise DeepadError(f"none of the {len(files)} files could be read as an image (first: "
                          f"{skipped[0][0]}: {skipped[0][1]}); give PNG or JPEG images")
    x = np.stack(imgs)
    scores = det.score_samples(torch.from_numpy(x))
    thr = float(run.metrics["threshold_at_95_tpr"])
    rows = [{"path": p, "score": float(s), "threshold_at_95_tpr": thr, "anomalous": bool(s >= thr)}
            for p, s in zip(kept, scores)]
    return Scored(rows, skipped, converted, x)


MAX_UPLOAD_IMAGES = 5000
MAX_UPLOAD_TOTAL = 500 * 2 ** 20


def uploaded_images(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """(name, bytes) of the images among uploaded files; a .zip contributes its image members
    (names inside it, no paths are written anywhere; at most MAX_UPLOAD_IMAGES images and
    MAX_UPLOAD_TOTAL bytes unpacked: a bomb is refused)."""
    import io
    import zipfile
    out, total = [], 0
    for name, data in files:
        if not name.lower().endswith(".zip"):
            out.append((name, data))
            continue
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist():
                    if info.is_dir() or not is_image_name(info.filename):
                        continue
                    total += info.file_size
                    if total > MAX_UPLOAD_TOTAL or len(out) >= MAX_UPLOAD_IMAGES:
                        raise DeepadError(f"{name} unpacks to more than {MAX_UPLOAD_IMAGES} images "
                                          f"or {MAX_UPLOAD_TOTAL // 2 ** 20} MB; score it with "
                                          f"`python -m deepad score` instead")
                    out.append((f"{name}/{info.filename}", z.read(info)))
        except zipfile.BadZipFile:
            raise DeepadError(f"{name} is not a readable zip file; upload images or a .zip of them") from None
    if not out:
        raise DeepadError("no images among the uploaded files; upload PNG or JPEG images or a .zip")
    return out


def score_uploads(run, det: Detector, files: list[tuple[str, bytes]]) -> Scored:
    """Score uploaded images (or the images of uploaded .zip files) as score_paths does files."""
    from .preview import decode_upload
    shape = tuple(det.shape_)
    imgs, kept, skipped = [], [], []
    for name, data in uploaded_images(files):
        try:
            imgs.append(decode_upload(data, shape)[0])
            kept.append(name)
        except DeepadError as e:
            skipped.append((name, str(e)))
    if not imgs:
        raise DeepadError(f"none of the {len(skipped)} files is a readable image (first: "
                          f"{skipped[0][0]}: {skipped[0][1]})")
    x = np.stack(imgs)
    scores = det.score_samples(torch.from_numpy(x))
    thr = float(run.metrics["threshold_at_95_tpr"])
    rows = [{"image": p, "score": float(s), "threshold_at_95_tpr": thr,
             "verdict": "anomalous" if s >= thr else "normal"} for p, s in zip(kept, scores)]
    return Scored(rows, skipped, len(kept), x)


def heatmap(det: Detector, image: np.ndarray, *, samples: int = 16, noise: float = 0.1,
            seed: int = 0) -> np.ndarray:
    """Where the model looks: SmoothGrad saliency of the anomaly score.

    The gradient of the score with respect to the (preprocessed) input pixels, in absolute value,
    summed over channels and averaged over `samples` copies of the input with Gaussian noise
    (std `noise` times the input's range). Input gradients apply to every method alike (HSC,
    BCE, Deep SAD, Deep SVDD, the autoencoder) and to every network, at the input's own resolution,
    which matters for 8x8 and 28x28 images where Grad-CAM's last conv map would be 2x2 to 7x7;
    averaging over noise removes most of the gradient's speckle. image: uint8 (C, H, W);
    returns float (H, W) in [0, 1] (1 = the pixels that move the score most).
    """
    from .train import _eval_view
    model, method = det.model_, det.method_
    model.eval()
    x = _eval_view(torch.from_numpy(np.array(image))[None].to(det.device_), det.prep_)
    g = torch.Generator(device=x.device).manual_seed(seed)
    scale = float(x.max() - x.min()) or 1.0
    total = torch.zeros_like(x)
    for _ in range(samples):
        xn = (x + noise * scale * torch.randn(x.shape, generator=g, device=x.device)).requires_grad_(True)
        method.score(model, xn).sum().backward()
        total += xn.grad.abs()
    h = total[0].sum(0)
    h = h - h.min()
    return (h / h.max() if h.max() > 0 else h).cpu().numpy()


def heatmap_picture(image: np.ndarray, heat: np.ndarray, scale: int | None = None) -> np.ndarray:
    """uint8 (H', W', 3): the image (left) and the heatmap over a grey copy of it (right)."""
    c, h, w = image.shape
    scale = scale or max(1, 128 // h)
    base = image.mean(0) if c == 3 else image[0]
    if heat.shape != (h, w):  # an ImageNet-type model looks at the centre crop
        pad_t, pad_l = (h - heat.shape[0]) // 2, (w - heat.shape[1]) // 2
        full = np.zeros((h, w))
        full[pad_t:pad_t + heat.shape[0], pad_l:pad_l + heat.shape[1]] = heat
        heat = full
    anchors = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], float)
    idx = heat * (len(anchors) - 1)
    lo = np.floor(idx).astype(int).clip(0, len(anchors) - 2)
    frac = (idx - lo)[..., None]
    colour = anchors[lo] * (1 - frac) + anchors[lo + 1] * frac
    overlay = 0.45 * np.repeat(base[..., None], 3, 2) + 0.55 * colour
    left = np.repeat(base[..., None], 3, 2) if c == 1 else image.transpose(1, 2, 0)
    pic = np.concatenate([left, np.full((h, 1, 3), 255), overlay], 1).clip(0, 255).astype(np.uint8)
    return pic.repeat(scale, 0).repeat(scale, 1)


def heatmap_png(image: np.ndarray, heat: np.ndarray, path: str | Path, scale: int | None = None) -> None:
    """Save `heatmap_picture` as a PNG."""
    from PIL import Image
    Image.fromarray(heatmap_picture(image, heat, scale)).save(path)


class Exported(nn.Module):
    """The network with its preprocessing and score folded in: uint8 (N, C, H, W) -> scores (N,)
    as float64, higher = more anomalous."""

    def __init__(self, det: Detector):
        super().__init__()
        import copy
        self.model = copy.deepcopy(det.model_).to(memory_format=torch.contiguous_format).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.method = det.method_
        prep = det.prep_
        self.crop = prep.crop or 0
        c = det.shape_[0] if len(det.shape_) == 3 else 1
        mean = prep.mean[:c] if prep.mean is not None else (0.0,) * c
        std = prep.std[:c] if prep.std is not None else (1.0,) * c
        self.register_buffer("mean", torch.tensor(mean).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255
        if self.crop:
            x = center_crop(x, self.crop)
        x = (x - self.mean) / self.std
        return self.method.export_score(self.model, x)


def export(run: StoredRun, det: Detector, fmt: str, out: str | Path) -> Path:
    """Write the run's model with preprocessing folded in. TorchScript loads with plain torch
    (`torch.jit.load(path)(uint8_images)`); ONNX with onnxruntime (input 'images', uint8)."""
    out = Path(out)
    wrapper = Exported(det).eval()
    shape = stored_shape(run)
    example = torch.randint(0, 256, (2, *shape), dtype=torch.uint8)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(wrapper, example, check_trace=False)
            traced.save(str(out))
        elif fmt == "onnx":
            try:
                import onnx  # noqa: F401
            except ImportError:
                raise DeepadError("ONNX export needs the onnx package (pip install onnx "
                                  "onnxruntime); or use --format torchscript") from None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(wrapper, (example,), str(out), input_names=["images"],
                                      output_names=["scores"], dynamic_axes={"images": {0: "n"}},
                                      dynamo=False, opset_version=17)
            except Exception as e:  # noqa: BLE001 - the exporter raises many types
                raise DeepadError(f"ONNX export of this model failed ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:200]}); use --format torchscript") from None
        else:
            raise DeepadError(f"unknown export format '{fmt}'; choose torchscript or onnx")
    except OSError as e:
        raise DeepadError(f"cannot write {out} ({e.strerror}); choose a writable path") from None
    return out


def note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr)


def export_bytes(run: StoredRun, det: Detector, fmt: str = "torchscript") -> bytes:
    """The export as bytes (for a download button)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = export(run, det, fmt, Path(d) / "model")
        return path.read_bytes()
