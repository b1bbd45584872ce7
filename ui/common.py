"""Shared Streamlit helpers. Only this package and views/ (the pages) import streamlit."""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import streamlit as st

import deepad
from deepad import methods
from deepad.data import sources
from deepad.errors import DeepadError
from deepad.store import RunStore
from ui import stored
from ui.stored import results, viewer  # noqa: F401 - the pages' entry points

OE_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, "all"]
BLUR_SIGMAS = [0, 1, 2, 4, 8, 16, 32]
FAMILY_TITLES = {"unsupervised": "unsupervised", "unsupervised-oe": "unsupervised with OE",
                 "supervised-oe": "supervised with OE"}
GLOSSARY = {
    "AUROC": "the chance that a random anomaly scores higher than a random normal image (1 = perfect, 0.5 = guessing)",
    "AUPRC": "average precision when hunting for anomalies (higher is better)",
    "FPR at 95% TPR": "the share of normal images wrongly flagged when 95% of anomalies are caught (lower is better)",
    "OE": "outlier exposure: a few example 'anomalies' (here, random natural images) shown to the model in training",
    "blur": "Gaussian blur of the OE images; the paper finds OE stops helping once the fine detail is gone",
    "OE JPEG": "these nominal images are stored as JPEG; OE images without the codec's traces (and "
               "sharper) can be told from every such image, anomalies included, by those traces "
               "alone. On: the OE is resized and JPEG-encoded as the data were (--oe-jpeg). On "
               "CIFAR-10 this moves HSC from 72 to 87 AUROC (BENCHMARKS.md)",
}


def store() -> RunStore:
    return RunStore()


# ------------------------------------------------------------------ URL state

def url_state(defaults: dict, options: dict | None = None) -> None:
    """Seed widget values (session_state[name]) from the URL once per session.

    defaults: {widget key: default value}; lists are comma-separated in the URL.
    options: {widget key: the widget's choices}, optional: a URL value is matched to a choice by its
    text (so '64' finds 64 among [..., 64, 'all']); values that match none are dropped (a list) or
    fall back to the default, so a stale or edited link never breaks a widget."""
    q = st.query_params
    for k, default in defaults.items():
        if k in st.session_state:
            continue
        if k in q:
            raw = q.get_all(k) if isinstance(default, list) else q.get(k)
            value = _cast(raw, default)
            if options and k in options:
                value = _match(value, default, options[k])
            st.session_state[k] = value
        else:
            st.session_state[k] = default


def _match(value, default, choices):
    by_text = {str(c): c for c in choices}
    if isinstance(default, list):
        return [by_text[str(v)] for v in value if str(v) in by_text]
    return by_text.get(str(value), default)


def _cast(raw, default):
    try:
        if isinstance(default, list):
            items = [v for r in raw for v in str(r).split(",") if v != ""]
            if default and isinstance(default[0], int):
                return [int(v) if v.lstrip("-").isdigit() else v for v in items]
            return items
        if isinstance(default, bool):
            return str(raw).lower() in ("1", "true", "yes")
        if isinstance(default, int) and not isinstance(default, bool):
            return int(raw) if str(raw).lstrip("-").isdigit() else raw
        if isinstance(default, float):
            return float(raw)
    except (TypeError, ValueError):
        return default
    return raw


def write_url(keys: list[str]) -> None:
    """Put the current widget values into the URL so a copied link reopens this view."""
    out = {}
    for k in keys:
        v = st.session_state.get(k)
        if v is None:
            continue
        out[k] = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    if dict(st.query_params) != out:
        st.query_params.from_dict(out)


# ------------------------------------------------------------------ errors

@contextmanager
def shown_errors(what: str = ""):
    """Show DeepadError and any unexpected exception as st.error, never a traceback."""
    try:
        yield
    except DeepadError as e:
        st.error(f"{what + ': ' if what else ''}{e}")
    except st.runtime.scriptrunner.StopException:  # pragma: no cover - Streamlit control flow
        raise
    except Exception as e:  # noqa: BLE001 - the UI must never show a traceback
        if type(e).__name__ in ("StopException", "RerunException"):
            raise
        st.error(f"{what + ': ' if what else ''}something went wrong ({type(e).__name__}: {e}). "
                 f"Try other settings; if it persists, report it with this message.")


# ------------------------------------------------------------------ cached loads

