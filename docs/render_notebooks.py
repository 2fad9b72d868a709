"""Execute the curated notebooks and render them to self-contained HTML (``make docs``).

Each ``notebooks/NN_*.ipynb`` runs with papermill (``quick=True``) in ``OUT/executed/`` and is
converted with nbconvert's lab template. Figures are rendered without require.js (plotly's
``sphinx_gallery`` renderer) and plotly.js is embedded once in each page, so the HTML works
offline; interactive widgets show their text fallback (a static page has no kernel).

Usage: ``python docs/render_notebooks.py [OUT]`` (default ``docs/notebooks``).
"""

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 300  # s per cell: a hung cell stops the render with an error, not forever


def render(notebook: Path, out: Path) -> Path:
    import nbformat
    import papermill
    from nbconvert import HTMLExporter
    from plotly.offline import get_plotlyjs

    executed = out / "executed" / notebook.name
    executed.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters={"quick": True},
        cwd=str(executed.parent),
        progress_bar=False,
        kernel_name="python3",
        execution_timeout=CELL_TIMEOUT,
    )
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(
        nbformat.read(executed, as_version=4)
    )
    body = body.replace("</head>", f"<script>{get_plotlyjs()}</script>\n</head>", 1)
    page = out / f"{notebook.stem}.html"
    page.write_text(body, encoding="utf-8")
    return page


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else REPO / "docs" / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    # the kernels inherit this: figures as plain Plotly.newPlot calls (no require.js)
    os.environ["PLOTLY_RENDERER"] = "plotly_mimetype+sphinx_gallery"
    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        started = time.perf_counter()
        page = render(notebook, out)
        print(f"{page} ({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
