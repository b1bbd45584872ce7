"""Training from the dashboard: progress bars, background sweeps, the grid pages' compute
buttons, and data sets to download."""

from __future__ import annotations

import time

import streamlit as st

import deepad
from deepad.data import sources
from ui import stored
from ui.loads import run_data, store
from ui.messages import shown_errors
from ui.stored import results, viewer


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