def run_version(key: str, res=None) -> str | None:
    """Identifies what is stored under a run key now: for the local store, the store's folder,
    the key and the run folder's inode and mtime; for a run from a bundle, the bundle's path and
    mtime. The caches below are keyed by it, so a run that is deleted and trained again (another
    session, the CLI), or another store, is never served from a stale cache entry. None when no
    store or opened bundle has the run."""
    s = store()
    try:
        info = (s.runs / key).stat()
        return f"{s.root}|{key}|{info.st_ino}|{info.st_mtime_ns}"
    except OSError:
        pass
    new = s.alias(key)
    if new is not None:
        return run_version(new, res)
    res = res if res is not None else results()
    for b in res.bundles:
        if key in b.runs:
            try:
                return f"bundle|{b.path}|{b.path.stat().st_mtime_ns}|{key}"
            except OSError:
                return None
    return None


def run_data(key: str, res=None) -> dict | None:
    """A stored or opened run's config, metrics, scores and labels (copied per caller), with its
    `source` and whether its model is here (`has_weights`), or None."""
    res = res if res is not None else results()
    version = run_version(key, res)
    if version is None:
        return None
    return _run_data(key, version, res)


@st.cache_data(max_entries=512, show_spinner=False)
def _run_data(key: str, version: str, _res) -> dict | None:
    run = _res.get(key)
    if run is None:  # damaged and set aside: raise so that the miss is not cached
        raise DeepadError(f"run {key} was damaged and has been set aside; train it again")
    return {"key": key, "config": run.config.to_dict(), "metrics": run.metrics,
            "history": run.history, "scores": run.scores, "labels": run.labels,
            "classes": run.test_classes, "source": _res.source(key),
            "has_weights": run.has_weights}


def detector(key: str):
    """The trained detector of a run, shared read-only by all sessions (never trained here)."""
    return _detector(key, run_version(key))


@st.cache_resource(max_entries=8, show_spinner=False)
def _detector(key: str, version: str | None):
    run = results().get(key) if version is not None else None
    if run is None:
        raise DeepadError(f"run {key} is not in the store any more; train it again")
    if not run.has_weights:
        raise DeepadError("this run came without its model (a result bundle made without "
                          "--weights), so nothing can be scored with it here")
    return deepad.load_detector(run, device="cpu")


@st.cache_resource(max_entries=4, show_spinner=False)
def test_images(dataset: str) -> np.ndarray:
    return sources.get(dataset).load("test").images.numpy()


def data_here(name: str) -> bool:
    """Whether a data set's images are on this machine (or generated / bundled)."""
    try:
        return sources.get(name).available()
    except DeepadError:
        return False


def dataset_choices(rows: list | None = None) -> list[str]:
    """Nominal data sets, the bundled one first (a value from a stale URL falls back to it), then
    the image folders that stored or opened runs used."""
    names = [n for n in sources.REGISTRY if n not in sources.OE_ONLY]
    return (sorted(names, key=lambda n: sources.REGISTRY[n].origin != "bundled")
            + stored.known_datasets(rows or []))


def needs_download(name: str) -> bool:
    src = sources.REGISTRY.get(name)
    return src is not None and src.status() == "needs download"


def offer_download(name: str) -> None:
    """Say that a data set is not here, and download it when the user asks."""
    src = sources.REGISTRY[name]
    st.warning(f"**{src.title}** is not on this machine yet (looked in {src.where()}). "
               f"Download it, or pick the bundled 8x8 digits or an image folder.")
    if st.button(f"Download {src.title}", key=f"download_{name}"):
        bar = st.progress(0.0, text=f"Downloading {src.title} into {sources.data_root()} …")
        with shown_errors("download"):
            src.ensure(progress=download_progress(bar, src.title))
            bar.progress(1.0, text=f"{src.title}: downloaded")
            st.success(f"{src.title} is ready.")
            st.rerun()


def download_progress(bar, title: str):
    """A progress(done, total, file_no) callback drawing on a Streamlit progress bar (at most
    ~10 redraws a second)."""
    last = [0.0]

    def update(done, total, file_no):
        now = time.monotonic()
        if now - last[0] < 0.1 and not (total and done >= total):
            return
        last[0] = now
        mb = done / 2 ** 20
        if total:
            bar.progress(min(done / total, 1.0),
                         text=f"Downloading {title}, file {file_no}: {mb:.1f} of {total / 2 ** 20:.1f} MB")
        else:
            bar.progress(0.0, text=f"Downloading {title}, file {file_no}: {mb:.1f} MB")
    return update


