"""OE samples: how many example anomalies does outlier exposure need?"""

import streamlit as st

from deepad import claims
from ui import common as ui
from ui import curves

OE_METHODS = ui.method_choices(oe_only=True)
DEFAULTS = {"oes_dataset": "digits", "oes_classes": [0], "oes_oe": "photos",
            "oes_methods": ["hsc", "bce"], "oes_sizes": [1, 4, 16, 64, "all"], "oes_seeds": "1",
            "oes_budget": "quick", "oes_epochs": 10, "oes_oe_jpeg": True, "oes_params": ""}
CLAIM = ("The paper finds about 32 OE samples are enough on CIFAR-10 (AUROC close to that with all "
         "80 million) and about 64 on ImageNet-30.")
res, rows = curves.open_page("oe-samples", "oes", DEFAULTS,
                             {"oes_methods": OE_METHODS, "oes_sizes": ui.OE_SIZES})
s = st.session_state

st.title("OE samples: how many example anomalies are enough?")
st.markdown("AUROC against the number of **outlier-exposure (OE)** images a method trains against, "
            "from 1 image up to the whole OE pool ('all'). Each point is the mean over the chosen "
            "nominal classes and seeds; the error bars are its 95% confidence interval over seeds.")
curves.intro("oe-samples", "oes", rows, "an OE-size curve")

with st.sidebar:
    st.header("Experiment")
    ds, classes = ui.nominal_picker("oes", rows)
    oe = ui.oe_picker("oes_oe", rows)
    oe_jpeg = ui.oe_codec(ds if classes else None, oe, "oes_oe_jpeg")
    ui.method_picker("oes_methods", OE_METHODS, "Methods (with OE)")
    st.multiselect("Numbers of OE images", ui.OE_SIZES, key="oes_sizes",
                   help="'all' = the whole OE pool")
    st.text_input("Seeds", key="oes_seeds", help="e.g. 1, or 1-3, or 1, 4, 7")
    ui.budget_picker("oes")
ui.write_url(list(DEFAULTS))

if not (s["oes_methods"] and s["oes_sizes"] and s["oes_classes"] and oe):
    st.info("Choose at least one class, method and number of OE images, and the OE data, in the "
            "sidebar.")
    st.stop()
configs = curves.configs_of("oes", "oe_size", s["oes_sizes"], classes=s["oes_classes"],
                            seed_text=s["oes_seeds"], dataset=ds, oe=oe, oe_jpeg=oe_jpeg,
                            method=s["oes_methods"])
if not configs:
    st.stop()
at = 64 if claims.profile_of(ds) == "imagenet" else 32


def claim_box(grid_rows):
    st.markdown(f"**The paper's claim.** {CLAIM}")
    v = claims.enough_in(grid_rows, ds, at) if grid_rows else None
    if v is None or not v.numbers:
        st.caption(f"Stored runs with {at} (or near it) and with 'all' OE images, for HSC and "
                   f"BCE, test it here." if "all" in s["oes_sizes"] else
                   f"Add 'all' (and {at}) to the sizes to compare with this claim.")
    else:
        st.markdown(f"**Here** ({ui.dataset_label(ds)}, OE {ui.dataset_label(oe)}): {v.evidence} "
                    f"With {at} samples at most {claims.ENOUGH_POINTS:g} points under all: "
                    f"**{v.verdict}**.")
        if any(n["at"] != at for n in v.numbers.values()):
            st.caption(f"{at} has no stored runs in this grid: the nearest size is used instead.")
    st.caption("All the paper's claims, checked against the stored runs: the **Claims** page.")


curves.Curve(
    "oes", "oe_size", "OE images", "number of OE images (log scale; 'all' = the whole pool)",
    "AUROC against the number of OE images", configs, rows,
    lambda c: f"{ui.method_label(c.method)}, class {c.normal_class}, {c.oe_size or 'all'} OE images, "
              f"seed {c.seed}",
    "deepad: AUROC against the number of OE samples", "deepad-oe-samples",
    settings={k: s.get(k) for k in DEFAULTS}).show(res, side=claim_box, explain=CLAIM)
