"""A person's path in real Chromium: `genshare lab` and the quickstart, `genshare app`.

Uses Debian's /usr/bin/chromium through Playwright (no browser download). Each test clicks in
the explorer's group list and checks, in the page's DOM, that the Fst heatmap follows.
Screenshots land in test-results/ for a human to look at.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RESULTS = REPO / "test-results"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _need_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed (apt-get install chromium; .ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason='pip install "genshare_widgets[dev]"')


def _explorer_bench():
    """benchmarks/explorer.py: starts and stops the servers, measures the app in the page
    (shared with `make bench`, one copy of those helpers)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "explorer_bench", REPO / "benchmarks" / "explorer.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _explorer_bench()


@pytest.fixture
def lab_server(tmp_path, sim_ooa):
    _need_browser()
    notebooks = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks)  # autosave must not touch the repository
    port, token = bench.free_port(), "genshare-test"
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
    try:
        bench.wait_for_http(f"{url}/api/status?token={token}", proc, tmp_path / "lab.log")
        yield url, token
    finally:
        bench.stop(proc)
        log.close()


@pytest.fixture
def app_server(tmp_path, sim_ooa):
    _need_browser()
    # the app notebook is copied to tmp_path (exports land there), served from this checkout
    proc, url, log = bench.start_app("sim-ooa", tmp_path, REPO)
    try:
        yield url, log
    finally:
        bench.stop(proc)


def _launch(p):
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


FST_TICKS = ".genshare-explorer .genshare-figure-fst .xtick text"


def _wait_for_ticks(page, names: list[str], timeout: float = 60_000) -> None:
    """Wait until the explorer's Fst heatmap shows exactly these groups on its x axis."""
    page.wait_for_function(
        """([selector, names]) => {
            const ticks = [...document.querySelectorAll(selector)].map(t => t.textContent);
            return ticks.length === names.length && names.every(n => ticks.includes(n));
        }""",
        arg=[FST_TICKS, names],
        timeout=timeout,
    )


def _toggle_group(page, name: str) -> None:
    """Ctrl-click one option of the explorer's group list (a person toggling it)."""
    option = page.locator(".genshare-explorer .genshare-groups select option", has_text=name)
    option.scroll_into_view_if_needed()
    option.click(modifiers=["Control"])


def test_quickstart_in_real_browser(lab_server):
    from playwright.sync_api import expect, sync_playwright

    url, token = lab_server
    RESULTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/00_quickstart.ipynb?token={token}", timeout=60_000)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.isReady",
            timeout=90_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # JupyterLab renders only the cells near the viewport (windowing): read the notebook
        # model, not the page text, to know that every cell has run
        page.wait_for_function(
            """() => {
                const panel = window.jupyterapp.shell.currentWidget;
                const cells = panel.content.model.cells;
                for (let i = 0; i < cells.length; i++) {
                    const cell = cells.get(i);
                    if (cell.type === "code" && !cell.executionCount) return false;
                }
                return panel.sessionContext.session.kernel.status === "idle";
            }""",
            timeout=180_000,
        )
        outputs = page.evaluate(
            """() => {
                const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
                const out = [];
                for (let i = 0; i < cells.length; i++) {
                    const cell = cells.get(i);
                    if (cell.type === "code") out.push(...cell.outputs.toJSON());
                }
                return JSON.stringify(out);
            }"""
        )
        assert '"output_type":"error"' not in outputs and "Traceback" not in outputs
        assert "Yoruba in Ibadan, Nigeria (simulated)" in outputs
        assert "300 samples" in outputs and "multi-allelic" in outputs
        news = page.get_by_role("button", name="No", exact=True)  # JupyterLab's news prompt
        if news.count():
            news.first.click()
            news.first.wait_for(state="detached", timeout=10_000)
        page.get_by_role("heading", name="Who is in it?").scroll_into_view_if_needed()
        page.screenshot(path=str(RESULTS / "quickstart.png"))
        # the catalog browser: its result list holds the catalog, the details pane the cohort
        catalog = page.locator(".genshare-catalog-browser").first
        catalog.scroll_into_view_if_needed()
        assert catalog.locator("select option").count() >= 5
        expect(catalog).to_contain_text("Consent (GA4GH DUO)", timeout=30_000)
        page.screenshot(path=str(RESULTS / "quickstart_catalog.png"))
        # the explorer: all three groups, then one fewer after a click in the group list
        page.locator(".genshare-explorer").first.scroll_into_view_if_needed()
        _wait_for_ticks(page, ["CEU", "CHB", "YRI"])
        _toggle_group(page, "CHB")
        _wait_for_ticks(page, ["CEU", "YRI"])
        assert page.locator(".genshare-explorer").first.inner_text().count("updated in") == 1
        page.screenshot(path=str(RESULTS / "quickstart_explorer.png"))
        browser.close()


def test_app_in_real_browser(app_server):
    from playwright.sync_api import sync_playwright

    url, log = app_server
    RESULTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        page.goto(url, timeout=60_000)
        try:  # the first load runs the whole app notebook in a fresh kernel
            _wait_for_ticks(page, ["CEU", "CHB", "YRI"], timeout=240_000)
        except Exception as exc:  # say what the page and the server showed, for the next person
            page.screenshot(path=str(RESULTS / "app_first_load_failed.png"))
            raise AssertionError(
                f"the explorer's Fst heatmap did not appear: {exc}\n--- page ---\n"
                f"{page.inner_text('body')[-2000:]}\n--- app log ---\n{log.read_text()[-3000:]}"
            ) from None
        text = page.inner_text("body")
        assert "GenShare cohort explorer" in text
        assert "sim-ooa: 300 samples" in text.replace("\n", " ")
        assert "cohort_id" not in text  # no code on the page
        _toggle_group(page, "YRI")
        _wait_for_ticks(page, ["CEU", "CHB"])
        _toggle_group(page, "YRI")  # Ctrl-click again: back in
        _wait_for_ticks(page, ["CEU", "CHB", "YRI"])
        assert "Traceback" not in page.inner_text("body"), log.read_text()
        page.screenshot(path=str(RESULTS / "app.png"))
        browser.close()


def test_app_timings_and_no_page_errors(app_server):
    """The app shows its widgets, every tab draws its figure when shown, and the page logs no
    error (a plot drawn into a hidden tab did: "Resize must be passed a displayed plot div
    element"). Timings are logged (the ≤ 100 ms update target is measured at 1000 Genomes
    size by benchmarks/explorer.py --source); here each control change's Python update is
    only held under a gross bound (a shared test machine)."""
    url, log = app_server
    RESULTS.mkdir(exist_ok=True)
    result = bench.measure_app(url, rounds=1, screenshot=RESULTS / "app_timings.png")
    print(bench.format_report(result))
    # (resources of another host, a CDN the offline test machine cannot reach, are listed
    # apart in result["offline_loads"]: not the page's errors)
    assert result["errors"] == [], log.read_text()[-3000:]
    assert result["first_paint_ms"] is not None and result["first_figure_ms"] is not None
    from genshare_widgets.widgets import TABS

    drawn = [name for name, _py, page_ms in result["steps"] if page_ms is not None]
    # every tab, a group toggled on the Fst tab, back to the AF tab and its pair B changed
    assert len(drawn) == len(TABS) + 3
    changes = {name: py for name, py, _page in result["steps"] if not name.startswith("tab ")}
    assert len(changes) == 2 and all(py is not None and py < 1000 for py in changes.values())
