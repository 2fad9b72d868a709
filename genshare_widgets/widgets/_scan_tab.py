"""The explorer's selection-scan tab: choose a statistic, groups and windows; see the scan
along the genome with its top windows labelled, and the haplotype frequency spectrum of the
top window.

The scan runs once per choice (statistic, groups, window, step, unit, and the explorer's
grouping column, region and disclosure options) and is kept (the last
:attr:`ScanTab.KEEP_RESULTS` choices). Both figures come from
:func:`genshare_widgets.figures.build_figure` (kinds ``scan`` and ``haplotype-spectrum``),
so the explorer's export writes the recipe ``genshare figure`` rebuilds them from.
"""

import time
from collections import OrderedDict
from html import escape
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.widgets._catalog_browser import _require_ipywidgets
from genshare_widgets.widgets._plotly_widget import _error_html, _figure_widget

#: The figures of the tab, top to bottom.
KINDS = ("scan", "haplotype-spectrum")
#: Statistic → how many groups it takes.
STAT_GROUPS = {"h12": 1, "pbs": 3, "ihs": 1, "xpehh": 2}


class ScanTab:
    """Statistic, groups and window controls above a scan track and a haplotype spectrum.

    Made by :class:`~genshare_widgets.widgets.CohortExplorer` (after the association tab);
    the explorer's grouping column, region and disclosure options apply.

    Attributes
    ----------
    stat, groups, window, step, unit, top
        The controls (``groups``: comma-separated names of the explorer's grouping).
    export_kind
        Which of the two figures the explorer's export writes.
    results
        The kept released scans, by choice.
    """

    KEEP_RESULTS = 8

    def __init__(self, explorer) -> None:
        w = _require_ipywidgets()
        self.explorer = explorer
        self.stat = w.Dropdown(options=list(STAT_GROUPS), value="h12", description="Statistic")
        self.groups = w.Text(description="Groups", placeholder="A (h12, ihs), A,B,C (pbs)")
        self.window = w.BoundedIntText(value=100, min=1, max=10_000_000, description="Window")
        self.step = w.BoundedIntText(
            value=0, min=0, max=10_000_000, description="Step (0 = window)"
        )
        self.unit = w.Dropdown(options=["variants", "bp"], value="variants", description="Unit")
        self.top = w.BoundedIntText(value=5, min=0, max=50, description="Label top")
        self.export_kind = w.ToggleButtons(
            options=[("Scan", "scan"), ("Haplotype spectrum", "haplotype-spectrum")], value="scan"
        )
        self.note = w.HTML()
        self.results: OrderedDict[str, Any] = OrderedDict()
        self._drawn: str | None = None
        self._slots = {kind: w.VBox(layout=w.Layout(min_height="420px")) for kind in KINDS}
        self._default_groups()
        for control in (self.stat, self.groups, self.window, self.step, self.unit, self.top):
            control.observe(self._changed, names="value")
        self.export_kind.observe(self._changed, names="value")
        self.widget = w.VBox(
            [
                w.HBox(
                    [
                        w.VBox([self.stat, self.groups]),
                        w.VBox([self.window, self.step]),
                        w.VBox([self.unit, self.top]),
                    ]
                ),
                w.HBox([w.HTML("Export:"), self.export_kind]),
                self.note,
                self._slots["scan"],
                self._slots["haplotype-spectrum"],
            ]
        )
        self.widget.add_class("genshare-scan")

    def _default_groups(self) -> None:
        ex = self.explorer
        names = sorted(set(ex.cohort.samples[ex.by.value].dropna().astype(str)))
        self.groups.value = ",".join(names[: STAT_GROUPS[self.stat.value]])

    def _changed(self, change=None) -> None:
        if change is not None and change.get("owner") is self.stat:
            wanted = STAT_GROUPS[self.stat.value]
            if len([g for g in self.groups.value.split(",") if g.strip()]) != wanted:
                self._default_groups()  # observed: shows once more with the new groups
                return
        self.explorer.show()

    def scan_options(self) -> dict[str, Any]:
        """The ``genshare figure --kind scan`` options of the current choice."""
        ex = self.explorer
        return {
            "by": ex.by.value,
            "region": ex.region.value.strip() or None,
            "stat": self.stat.value,
            "groups": ",".join(g.strip() for g in self.groups.value.split(",") if g.strip()),
            "window": int(self.window.value),
            "step": int(self.step.value) or None,
            "window_unit": self.unit.value,
            "top": int(self.top.value),
        }

    def options(self, kind: str) -> dict[str, Any]:
        """The ``genshare figure`` options of ``kind``: the scan's, or the spectrum of the
        first group over the scan's top window (its ``region``)."""
        opts = self.scan_options()
        if kind == "scan":
            return opts
        top = self.top_window(opts)
        return {
            "by": opts["by"],
            "groups": opts["groups"].split(",")[0],
            "region": top,
        }

    def result(self, options: dict[str, Any]):
        """The released scan of ``options`` (computed once per choice)."""
        from genshare_widgets import disclosure
        from genshare_widgets.figures import _release_command
        from genshare_widgets.scan_figures import released_scan, scan_options

        key = repr(sorted(options.items()))
        if key in self.results:
            self.results.move_to_end(key)
            return self.results[key]
        ex = self.explorer
        ex.status.value = f"scanning ({escape(options['stat'])})…"
        policy = disclosure.policy_for(
            ex.cohort.entry, min_count=options.get("min_count"), epsilon=options.get("epsilon")
        )
        result = released_scan(
            ex.cohort,
            command=_release_command(ex.cohort, "scan", options),
            policy=policy,
            **scan_options(options),
        )
        self.results[key] = result
        while len(self.results) > self.KEEP_RESULTS:
            self.results.popitem(last=False)
        return result

    def top_window(self, options: dict[str, Any]) -> str:
        """``contig:start-end`` of the scan's top row (the spectrum's window)."""
        from genshare_widgets.figures import DEFAULT_OPTIONS

        full = {**DEFAULT_OPTIONS, **options, **self.explorer._disclosure_options}
        best = self.result(full).top(1)
        if not len(best):
            raise GenShareError("the scan has no defined value to pick a window from")
        row = best.iloc[0]
        return f"{row['contig']}:{int(row['start'])}-{int(row['end'])}"

    def figure(self, kind: str, options: dict[str, Any]):
        """The ``kind`` figure of ``options`` (the explorer's, full)."""
        from genshare_widgets import plots
        from genshare_widgets.figures import build_figure

        if kind == "scan":
            result = self.result(options)
            prov = plots.figure_provenance(
                self.explorer.cohort,
                by=result.by,
                filters=result.filters,
                disclosure_policy=result.policy.to_dict(),
                extra={"scan": result.provenance()},
            )
            return plots.scan_track(
                result.table,
                stat=result.stat,
                groups=result.groups,
                top=int(options.get("top") or 5),
                provenance=prov,
            )
        return build_figure(self.explorer.cohort, kind, options)

    def show(self, key: str, started: float) -> None:
        """Draw both figures for the view ``key`` (the explorer's), unless already shown."""
        ex = self.explorer
        if self._drawn == key:
            ex.last_update_seconds = time.perf_counter() - started
            ex.status.value = f"scan: up to date (shown in {ex._ms()} ms)"
            return
        try:
            figures = {"scan": ex.figure("scan")}
        except GenShareError as exc:
            ex.status.value = _error_html(exc)
            self.note.value = _error_html(exc)
            return
        spectrum_note = ""
        try:  # the spectrum needs phase and a group of k: its refusal leaves the scan shown
            figures["haplotype-spectrum"] = ex.figure("haplotype-spectrum")
        except GenShareError as exc:
            spectrum_note = "<br>" + _error_html(exc)
            self._slots["haplotype-spectrum"].children = ()
        for kind, fig in figures.items():
            widget = _figure_widget(fig)
            widget.add_class(f"genshare-figure-{kind}")
            old = ex.figures.get(kind)
            ex.figures[kind] = widget
            self._slots[kind].children = (widget,)
            if old is not None:
                old.close()
        self._drawn = key
        scan = figures["scan"].layout.meta["provenance"]["scan"]
        top = figures["scan"].layout.meta["details"]["top"]
        best = f"{top[0]['contig']}:{top[0]['start']:,}-{top[0]['end']:,}" if top else "none"
        self.note.value = (
            f'<span style="color:#555555;font-size:90%">{escape(scan["stat"])} of '
            f"{escape(' vs '.join(scan['groups']))} ({escape(scan['by'])}): "
            f"{scan['n_rows']:,} rows, {scan['n_withheld']:,} withheld · top window {best} "
            "(its haplotype spectrum below)</span>" + spectrum_note
        )
        ex.last_update_seconds = time.perf_counter() - started
        ex.status.value = f"scan: updated in {ex._ms()} ms"
