"""The explorer's projection tab: place the cohort's samples on a reference PCA (issue 19).

Give a reference (a file ``genshare reference`` wrote, or a catalog id with one), press
*Project*: the samples are projected (OADP-corrected by default), assigned to the reference's
super-populations when it stores labelled samples, and drawn over the reference cloud with
:func:`genshare_widgets.figures.build_figure` (kind ``projection``), as ``genshare figure
--kind projection --reference REF`` draws it, so the explorer's export rebuilds it. The
matching report is shown below the controls. Refusals (consent, a disclosure policy, a
reference on another build) are shown as the error they are.
"""

import time
from html import escape
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.widgets._catalog_browser import _require_ipywidgets
from genshare_widgets.widgets._plotly_widget import _error_html, _figure_widget

KIND = "projection"


class ProjectionTab:
    """Reference, OADP and threshold controls, a *Project* button, the figure and the report.

    Attributes
    ----------
    reference, oadp, threshold, run
        The controls (``run``: the button).
    figure
        The FigureWidget on screen (None before the first projection).
    last_report
        The matching report of the last projection.
    """

    def __init__(self, explorer) -> None:
        w = _require_ipywidgets()
        self.explorer = explorer
        self.reference = w.Text(
            value="", placeholder="ref.json or a catalog id", description="Reference"
        )
        self.oadp = w.Checkbox(value=True, description="correct shrinkage (OADP)")
        self.threshold = w.FloatSlider(
            value=0.8, min=0.5, max=1.0, step=0.05, description="Assign ≥"
        )
        self.run = w.Button(description="Project", button_style="primary")
        self.note = w.HTML()
        self.slot = w.VBox(layout=w.Layout(min_height="420px"))
        self.figure: Any = None
        self.last_report: dict[str, Any] | None = None
        self._drawn: str | None = None
        self.run.on_click(lambda _button: self.show(force=True))
        self.widget = w.VBox(
            [w.HBox([self.reference, self.run]), w.HBox([self.oadp, self.threshold]), self.note,
             self.slot]
        )  # fmt: skip
        self.widget.add_class("genshare-projection")

    def options(self) -> dict[str, Any]:
        """The ``genshare figure --kind projection`` options of the current choice."""
        return {
            "reference": self.reference.value.strip() or None,
            "oadp": bool(self.oadp.value),
            "threshold": float(self.threshold.value),
        }

    def show(self, key: str | None = None, started: float | None = None, *, force=False):
        """Project and draw (when the choice changed, or ``force``)."""
        from genshare_widgets._projection_views import projection_figure

        started = started or time.perf_counter()
        opts = self.options()
        key = repr(sorted(opts.items()))
        if self._drawn == key and not force:
            return
        if not opts["reference"]:
            self.note.value = _error_html(
                GenShareError("give a reference file (genshare reference) or a catalog id")
            )
            return
        try:
            fig = projection_figure(self.explorer.cohort, opts["reference"], options=opts)
        except GenShareError as exc:
            self.note.value = _error_html(exc)
            self._drawn = None
            return
        if self.figure is not None:
            self.figure.close()
        self.figure = _figure_widget(fig)
        self.figure.add_class(f"genshare-figure-{KIND}")
        self.slot.children = (self.figure,)
        self._drawn = key
        report = fig.layout.meta["provenance"]["projection"]["matching"]
        self.last_report = dict(report)
        self.note.value = (
            f'<span style="color:#555555;font-size:90%">{report["n_samples"]:,} samples · '
            f"{report['matched']:,} of {report['reference_variants']:,} reference variants "
            f"matched ({report['flipped']:,} flipped, {report['ambiguous_dropped']:,} "
            f"strand-ambiguous dropped, {report['missing_in_target']:,} missing) · "
            f"{escape(str(report.get('target_build')))} onto "
            f"{escape(str(report.get('reference_build')))} · "
            f"{(time.perf_counter() - started) * 1000:.0f} ms</span>"
        )
