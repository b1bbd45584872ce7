"""Downloads report their progress: the bytes torchvision's downloader receives reach a callback,
and the dashboard turns them into a progress bar. Served from a local HTTP server (no internet)."""

import functools
import http.server
import threading
from pathlib import Path

import pytest

from deepad.data import sources


@pytest.fixture
def http_folder(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "blob.bin").write_bytes(bytes(range(256)) * 2000)  # 512,000 bytes
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _source(url, root_name="fake"):
    def reader(root, train, probe=False):
        if not (Path(root) / root_name / "blob.bin").exists():
            raise FileNotFoundError(root)
        return None

    def downloader(root):
        import torchvision.datasets.utils as tvu
        tvu.download_url(f"{url}/blob.bin", str(Path(root) / root_name), filename="blob.bin")

    return sources.TorchvisionSource("fake", "Fake set", root_name, reader, downloader, ["a", "b"],
                                     None)


def test_download_reports_bytes_as_they_arrive(http_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPAD_OFFLINE", raising=False)
    monkeypatch.setenv("DEEPAD_DATA", str(tmp_path / "data"))
    calls = []
    src = _source(http_folder)
    assert not src.available()
    src.ensure(progress=lambda done, total, n: calls.append((done, total, n)))
    assert src.available()
    assert calls[0] == (0, 512_000, 1)
    assert calls[-1] == (512_000, 512_000, 1)
    done = [c[0] for c in calls]
    assert done == sorted(done) and len(calls) > 3  # several updates, never going back
    # torchvision's own tqdm is back in place afterwards
    import torchvision.datasets.utils as tvu
    assert tvu.tqdm.__name__ == "tqdm"


def test_dashboard_progress_text(monkeypatch):
    from ui.common import download_progress

    class Bar:
        def __init__(self):
            self.seen = []

        def progress(self, value, text=""):
            self.seen.append((value, text))

    bar = Bar()
    cb = download_progress(bar, "MNIST")
    cb(0, 2 * 2 ** 20, 1)
    cb(2 * 2 ** 20, 2 * 2 ** 20, 1)  # the last update always draws
    assert bar.seen[-1][0] == 1.0
    assert "MNIST" in bar.seen[-1][1] and "2.0 of 2.0 MB" in bar.seen[-1][1]
    n = len(bar.seen)
    cb(1, None, 2)  # within 0.1 s of the last redraw: skipped
    assert len(bar.seen) == n
    import time
    time.sleep(0.12)
    cb(3 * 2 ** 20, None, 2)  # size unknown: bytes so far
    assert bar.seen[-1] == (0.0, "Downloading MNIST, file 2: 3.0 MB")


def test_offline_download_fails_with_a_clear_message(http_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAD_OFFLINE", "1")
    monkeypatch.setenv("DEEPAD_DATA", str(tmp_path / "data"))
    with pytest.raises(sources.DataError, match="DEEPAD_OFFLINE"):
        _source(http_folder).ensure(progress=lambda *a: None)