def oe_choices(rows: list | None = None) -> list[str]:
    """OE pools: the registry's, then the image folders and Tiny Images files that stored or
    opened runs used (one per content)."""
    return list(sources.REGISTRY) + stored.known_pools(rows or [])


def oe_codec(ds: str | None, oe: str | None, key: str) -> int | None:
    """RunConfig.oe_jpeg for runs on `ds` with OE `oe`: when the nominal images are stored as JPEG
    (sources.jpeg_quality) and the OE is natural images, a checkbox, on by default (its URL default
    is True), makes the OE as a JPEG copy at that quality is made; None otherwise."""
    if not ds or not oe or oe == "none" or oe.startswith("noise"):
        return None
    try:
        q = sources.jpeg_quality(ds)
    except DeepadError:  # a bad folder: the page says so where it loads the data
        return None
    if q is None:
        return None
    on = st.checkbox(f"Give the OE images the data's JPEG codec (quality {q})", key=key,
                     help=GLOSSARY["OE JPEG"])
    return q if on else None


def dataset_label(name: str) -> str:
    if name.startswith(("folder:", "tiny-images:")):
        from deepad.bundle import data_label
        here = data_here(name)
        return f"{data_label(name)}{'' if here else ' · not on this machine'}"
    src = sources.REGISTRY.get(name)
    if src is None:
        return name
    return f"{src.title} · {src.status()}"


def method_label(name: str) -> str:
    """'Unsupervised with OE: HSC' - the paper's grouping first, so the picker reads in groups."""
    info = methods.info(name)
    fam = FAMILY_TITLES[info.family]
    if info.oe == "optional":
        fam += ", or with OE when OE is given"
    return f"{fam[0].upper()}{fam[1:]}: {info.title}"


def method_choices(oe_only: bool = False) -> list[str]:
    """Method names grouped as the paper's table: unsupervised, unsupervised with OE,
    supervised with OE (registry order within a group)."""
    names = [n for n in methods.names() if not oe_only or methods.info(n).oe != "never"]
    order = {f: i for i, f in enumerate(methods.FAMILIES)}
    return sorted(names, key=lambda n: order[methods.info(n).family])


def classes_of(dataset: str) -> list[str]:
    return sources.get(dataset).classes()


# ------------------------------------------------------------------ training

class StreamlitProgress(deepad.Callback):
    """One progress bar: epoch, loss and time left. Updates at most ~10 times a second."""

    def __init__(self, label: str):
        self.label = label
        self.bar = st.progress(0.0, text=f"{label}: waiting")
        self.loss, self.epoch, self.last = None, 0, 0.0

    def on_fit_start(self, det, total):
        self.total, self.t0 = total, time.perf_counter()
        self.bar.progress(0.0, text=f"{self.label}: preparing")

    def on_step_end(self, det, step, loss):
        now = time.perf_counter()
        if now - self.last < 0.1 and step < self.total:
            return
        self.last = now
        frac = step / self.total
        left = (now - self.t0) / frac * (1 - frac) if frac > 0 else 0
        loss_txt = f", loss {self.loss:.4f}" if self.loss is not None else ""
        self.bar.progress(min(frac, 1.0), text=f"{self.label}: epoch {self.epoch + 1}/{det.epochs}"
                                                f"{loss_txt}, {left:.0f} s left")

    def on_epoch_end(self, det, epoch, loss):
        self.epoch, self.loss = epoch, loss

    def on_fit_end(self, det):
        self.bar.progress(1.0, text=f"{self.label}: done in {time.perf_counter() - self.t0:.1f} s")


def get_runs(configs: list, *, train: bool, labels: list[str] | None = None) -> dict:
    """{config key: run data} for the configs; trains the missing ones (each stored as soon as it
    is finished) when `train`; failures are shown with st.error and skipped."""
    out = {}
    labels = labels or [c.method for c in configs]
    res = results()
    train = train and not viewer()
    for cfg, label in zip(configs, labels):
        data = None
        with shown_errors(label):
            data = run_data(cfg.key, res)
        if data is None and train:
            with shown_errors(f"{label} could not be trained"):
                got = deepad.get_or_train(cfg, callbacks=[StreamlitProgress(label)],
                                          device=device_choice())
                if not got.cached:  # another session may have trained it while this one waited
                    st.session_state.setdefault("_trained_here", set()).add(cfg.key)
                data = run_data(cfg.key, res)
        if data is not None:
            data["trained_here"] = cfg.key in st.session_state.get("_trained_here", ())
            out[cfg.key] = data
    return out


