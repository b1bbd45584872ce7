"""Training and evaluation throughput of deepad against the paper's per-sample data pipeline.

A reference pipeline written the way the paper's code feeds its network is timed against deepad
in one process, alternating.

    DEEPAD_DATA=../shared/data python benchmarks/throughput.py [--quick] [--json] [--device cuda]

deepad side: the real `Detector` (HSC, default `precision="auto"`: bf16 autocast + channels-last on
a CPU with AMX, fp32 + channels-last elsewhere, batched augmentation on the training device).

Reference side (paper-protocol.md sections 4.2 and 5): a torch `Dataset` of PIL images (the same
decoded uint8 arrays deepad trains on, so reading from disk is excluded from both sides) with
per-sample torchvision transforms -- CIFAR-10: ColorJitter(0.01 x 4) -> RandomHorizontalFlip ->
RandomCrop(32, padding=4) -> ToTensor -> + 0.001 N(0, 1) -> Normalize(CIFAR-10 mean/std); MNIST:
ToTensor only -- for the nominal and the OE images; two DataLoaders of batch 128 (nominal:
shuffled, drop_last; OE: the paper's 80MTI loader, a per-epoch reshuffle of the OE subset read
cyclically from a random offset), zipped and concatenated into one batch of 256; the same network
(`deepad.nets.backbone`), the same HSC loss (`deepad.methods.get("hsc").loss`), Adam and
MultiStepLR settings; fp32, default memory format. Its `num_workers` (and the main process's torch
threads) are chosen by a short probe of every candidate; the probe is printed.

Each round trains a fresh model on each side from the same seed (deepad first, then the reference),
for `--epochs` epochs over `--nominal-size` nominal images (all of the class by default); the
first `--warmup` steps of a round are not timed. Training img/s counts nominal + OE images (256
per step). The median over rounds per side and the ratio are reported, with the test AUROC of
each round's models (same epochs, same seed) and evaluation throughput (scoring the test images:
deepad's `score_samples` vs. a DataLoader with ToTensor + Normalize and a fp32 forward pass);
the AUROC difference comes with the 95% confidence interval of its paired mean over rounds. Both
sides train on the same OE images, on CIFAR-10 made like the JPEG copy (`--oe-jpeg`, as the
reproduction runs; without it the classifier learns the codec shortcut and AUROCs are lower and
noisier).
Peak memory: the peak resident set (`getrusage` ru_maxrss) of a child process that loads the data
and runs one CIFAR-10 training of the round settings, for each side (the reference's DataLoader
workers are reported separately as the largest child's ru_maxrss).

`--device cuda`: the same comparison on the GPU, plus one timed full paper-protocol run (CIFAR-10
class 0, 5,000 nominal images, HSC, 200 epochs with milestones 100/150, the whole OE pool);
without a CUDA device the script says 'no CUDA device' and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from deepad import make_config, methods, metrics  # noqa: E402
from deepad.data import sources  # noqa: E402
from deepad.data.augment import (  # noqa: E402
    CIFAR10_MEAN,
    CIFAR10_STD,
    train_view,  # noqa: E402
)
from deepad.data.tasks import build_task  # noqa: E402
from deepad.nets import backbone  # noqa: E402
from deepad.train import Callback, Detector  # noqa: E402

BATCH = 128
TARGET_RATIO = 3.0
TARGET_PAPER_S = 60.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def n_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


# ============================================================================ reference pipeline
class AddNoise:
    """+ 0.001 N(0, 1) per pixel, after ToTensor (the paper's lambda, picklable)."""

    def __call__(self, x):
        return x + 0.001 * torch.randn_like(x)


def reference_transforms(augment: bool, normalize: bool, train: bool):
    from torchvision import transforms as T
    tf = []
    if train and augment:
        tf += [T.ColorJitter(brightness=0.01, contrast=0.01, saturation=0.01, hue=0.01),
               T.RandomHorizontalFlip(p=0.5), T.RandomCrop(32, padding=4)]
    tf.append(T.ToTensor())
    if train and augment:
        tf.append(AddNoise())
    if normalize:
        tf.append(T.Normalize(CIFAR10_MEAN, CIFAR10_STD))
    return T.Compose(tf)


def to_pil(images: torch.Tensor) -> list:
    """uint8 (N, C, H, W) -> PIL images (RGB or L), as torchvision's data sets hand them over."""
    from PIL import Image
    a = images.numpy()
    if a.shape[1] == 1:
        return [Image.fromarray(x[0], mode="L") for x in a]
    return [Image.fromarray(x, mode="RGB") for x in a.transpose(0, 2, 3, 1)]


class PILDataset(Dataset):
    def __init__(self, pils, transform):
        self.pils, self.transform = pils, transform

    def __len__(self):
        return len(self.pils)

    def __getitem__(self, i):
        return self.transform(self.pils[i])


class OEDataset(Dataset):
    """The paper's 80MTI OE loader: item i is subset position (i + offset) mod size of a per-epoch
    shuffled index list; `length` items per epoch (as many as the nominal set, so that the zip of
    the two loaders lasts a nominal epoch)."""

    def __init__(self, pils, transform, length):
        self.pils, self.transform, self.length = pils, transform, length
        self.perm, self.offset = np.arange(len(pils)), 0

    def new_epoch(self, rng: np.random.Generator):
        self.perm = rng.permutation(len(self.pils))
        self.offset = int(rng.integers(len(self.pils)))

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        return self.transform(self.pils[self.perm[(i + self.offset) % len(self.pils)]])


class RefData:
    """The reference's PIL images and transforms for one task (built once, reused by rounds)."""

    def __init__(self, task, nominal_size):
        prep = task.prep
        self.augment, self.normalize = prep.augment, prep.mean is not None
        self.nominal = to_pil(task.train[:nominal_size])
        self.oe = to_pil(task.oe.images)
        self.train_tf = reference_transforms(self.augment, self.normalize, train=True)
        self.test_tf = reference_transforms(self.augment, self.normalize, train=False)
        self.shape = tuple(task.train.shape[1:])


def reference_train(rd: RefData, *, epochs, milestones, lr, weight_decay, seed, workers, threads,
                    dev, warmup, max_steps=None):
    """Train a fresh network the paper's way. Returns (model, info) with per-step timestamps."""
    torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    method = methods.get("hsc")
    model = backbone(rd.shape).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(milestones), gamma=0.1)
    nom_ds = PILDataset(rd.nominal, rd.train_tf)
    oe_ds = OEDataset(rd.oe, rd.train_tf, len(nom_ds))
    kw = dict(batch_size=BATCH, drop_last=True, num_workers=workers)
    nom_loader = DataLoader(nom_ds, shuffle=True, **kw)
    oe_loader = DataLoader(oe_ds, shuffle=False, **kw)
    y = torch.cat([torch.zeros(BATCH), torch.ones(BATCH)]).to(dev)
    rng = np.random.default_rng(seed)
    stamps, step = [], 0
    last = max_steps or epochs * (len(nom_ds) // BATCH)  # synchronised on CUDA, as the warm-up's end
    sync(dev)
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        oe_ds.new_epoch(rng)  # before iter(): forked workers see the new order
        for xn, xo in zip(nom_loader, oe_loader):
            x = torch.cat([xn, xo]).to(dev)
            loss = method.loss(model, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if dev.type == "cuda" and step in (warmup, last):
                sync(dev)
            stamps.append(time.perf_counter())
            if max_steps and step >= max_steps:
                break
        sched.step()
        if max_steps and step >= max_steps:
            break
    sync(dev)
    total = time.perf_counter() - t0
    return model, {"stamps": stamps, "t0": t0, "seconds": total, "steps": step}


@torch.no_grad()
def reference_scores(model, rd: RefData, images, *, workers, threads, dev):
    torch.set_num_threads(threads)
    method = methods.get("hsc")
    ds = PILDataset(to_pil(images), rd.test_tf)
    model.eval()
    out = []
    sync(dev)
    t0 = time.perf_counter()
    for x in DataLoader(ds, batch_size=BATCH, shuffle=False, num_workers=workers):
        out.append(method.score(model, x.to(dev)).cpu())
    sync(dev)
    return torch.cat(out).numpy(), time.perf_counter() - t0


# ============================================================================ deepad side
class StepClock(Callback):
    """Timestamps after every optimiser step (synchronised on CUDA at the window's edges only)."""

    def __init__(self, warmup, dev):
        self.warmup, self.dev, self.stamps, self.total = warmup, dev, [], 0

    def on_fit_start(self, det, total_steps):
        self.total = total_steps
        sync(self.dev)
        self.t0 = time.perf_counter()

    def on_step_end(self, det, step, loss):
        if self.dev.type == "cuda" and step in (self.warmup, self.total):
            sync(self.dev)
        self.stamps.append(time.perf_counter())


PRECISION = ["auto"]  # --precision: deepad's autocast choice (fp32 shows a CPU without bf16)


def deepad_train(task, nominal, *, epochs, milestones, lr, weight_decay, seed, threads, dev,
                 warmup):
    torch.set_num_threads(threads)
    clock = StepClock(warmup, dev)
    det = Detector("hsc", epochs=epochs, milestones=milestones, lr=lr, weight_decay=weight_decay,
                   preprocessing=task.prep, device=dev.type, random_state=seed, callbacks=[clock],
                   precision=PRECISION[0])
    det.fit(nominal, task.oe)
    return det, {"stamps": clock.stamps, "t0": clock.t0, "seconds": det.train_seconds_,
                 "steps": len(clock.stamps)}


def window_rate(info, warmup) -> float:
    """Images per second over the steps after the first `warmup` (256 images per step)."""
    st = info["stamps"]
    if len(st) <= warmup:
        raise SystemExit(f"a round has only {len(st)} steps; need more than --warmup {warmup} "
                         f"(raise --nominal-size or --epochs)")
    start = st[warmup - 1] if warmup > 0 else info["t0"]
    n = len(st) - warmup
    return n * 2 * BATCH / (st[-1] - start)


# ============================================================================ the machine's limit
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_info() -> dict:
    """The CPU model and which of the flags that decide the training speed it has."""
    from deepad import machine
    flags = machine.cpu_flags()
    return {"cpu_model": machine.cpu_model() if flags else None,
            "cpu_flags": {f: f in flags for f in CPU_FLAGS}}


def compute_limit(task, nominal, *, precision, threads, dev, steps, warmup) -> float:
    """Images per second of the train step alone: the same network (HSC's), batch (128 nominal +
    128 OE), loss, Adam step, precision, memory format and thread count as deepad's Detector, on
    one batch already preprocessed and in memory, so no data handling at all. What a training
    loop can reach at most on this machine."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    method = methods.get("hsc")
    prep = task.prep
    shape = prep.input_shape(tuple(nominal.shape[1:]))
    model = method.build(shape).to(dev).to(memory_format=torch.channels_last)
    g = torch.Generator(device=dev).manual_seed(0)
    oe = task.oe.take(np.arange(min(BATCH, len(task.oe))) % len(task.oe))
    raw = torch.cat([nominal[:BATCH], oe]).to(dev)
    x = train_view(raw, prep, g).contiguous(memory_format=torch.channels_last)
    y = torch.cat([torch.zeros(BATCH), torch.ones(len(oe))]).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-7)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=(precision == "bf16"))
    model.train()
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            sync(dev)
            t0 = time.perf_counter()
        with autocast:
            loss = method.loss(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(dev)
    return steps * len(x) / (time.perf_counter() - t0)


def eval_limit(det, test, *, threads, dev, repeats=3) -> float:
    """Images per second of the scoring forward pass alone (fp32, eval mode, the detector's own
    network, memory format and batch of 1,024), on test images already preprocessed in memory."""
    from deepad.data.augment import eval_view
    torch.set_num_threads(threads)
    x = eval_view(test[:1024].to(dev), det.prep_).contiguous(memory_format=torch.channels_last)
    det.model_.eval()
    best = 0.0
    with torch.inference_mode():
        det.method_.score(det.model_, x[:64])  # warm-up
        for _ in range(repeats):
            sync(dev)
            t0 = time.perf_counter()
            det.method_.score(det.model_, x)
            sync(dev)
            best = max(best, len(x) / (time.perf_counter() - t0))
    return best


# ============================================================================ probe
def probe_workers(rd, cfg, candidates, cores, dev, steps, warmup):
    """Reference img/s for each (num_workers, main-process threads) candidate; the best one wins."""
    combos = []
    for w in candidates:
        for th in sorted({cores, max(1, cores - w)}, reverse=True):
            combos.append((w, th))
    rows = []
    for w, th in combos:
        _, info = reference_train(rd, epochs=10 ** 6, milestones=(), lr=cfg.lr,
                                  weight_decay=cfg.weight_decay, seed=0, workers=w, threads=th,
                                  dev=dev, warmup=warmup, max_steps=warmup + steps)
        r = window_rate(info, warmup)
        rows.append({"num_workers": w, "threads": th, "img_per_s": r})
        log(f"    reference probe: num_workers={w} torch threads={th}: {r:7.0f} img/s")
    best = max(rows, key=lambda r: r["img_per_s"])
    return best, rows


# ============================================================================ one data set
def bench_dataset(ds, a, dev, cores):
    data = Path(os.environ["DEEPAD_DATA"])
    oe = f"folder:{data / 'tiny-imagenet-200-val' / 'images'}"
    q = sources.oe_jpeg_setting(a.oe_jpeg, ds, oe)
    cfg = make_config(dataset=ds, normal_class=a.normal_class, oe=oe, oe_size=a.oe_size,
                      method="hsc", epochs=a.epochs, seed=a.seed, oe_jpeg=q)
    task = build_task(cfg)
    n_nom = min(a.nominal_size or len(task.train), len(task.train))
    nominal = task.train[:n_nom].contiguous()
    steps_per_epoch = n_nom // BATCH
    need = max(a.warmup + 1 - (steps_per_epoch * (a.epochs - 1)), a.probe_warmup + a.probe_steps)
    if steps_per_epoch < need:
        raise SystemExit(f"{ds}: {n_nom} nominal images give {steps_per_epoch} steps of {BATCH} per "
                         f"epoch; the probe and the untimed warm-up need {need} ({need * BATCH} "
                         f"images): raise --nominal-size or lower --warmup / --probe-steps")
    rd = RefData(task, n_nom)
    rng = np.random.default_rng(0)
    n_test = len(task.test)
    idx = (np.sort(rng.choice(n_test, a.test_size, replace=False))
           if a.test_size and a.test_size < n_test else np.arange(n_test))
    test, labels = task.test[idx].contiguous(), task.test_labels[idx]
    log(f"{ds}: class {a.normal_class}, {n_nom} nominal images ({steps_per_epoch} steps/epoch), "
        f"{len(task.oe)} OE images (JPEG {q or 'off'}), {len(test)} test images; {a.epochs} epoch(s) per round, "
        f"{a.rounds} round(s), first {a.warmup} step(s) of each round untimed")

    if a.workers == "auto":  # quick: none and one per core only
        cand = sorted({0, cores}) if a.quick else sorted({0, 1, 2} | {k for k in (4, 8) if k <= cores})
    else:
        cand = [int(w) for w in a.workers.split(",")]
    # warm-up: one short untimed fit per side (kernel caches, allocator, oneDNN primitives)
    pw, ps = a.probe_warmup, a.probe_steps
    probe_nom = nominal[:min(len(nominal), BATCH * (pw + ps))]
    dkw = dict(epochs=1, milestones=(), lr=cfg.lr, weight_decay=cfg.weight_decay, seed=0, dev=dev)
    deepad_train(task, probe_nom[:BATCH * 2], threads=cores, warmup=0, **dkw)
    if a.threads:
        d_th, d_probe = a.threads, []
    else:  # the same short probe as the reference's: deepad's best torch thread count
        d_probe = []
        for th in sorted({cores, 1}, reverse=True):
            _, info = deepad_train(task, probe_nom, threads=th, warmup=pw, **dkw)
            d_probe.append({"threads": th, "img_per_s": window_rate(info, pw)})
            log(f"    deepad probe: torch threads={th}: {d_probe[-1]['img_per_s']:7.0f} img/s")
        d_th = max(d_probe, key=lambda r: r["img_per_s"])["threads"]
    best, probe = probe_workers(rd, cfg, cand, cores, dev, ps, pw)
    w, th_ref = best["num_workers"], best["threads"]
    log(f"  reference uses num_workers={w} (per loader), torch threads={th_ref} in the main "
        f"process (workers run 1 thread each); deepad uses torch threads={d_th}")

    rounds = []
    kw = dict(epochs=a.epochs, milestones=cfg.milestones, lr=cfg.lr,
              weight_decay=cfg.weight_decay, dev=dev, warmup=a.warmup)
    for r in range(a.rounds):
        seed = a.seed + r
        det, di = deepad_train(task, nominal, seed=seed, threads=d_th, **kw)
        d_rate = window_rate(di, a.warmup)
        torch.set_num_threads(d_th)
        t0 = time.perf_counter()
        d_scores = det.score_samples(test)
        sync(dev)
        d_eval = len(test) / (time.perf_counter() - t0)
        d_auc = metrics.auroc(labels, d_scores)

        model, ri = reference_train(rd, seed=seed, workers=w, threads=th_ref, **kw)
        r_rate = window_rate(ri, a.warmup)
        r_scores, r_sec = reference_scores(model, rd, test, workers=w, threads=th_ref, dev=dev)
        r_eval = len(test) / r_sec
        r_auc = metrics.auroc(labels, r_scores)
        row = {"round": r + 1, "seed": seed,
               "deepad_img_per_s": d_rate, "reference_img_per_s": r_rate, "ratio": d_rate / r_rate,
               "deepad_train_s": di["seconds"], "reference_train_s": ri["seconds"],
               "deepad_auroc": d_auc, "reference_auroc": r_auc,
               "deepad_eval_img_per_s": d_eval, "reference_eval_img_per_s": r_eval}
        rounds.append(row)
        log(f"  round {r + 1}: deepad {d_rate:7.0f} img/s (AUROC {d_auc:.4f}, eval {d_eval:6.0f} "
            f"img/s) | reference {r_rate:7.0f} img/s (AUROC {r_auc:.4f}, eval {r_eval:6.0f} img/s) "
            f"| x{d_rate / r_rate:.2f}")

    limit_steps = max(a.probe_steps, 4) if a.quick else max(4 * a.probe_steps, 20)
    limits = [compute_limit(task, nominal, precision=det.precision_, threads=d_th, dev=dev,
                            steps=limit_steps, warmup=a.warmup) for _ in range(2 if a.quick else 3)]
    limit = statistics.median(limits)
    e_limit = eval_limit(det, test, threads=d_th, dev=dev)
    log(f"  scoring limit (the fp32 forward pass alone, batch 1,024): {e_limit:7.0f} img/s")
    log(f"  compute limit (the train step alone, {det.precision_}, {d_th} threads): {limit:7.0f} "
        f"img/s (runs {', '.join(f'{v:.0f}' for v in limits)})")

    def med(k):
        return statistics.median(x[k] for x in rounds)

    def mean(k):
        return statistics.fmean(x[k] for x in rounds)

    out = {"dataset": ds, "normal_class": a.normal_class, "nominal_images": n_nom,
           "oe_images": len(task.oe), "oe_jpeg": q, "test_images": len(test), "epochs_per_round": a.epochs,
           "steps_per_round": steps_per_epoch * a.epochs, "timed_steps_per_round":
           steps_per_epoch * a.epochs - a.warmup, "rounds": rounds,
           "deepad_precision": det.precision_, "deepad_threads": d_th, "deepad_probe": d_probe,
           "reference_num_workers": w, "reference_threads": th_ref, "reference_probe": probe,
           "deepad_img_per_s": med("deepad_img_per_s"),
           "reference_img_per_s": med("reference_img_per_s"),
           "deepad_auroc": mean("deepad_auroc"), "reference_auroc": mean("reference_auroc"),
           "deepad_eval_img_per_s": med("deepad_eval_img_per_s"),
           "reference_eval_img_per_s": med("reference_eval_img_per_s")}
    out["ratio"] = out["deepad_img_per_s"] / out["reference_img_per_s"]
    out["compute_limit_img_per_s"] = limit
    out["compute_limit_runs"] = limits
    out["fraction_of_limit"] = out["deepad_img_per_s"] / limit
    out["reference_fraction_of_limit"] = out["reference_img_per_s"] / limit
    out["eval_limit_img_per_s"] = e_limit
    out["eval_fraction_of_limit"] = out["deepad_eval_img_per_s"] / e_limit
    out["eval_ratio"] = out["deepad_eval_img_per_s"] / out["reference_eval_img_per_s"]
    out["auroc_change_points"] = 100 * (out["deepad_auroc"] - out["reference_auroc"])
    out["auroc_change_ci95_points"] = paired_ci95(
        [100 * (x["deepad_auroc"] - x["reference_auroc"]) for x in rounds])
    return out


def paired_ci95(diffs: list[float]) -> list[float] | None:
    """95% confidence interval (Student t) of the mean of the per-round differences (both sides
    trained from the same seed in a round); None with fewer than 2 rounds."""
    if len(diffs) < 2:
        return None
    from scipy.stats import t
    m, half = statistics.fmean(diffs), t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs)
    half /= len(diffs) ** 0.5
    return [m - half, m + half]


# ============================================================================ peak memory (child)
def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets the peak resident set (VmHWM) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_child(a, dev):
    """Runs in a child process: load CIFAR-10, train once on one side, print its peak RSS."""
    import gc
    data = Path(os.environ["DEEPAD_DATA"])
    oe = f"folder:{data / 'tiny-imagenet-200-val' / 'images'}"
    cfg = make_config(dataset="cifar10", normal_class=a.normal_class, oe=oe, oe_size=a.oe_size,
                      method="hsc", epochs=a.epochs, seed=a.seed,
                      oe_jpeg=sources.oe_jpeg_setting(a.oe_jpeg, "cifar10"))
    task = build_task(cfg)
    n_nom = min(a.nominal_size or len(task.train), len(task.train))
    kw = dict(epochs=a.epochs, milestones=cfg.milestones, lr=cfg.lr,
              weight_decay=cfg.weight_decay, seed=a.seed, dev=dev, warmup=0)
    nominal = task.train[:n_nom].contiguous()
    rd = RefData(task, n_nom) if a._peak_child == "reference" else None
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    reset = _reset_peak_rss()
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    if rd is None:
        deepad_train(task, nominal, threads=a.threads, **kw)
    else:
        reference_train(rd, workers=a._ref_workers, threads=a._ref_threads, **kw)
    kb = 1024
    res = {"side": a._peak_child, "nominal_images": n_nom, "epochs": a.epochs,
           "train_s": time.perf_counter() - t0,
           "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kb,
           "rss_before_training_mb": before,
           "training_peak_rss_mb": _status_mb("VmHWM") if reset else None}
    if a._peak_child == "reference":
        res["largest_worker_peak_rss_mb"] = (
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kb if a._ref_workers else None)
    if dev.type == "cuda":
        res["cuda_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    print(json.dumps(res))


def measure_peak(a, side, d_threads, ref_workers, ref_threads):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_peak-child", side,
           "--device", a.device, "--epochs", str(a.epochs), "--seed", str(a.seed),
           "--normal-class", str(a.normal_class), "--oe-size", str(a.oe_size),
           "--oe-jpeg", a.oe_jpeg, "--precision", a.precision,
           "--nominal-size", str(a.nominal_size or 0), "--threads", str(d_threads),
           "--_ref-workers", str(ref_workers), "--_ref-threads", str(ref_threads)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        log(r.stderr[-2000:])
        raise SystemExit(f"the peak-memory child ({side}) failed with status {r.returncode}")
    return {**json.loads(r.stdout.strip().splitlines()[-1]), "wall_s": wall}


# ============================================================================ paper run (GPU)
def paper_run(a, dev):
    data = Path(os.environ["DEEPAD_DATA"])
    oe = f"folder:{data / 'tiny-imagenet-200-val' / 'images'}"
    cfg = make_config(dataset="cifar10", normal_class=0, oe=oe, oe_size=None, method="hsc",
                      preset="paper", seed=a.seed,
                      oe_jpeg=sources.oe_jpeg_setting(a.oe_jpeg, "cifar10"))
    task = build_task(cfg)
    epochs = a.paper_epochs
    milestones = cfg.milestones if epochs == cfg.epochs else tuple(
        m for m in cfg.milestones if m < epochs)
    log(f"paper-protocol run: CIFAR-10 class 0, {len(task.train)} nominal images, {len(task.oe)} "
        f"OE images, HSC, {epochs} epochs (milestones {milestones}), device {dev}")
    sync(dev)
    t0 = time.perf_counter()
    det = Detector("hsc", epochs=epochs, milestones=milestones, lr=cfg.lr,
                   weight_decay=cfg.weight_decay, preprocessing=task.prep, device=dev.type,
                   random_state=a.seed).fit(task.train, task.oe)
    sync(dev)
    wall = time.perf_counter() - t0
    auc = metrics.auroc(task.test_labels, det.score_samples(task.test))
    res = {"epochs": epochs, "milestones": list(milestones), "nominal_images": len(task.train),
           "oe_images": len(task.oe), "fit_wall_s": wall, "train_s": det.train_seconds_,
           "auroc": auc, "precision": det.precision_,
           "projected_200_epoch_s": det.train_seconds_ / epochs * 200,
           "target_s": TARGET_PAPER_S}
    res["meets_target"] = res["projected_200_epoch_s"] < TARGET_PAPER_S if epochs != 200 \
        else wall < TARGET_PAPER_S
    log(f"  {epochs} epochs: fit {wall:.1f} s (training loop {det.train_seconds_:.1f} s), AUROC "
        f"{auc:.4f}" + ("" if epochs == 200 else
                       f"; projected 200 epochs: {res['projected_200_epoch_s']:.1f} s"))
    return res


# ============================================================================ main
def build_parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--quick", action="store_true",
                    help="a smaller budget (whole run under a minute on the 2-core CPU): 2 rounds of "
                         "1 epoch on 1,280 nominal images, probes of num_workers 0 and one per "
                         "core, no peak-memory children (--memory adds them)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--datasets", default="cifar10,mnist")
    ap.add_argument("--normal-class", type=int, default=0)
    ap.add_argument("--oe-size", type=int, default=64,
                    help="Tiny-ImageNet OE images (the benchmarks' convention: 64)")
    ap.add_argument("--oe-jpeg", default="auto", metavar="QUALITY|auto|none",
                    help="make the OE images as the nominal JPEG copy was made, for both sides "
                         "(RunConfig.oe_jpeg; auto: 75 on the cifar10-jpg copy, none on MNIST)")
    ap.add_argument("--rounds", type=int, help="alternating rounds per side (default 3; quick 2)")
    ap.add_argument("--epochs", type=int, help="epochs per round (default 2; quick 1)")
    ap.add_argument("--nominal-size", type=int,
                    help="nominal images used (default all of the class; quick 1280 = 10 steps)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps at the start of a round")
    ap.add_argument("--test-size", type=int,
                    help="test images scored for AUROC and eval throughput (default all; quick 1000)")
    ap.add_argument("--workers", default="auto",
                    help="reference num_workers candidates, e.g. 0,1,2 (auto: 0,1,2 and 4, 8 where "
                         "the machine has that many cores; quick: 0 and the number of cores)")
    ap.add_argument("--threads", type=int,
                    help="deepad's torch threads (default: the faster of all usable cores and 1, "
                         "by the same short probe the reference's settings get)")
    ap.add_argument("--probe-steps", type=int, help="timed steps per probe candidate")
    ap.add_argument("--probe-warmup", type=int, default=1)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    ap.add_argument("--memory", action="store_true",
                    help="measure peak memory with --quick too (quick skips it: 15 s of its minute)")
    ap.add_argument("--paper-epochs", type=int,
                    help="epochs of the timed paper-protocol run on CUDA (default 200; quick 10)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                    help="deepad's precision (default auto: bf16 where the CPU has it); fp32 "
                         "shows how deepad fares on a CPU without bf16, limit measured alike")
    ap.add_argument("--_peak-child", choices=("deepad", "reference"), help=argparse.SUPPRESS)
    ap.add_argument("--_ref-workers", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--_ref-threads", type=int, default=1, help=argparse.SUPPRESS)
    return ap


def main():
    ap = build_parser()
    a = ap.parse_args()
    PRECISION[0] = a.precision
    if a.oe_jpeg not in ("auto", "none") and not (a.oe_jpeg.isdigit() and 1 <= int(a.oe_jpeg) <= 95):
        ap.error(f"--oe-jpeg {a.oe_jpeg!r}: give a JPEG quality 1..95, auto or none")
    q = a.quick
    cores = n_cpus()
    a.rounds = a.rounds or (2 if q else 3)
    a.epochs = a.epochs or (1 if q else 2)
    if a.nominal_size is None:
        a.nominal_size = 1280 if q else 0
    if a.test_size is None:
        a.test_size = 1000 if q else 0
    a.probe_steps = a.probe_steps or (2 if q else 6)
    a.paper_epochs = a.paper_epochs or (10 if q else 200)
    os.environ["DEEPAD_DATA"] = str(Path(os.environ.get("DEEPAD_DATA",
                                                        REPO.parent / "shared" / "data")).resolve())
    if a.device == "cuda" and not torch.cuda.is_available():
        msg = "no CUDA device: --device cuda needs a machine with a usable CUDA GPU"
        log(msg)
        if a.json:
            print(json.dumps({"error": msg, "device": "cuda"}))
        sys.exit(2)
    oe_dir = Path(os.environ["DEEPAD_DATA"]) / "tiny-imagenet-200-val" / "images"
    if not oe_dir.is_dir():
        log(f"no OE pool at {oe_dir}: point DEEPAD_DATA at the shared data (see its README)")
        sys.exit(2)
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads or cores)
    if a._peak_child:
        peak_child(a, dev)
        return

    t_start = time.perf_counter()
    env = {"device": str(dev), "gpu": torch.cuda.get_device_name() if dev.type == "cuda" else None,
           "cpu_cores": cores, **cpu_info(), "torch": torch.__version__, "quick": q,
           "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    log(f"device {dev}{' (' + env['gpu'] + ')' if env['gpu'] else ''}, {cores} usable CPU cores "
        f"({env['cpu_model']}; {', '.join(f for f, on in env['cpu_flags'].items() if on) or 'no AVX2'}), "
        f"torch {torch.__version__}, load average {env['load_average']}")
    res = {**env, "datasets": {}}
    phases = res["phase_s"] = {}
    for ds in a.datasets.split(","):
        t0 = time.perf_counter()
        res["datasets"][ds] = bench_dataset(ds, a, dev, cores)
        phases[ds] = time.perf_counter() - t0
    c = res["datasets"].get("cifar10")
    if c:
        res.update({"deepad_img_per_s": c["deepad_img_per_s"],
                    "reference_img_per_s": c["reference_img_per_s"], "ratio": c["ratio"],
                    "compute_limit_img_per_s": c["compute_limit_img_per_s"],
                    "fraction_of_limit": c["fraction_of_limit"],
                    "reference_fraction_of_limit": c["reference_fraction_of_limit"],
                    "precision": c["deepad_precision"],
                    "deepad_auroc": c["deepad_auroc"], "reference_auroc": c["reference_auroc"],
                    "target_ratio": TARGET_RATIO,
                    "meets_ratio_target": c["ratio"] >= TARGET_RATIO,
                    "auroc_not_worse": c["deepad_auroc"] >= c["reference_auroc"],
                    "auroc_change_ci95_points": c["auroc_change_ci95_points"]})
        res["meets_target"] = res["meets_ratio_target"] and res["auroc_not_worse"]
    if not a.no_memory and (a.memory or not q):
        ch = c if c else {"deepad_threads": cores, "reference_num_workers": 0,
                          "reference_threads": cores}
        d_th, w, th = ch["deepad_threads"], ch["reference_num_workers"], ch["reference_threads"]
        sides = ("deepad",) if q else ("deepad", "reference")
        res["peak_memory"] = {"what": "a child process loads CIFAR-10 and trains once with the "
                              "round settings; MiB: process_peak_rss = getrusage ru_maxrss (data "
                              "loading included), training_peak_rss = VmHWM after resetting it "
                              "(/proc/self/clear_refs) just before training",
                              **{s: measure_peak(a, s, d_th, w, th) for s in sides}}
        for s, m in res["peak_memory"].items():
            if isinstance(m, dict):
                tr = m["training_peak_rss_mb"]
                wk = m.get("largest_worker_peak_rss_mb")
                log(f"peak memory, {s}: {m['process_peak_rss_mb']:.0f} MiB resident over the "
                    f"whole process (data loading included); during training "
                    f"{'n/a' if tr is None else f'{tr:.0f} MiB'} (from "
                    f"{m['rss_before_training_mb']:.0f} MiB before)"
                    + (f"; largest DataLoader worker {wk:.0f} MiB" if wk else ""))
        phases["peak_memory"] = sum(m["wall_s"] for m in res["peak_memory"].values()
                                    if isinstance(m, dict))
    if dev.type == "cuda":
        t0 = time.perf_counter()
        res["paper_run"] = paper_run(a, dev)
        phases["paper_run"] = time.perf_counter() - t0
    res["wall_s"] = time.perf_counter() - t_start

    lines = ["", f"throughput on {dev} ({cores} cores; timings are medians over alternating rounds)"]
    for ds, d in res["datasets"].items():
        lines.append(f"  {ds:8} train: deepad {d['deepad_img_per_s']:7.0f} img/s "
                     f"({d['deepad_precision']}), reference {d['reference_img_per_s']:7.0f} img/s "
                     f"(fp32, num_workers={d['reference_num_workers']}, threads "
                     f"{d['reference_threads']}) -> x{d['ratio']:.2f}")
        lines.append(f"  {ds:8} AUROC (mean of {len(d['rounds'])} round(s), {d['epochs_per_round']} "
                     f"epoch(s) on {d['nominal_images']} nominal images, {d['test_images']} test "
                     f"images): deepad {d['deepad_auroc']:.4f}, reference {d['reference_auroc']:.4f} "
                     f"({d['auroc_change_points']:+.2f} points"
                     + (", 95% CI of the paired mean {:+.2f} .. {:+.2f})".format(
                         *d["auroc_change_ci95_points"]) if d["auroc_change_ci95_points"] else ")"))
        lines.append(f"  {ds:8} compute limit (train step alone): {d['compute_limit_img_per_s']:7.0f} "
                     f"img/s; deepad at {100 * d['fraction_of_limit']:.0f}% of it, the reference at "
                     f"{100 * d['reference_fraction_of_limit']:.0f}% (target: deepad >= 90%)")
        lines.append(f"  {ds:8} eval:  deepad {d['deepad_eval_img_per_s']:7.0f} img/s, reference "
                     f"{d['reference_eval_img_per_s']:7.0f} img/s -> x{d['eval_ratio']:.2f}; the fp32 "
                     f"forward alone {d['eval_limit_img_per_s']:7.0f} img/s (deepad at "
                     f"{100 * d['eval_fraction_of_limit']:.0f}%)")
    if c:
        lines.append(f"  CIFAR-10 target: >= x{TARGET_RATIO:.0f} with AUROC not worse: "
                     f"{'met' if res['meets_target'] else 'NOT met'} (ratio "
                     f"{'met' if res['meets_ratio_target'] else 'not met'}, AUROC "
                     f"{'not worse' if res['auroc_not_worse'] else 'lower'}; short runs' AUROCs "
                     f"differ by noise)")
    if "paper_run" in res:
        p = res["paper_run"]
        lines.append(f"  paper-protocol run ({p['epochs']} epochs): {p['fit_wall_s']:.1f} s, "
                     f"projected 200 epochs {p['projected_200_epoch_s']:.1f} s (target < 60 s)")
    lines.append(f"  whole benchmark: {res['wall_s']:.1f} s")
    print("\n".join(lines), file=sys.stderr if a.json else sys.stdout, flush=True)
    if a.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
