"""The explorer's association tab: choose a phenotype, covariates, PCs and the model; see the
Manhattan and QQ plots of the released association table.

The association runs once per choice (phenotype, covariates, PCs, model, and the explorer's
region, MAF and SNP filters and disclosure options) and is kept (the last
:attr:`AssociationTab.KEEP_RESULTS` choices): going back to a choice, or switching the figure
to export, computes and releases nothing again. Both figures come from
:func:`genshare_widgets.figures.build_figure` with the result, as ``genshare figure --kind
manhattan|qq`` draws them, so the explorer's export writes a recipe that rebuilds them.
"""

import time
from collections import OrderedDict
from html import escape
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.widgets._catalog_browser import _require_ipywidgets
from genshare_widgets.widgets._plotly_widget import _error_html, _figure_widget

#: The figures of the tab, top to bottom.
KINDS = ("manhattan", "qq")
#: Model choice → the ``binary`` option (None: from the phenotype's values, as genshare assoc).
MODELS = {"from the values": None, "binary (logistic)": True, "quantitative (linear)": False}


def phenotype_columns(samples) -> list[str]:
    """Numeric columns of a sample table with at least two distinct values."""
    import pandas as pd

    return [
        str(c)
        for c in samples.columns
        if pd.api.types.is_numeric_dtype(samples[c]) and samples[c].nunique(dropna=True) > 1
    ]


