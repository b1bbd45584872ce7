"""The full stage's learning curve: the test AUROC recorded during the 200-epoch (paper budget)
and the quick training, its CSV and its plot. Part of benchmarks/reproduce.py."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from deepad import analysis
from deepad.errors import DeepadError
from deepad.store import RunStore

from reproduce_plan import Plan, class_names, title

CURVE_COLUMNS = ["run_key", "budget", "epoch", "train_loss", "auroc"]


def curve_epochs(epochs: int) -> list[int]:
    """The epochs at which the full stage records test AUROC: 1, 2, 3, 5, then every 5 (every 10
    past 50), and the last."""
    at = {1, 2, 3, 5, epochs} | set(range(10, min(epochs, 50) + 1, 5)) | set(range(60, epochs + 1, 10))
    return sorted(e for e in at if 1 <= e <= epochs)


class TestCurve:
    """A training callback: the test AUROC at `curve_epochs`, recorded to show what the epochs
    buy; never used to choose anything. Its evaluation time is taken out of the run's
    train_seconds. For methods with a `finish` pass (e.g. GEOM's Dirichlet fit) the points are
    scored before that pass."""

    def __init__(self, cfg, budget: str):
        from deepad.experiments import build_task
        task = build_task(cfg)
        self.test, self.labels = task.test, task.test_labels
        self.at, self.budget, self.key = set(curve_epochs(cfg.epochs)), budget, cfg.key
        self.points, self.spent, self.t0 = [], 0.0, time.perf_counter()

    def on_fit_start(self, det, total_steps): ...

    def on_step_end(self, det, step, loss): ...

    def on_epoch_end(self, det, epoch, loss):
        if epoch not in self.at:
            return
        import torch

        from deepad import metrics
        t0 = time.perf_counter()
        with torch.no_grad():
            scores = det.score_samples(self.test)
        det.model_.train()  # score_samples switched to eval mode; training goes on
        self.spent += time.perf_counter() - t0
        auroc = metrics.auroc(self.labels, scores)
        self.points.append({"run_key": self.key, "budget": self.budget, "epoch": epoch,
                            "train_loss": float(loss), "auroc": float(auroc)})
        print(f"[full] {self.budget} run {self.key}: epoch {epoch}, loss {loss:.4f}, test AUROC "
              f"{auroc:.4f} ({(time.perf_counter() - self.t0) / 60:.1f} min)", file=sys.stderr, flush=True)

    def on_fit_end(self, det):
        det.train_seconds_ -= self.spent


def read_curve(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{**r, "epoch": int(r["epoch"]), "train_loss": float(r["train_loss"]),
                 "auroc": float(r["auroc"])} for r in csv.DictReader(f)]


def write_curve(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CURVE_COLUMNS)
        w.writeheader()
        for r in sorted(rows, key=lambda r: (r["budget"], r["run_key"], r["epoch"])):
            w.writerow({**r, "train_loss": f"{r['train_loss']:.6f}", "auroc": f"{r['auroc']:.6f}"})


def train_full(plan: Plan, store: RunStore, device: str, curve_path: Path) -> list[str]:
    """Train the full stage's missing runs in this process, recording their learning curves.
    Returns the errors."""
    from deepad.experiments import get_or_train
    errors = []
    for label in ("paper", "quick"):
        for c in plan.groups[label]:
            if c.key in store:
                print(f"[full] {label} run {c.key} is stored", file=sys.stderr, flush=True)
                continue
            print(f"[full] training the {label} run {c.key} ({c.epochs} epochs)", file=sys.stderr, flush=True)
            cb = TestCurve(c, label)
            try:
                res = get_or_train(c, callbacks=[cb], store=store, device=device)
            except DeepadError as e:  # RunFailed included: recorded in the store's index
                errors.append(f"{c.key}: {e}")
                continue
            if not res.cached:
                rows = [r for r in read_curve(curve_path) if r["run_key"] != c.key] + cb.points
                write_curve(curve_path, rows)
    return errors


def other_curves(plan: Plan, rows: list[dict], store: RunStore) -> dict:
    """{run key: label} of the curves in the CSV that are not this plan's runs but train the same
    method on the same class and data with another OE treatment (e.g. without --oe-jpeg)."""
    mine = {c.key for c in plan.configs}
    out = {}
    for key in dict.fromkeys(r["run_key"] for r in rows if r["run_key"] not in mine):
        run = store.get(key, repair=False)
        if run is None:
            continue
        c = run.config
        if (c.dataset, c.normal_class) == (plan.dataset, plan.classes[0]) and c.method in plan.methods:
            oe = "as decoded, no --oe-jpeg" if c.oe_jpeg is None else f"--oe-jpeg {c.oe_jpeg}"
            out[key] = f"{title(c.method)}, {c.epochs} epochs, OE {oe}"
    return out


def plot_full_curve(plan: Plan, rows: list[dict], path: Path, others: dict | None = None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for j, (key, label) in enumerate((others or {}).items()):
        pts = sorted((r["epoch"], 100 * r["auroc"]) for r in rows if r["run_key"] == key)
        ax.plot(*zip(*pts), "s--", ms=3, color=f"C{j + 3}", alpha=0.8, label=label)
    for i, label in enumerate(("paper", "quick")):
        for c in plan.groups[label]:
            pts = sorted((r["epoch"], 100 * r["auroc"]) for r in rows if r["run_key"] == c.key)
            if pts:
                ax.plot(*zip(*pts), "o-", ms=3, color=f"C{i}",
                        label=f"{title(c.method)}, {label} budget ({c.epochs} epochs)")
            for m in c.milestones or ():
                ax.axvline(m, color=f"C{i}", ls=":", lw=0.8)
    k = plan.classes[0]
    for m in plan.methods:
        if plan.dataset == "cifar10" and m in analysis.PAPER_CIFAR10:
            ax.axhline(analysis.PAPER_CIFAR10[m][k], color="k", ls="--", lw=0.8,
                       label=f"the paper's {title(m)} ({analysis.PAPER_CIFAR10[m][k]})")
    ax.set_xscale("log")
    ax.set_xlabel("epoch (log scale; dotted: learning rate x0.1)")
    ax.set_ylabel("test AUROC (%)")
    ax.set_title(f"{plan.dataset} class {class_names(plan.dataset)[k]}: test AUROC during training",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
