"""Dashboard latency: time from opening the default Explore page to a finished comparison
(HSC vs BCE ROC curves on the bundled digits), with an empty cache and with a warm one.

    python benchmarks/dashboard_latency.py [--json]

Starts `streamlit run app.py` on a free port with a fresh DEEPAD_CACHE, opens the page in headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright) and waits for both ROC traces. Cold:
the first visit (trains both runs). Warm: a new browser session on the same server (served from the
store). Server start-up is reported separately.
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


def time_to_result(browser, url) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).some("
        "e => e.innerText.includes('HSC (AUROC') && e.innerText.includes('BCE (AUROC'))",
        timeout=300_000, polling=100)
    dt = time.perf_counter() - t0
    page.close()
    return dt


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
            warm = [time_to_result(browser, url) for _ in range(3)]
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    out = {"server_start_s": startup, "cold_first_result_s": cold,
           "warm_first_result_s": min(warm), "warm_runs_s": warm}
    print(f"server start {startup:.1f} s; first result with an empty cache {cold:.1f} s "
          f"(target < 20 s); with a warm cache {min(warm):.2f} s (target < 1 s)", file=sys.stderr)
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