def device_choice() -> str:
    return st.session_state.get("device", "auto")


# ------------------------------------------------------------------ background sweeps

def background_controls(missing: list, *, key: str) -> None:
    """A button that trains the missing configs in a background sweep (it keeps running when the
    user leaves the page), and the progress of the background sweeps, refreshed every 2 s."""
    from deepad.sweep import start_background
    if viewer():
        return
    if missing and st.button(f"Run the {len(missing)} missing runs in the background", key=key,
                             help="a separate process trains them; leave the page if you like, "
                                  "results appear here as they are stored"):
        with shown_errors("background sweep"):
            start_background(missing, device=device_choice())
    from deepad.sweep import background_jobs
    if background_jobs(store()):
        show_background_jobs()


@st.fragment(run_every=2)
def show_background_jobs() -> None:
    from deepad.sweep import background_jobs
    jobs = [j for j in background_jobs(store()) if j["running"] or time.time() - (j["started"] or 0) < 600]
    done = sum(j["done"] for j in jobs)
    if done != st.session_state.setdefault("_bg_done", done):
        st.session_state["_bg_done"] = done
        st.rerun()  # new results stored: redraw the whole page
    for j in jobs[:3]:
        state = "running" if j["running"] else "finished"
        failed = f", {j['failed']} failed" if j["failed"] else ""
        st.progress(j["done"] / max(1, j["total"]),
                    text=f"background sweep {j['id']}: {j['done']} of {j['total']} runs stored{failed} ({state})")


def grid_rows(configs: list, *, key: str, label, rows: list | None = None) -> list[dict]:
    """Index rows of the stored or opened runs of a grid (read from the index and the bundles'
    manifests, not the artifacts, so large grids draw fast), with a button that trains the
    missing runs here and one that starts them in a background sweep (neither in viewer mode,
    nor when the data are not on this machine: the page says so). `label(cfg)` names a run on
    its progress bar."""
    def stored_rows():
        with shown_errors("run store"):
            return results().rows()
        return []
    wanted = {c.key for c in configs}
    rows = [r for r in (rows if rows is not None else stored_rows()) if r["key"] in wanted]
    missing = [c for c in configs if c.key not in {r["key"] for r in rows}]
    if viewer():
        if missing:
            st.caption(f"{len(missing)} of {len(configs)} runs of this grid are not stored; this "
                       f"dashboard only shows results (viewer mode).")
        return rows
    blocked = stored.data_missing(missing[:50]) if missing else None
    if blocked:
        st.caption(f"{len(missing)} of {len(configs)} runs are not stored, and their data are "
                   f"{blocked}: only the stored runs are shown.")
        return rows
    if st.button(f"Compute the missing points ({len(missing)} of {len(configs)} runs)",
                 key=f"{key}_compute", type="primary", disabled=not missing,
                 help="train the runs that are not cached yet; each finished run is stored at "
                      "once, so an interruption loses nothing"):
        get_runs(missing, train=True, labels=[label(c) for c in missing])
        rows = [r for r in stored_rows() if r["key"] in wanted]
        missing = [c for c in configs if c.key not in {r["key"] for r in rows}]
    background_controls(missing, key=f"{key}_background")
    return rows


def use_model(key: str) -> None:
    """Download a run's model (TorchScript, preprocessing folded in) and score a folder with it."""
    import pandas as pd

    from deepad.inference import export_bytes, load_run, score_paths
    st.markdown("**Use this model on new images**")
    c1, c2 = st.columns([1, 2])

    def model_bytes():
        run, det = load_run(key)
        return export_bytes(run, det, "torchscript")
    c1.download_button("Download model (TorchScript)", model_bytes, file_name=f"deepad-{key}.pt",
                       help="scores raw uint8 images (N, C, H, W) with plain torch: "
                            "torch.jit.load(path)(images); higher = more anomalous")
    folder = c2.text_input("Score a folder of images", key=f"score_folder_{key}",
                           placeholder="/path/to/images")
    if folder and c2.button("Score", key=f"score_btn_{key}"):
        with shown_errors("scoring"), st.spinner("scoring …"):
            run, det = load_run(key)
            res = score_paths(run, det, [folder])
            if res.skipped:
                st.warning(f"skipped {len(res.skipped)} unreadable file(s), e.g. {res.skipped[0][0]}")
            if res.converted:
                st.caption(f"{res.converted} image(s) were resized or converted to the model's input")
            df = pd.DataFrame(res.rows).sort_values("score", ascending=False)
            st.dataframe(df, hide_index=True, width="stretch")
            st.download_button("Scores (CSV)", df.to_csv(index=False), file_name="deepad-folder-scores.csv",
                               mime="text/csv", key=f"score_csv_{key}")


