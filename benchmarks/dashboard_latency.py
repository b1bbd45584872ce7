"""Dashboard latency: time from opening the default Explore page to a finished comparison
(HSC vs BCE on the bundled digits: ROC and histogram charts and the metrics table), with an empty
cache and with a warm one.

    python benchmarks/dashboard_latency.py [--json]

Starts `streamlit run app.py` on a free port with a fresh DEEPAD_CACHE, opens the page in headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright) and waits until both chart images are
decoded and the metrics table names HSC and BCE. Cold: the first visit (trains both runs). Warm: a
new Streamlit session on the same server, served from the run store, measured two ways: in a new
browser profile (empty browser cache: the front end's JavaScript is fetched and compiled again)
and in a new tab of a browser that has opened the app before (its HTTP cache holds the front end).
For each warm visit the time at which the app's sidebar appears is reported too. Side by side in
the same run: the new-tab time with interactive charts (?interactive=True: Plotly, 4.7 MB of
JavaScript to compile), the floor (a Streamlit page with one image and one table) and the floor
with the controls of Explore's sidebar added (what the front end costs for them alone); and the
new tab and the switch below on a second server of the app with Streamlit's default full garbage
collection after every script run (`--runner.postScriptGC true`; the app's .streamlit/config.toml
turns it off). Server start-up is reported separately. Last, in an open page: the time from a click that switches to
another cached comparison (the seed's +/- buttons, seeds 1 and 2) to its charts drawn.

    python benchmarks/dashboard_latency.py --shipped [--json]

measures what a newcomer meets instead: `streamlit run app.py` on a fresh clone (the shipped
results/ bundles, an empty run store, no data under DEEPAD_DATA, offline), the time from starting
the server to the first real CIFAR-10 curve (the OE-samples page's chart naming HSC and BCE) in a
new browser, and then to the claims page's verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _marks(done: str) -> str:
    return ("() => { const t = performance.now(); const r = window.__marks = window.__marks || {};"
            "if (!r.sidebar && document.querySelector('[data-testid=stSidebar]')) r.sidebar = t;"
            f"if (!r.done && ({done})) r.done = t; return r.done ? r : null; }}")


# the default view: the ROC and histogram images decoded, and the metrics table naming both methods
IMAGES = _marks("Array.from(document.querySelectorAll('[data-testid=stImage] img')).filter("
                "i => i.complete && i.naturalWidth > 0).length >= 2 && Array.from(document."
                "querySelectorAll('[data-testid=stTable]')).some(e => e.textContent.includes('HSC') "
                "&& e.textContent.includes('BCE'))")
# interactive charts (?interactive=True): both ROC traces drawn by Plotly
PLOTLY = _marks("Array.from(document.querySelectorAll('.js-plotly-plot')).some(e => e.textContent"
                ".includes('HSC (AUROC') && e.textContent.includes('BCE (AUROC'))")
# the floor: a Streamlit page with one image and one table, nothing else
FLOOR = _marks("Array.from(document.querySelectorAll('[data-testid=stImage] img')).filter("
               "i => i.complete && i.naturalWidth > 0).length >= 1 && document.querySelector("
               "'[data-testid=stTable]')")
FLOOR_APP = """import numpy as np, pandas as pd, streamlit as st
st.title("floor")
st.image(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
st.table(pd.DataFrame({"method": ["HSC", "BCE"], "AUROC": [0.9, 0.8]}))
"""
# the floor plus the controls of Explore's sidebar (what Streamlit's front end costs for them alone;
# the same help icons, with a stand-in text: the icon is drawn up front, its text only on hover)
FLOOR_WIDGETS_APP = FLOOR_APP + """HELP = "the help text of Explore's control"
with st.sidebar:
    st.header("Experiment")
    st.selectbox("Data set (nominal data)", ["8x8 digits", "MNIST"], help=HELP)
    st.selectbox("Nominal class", ["0", "1"])
    st.selectbox("OE data set", ["natural photo patches", "MNIST"], help=HELP)
    st.select_slider("Number of OE images", [1, 2, 4, 8, 16, 32, 64, 128], value=64)
    st.select_slider("Blur of the OE images (sigma, pixels)", [0, 1, 2, 4], help=HELP)
    st.multiselect("Methods", ["HSC", "BCE", "Focal"], default=["HSC", "BCE"], help=HELP)
    st.caption("unsupervised with OE: HSC · supervised with OE: BCE")
    st.number_input("Seed", min_value=0, max_value=2 ** 31, value=1, step=1)
    st.radio("Training budget", ["quick", "paper", "epochs"], horizontal=True, help=HELP)
    st.text_input("Method parameters", placeholder="e.g. pretrain_epochs=5", help=HELP)
    st.selectbox("Device", ["auto", "cpu"])
    st.button("Train", type="primary", help=HELP)
    st.caption("2 run(s) to train: about 10 s")
"""


def time_to_result(browser, url, context=None, marks=IMAGES) -> tuple[float, float]:
    """(seconds from navigation to the result drawn, seconds to the app's sidebar)."""
    page = (context or browser).new_page(**({} if context else {"viewport": {"width": 1400, "height": 1000}}))
    t0 = time.perf_counter()
    page.goto(url)
    m = page.wait_for_function(marks, timeout=300_000, polling=20).json_value()
    dt = time.perf_counter() - t0
    page.close()
    return dt, m.get("sidebar", float("nan")) / 1000


def start(script: str, cwd, env, *flags: str) -> tuple[subprocess.Popen, str, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.port",
                             str(port), "--server.headless", "true", *flags], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)


CHART_SRCS = ("() => Array.from(document.querySelectorAll('[data-testid=stImage] img')).slice(0, 2)"
              ".map(i => i.src)")
NEW_CHARTS = ("(old) => { const im = Array.from(document.querySelectorAll('[data-testid=stImage] img'))"
              ".slice(0, 2); return im.length == 2 && im.every((i, j) => i.complete && "
              "i.naturalWidth > 0 && i.src != old[j]); }")


def _switch(browser, url, n=4):
    """In an open page, the seed's '+'/'-' buttons switch between two cached comparisons (seeds 1
    and 2, both trained first): seconds from the click to the other comparison's charts drawn."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(url + "/?seed=2")  # trains seed 2 if needed
    page.wait_for_function(IMAGES, timeout=300_000, polling=50)
    page.goto(url + "/?seed=1")
    page.wait_for_function(IMAGES, timeout=300_000, polling=50)
    seed = page.locator("[data-testid=stNumberInput]").filter(has_text="Seed")
    out = []
    for i in range(n):
        old = page.evaluate(CHART_SRCS)
        t0 = time.perf_counter()
        seed.locator("button").nth(1 if i % 2 == 0 else 0).click()  # + then -
        page.wait_for_function(NEW_CHARTS, arg=old, timeout=60_000, polling=20)
        out.append(time.perf_counter() - t0)
        page.wait_for_timeout(300)
    ctx.close()
    return out


def _tabs(browser, url, marks, n=3):
    """A browser that has opened the URL once; then n new tabs (new Streamlit sessions)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    time_to_result(browser, url, ctx, marks)
    out = [time_to_result(browser, url, ctx, marks) for _ in range(n)]
    ctx.close()
    return [t for t, _ in out], [s for _, s in out]


from cli_latency import cpu_model  # noqa: E402 - a sibling script (benchmarks/ is on the path)

# the 2-D page: its boundary chart and output-space chart, drawn by Plotly, naming the methods
IDEAS = _marks("document.querySelectorAll('.js-plotly-plot').length >= 2 && Array.from(document."
               "querySelectorAll('.js-plotly-plot')).some(e => e.textContent.includes('HSC'))")


def _ideas(browser, url) -> dict:
    """The 2-D page: first visit (its toy models trained), a new tab once cached, and a shape
    it has not trained yet (what changing the shape costs)."""
    first, _ = time_to_result(browser, url + "/ideas", marks=IDEAS)
    tabs, _ = _tabs(browser, url + "/ideas", IDEAS)
    changed, _ = time_to_result(browser, url + "/ideas?toy_shape=ring", marks=IDEAS)
    return {"ideas_first_s": first, "ideas_cached_new_tab_s": min(tabs),
            "ideas_cached_new_tab_runs_s": tabs, "ideas_after_shape_change_s": changed}


# the OE-samples page: the curve naming both methods, drawn by Plotly
CURVE = _marks("Array.from(document.querySelectorAll('.js-plotly-plot')).some(e => e.textContent"
               ".includes('HSC') && e.textContent.includes('BCE'))")
CLAIMS = _marks("document.querySelectorAll('h4').length >= 6 && document.body.innerText"
                ".includes('Show the evidence')")


def shipped(as_json: bool) -> None:
    """From `streamlit run app.py` on a fresh clone to the shipped CIFAR-10 curve and the claims."""
    from playwright.sync_api import sync_playwright
    empty = tempfile.mkdtemp(prefix="deepad-fresh-")
    env = {**os.environ, "DEEPAD_CACHE": str(Path(empty) / "cache"), "DEEPAD_OFFLINE": "1",
           "DEEPAD_DATA": str(Path(empty) / "no-data")}
    env.pop("DEEPAD_RESULTS", None)
    env.pop("DEEPAD_DATASET_CACHE", None)
    t0 = time.perf_counter()
    proc, url, startup = start("app.py", REPO, env)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page_s, _ = time_to_result(browser, url + "/oe-samples", marks=CURVE)
            total = time.perf_counter() - t0
            again, _ = time_to_result(browser, url + "/oe-samples", marks=CURVE)
            claims_s, _ = time_to_result(browser, url + "/claims", marks=CLAIMS)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    out = {"server_start_s": startup, "first_curve_page_s": page_s,
           "run_to_first_curve_s": total, "second_visit_curve_s": again,
           "claims_page_s": claims_s}
    print(f"fresh clone: server start {startup:.1f} s, the OE-samples page's CIFAR-10 curve "
          f"{page_s:.1f} s after opening it: {total:.1f} s from `streamlit run app.py` to the "
          f"first real curve; the same page in a new browser {again:.1f} s; the claims page "
          f"{claims_s:.1f} s", file=sys.stderr)
    if as_json:
        print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--shipped", action="store_true",
                    help="a fresh clone: the shipped results, no data, an empty store")
    a = ap.parse_args()
    if a.shipped:
        return shipped(a.json)
    from playwright.sync_api import sync_playwright
    cache = tempfile.mkdtemp(prefix="deepad-latency-")
    # an empty store and no shipped results: the first result is trained (the --shipped mode
    # measures a fresh clone with the shipped results)
    env = {**os.environ, "DEEPAD_CACHE": cache, "DEEPAD_OFFLINE": "1", "DEEPAD_RESULTS": "none"}
    proc, url, startup = start("app.py", REPO, env)
    floor_dir = tempfile.mkdtemp(prefix="deepad-floor-")
    Path(floor_dir, "floor.py").write_text(FLOOR_APP)
    Path(floor_dir, "floor_widgets.py").write_text(FLOOR_WIDGETS_APP)
    wproc, wurl, _ = start("floor_widgets.py", floor_dir, env)
    fproc, furl, _ = start("floor.py", floor_dir, env)
    # side by side: the same app with Streamlit's default full garbage collection after every
    # script run (.streamlit/config.toml turns it off)
    gproc, gurl, _ = start("app.py", REPO, env, "--runner.postScriptGC", "true")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            cold, _ = time_to_result(browser, url)
            warm, warm_sidebar = [], []
            for _ in range(3):  # new browser profile each time: nothing in the browser cache
                t, sb = time_to_result(browser, url)
                warm.append(t)
                warm_sidebar.append(sb)
            tab, tab_sidebar = _tabs(browser, url, IMAGES)
            inter, _ = _tabs(browser, url + "/?interactive=True", PLOTLY)
            floor, _ = _tabs(browser, furl, FLOOR)
            floor_widgets, _ = _tabs(browser, wurl, FLOOR)
            switch = _switch(browser, url)
            gc_tab, _ = _tabs(browser, gurl, IMAGES)
            gc_switch = _switch(browser, gurl)
            ideas = _ideas(browser, url)
            browser.close()
    finally:
        for pr in (proc, fproc, gproc, wproc):
            pr.terminate()
            pr.wait(10)
    out = {"cpu": cpu_model(), "server_start_s": startup, "cold_first_result_s": cold,
           "warm_first_result_s": min(warm), "warm_runs_s": warm, "warm_sidebar_s": warm_sidebar,
           "warm_new_tab_first_result_s": min(tab), "warm_new_tab_runs_s": tab,
           "warm_new_tab_sidebar_s": tab_sidebar,
           "warm_new_tab_interactive_s": min(inter), "warm_new_tab_interactive_runs_s": inter,
           "floor_new_tab_s": min(floor), "floor_new_tab_runs_s": floor,
           "floor_widgets_new_tab_s": min(floor_widgets), "floor_widgets_new_tab_runs_s": floor_widgets,
           "switch_cached_s": float(sorted(switch)[len(switch) // 2]), "switch_cached_runs_s": switch,
           "post_script_gc_new_tab_s": min(gc_tab), "post_script_gc_new_tab_runs_s": gc_tab,
           "post_script_gc_switch_s": float(sorted(gc_switch)[len(gc_switch) // 2]),
           "post_script_gc_switch_runs_s": gc_switch,
           **ideas}
    print(f"{out['cpu']}: server start {startup:.1f} s; first result with an empty cache {cold:.1f} s "
          f"(target <= 10 s); with a warm run cache {min(warm):.2f} s in a new browser profile "
          f"(app shell after {min(warm_sidebar):.2f} s) and {min(tab):.2f} s in a new tab of a "
          f"browser that has opened the app before (app shell after {min(tab_sidebar):.2f} s); "
          f"target <= floor + 0.5 s. Same new-tab view with interactive (Plotly) charts: {min(inter):.2f} s. "
          f"Floor, a Streamlit page with one image and one table: {min(floor):.2f} s; with the "
          f"sidebar's controls added: {min(floor_widgets):.2f} s. In an open "
          f"page, switching to another cached comparison (seed +/-): median "
          f"{sorted(switch)[len(switch) // 2]:.2f} s (target <= 0.3 s). With Streamlit's "
          f"garbage collection after every run (its default): new tab {min(gc_tab):.2f} s, switch "
          f"{sorted(gc_switch)[len(gc_switch) // 2]:.2f} s. The 2-D page: first visit "
          f"{ideas['ideas_first_s']:.1f} s, cached new tab {ideas['ideas_cached_new_tab_s']:.2f} s, "
          f"another shape {ideas['ideas_after_shape_change_s']:.1f} s (targets <= 5 s, <= 15 s)",
          file=sys.stderr)
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
