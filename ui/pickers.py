"""The sidebar's pickers and the words they show: data sets, OE pools, methods, budgets."""

from __future__ import annotations

import streamlit as st

from deepad import methods
from deepad.data import sources
from deepad.errors import DeepadError
from ui import stored
from ui.loads import data_here
from ui.messages import GLOSSARY, shown_errors

OE_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, "all"]
BLUR_SIGMAS = [0, 1, 2, 4, 8, 16, 32]
FAMILY_TITLES = {"unsupervised": "unsupervised", "unsupervised-oe": "unsupervised with OE",
                 "supervised-oe": "supervised with OE"}
BUDGETS = ["quick", "paper", "epochs"]


def dataset_choices(rows: list | None = None) -> list[str]:
    """Nominal data sets, the bundled one first (a value from a stale URL falls back to it), then
    the image folders that stored or opened runs used."""
    names = [n for n, src in sources.REGISTRY.items() if not src.oe_only]
    return (sorted(names, key=lambda n: sources.REGISTRY[n].origin != "bundled")
            + stored.known_datasets(rows or []))


OTHER_FOLDER = "folder:"  # the choice that asks for a path


def is_path(value) -> bool:
    """A data set given by path (an image folder or archive, a Tiny Images file): a link may name
    one that no stored run used; the pickers offer it."""
    return isinstance(value, str) and value.startswith(("folder:", "tiny-images:")) and len(value) > 7


def oe_choices(rows: list | None = None, current: str | None = None) -> list[str]:
    """OE pools: the registry's, the image folders and Tiny Images files that stored or opened
    runs used (one per content), the path a link named, and 'another folder or archive…'."""
    out = list(sources.REGISTRY) + stored.known_pools(rows or [])
    if is_path(current) and current not in out:
        out.append(current)
    return out + [OTHER_FOLDER]


def oe_picker(key: str, rows: list | None = None, label: str = "OE data set") -> str | None:
    """The OE selectbox (`key`); 'another folder or archive…' asks for its path (`{key}_path`).
    Returns the OE's name, or None while no path is typed."""
    choices = oe_choices(rows, st.session_state.get(key))
    st.selectbox(label, choices, key=key, help=GLOSSARY["OE"],
                 format_func=lambda n: "another image folder or archive…" if n == OTHER_FOLDER
                 else dataset_label(n))
    value = st.session_state[key]
    if value != OTHER_FOLDER:
        return value
    path = st.text_input("OE images: a folder (every image under it) or a .zip / .tar archive",
                         key=f"{key}_path", placeholder="/path/to/images")
    if not path.strip():
        st.caption("Type the path of the OE images to use them.")
        return None
    return sources.canonical_name(f"folder:{path.strip()}")


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
    if sources.carries_codec(oe, ds):
        st.caption(f"The OE images are already stored as JPEG at quality {q}, at the data's size: "
                   f"they get no second encoding.")
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
    """The method's name, as the paper writes it ('HSC', 'Deep SVDD'): short enough never to be
    cut off in a picker; its family is in method_families()."""
    return methods.info(name).title


def method_families(names=None) -> str:
    """'unsupervised: Deep SVDD, ... · unsupervised with OE: HSC, Deep SAD · supervised with OE:
    BCE, Focal' for the picker's help and caption (the paper's three families)."""
    names = list(names) if names is not None else methods.names()
    parts = []
    for fam in methods.FAMILIES:
        titles = [methods.info(n).title + (" (OE optional)" if methods.info(n).oe == "optional" else "")
                  for n in names if methods.info(n).family == fam]
        if titles:
            parts.append(f"{FAMILY_TITLES[fam]}: {', '.join(titles)}")
    return " · ".join(parts)


def method_picker(key: str, choices: list[str], label: str = "Methods") -> list[str]:
    st.multiselect(label, choices, key=key, format_func=method_label,
                   help="The paper's three families. " + method_families(choices))
    chosen = st.session_state[key]
    if chosen:
        st.caption(method_families(chosen))
    return chosen


def method_choices(oe_only: bool = False) -> list[str]:
    """Method names grouped as the paper's table: unsupervised, unsupervised with OE,
    supervised with OE (registry order within a group)."""
    names = [n for n in methods.names() if not oe_only or methods.info(n).oe != "never"]
    order = {f: i for i, f in enumerate(methods.FAMILIES)}
    return sorted(names, key=lambda n: order[methods.info(n).family])


def classes_of(dataset: str) -> list[str]:
    return sources.get(dataset).classes()


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


def _k(prefix: str, name: str) -> str:
    """A page's widget key: `{prefix}_{name}`, or `name` on Explore (no prefix)."""
    return f"{prefix}_{name}" if prefix else name


def budget_picker(prefix: str) -> None:
    """Training budget radio and, for 'epochs', the number (keys `{prefix}_budget`, `_epochs`),
    and the method parameters (`{prefix}_params`)."""
    st.radio("Training budget", BUDGETS, key=_k(prefix, "budget"), horizontal=True,
             help="quick: a CPU-friendly budget; paper: the paper's epochs; epochs: your number")
    if st.session_state[_k(prefix, "budget")] == "epochs":
        st.number_input("Epochs", min_value=1, max_value=1000, key=_k(prefix, "epochs"))
    st.text_input("Method parameters", key=_k(prefix, "params"), placeholder="e.g. pretrain_epochs=5",
                  help="NAME=VALUE, comma-separated, given to every method that takes it (as "
                       "--param on the command line); `python -m deepad methods` lists them")


def budget_args(prefix: str) -> dict:
    """make_config's preset/epochs for the chosen budget."""
    s = st.session_state
    budget = s[_k(prefix, "budget")]
    return {"preset": "paper" if budget == "paper" else "quick",
            "epochs": int(s[_k(prefix, "epochs")]) if budget == "epochs" else None}


def page_configs(prefix: str, **axes) -> list:
    """The runs a page asks for: a deepad Grid of `axes` (Grid's fields: dataset, oe, oe_jpeg
    and lists for normal_class, method, oe_size, blur_sigma, seed) with the page's budget and
    method parameters. make_config decides every default; the runs are described without opening
    the data (check_data=False: training checks them). DeepadError for bad settings."""
    from deepad.grids import Grid
    from deepad.parsing import parse_method_params
    text = st.session_state.get(_k(prefix, "params"), "") or ""
    params = parse_method_params([p.strip() for p in text.replace(";", ",").split(",") if p.strip()])
    takes = set().union(*(methods.REGISTRY[m].params for m in axes.get("method", ())
                          if m in methods.REGISTRY))
    grid = Grid(**axes, **budget_args(prefix),  # a parameter no chosen method takes waits unused
                method_params={k: v for k, v in params.items() if k in takes})
    return grid.configs(check_data=False)
