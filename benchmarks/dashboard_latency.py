"""Dashboard latency: time from opening the default Explore page to a finished comparison
(HSC vs BCE ROC curves on the bundled digits), with an empty cache and with a warm one.

    python benchmarks/dashboard_latency.py [--json]

Starts `streamlit run app.py` on a free port with a fresh DEEPAD_CACHE, opens the page in headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright) and waits for both ROC traces. Cold:
the first visit (trains both runs). Warm: a new Streamlit session on the same server, served from
the run store, measured two ways: in a new browser profile (empty browser cache: the front end's
JavaScript, 4.7 MB of it Plotly, is fetched and compiled again) and in a new tab of a browser that
has opened the app before (its HTTP cache holds the front end). For each warm visit the time at
which the app's sidebar appears is reported too. Server start-up is reported separately.
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


MARKS = """() => { const t = performance.now(); const r = window.__marks = window.__marks || {};
  if (!r.sidebar && document.querySelector('[data-testid=stSidebar]')) r.sidebar = t;
  if (!r.done && Array.from(document.querySelectorAll('.js-plotly-plot')).some(
      e => e.innerText.includes('HSC (AUROC') && e.innerText.includes('BCE (AUROC'))) r.done = t;
  return r.done ? r : null; }"""


def time_to_result(browser, url, context=None) -> float:
    """Seconds from navigation to both ROC traces drawn; also sets LAST_SIDEBAR_S."""
    global LAST_SIDEBAR_S
    page = (context or browser).new_page(**({} if context else {"viewport": {"width": 1400, "height": 1000}}))
    t0 = time.perf_counter()
    page.goto(url)
    marks = page.wait_for_function(MARKS, timeout=300_000, polling=50).json_value()
    dt = time.perf_counter() - t0
    LAST_SIDEBAR_S = marks.get("sidebar", float("nan")) / 1000
    page.close()
    return dt


LAST_SIDEBAR_S = float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright
    cache = tempfile.mkdtemp(prefix="deepad-latency-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DEEPAD_CACHE": cache, "DEEPAD_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port",
                             str(port), "--server.headless", "true"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        startup = time.perf_counter() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            cold = time_to_result(browser, url)
            warm, warm_sidebar = [], []
            for _ in range(3):  # new browser profile each time: nothing in the browser cache
                warm.append(time_to_result(browser, url))
                warm_sidebar.append(LAST_SIDEBAR_S)
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            time_to_result(browser, url, ctx)  # this browser has now opened the app once
            tab, tab_sidebar = [], []
            for _ in range(3):  # a new tab (new Streamlit session), browser cache warm
                tab.append(time_to_result(browser, url, ctx))
                tab_sidebar.append(LAST_SIDEBAR_S)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    out = {"server_start_s": startup, "cold_first_result_s": cold,
           "warm_first_result_s": min(warm), "warm_runs_s": warm, "warm_sidebar_s": warm_sidebar,
           "warm_new_tab_first_result_s": min(tab), "warm_new_tab_runs_s": tab,
           "warm_new_tab_sidebar_s": tab_sidebar}
    print(f"server start {startup:.1f} s; first result with an empty cache {cold:.1f} s "
          f"(target < 20 s); with a warm run cache {min(warm):.2f} s in a new browser profile "
          f"(app shell after {min(warm_sidebar):.2f} s) and {min(tab):.2f} s in a new tab of a "
          f"browser that has opened the app before (app shell after {min(tab_sidebar):.2f} s); "
          f"target < 1 s", file=sys.stderr)
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
