"""A person's path: `genshare lab`, open the quickstart in real Chromium, run it, look at it.

Uses Debian's /usr/bin/chromium through Playwright (no browser download). The screenshot lands
in test-results/quickstart.png for a human to look at.
"""

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
RESULTS = REPO / "test-results"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_server(tmp_path, sim_ooa):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed (apt-get install chromium; .ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason='pip install "genshare_widgets[dev]"')
    notebooks = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks)  # autosave must not touch the repository
    port, token = _free_port(), "genshare-test"
    cmd = [
        sys.executable,
        "-m",
        "genshare_widgets",
        "lab",
        "--notebooks",
        str(notebooks),
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        "--expose-app-in-browser",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 (open for the server's whole life)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "lab.log").read_text()) from None
            time.sleep(0.5)
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_quickstart_in_real_browser(lab_server):
    from playwright.sync_api import sync_playwright

    url, token = lab_server
    RESULTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/00_quickstart.ipynb?token={token}", timeout=60_000)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.isReady",
            timeout=90_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            "() => document.body.innerText.includes('multi-allelic')", timeout=120_000
        )
        text = page.inner_text(".jp-Notebook")
        assert "Yoruba in Ibadan, Nigeria (simulated)" in text
        assert "300 samples" in text
        assert page.locator("[data-mime-type='application/vnd.jupyter.error']").count() == 0
        assert "Traceback" not in text
        page.get_by_role("heading", name="Who is in it?").scroll_into_view_if_needed()
        page.screenshot(path=str(RESULTS / "quickstart.png"))
        browser.close()
