"""Explorer timings in a real browser: first paint, each tab switch, a control change, errors.

Starts ``genshare app --cohort ID`` (Voilà), drives Debian's /usr/bin/chromium through
Playwright and measures in the page with ``performance.now()``:

- *first paint*: from navigation start until the page's widgets (cohort picker) are shown,
  until the explorer's controls are, and until the first figure (Fst) is drawn;
- *tab switch* / *control change* (a group toggled on the Fst tab, pair B changed on the AF
  tab): from the click until the figure stops changing (the last
  DOM mutation inside the figure, with data in the plot), i.e. Python update + transfer +
  plotly render;
- the page's console errors and uncaught exceptions.

Run on a quiet machine (timings on a shared box are indicative only)::

    python benchmarks/explorer.py [--cohort sim-ooa] [--rounds 2]

``--source VCF_OR_STORE --samples TSV`` (e.g. the 1000 Genomes size bench cohort, which the
app's picker does not list) times the explorer's Python update per tab and user action
instead (:func:`measure_updates`: counts cached, no browser), the part of an update that
grows with the number of variants; ``PYTHONPATH=OTHER_CHECKOUT`` gives the before/after.

``tests/test_browser.py::test_app_timings_and_no_page_errors`` uses :func:`measure_app`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

#: installed before any page script: records when selectors first appear (ms since navigation)
INIT_JS = """
window.__gs = {first: {}, errors: []};
const watch = () => {
  const marks = {
    app: ".genshare-app",
    explorer: ".genshare-explorer",
    fst: ".genshare-figure-fst .main-svg",
  };
  const check = () => {
    for (const [name, sel] of Object.entries(marks)) {
      if (!(name in window.__gs.first) && document.querySelector(sel)) {
        window.__gs.first[name] = performance.now();
      }
    }
  };
  new MutationObserver(check).observe(document.documentElement, {childList: true, subtree: true});
  check();
};
if (document.documentElement) watch(); else document.addEventListener("readystatechange", watch);
"""

#: click ``target`` (a CSS selector or a tab title), then resolve with the ms until the figure
#: of ``kind`` last changed (quiet for ``quiet`` ms, with traces drawn)
ACTION_JS = """
async ([how, target, kind, quiet, timeout]) => {
  const figSel = `.genshare-explorer .genshare-figure-${kind}`;
  let last = null;
  const obs = new MutationObserver(() => { last = performance.now(); });
  obs.observe(document.body, {childList: true, subtree: true, attributes: true,
                              characterData: true});
  const ready = () => {
    const gd = document.querySelector(figSel);
    return gd && gd._fullData && gd._fullData.length > 0 && gd.offsetParent !== null;
  };
  let el;
  if (how === "tab") {
    el = [...document.querySelectorAll(".genshare-explorer .lm-TabBar-tab, "
                                       + ".genshare-explorer .p-TabBar-tab")]
           .find(t => t.textContent.trim() === target);
  } else {
    el = document.querySelector(target);
  }
  if (!el) { obs.disconnect(); return {error: `no ${target}`}; }
  const t0 = performance.now();
  if (how === "option") {
    // ctrl-click an option of a multiple select, as a person does
    el.selected = !el.selected;
    el.parentElement.dispatchEvent(new Event("change", {bubbles: true}));
  } else {
    const r = el.getBoundingClientRect();
    const at = {bubbles: true, cancelable: true, button: 0, clientX: r.x + r.width / 2,
                clientY: r.y + r.height / 2, pointerId: 1, isPrimary: true};
    el.dispatchEvent(new PointerEvent("pointerdown", at));
    el.dispatchEvent(new MouseEvent("mousedown", at));
    el.dispatchEvent(new PointerEvent("pointerup", at));
    el.dispatchEvent(new MouseEvent("mouseup", at));
  }
  last = null;
  const start = performance.now();
  while (performance.now() - start < timeout) {
    await new Promise(r => setTimeout(r, 20));
    const now = performance.now();
    if (last !== null && ready() && now - last >= quiet) break;
  }
  obs.disconnect();
  if (!ready()) return {error: `figure ${kind} not drawn in ${timeout} ms`};
  return {ms: (last ?? t0) - t0};
}
"""

STATUS_JS = """
() => {
  const text = document.querySelector(".genshare-explorer")?.innerText ?? "";
  const m = text.match(/(?:updated|shown) in (\\d+) ms/);
  return m ? Number(m[1]) : null;
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(cohort: str, workdir: Path, repo: Path = REPO) -> tuple[subprocess.Popen, str, Path]:
    """Serve ``genshare app --cohort COHORT`` of the checkout ``repo`` (its package and its
    notebooks/app.ipynb); return the process, its URL and its log file."""
    notebook = workdir / "app.ipynb"
    shutil.copy(repo / "notebooks" / "app.ipynb", notebook)
    port = free_port()
    log = workdir / "app.log"
    cmd = [sys.executable, "-m", "genshare_widgets", "app", "--notebook", str(notebook),
           "--no-browser", f"--port={port}", "--cohort", cohort]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/favicon.ico", proc, log)
    except RuntimeError:
        stop(proc)
        raise
    return proc, url, log


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    """Return once ``url`` answers (any HTTP status); raise with the server log otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # the server answered
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {seconds:.0f} s:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def measure_app(url: str, *, rounds: int = 1, screenshot: Path | None = None) -> dict:
    """Open the app at ``url`` in Chromium and measure it (see the module docstring).

    Returns ``{"first_paint_ms", "explorer_ms", "first_figure_ms", "offline_loads",
    "steps": [(name, python_ms, page_ms)], "errors": [...]}``; ``page_ms`` is None for a
    step whose figure was never drawn (its message is then in ``errors``).
    """
    from playwright.sync_api import sync_playwright

    from genshare_widgets.widgets import TABS

    errors: list[str] = []
    steps: list[tuple[str, float | None, float | None]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        offline: list[str] = []

        def on_console(m) -> None:
            if m.type != "error":
                return
            where = (m.location or {}).get("url", "")
            if m.text.startswith("Failed to load resource") and not where.startswith(url):
                offline.append(where)  # a CDN (Voilà's font icons) with no internet here
            else:
                errors.append(m.text)

        page.on("console", on_console)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.add_init_script(INIT_JS)
        page.goto(url, timeout=60_000)
        try:
            page.wait_for_function(
                "() => 'fst' in window.__gs.first && document.querySelector("
                "'.genshare-explorer .genshare-figure-fst')?._fullData?.length > 0",
                timeout=240_000,
            )
        except Exception as exc:  # say what the page showed and logged, for the next person
            raise RuntimeError(
                f"the explorer's Fst figure did not appear: {exc}\n--- page ---\n"
                f"{page.inner_text('body')[-2000:]}\n--- page errors ---\n"
                + "\n".join(errors[-20:])
            ) from None
        first = page.evaluate("() => window.__gs.first")

        def step(name: str, how: str, target: str, kind: str) -> None:
            result = page.evaluate(ACTION_JS, [how, target, kind, 400, 30_000])
            if "error" in result:
                errors.append(f"{name}: {result['error']}")
                steps.append((name, None, None))
            else:
                steps.append((name, page.evaluate(STATUS_JS), result["ms"]))

        for r in range(rounds):
            tag = "" if r == 0 else f" (round {r + 1})"
            for title, kind in TABS[1:] + TABS[:1]:
                step(f"tab {title}{tag}", "tab", title, kind)
            step(
                f"toggle group YRI (Fst){tag}",
                "option",
                ".genshare-explorer .genshare-groups select option[value='YRI'], "
                ".genshare-explorer .genshare-groups select option:last-child",
                "fst",
            )
            step(f"tab {TABS[1][0]}{tag}", "tab", TABS[1][0], TABS[1][1])
            step(
                f"pair B changed ({TABS[1][0]}){tag}",
                "option",
                ".genshare-explorer .genshare-pair-b select option:last-child",
                TABS[1][1],
            )
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return {
        "first_paint_ms": first.get("app"),
        "explorer_ms": first.get("explorer"),
        "first_figure_ms": first.get("fst"),
        "steps": steps,
        "errors": errors,
        "offline_loads": offline,
    }


#: what a user does on a tab, in order: (label, change to the explorer)
ACTIONS = ("tab", "MAF", "MAF again", "MAF back", "group out", "group in", "pair")


def measure_updates(source: str, samples: str | None, *, rounds: int = 1) -> dict:
    """Python time (ms) of each explorer update on cached counts: ``{"counts_s": first
    genotype pass, "n_variants", "table": {kind: {action: [ms per round]}}}``.

    Per tab: show it, move the MAF slider twice, back to a view seen before (cached), take a
    group out and put it back, change the pair. Each round starts with no view built and
    uses other MAF values, so every update but "MAF back" and "group in" computes its view.
    """
    import genshare_widgets as gs
    from genshare_widgets.widgets import TABS, CohortExplorer

    cohort = gs.open_cohort(source, samples=samples, progress=False)
    ex = CohortExplorer(cohort, by="population", draw=False)
    started = time.perf_counter()
    ex.counts()
    counts_s = time.perf_counter() - started
    names = list(ex.groups.options)
    table: dict[str, dict[str, list[float]]] = {}
    for r in range(rounds):
        for i, (_title, kind) in enumerate(TABS[:-1]):  # not PCA: its own genotype pass
            ex._built.clear()
            ex._drawn.clear()
            row = table.setdefault(kind, {a: [] for a in ACTIONS})
            maf = 0.05 + 0.01 * r
            if ex.tabs.selected_index == i:
                ex.show()  # the first tab: shown for the first time
            else:
                ex.tabs.selected_index = i
            row["tab"].append(1000 * ex.last_update_seconds)
            other = [g for g in names if g not in (ex.pair_a.value, ex.pair_b.value)]
            changes = [
                ("MAF", ex.min_maf, maf),
                ("MAF again", ex.min_maf, maf + 0.1),
                ("MAF back", ex.min_maf, maf),
                ("group out", ex.groups, tuple(names[:-1])),
                ("group in", ex.groups, tuple(names)),
                ("pair", ex.pair_b, other[0] if other else names[0]),
            ]
            for action, control, value in changes:
                control.value = value
                row[action].append(1000 * ex.last_update_seconds)
            ex.min_maf.value = 0.0
    return {"counts_s": counts_s, "n_variants": int(ex.counts().sizes["variants"]), "table": table}


def format_updates(result: dict) -> str:
    import statistics

    lines = [
        f"{result['n_variants']:,} variants; first counts {result['counts_s']:.1f} s",
        f"{'tab':<16}" + "".join(f"{a:>11}" for a in ACTIONS),
    ]
    for kind, row in result["table"].items():
        cells = "".join(f"{statistics.median(row[a]):>11.0f}" for a in ACTIONS)
        lines.append(f"{kind:<16}{cells}")
    return "\n".join(lines)


def format_report(result: dict) -> str:
    def ms(v):
        return "—" if v is None else f"{v:.0f}"

    lines = [
        f"first paint (the page's widgets shown): {ms(result['first_paint_ms'])} ms",
        f"explorer controls shown:               {ms(result['explorer_ms'])} ms",
        f"first figure (Fst drawn):               {ms(result['first_figure_ms'])} ms",
        "",
        f"{'step':<36} {'python ms':>10} {'page ms':>10}",
    ]
    for name, py, pg in result["steps"]:
        lines.append(f"{name:<36} {ms(py):>10} {ms(pg):>10}")
    lines.append("")
    lines.append(f"page errors: {len(result['errors'])}")
    lines += [f"  {e}" for e in result["errors"]]
    if result["offline_loads"]:
        lines.append(f"external resources not loaded (offline): {len(result['offline_loads'])}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", default="sim-ooa")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument(
        "--repo", type=Path, default=REPO, help="checkout to serve (e.g. main, for before/after)"
    )
    parser.add_argument("--source", help="VCF/BCF/PLINK/store path: Python update times")
    parser.add_argument("--samples", help="the --source's sample table (sample, population)")
    args = parser.parse_args()
    if args.source:
        import genshare_widgets

        result = measure_updates(args.source, args.samples, rounds=args.rounds)
        print(
            f"{Path(genshare_widgets.__file__).parents[1]} · {args.source} · Python ms per "
            "update (median of rounds) · indicative unless the machine is quiet"
        )
        print(format_updates(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, _log = start_app(args.cohort, Path(tmp), args.repo.resolve())
        try:
            result = measure_app(url, rounds=args.rounds, screenshot=args.screenshot)
        finally:
            stop(proc)
    print(f"{args.repo} · cohort {args.cohort} · timings indicative unless the machine is quiet")
    print(format_report(result))


if __name__ == "__main__":
    main()
