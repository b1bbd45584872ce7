"""Blur: does outlier exposure still help when the OE images lose their fine detail?"""

import streamlit as st

from deepad import claims, plots
from deepad.preview import oe_images
from ui import common as ui
from ui import curves

OE_METHODS = ui.method_choices(oe_only=True)
DEFAULTS = {"blur_dataset": "digits", "blur_classes": [0], "blur_oe": "photos", "blur_oe_size": 128,
            "blur_methods": ["hsc", "bce"], "blur_sigmas": list(ui.BLUR_SIGMAS), "blur_seeds": "1",
            "blur_budget": "quick", "blur_epochs": 10, "blur_oe_jpeg": True, "blur_params": ""}
EXPLAIN = ("Blurring removes the fine detail of the OE images; the paper finds that OE stops helping "
           "once the fine scales are gone, so it is their multiscale structure that makes a few "
           "natural images so informative.")
res, rows = curves.open_page("blur", "blur", DEFAULTS,
                             {"blur_oe_size": ui.OE_SIZES, "blur_methods": OE_METHODS,
                              "blur_sigmas": ui.BLUR_SIGMAS})
s = st.session_state

st.title("Blur: what makes a few natural images such good anomalies?")
st.markdown(EXPLAIN + " Each point is the mean AUROC over the chosen nominal classes and seeds; the "
            "error bars are its 95% confidence interval over seeds.")
curves.intro("blur", "blur", rows, "a blur curve")

with st.sidebar:
    st.header("Experiment")
    ds, classes = ui.nominal_picker("blur", rows)
    oe = ui.oe_picker("blur_oe", rows)
    st.select_slider("Number of OE images", ui.OE_SIZES, key="blur_oe_size",
                     help="the paper's blur runs used 128 on CIFAR-10 and 64 on ImageNet")
    oe_jpeg = ui.oe_codec(ds if classes else None, oe, "blur_oe_jpeg")
    ui.method_picker("blur_methods", OE_METHODS, "Methods (with OE)")
    st.multiselect("Blur sigmas (pixels)", ui.BLUR_SIGMAS, key="blur_sigmas", help=ui.GLOSSARY["blur"])
    st.text_input("Seeds", key="blur_seeds", help="e.g. 1, or 1-3, or 1, 4, 7")
    ui.budget_picker("blur")
ui.write_url(list(DEFAULTS))

if not (s["blur_methods"] and s["blur_sigmas"] and s["blur_classes"] and oe):
    st.info("Choose at least one class, method and blur sigma, and the OE data, in the sidebar.")
    st.stop()
configs = curves.configs_of("blur", "blur_sigma", s["blur_sigmas"], classes=s["blur_classes"],
                            seed_text=s["blur_seeds"], dataset=ds, oe=oe, oe_jpeg=oe_jpeg,
                            method=s["blur_methods"], oe_size=[s["blur_oe_size"]])
if not configs:
    st.stop()


def claim_box(grid_rows):
    v = claims.claim_blur(grid_rows)
    st.markdown(f"**The paper's claim.** {v.claim}")
    if v.numbers:
        st.markdown(f"**Here**: {v.evidence} ({v.criterion}) → **{v.verdict}**.")
    else:
        st.caption("Stored runs without blur and with blur, for HSC and BCE, test it here.")


curves.Curve(
    "blur", "blur_sigma", "blur sigma", "blur of the OE images, sigma in pixels (log scale)",
    "AUROC against the blur of the OE images", configs, rows,
    lambda c: f"{ui.method_label(c.method)}, class {c.normal_class}, sigma {c.blur_sigma:g}, "
              f"seed {c.seed}",
    "deepad: AUROC against the blur of the OE images", "deepad-blur",
    settings={k: s.get(k) for k in DEFAULTS}).show(res, side=claim_box, explain=EXPLAIN)

st.subheader("The same OE images at each blur")
with ui.shown_errors("OE images"):
    missing_data = ui.stored.data_missing([configs[0]])
    if missing_data:
        st.caption("The OE images are " + missing_data + ".")
    else:
        sigmas = sorted(s["blur_sigmas"])
        for row in range(0, len(sigmas), 4):  # four to a row: large enough to see the blur
            for col, sigma in zip(st.columns(4), sigmas[row:row + 4]):
                col.image(plots.image_grid(oe_images(configs[0], k=4, blur_sigma=sigma), cols=2),
                          caption=f"sigma = {sigma:g}", width="stretch")