class AssociationTab:
    """Phenotype, covariates, PCs and model controls above a Manhattan and a QQ plot.

    Made by :class:`~genshare_widgets.widgets.CohortExplorer` (its last tab); the explorer's
    region, MAF and SNP filters and disclosure options apply, its group choice does not (an
    association uses every sample with the phenotype and covariates).

    Attributes
    ----------
    pheno, covar, pcs, model
        The controls (``model``: one of :data:`MODELS`).
    export_kind
        Which of the two figures the explorer's export writes.
    results
        The kept association results, by choice.
    """

    KEEP_RESULTS = 8

    def __init__(self, explorer) -> None:
        w = _require_ipywidgets()
        self.explorer = explorer
        samples = explorer.cohort.samples
        numeric = phenotype_columns(samples)
        self.pheno = w.Dropdown(
            options=numeric, value=numeric[0] if numeric else None, description="Phenotype"
        )
        self.covar = w.SelectMultiple(options=[], rows=4, description="Covariates")
        self.pcs = w.BoundedIntText(value=0, min=0, max=20, description="PCs")
        self.model = w.Dropdown(options=list(MODELS), value="from the values", description="Model")
        self.export_kind = w.ToggleButtons(
            options=[("Manhattan", "manhattan"), ("QQ", "qq")], value="manhattan"
        )
        self.note = w.HTML()
        self.results: OrderedDict[str, Any] = OrderedDict()
        self._drawn: str | None = None
        self._slots = {kind: w.VBox(layout=w.Layout(min_height="420px")) for kind in KINDS}
        self._quiet = False
        self._set_covariate_options()
        self.pheno.observe(self._on_pheno, names="value")
        for control in (self.covar, self.pcs, self.model):
            control.observe(self._changed, names="value")
        self.export_kind.observe(self._changed, names="value")
        self.widget = w.VBox(
            [
                w.HBox([w.VBox([self.pheno, self.model, self.pcs]), self.covar]),
                w.HBox([w.HTML("Export:"), self.export_kind]),
                self.note,
                self._slots["manhattan"],
                self._slots["qq"],
            ]
        )
        self.widget.add_class("genshare-association")
        if not numeric:
            self.note.value = _error_html(
                GenShareError(
                    "the sample table has no numeric column to test: open the cohort with a "
                    "sample table (--samples TSV) that has a phenotype"
                )
            )

    def options(self) -> dict[str, Any]:
        """The ``genshare figure`` association options of the current choice."""
        chosen = [str(c) for c in self.covar.value]
        return {
            "pheno": self.pheno.value,
            "covar": ",".join(chosen) if chosen else None,
            "pcs": int(self.pcs.value),
            "binary": MODELS[self.model.value],
        }

    def _set_covariate_options(self) -> None:
        """Every sample column but the phenotype can be a covariate (text ones become 0/1
        indicators); a chosen covariate stays chosen when the phenotype changes."""
        columns = [str(c) for c in self.explorer.cohort.samples.columns if c != self.pheno.value]
        kept = tuple(c for c in self.covar.value if c in columns)
        self._quiet = True
        try:
            self.covar.options = columns
            self.covar.value = kept
        finally:
            self._quiet = False

    def _on_pheno(self, _change=None) -> None:
        self._set_covariate_options()
        self._changed()

    def _changed(self, _change=None) -> None:
        if not self._quiet:
            self.explorer.show()

    def result(self, options: dict[str, Any]):
        """The released association of ``options`` (computed once per choice)."""
        from genshare_widgets.figures import association_result

        key = repr(sorted(options.items()))
        if key in self.results:
            self.results.move_to_end(key)
            return self.results[key]
        ex = self.explorer
        ex.progress.layout.visibility = "visible"
        ex.progress.value = 0
        ex.status.value = f"testing every variant for {escape(str(options['pheno']))}…"
        try:
            result = association_result(ex.cohort, options)
        finally:
            ex.progress.value = 1
            ex.progress.layout.visibility = "hidden"
        self.results[key] = result
        while len(self.results) > self.KEEP_RESULTS:
            self.results.popitem(last=False)
        return result

    def figure(self, kind: str, options: dict[str, Any]):
        """The ``kind`` figure (manhattan or qq) of ``options`` (the explorer's, full)."""
        from genshare_widgets.figures import build_figure

        if not options.get("pheno"):
            raise GenShareError("choose a phenotype (a numeric column of the sample table)")
        return build_figure(self.explorer.cohort, kind, options, association=self.result(options))

    def show(self, key: str, started: float) -> None:
        """Draw both figures for the view ``key`` (the explorer's), unless already shown."""
        ex = self.explorer
        if self._drawn == key:
            ex.last_update_seconds = time.perf_counter() - started
            ex.status.value = f"association: up to date (shown in {ex._ms()} ms)"
            return
        try:
            figures = {kind: ex.figure(kind) for kind in KINDS}
        except GenShareError as exc:
            ex.status.value = _error_html(exc)
            self.note.value = _error_html(exc)
            return
        for kind, fig in figures.items():
            for stale in ex._retired.pop(kind, ()):
                stale.close()
            widget = _figure_widget(fig)
            widget.add_class(f"genshare-figure-{kind}")
            old = ex.figures.get(kind)
            ex.figures[kind] = widget
            self._slots[kind].children = (widget,)
            if old is not None:
                ex._retired[kind] = [old]  # closed at the next update (see the explorer)
        self._drawn = key
        assoc = figures["qq"].layout.meta["provenance"]["association"]
        details = figures["qq"].layout.meta["details"]
        excluded = assoc.get("samples_excluded") or {}
        left_out = "; ".join(f"{n:,} {why}" for why, n in excluded.items())
        covariates = ", ".join(assoc.get("covariate_columns") or []) or "none"
        self.note.value = (
            f'<span style="color:#555555;font-size:90%">{escape(assoc["model"])} regression '
            f"of {escape(assoc['pheno'])} on {assoc['n_samples']:,} samples (every sample with "
            f"the phenotype and covariates; the group choice does not apply"
            f"{'; left out: ' + escape(left_out) if left_out else ''}) · covariates: "
            f"{escape(covariates)} · {details['n_tested']:,} variants tested, "
            f"{details['n_untested']:,} untested · λ = {details['lambda_gc']:.3f}</span>"
        )
        ex.last_update_seconds = time.perf_counter() - started
        ex.status.value = f"association: updated in {ex._ms()} ms"
