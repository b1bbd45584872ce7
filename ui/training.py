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
        done = False
        with shown_errors(f"{src.title} could not be downloaded"):
            try:
                src.ensure(progress=download_progress(bar, src.title))
                done = True
            finally:
                if not done:
                    bar.empty()  # no bar stuck at 0 under the message
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

    def data(self, msg: str, fraction) -> None:
        """Data loading before training (sources.data_progress): e.g. a first decode."""
        self.bar.progress(min(1.0, fraction or 0.0), text=f"{self.label}: {msg}")

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
                bar = StreamlitProgress(label)
                with sources.data_progress(bar.data):
                    got = deepad.get_or_train(cfg, callbacks=[bar], device=device_choice())
                if not got.cached:  # another session may have trained it while this one waited
                    st.session_state.setdefault("_trained_here", set()).add(cfg.key)
                data = run_data(cfg.key, res)
        if data is not None:
            data["trained_here"] = cfg.key in st.session_state.get("_trained_here", ())
            out[cfg.key] = data
    return out


def device_choice() -> str:
    return st.session_state.get("device", "auto")


# ------------------------------------------------------------------ training a grid here

CONFIRM_S = 120  # past this estimate, training waits for a confirmation


def estimate(configs):
    """deepad.estimate for configs, from the runs stored on this machine."""
    from deepad.estimate import estimate as est
    return est(configs, store().query() if store().db_path.exists() else [])


def train_here(configs: list, labels: list[str], *, on_stored=None) -> None:
    """Train configs one after another in this page: an overall line ('3 of 8 runs stored,
    about 4 min left') above the current run's bar; `on_stored()` after each stored run (e.g. to
    redraw a chart with the new point). Failures are shown and the rest go on."""
    if not configs:
        return
    overall = st.progress(0.0, text=f"0 of {len(configs)} runs stored")
    t0 = time.perf_counter()
    est = estimate(configs).seconds
    for i, (cfg, label) in enumerate(zip(configs, labels)):
        with shown_errors(f"{label} could not be trained"):
            bar = StreamlitProgress(label)
            with sources.data_progress(bar.data):
                got = deepad.get_or_train(cfg, callbacks=[bar], device=device_choice())
            if not got.cached:
                st.session_state.setdefault("_trained_here", set()).add(cfg.key)
            if on_stored:
                on_stored()
        done = i + 1
        spent = time.perf_counter() - t0
        left = spent / done * (len(configs) - done) if spent > 5 else est * (1 - done / len(configs))
        overall.progress(done / len(configs), text=f"{done} of {len(configs)} runs stored"
                         + (f", about {_duration(left)} left" if done < len(configs) else
                            f" in {_duration(spent)}"))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


