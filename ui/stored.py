"""What the dashboard shows without training: the run store and the opened result bundles,
viewer mode, and the views of stored results that each page offers."""

from __future__ import annotations

import hashlib
import os

import streamlit as st

from deepad import views as stored_results
from deepad.bundle import open_bundle
from deepad.data import sources
from deepad.errors import DeepadError
from deepad.results import LOCAL, Results, bundle_paths, open_bundles
from deepad.store import RunStore

MAX_UPLOAD = 200 * 2 ** 20


def viewer() -> bool:
    """DEEPAD_VIEWER=1: a dashboard for people who should only look; no control trains."""
    return os.environ.get("DEEPAD_VIEWER", "").strip().lower() in ("1", "true", "yes", "on")


@st.cache_resource(show_spinner=False, max_entries=4)
def _opened(stamp: tuple) -> tuple[list, list[str]]:
    """The bundles of DEEPAD_RESULTS (or the shipped results/), opened once per server and
    whenever a file changes (stamp: paths with their sizes and mtimes)."""
    return open_bundles([p for p, *_ in stamp])


def _stamp() -> tuple:
    out = []
    for p in bundle_paths():
        try:
            st_ = p.stat()
            out.append((str(p), st_.st_size, st_.st_mtime_ns))
        except OSError:
            out.append((str(p), -1, -1))
    return tuple(out)


def results() -> Results:
    """The local store and every bundle opened for this session (server-wide ones and uploads)."""
    bundles, _ = _opened(_stamp())
    uploaded = st.session_state.get("_uploaded_bundles", [])
    return Results(RunStore(), list(bundles) + [b for b in uploaded if b not in bundles])


def bundle_errors() -> list[str]:
    return _opened(_stamp())[1]


def open_upload(name: str, data: bytes) -> str:
    """Open an uploaded bundle for this session (kept, content-addressed, under the cache's
    opened/ folder). Returns a line for the user; DeepadError when the file is refused."""
    if len(data) > MAX_UPLOAD:
        raise DeepadError(f"{name} is {len(data) / 2 ** 20:.0f} MB; open bundles over "
                          f"{MAX_UPLOAD / 2 ** 20:.0f} MB with DEEPAD_RESULTS=PATH instead")
    folder = sources.cache_root() / "opened"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}.zip"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    try:
        b = open_bundle(path, label=name)
    except DeepadError:
        path.unlink(missing_ok=True)
        raise
    opened = st.session_state.setdefault("_uploaded_bundles", [])
    if all(o.path != b.path for o in opened):
        opened.append(b)
    return f"opened {name}: {len(b.runs)} runs"


def source_note(keys, res: Results) -> str:
    """'from the local store and reproduction.zip' for the runs behind a view."""
    srcs = sorted({res.source(k) for k in keys} - {None})
    return ", ".join("the local store" if s == LOCAL else s for s in srcs)


# ------------------------------------------------------------------ views of stored results

def _span(values) -> str:
    from deepad.claims import _span as span
    return span(values)


def view_state(view: dict, prefix: str) -> dict:
    """A view (views.stored_views, claims) as the widget values of a grid page (`oes`, `blur`,
    `tab`) or of Explore (prefix '')."""
    params = ", ".join(f"{k}={v:g}" for k, v in sorted(view.get("params", {}).items()))
    sizes = ["all" if x is None else x for x in view.get("oe_sizes", [None])]
    if prefix == "":
        return {"dataset": view["dataset"], "normal_class": str(view["classes"][0]),
                "oe": view["oe"] if view["oe"] != "none" else "photos",
                "oe_size": sizes[0], "blur_sigma": view["blur_sigmas"][0],
                "methods": view["methods"], "seed": view["seeds"][0], "budget": "epochs",
                "epochs": view["epochs"], "oe_jpeg": bool(view.get("oe_jpeg")), "params": params}
    out = {f"{prefix}_dataset": view["dataset"], f"{prefix}_methods": view["methods"],
           f"{prefix}_budget": "epochs", f"{prefix}_epochs": view["epochs"],
           f"{prefix}_oe_jpeg": bool(view.get("oe_jpeg")), f"{prefix}_params": params}
    if view["oe"] != "none":
        out[f"{prefix}_oe"] = view["oe"]
    if prefix == "tab":
        out["tab_oe_size"] = sizes[0]
        out["tab_seeds"] = view["seeds"]
    else:
        out[f"{prefix}_classes"] = view["classes"]
        out[f"{prefix}_seeds"] = _span(view["seeds"])
    if prefix == "oes":
        out["oes_sizes"] = sizes
    if prefix == "blur":
        out["blur_oe_size"] = sizes[0]
        out["blur_sigmas"] = [int(s) if float(s).is_integer() else s for s in view["blur_sigmas"]]
    return out


