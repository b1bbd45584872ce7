"""The dashboard in a real browser: headless Chromium driven by Playwright against
`streamlit run app.py`. Saves a screenshot of the Explore page (DEEPAD_UPDATE_SCREENSHOTS=1 also
writes it to docs/explore.png for the README)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.slow
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# both chart images (ROC, histograms) in the page and decoded
CHARTS_DRAWN = ("Array.from(document.querySelectorAll('[data-testid=stImage] img'))"
                ".filter(i => i.complete && i.naturalWidth > 0).length >= 2")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the browser test")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    port = _free_port()
    env = {**os.environ, "DEEPAD_CACHE": str(tmp_path / "cache"), "DEEPAD_OFFLINE": "1"}
    log = open(tmp_path / "streamlit.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not become healthy: " + (tmp_path / "streamlit.log").read_text()[-2000:])
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_explore_page_trains_and_shows_roc(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        t0 = time.time()
        page.goto(server)
        page.get_by_role("button", name="Train", exact=True).click(timeout=60_000)
        # the ROC curves and histograms arrive as images (drawn on the server), then the table
        page.wait_for_function(CHARTS_DRAWN, timeout=120_000)
        page.wait_for_selector("[data-testid='stTable'] >> text=HSC", timeout=30_000)
        first_result = time.time() - t0
        page.wait_for_timeout(1500)  # let the last elements render
        body = page.inner_text("body")
        assert page.locator("[data-testid='stException']").count() == 0
        assert "Traceback" not in body
        table = page.locator("[data-testid='stTable']").first.inner_text()
        assert "HSC" in table and "BCE" in table and "AUROC" in table
        shot = tmp_path / "explore.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 20_000
        if os.environ.get("DEEPAD_UPDATE_SCREENSHOTS"):
            shutil.copy(shot, REPO / "docs" / "explore.png")
        print(f"first result after {first_result:.1f} s; screenshot {shot}")
        # the same charts, interactive: a legend entry per method with its AUROC
        page.get_by_text("Interactive charts").click()
        page.wait_for_function("Array.from(document.querySelectorAll('.js-plotly-plot')).some(e => "
                               "e.textContent.includes('HSC (AUROC') && e.textContent.includes('BCE (AUROC'))",
                               timeout=60_000)
        assert "interactive=True" in page.url
        assert page.locator("[data-testid='stException']").count() == 0
        browser.close()


def test_ideas_page_draws_the_boundaries(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(server)
        page.get_by_text("The idea in 2-D").first.click(timeout=60_000)
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2",
                               timeout=120_000)
        page.wait_for_selector("text=Decision boundaries", timeout=30_000)
        page.wait_for_timeout(1500)
        assert page.locator("[data-testid='stException']").count() == 0
        assert "Traceback" not in page.inner_text("body")
        shot = tmp_path / "ideas.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
        if os.environ.get("DEEPAD_UPDATE_SCREENSHOTS"):
            shutil.copy(shot, REPO / "docs" / "ideas.png")
        # a click in a panel adds an example anomaly there (and puts it in the URL)
        box = page.locator(".js-plotly-plot").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
        page.wait_for_function("window.location.search.includes('toy_added=')", timeout=60_000)
        assert page.locator("[data-testid='stException']").count() == 0
        browser.close()


def test_two_browser_sessions_train_the_same_run_once(server, tmp_path):
    """Two people open the default page at the same moment (it trains HSC and BCE on the bundled
    digits by itself): each run is trained once, by one of the two sessions; the other waits and
    loads it. Each page says which runs it trained."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages = [browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
                 for _ in range(2)]
        for page in pages:  # both sessions start before either can finish training
            page.goto(server, wait_until="commit")
        captions = []
        for page in pages:
            page.wait_for_selector("text=Trained in this session", timeout=180_000)
            assert page.locator("[data-testid='stException']").count() == 0
            captions.append(page.get_by_text("Trained in this session").inner_text())
        browser.close()
    trained = [c.split("Trained in this session:")[1].split("·")[0] for c in captions]
    for method in ("HSC", "BCE"):
        assert sum(method in t for t in trained) == 1, captions
    from deepad.store import RunStore
    assert len(RunStore(tmp_path / "cache").query()) == 2