class Grid:
    """The stored or opened runs of a grid of configs, and the controls that train the others:
    'Compute the missing points (N of M runs, about T)' here, with a confirmation past
    CONFIRM_S, or in a background sweep. None of them in viewer mode or when the data are not
    on this machine (the page says why). Pages draw their figure from `rows`, then call
    `train_pending(redraw)` so the figure stays and grows while the runs train."""

    def __init__(self, configs: list, *, key: str, label, rows: list | None = None,
                 noun: str = "points"):
        self.configs, self.key, self.label = configs, key, label
        wanted = {c.key for c in configs}
        every = rows if rows is not None else self._all_rows()
        self.rows = [r for r in every if r["key"] in wanted]
        stored_keys = {r["key"] for r in self.rows}
        self.missing = [c for c in configs if c.key not in stored_keys]
        self.pending: list = []
        if viewer():
            if self.missing:
                st.caption(f"{len(self.missing)} of {len(configs)} runs of this grid are not "
                           f"stored; this dashboard only shows results (viewer mode).")
            return
        blocked = stored.data_missing(self.missing[:50]) if self.missing else None
        if blocked:
            st.caption(f"{len(self.missing)} of {len(configs)} runs are not stored, and their "
                       f"data are {blocked}: only the stored runs are shown.")
            return
        self.pending = self._controls(noun)

    @staticmethod
    def _all_rows():
        with shown_errors("run store"):
            return results().rows()
        return []

    def _controls(self, noun) -> list:
        missing, key = self.missing, self.key
        est = estimate(missing) if missing else None
        confirm_key = f"{key}_confirm"
        if st.session_state.get(confirm_key) and missing:
            st.warning(f"This trains {len(missing)} runs, {est.text()}. Each run is stored as soon "
                       f"as it finishes: stopping loses nothing.")
            c1, c2 = st.columns(2)
            go = c1.button(f"Yes, train {len(missing)} runs", key=f"{key}_go", type="primary")
            if c2.button("Cancel", key=f"{key}_cancel") or go:
                st.session_state[confirm_key] = False
            return list(missing) if go else []
        label = (f"Compute the missing {noun} ({len(missing)} of {len(self.configs)} runs"
                 + (f", {est.text().split(' (')[0]})" if est else ")"))
        clicked = st.button(label, key=f"{key}_compute", type="primary", disabled=not missing,
                            help="train the runs that are not stored yet, here; each finished run "
                                 "is stored at once, so an interruption loses nothing"
                                 + (f". Estimate: {est.text()}" if est else ""))
        if clicked and est.seconds > CONFIRM_S:
            st.session_state[confirm_key] = True
            st.rerun()
        background_controls(missing, key=f"{key}_background")
        return list(missing) if clicked else []

    def train_pending(self, redraw=None) -> None:
        """Train what the user asked for (after the page is drawn); `redraw(rows)` after each."""
        if not self.pending:
            return
        wanted = {c.key for c in self.configs}

        def refresh():
            if redraw:
                redraw([r for r in self._all_rows() if r["key"] in wanted])
        train_here(self.pending, [self.label(c) for c in self.pending], on_stored=refresh)
        self.pending = []
        st.rerun()  # draw the page again with everything stored


def grid_rows(configs: list, *, key: str, label, rows: list | None = None) -> list[dict]:
    """The stored rows of a grid after training what the user asked for (pages that draw their
    figure once, after training; see Grid for the live one)."""
    g = Grid(configs, key=key, label=label, rows=rows)
    if g.pending:
        train_here(g.pending, [label(c) for c in g.pending])
        g = Grid(configs, key=key, label=label)
    return g.rows


# ------------------------------------------------------------------ background sweeps

def background_controls(missing: list, *, key: str) -> None:
    """A button that trains the missing configs in a background sweep (it keeps running when the
    user leaves the page), and the progress of the background sweeps, refreshed every 2 s."""
    from deepad.background import background_jobs, start_background
    if viewer():
        return
    keys = {c.key for c in missing}
    mine = [j for j in background_jobs(store()) if j["running"] and keys & set(j["keys"])]
    if missing and st.button(f"Run the {len(missing)} missing runs in the background", key=key,
                             disabled=bool(mine),
                             help="a separate process trains them; leave the page if you like, "
                                  "results appear here as they are stored"
                                  + ("; a background sweep of these runs is running" if mine else "")):
        with shown_errors("background sweep"):
            start_background(missing, device=device_choice())
            st.rerun()
    if mine or any(keys & set(j["keys"]) for j in background_jobs(store())):
        show_background_jobs(tuple(sorted(keys)))


@st.fragment(run_every=2)
def show_background_jobs(keys: tuple = ()) -> None:
    """The background sweeps that train any of `keys` (all of them when empty), refreshed."""
    from deepad.background import background_jobs
    jobs = [j for j in background_jobs(store()) if (j["running"] or time.time() - (j["started"] or 0) < 600)
            and (not keys or set(keys) & set(j["keys"]))]
    done = sum(j["done"] for j in jobs)
    if done != st.session_state.setdefault("_bg_done", done):
        st.session_state["_bg_done"] = done
        st.rerun()  # new results stored: redraw the whole page
    for j in jobs[:3]:
        state = "running" if j["running"] else "finished"
        failed = f", {j['failed']} failed" if j["failed"] else ""
        st.progress(j["done"] / max(1, j["total"]),
                    text=f"background sweep {j['id']}: {j['done']} of {j['total']} runs stored{failed} ({state})")