def _apply(state: dict) -> None:
    for k, v in state.items():
        st.session_state[k] = v


def default_view(page: str, prefix: str, rows: list[dict]) -> dict | None:
    """On a first visit without a link, a page opens on its largest stored view (so a newcomer
    sees real results at once). A link that names the data set but not every setting (a
    hand-made `?tab_dataset=mnist`) gets the rest from that data set's largest stored view: the
    link's own values still win (url_state reads them first). None when nothing fits."""
    if f"_{prefix}_seeded" in st.session_state:
        return None
    q = st.query_params
    key = f"{prefix}_dataset" if prefix else "dataset"
    if q and key not in q:
        return None
    st.session_state[f"_{prefix}_seeded"] = True
    views = stored_results.stored_views(rows, page, limit=None if q else 1)
    if q:
        views = [v for v in views if v["dataset"] == q.get(key)]
    return view_state(views[0], prefix) if views else None


def views_panel(page: str, prefix: str, rows: list[dict], what: str) -> None:
    """'What this page can show without training': the stored views, each a button that sets
    the page to it."""
    views = stored_results.stored_views(rows, page)
    box = st.expander(f"Stored results this page can show without training ({len(views)})",
                      expanded=False, on_change="rerun", key=f"{prefix}_views_open")
    if box.open is False:  # lazy: its rows are built only when it is opened
        return
    with box:
        if not views:
            st.caption(f"None yet: {what} needs runs that are not stored or opened here. "
                       + ("This dashboard only shows results (viewer mode)." if viewer() else
                          "Train them with the button below, or open a result bundle on the Runs "
                          "page."))
        for i, v in enumerate(views):
            c1, c2 = st.columns([5, 1])
            c1.caption(v["label"] + (f" · from {', '.join(v['sources'])}" if v["sources"] else ""))
            c2.button("Show", key=f"{prefix}_view_{i}", on_click=_apply,
                      args=(view_state(v, prefix),))


def known_pools(rows: list[dict]) -> list[str]:
    """OE pools given by path that stored or opened runs used, one name per content identity
    (a path on this machine preferred)."""
    by_id: dict = {}
    for r in rows:
        if r["oe"].startswith(("folder:", "tiny-images:")):
            ident = r.get("oe_id") or r["oe"]
            here = os.path.exists(r["oe"].split(":", 1)[1].partition(",exclude=")[0])
            if ident not in by_id or (here and not by_id[ident][1]):
                by_id[ident] = (r["oe"], here)
    return [name for name, _ in by_id.values()]


def known_datasets(rows: list[dict]) -> list[str]:
    """Nominal data sets given by path that stored or opened runs used."""
    return list(dict.fromkeys(r["dataset"] for r in rows if r["dataset"].startswith("folder:")))


def data_missing(configs) -> str | None:
    """Why the configs cannot be trained here (their data are not on this machine), or None."""
    names = []
    for c in configs:
        for name, ident in ((c.dataset, c.dataset_id), (c.oe, c.oe_id)):
            if name == "none" or name in names:
                continue
            try:
                src = sources.get(name)
                if src.origin == "download":
                    if not src.available():
                        names.append(name)
                    continue
                if not sources.locate(name, ident).available():
                    names.append(name)
            except DeepadError:
                names.append(name)
    if not names:
        return None
    from deepad.bundle import data_label
    return ("not on this machine: " + ", ".join(data_label(n) for n in names)
            + " (set DEEPAD_DATA to the folder that holds them, or download them)")


PAGES = {"table": ("views/table.py", "tab"), "oe-samples": ("views/oe_samples.py", "oes"),
         "blur": ("views/blur.py", "blur"), "explore": ("views/explore.py", "")}


def view_link(view: dict) -> tuple[str, dict]:
    """(page file, query parameters) that open a view: the link a claim gives to its evidence."""
    page, prefix = PAGES[view["page"]]
    out = {}
    for k, v in view_state(view, prefix).items():
        out[k] = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return page, out