@st.cache_data(max_entries=32, show_spinner=False)
def chart_pngs(versions: tuple, marks: tuple, _curves: list) -> tuple[bytes, bytes]:
    """The ROC and histogram charts as PNGs (deepad.plots_static). Cached by the runs' versions
    (run_version: a stored run fixes its scores) and the marks; `_curves` (name, labels, scores
    per run) is not hashed."""
    from deepad import plots_static
    return (plots_static.roc_png(_curves),
            plots_static.histogram_png(_curves, {name: list(v) for name, v in marks}))


def heatmaps(key: str, images: np.ndarray) -> list[np.ndarray]:
    """Heatmap pictures (image | where the model looks) of uint8 images (n, C, H, W) for a run."""
    return _heatmaps(key, run_version(key), images)


@st.cache_data(max_entries=64, show_spinner=False)
def _heatmaps(key: str, version: str | None, images: np.ndarray) -> list[np.ndarray]:
    from deepad.inference import heatmap, heatmap_picture
    det = detector(key)
    return [heatmap_picture(im, heatmap(det, im), scale=max(1, 64 // im.shape[1])) for im in images]


# ------------------------------------------------------------------ sidebar pieces shared by the grid pages

BUDGETS = ["quick", "paper", "epochs"]


def nominal_picker(prefix: str, rows: list | None = None) -> tuple[str, list[str]]:
    """Data set and nominal-class multiselect (keys `{prefix}_dataset`, `{prefix}_classes`).
    Returns (data set name, its class names)."""
    ds = st.selectbox("Data set (nominal data)", dataset_choices(rows), key=f"{prefix}_dataset",
                      format_func=dataset_label)
    classes = []
    with shown_errors("data set"):
        classes = classes_of(ds)
    if classes:  # keep only classes this data set has (the URL or another data set may differ)
        key = f"{prefix}_classes"
        st.session_state[key] = [k for k in st.session_state[key] if k in range(len(classes))] or [0]
        st.multiselect("Nominal classes", list(range(len(classes))), key=key,
                       format_func=lambda i: f"{i}: {classes[i]}")
    return ds, classes


def budget_picker(prefix: str) -> None:
    """Training budget radio and, for 'epochs', the number (keys `{prefix}_budget`, `_epochs`),
    and the method parameters (`{prefix}_params`)."""
    st.radio("Training budget", BUDGETS, key=f"{prefix}_budget", horizontal=True,
             help="quick: a CPU-friendly budget; paper: the paper's epochs; epochs: your number")
    if st.session_state[f"{prefix}_budget"] == "epochs":
        st.number_input("Epochs", min_value=1, max_value=1000, key=f"{prefix}_epochs")
    st.text_input("Method parameters", key=f"{prefix}_params", placeholder="e.g. pretrain_epochs=5",
                  help="NAME=VALUE, comma-separated, given to every method that takes it (as "
                       "--param on the command line); `python -m deepad methods` lists them")


def budget_args(prefix: str) -> dict:
    """make_config's preset/epochs for the chosen budget."""
    s = st.session_state
    return {"preset": "paper" if s[f"{prefix}_budget"] == "paper" else "quick",
            "epochs": int(s[f"{prefix}_epochs"]) if s[f"{prefix}_budget"] == "epochs" else None}


def method_params(prefix: str, method: str) -> dict:
    """The parameters of `{prefix}_params` (Explore: `params`) that `method` takes (DeepadError
    for bad text)."""
    from deepad.cli import parse_method_params
    text = st.session_state.get(f"{prefix}_params" if prefix else "params", "") or ""
    params = parse_method_params([p.strip() for p in text.replace(";", ",").split(",") if p.strip()])
    takes = methods.REGISTRY[method].params if method in methods.REGISTRY else {}
    return {k: v for k, v in params.items() if k in takes}


def config_args(prefix: str, method: str) -> dict:
    """The budget and method parameters of a grid page, for make_config (described without
    opening the data: check_data=False; training checks them)."""
    return {**budget_args(prefix), **method_params(prefix, method), "check_data": False}
