"""Cohort explorer: pick groups and filters, see the comparisons update, export a figure.

One unfiltered counts object is kept per (grouping, region, SNP filter); choosing groups or a
MAF threshold derives each view from it (:func:`~genshare_widgets.counts.select_groups`), so
an update on a prepared cohort is numpy work plus building one figure — no genotype pass.
Figures come from the same :func:`genshare_widgets.figures.build_figure` as
``genshare figure``, so every view can be exported with the exact command that rebuilds it.
After :data:`TABS` come the association tab
(:mod:`genshare_widgets.widgets._association_tab`): Manhattan and QQ plots of a phenotype, and
the famous-variants tab (:mod:`genshare_widgets.widgets._famous_tab`): the curated panel's
frequencies by group and a variant's card.
"""

import threading
import time
from collections import OrderedDict
from html import escape
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.figures import ASSOCIATION_KINDS
from genshare_widgets.widgets._catalog_browser import _require_ipywidgets
from genshare_widgets.widgets._kernel_thread import on_kernel_thread
from genshare_widgets.widgets._plotly_widget import _error_html, _figure_widget

#: (tab title, figure kind) in tab order; PCA last (it runs its own genotype pass).
TABS = (
    ("Fst", "fst"),
    ("AF compare", "af-compare"),
    ("Heterozygosity", "het"),
    ("SFS", "sfs"),
    ("Shared / private", "shared"),
    ("Samples", "representation"),
    ("PCA", "pca"),
)
#: The title of the last tab (after :data:`TABS`): Manhattan and QQ plots of an association
#: (:class:`~genshare_widgets.widgets._association_tab.AssociationTab`).
ASSOCIATION_TITLE = "Association"
#: The title of the tab after the association tab: the famous-variants panel
#: (:class:`~genshare_widgets.widgets._famous_tab.FamousTab`).
FAMOUS_TITLE = "Famous variants"
#: The figure kinds of the famous-variants tab (the card of a variant, the panel heatmap).
FAMOUS_KINDS = ("variant", "famous")
#: The title of the selection-scan tab, after the famous-variants tab
#: (:class:`~genshare_widgets.widgets._scan_tab.ScanTab`).
SCAN_TITLE = "Selection scan"
#: Figure kinds of the scan tab.
SCAN_KINDS = ("scan", "haplotype-spectrum")
#: The title of the tab after it: the cohort's samples on a reference PCA (issue 19,
#: :class:`~genshare_widgets.widgets._projection_tab.ProjectionTab`).
PROJECTION_TITLE = "Projection"


class CohortExplorer:
    """Explore one cohort: group picker, MAF and region controls, statistic tabs, export.

    Parameters
    ----------
    cohort
        An opened :class:`~genshare_widgets.Cohort`.
    by
        The sample column defining groups (a dropdown lets the user change it).
    source
        What ``genshare figure`` should be given as SOURCE to rebuild an export (default:
        the cohort's catalog id or the path it was opened from).
    min_count, epsilon
        Disclosure options as for ``genshare figure`` (default: the access tier's policy,
        :func:`genshare_widgets.disclosure.policy_for`); a banner above the tabs says what
        applies. Every figure and export goes through it.
    budget
        The :class:`~genshare_widgets.disclosure.PrivacyBudget` charged under ``epsilon``
        (default: the notebook session's); the banner shows what is left.
    prefetch
        After each update, build the other tabs' figures (not PCA) for the same view in a
        background thread, so that switching tab only shows a ready figure. Only without
        disclosure control (nothing is released or charged that the user did not ask for).
    draw
        Draw the first tab now (default). ``False``: the caller shows the controls first and
        calls :meth:`show` (the first counts take one genotype pass).

    Attributes
    ----------
    last_update_seconds
        Python time of the last view update (counts reused; the figure built and shown).
    KEEP_VIEWS
        How many built figures are kept (the most recently shown views): going back to one
        of them shows it again without computing or releasing anything.

    Examples
    --------
    >>> explorer = CohortExplorer(open_cohort("sim-ooa"))  # doctest: +SKIP
    >>> explorer  # in a notebook: the widget  # doctest: +SKIP
    >>> explorer.groups.value = ("CEU", "YRI")  # the figures follow  # doctest: +SKIP
    """

    KEEP_VIEWS = 32
    PREFETCH_DELAY = 0.25  # seconds of quiet before the other tabs are built

    def __init__(
        self,
        cohort,
        *,
        by: str = "population",
        source: list[str] | None = None,
        min_count: int | None = None,
        epsilon: float | None = None,
        budget=None,
        draw: bool = True,
        prefetch: bool = False,
    ):
        from genshare_widgets.disclosure import policy_for
        from genshare_widgets.figures import figure_source

        w = _require_ipywidgets()
        self.cohort = cohort
        self.policy = policy_for(cohort.entry, min_count=min_count, epsilon=epsilon)
        self._disclosure_options = {"min_count": min_count, "epsilon": epsilon}
        self.budget = budget
        self.source = source or figure_source(cohort)
        self._counts: dict[tuple, Any] = {}
        self._built: OrderedDict[tuple, Any] = OrderedDict()  # (kind, view) -> figure
        self._figures: dict[str, Any] = {}
        self.last_update_seconds = 0.0
        columns = [str(c) for c in cohort.samples.columns]
        if by not in columns:
            raise GenShareError(f"cannot group by {by!r}: the sample table has {columns}")
        self.by = w.Dropdown(options=columns, value=by, description="Group by")
        self.groups = w.SelectMultiple(options=[], rows=6, description="Groups")
        self.pair_a = w.Dropdown(options=[], description="Group A")
        self.pair_b = w.Dropdown(options=[], description="Group B")
        self.min_maf = w.FloatSlider(
            value=0.0, min=0.0, max=0.5, step=0.01, description="Min MAF", continuous_update=False
        )
        self.region = w.Text(
            placeholder="CHR or CHR:START-END", description="Region", continuous_update=False
        )
        self.snps_only = w.Checkbox(value=False, description="SNPs only")
        self.progress = w.IntProgress(value=0, min=0, max=1, layout={"width": "30%"})
        self.progress.layout.visibility = "hidden"
        self.status = w.HTML()
        self.disclosure = w.HTML(value=self._policy_html())
        self.disclosure.add_class("genshare-disclosure")
        # A tab's figure is drawn when the tab is shown (a plot drawn into a hidden tab makes
        # plotly.js fail: "Resize must be passed a displayed plot div element"), and redrawn
        # only when the view it shows changed: switching back to a tab costs nothing.
        self.figures: dict[str, Any] = {}  # kind -> the FigureWidget on screen
        self._drawn: dict[str, str] = {}  # kind -> the view (options) it shows
        self._retired: dict[str, list] = {}  # kind -> replaced FigureWidgets, to close
        self.prefetch = prefetch
        self._ready: dict[str, tuple[str, Any]] = {}  # kind -> (view, FigureWidget not shown)
        self._lock = threading.RLock()  # one figure built at a time (prefetch thread)
        self._generation = 0  # counts updates: a prefetch stops when the view changes
        self._slots = {kind: w.VBox(layout=w.Layout(min_height="450px")) for _title, kind in TABS}
        # CSS classes name the parts in the page (browser tests and custom styles find them)
        self.groups.add_class("genshare-groups")
        self.pair_b.add_class("genshare-pair-b")
        from genshare_widgets.widgets._association_tab import AssociationTab
        from genshare_widgets.widgets._famous_tab import FamousTab

        self.association = AssociationTab(self)
        from genshare_widgets.widgets._projection_tab import ProjectionTab
        from genshare_widgets.widgets._scan_tab import ScanTab

        self.famous = FamousTab(self)
        self.scan = ScanTab(self)  # the tab after the famous variants' (issue 20)
        self.projection = ProjectionTab(self)  # issue 19: after the scan tab
        self.tabs = w.Tab(
            children=[self._slots[kind] for _title, kind in TABS]
            + [
                self.association.widget,
                self.famous.widget,
                self.scan.widget,
                self.projection.widget,
            ]
        )
        for i, (title, _kind) in enumerate(TABS):
            self.tabs.set_title(i, title)
        self.tabs.set_title(len(TABS), ASSOCIATION_TITLE)
        self.tabs.set_title(len(TABS) + 1, FAMOUS_TITLE)
        self.tabs.set_title(len(TABS) + 2, SCAN_TITLE)
        self.tabs.set_title(len(TABS) + 3, PROJECTION_TITLE)
        self.export = ExportControl(self)
        self._quiet = False  # True while controls are set in bulk: one update at the end
        self._set_group_options()
        self.by.observe(self._on_by, names="value")
        self.groups.observe(self._on_groups, names="value")
        for control in (self.pair_a, self.pair_b, self.min_maf, self.snps_only):
            control.observe(self._update, names="value")
        self.region.observe(self._update, names="value")
        self.tabs.observe(self._update, names="selected_index")
        self.widget = w.VBox(
            [
                w.HBox([w.VBox([self.by, self.groups]), w.VBox([self.pair_a, self.pair_b])]),
                w.HBox([self.min_maf, self.region, self.snps_only]),
                w.HBox([self.progress, self.status]),
                self.disclosure,
                self.tabs,
                self.export.widget,
            ]
        )
        self.widget.add_class("genshare-explorer")
        if draw:
            self._update()

    # --- logic ----------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """The figure kind of the selected tab (on the association tab: the figure chosen
        for export, ``manhattan`` or ``qq``; on the famous-variants tab: ``variant`` or
        ``famous``; on the scan tab: ``scan`` or ``haplotype-spectrum``; then ``projection``)."""
        index = self.tabs.selected_index or 0
        if index == len(TABS) + 1:
            return self.famous.export_kind.value
        if index == len(TABS) + 2:
            return self.scan.export_kind.value
        if index == len(TABS) + 3:
            return "projection"
        if index >= len(TABS):
            return self.association.export_kind.value
        return TABS[index][1]

    def options(self, kind: str | None = None) -> dict[str, Any]:
        """The ``genshare figure`` options of the current view (for ``kind``, default: the
        selected tab's)."""
        kind = kind or self.kind
        if kind in SCAN_KINDS:  # the scan tab's statistic, groups and windows
            return {**self.scan.options(kind), **self._disclosure_options}
        if kind == "projection":
            return {**self.projection.options(), **self._disclosure_options}
        if kind in ASSOCIATION_KINDS:  # every analysed sample: no grouping applies
            return {
                "region": self.region.value.strip() or None,
                "min_maf": float(self.min_maf.value) if self.min_maf.value > 0 else None,
                "snps_only": bool(self.snps_only.value),
                **self.association.options(),
                **self._disclosure_options,
            }
        if kind in FAMOUS_KINDS:  # the panel's fixed sites, every group: no filter applies
            return {
                "by": self.by.value,
                "region": None,
                "min_maf": None,
                "snps_only": False,
                "keep_groups": None,
                "groups": None,
                **self.famous.options(kind),
                **self._disclosure_options,
            }
        names = list(self.groups.options)
        chosen = list(self.groups.value)
        return {
            "by": self.by.value,
            "region": self.region.value.strip() or None,
            "min_maf": float(self.min_maf.value) if self.min_maf.value > 0 else None,
            "snps_only": bool(self.snps_only.value),
            "keep_groups": None if sorted(chosen) == sorted(names) else ",".join(chosen),
            "groups": (
                f"{self.pair_a.value},{self.pair_b.value}"
                if kind in ("af-compare", "joint-sfs")
                else None
            ),
            **self._disclosure_options,
        }

    def _policy_html(self) -> str:
        text = escape(self.policy.describe())
        if self.policy.epsilon is not None:
            from genshare_widgets.disclosure import session_budget

            budget = self.budget if self.budget is not None else session_budget(self.cohort.id)
            text += f" · privacy budget left: ε={budget.remaining:g} of {budget.total:g}"
        from genshare_widgets.widgets._data_use_banner import data_use_banner_html

        banner = data_use_banner_html(self.cohort.provenance.get("access"))  # labels, terms
        return f'<span style="color:#555555;font-size:90%">{text}</span>' + banner

    def counts(self):
        """Unfiltered counts for the current grouping, region and SNP filter (cached)."""
        from genshare_widgets.counts import allele_counts_by_group

        opts = self.options()
        key = (opts["by"], opts["region"], opts["snps_only"])
        if key not in self._counts:
            self.progress.layout.visibility = "visible"
            self.progress.value = 0
            self.status.value = "counting alleles (one genotype pass)…"
            try:
                self._counts[key] = allele_counts_by_group(
                    self.cohort, by=opts["by"], region=opts["region"], snps_only=opts["snps_only"]
                )
                # the Fst heatmap's clustering: imported behind the genotype pass (0.15 s),
                # not in the first update of the Fst tab
                import scipy.cluster.hierarchy  # noqa: F401
            finally:
                self.progress.value = 1
                self.progress.layout.visibility = "hidden"
        return self._counts[key]

    def figure(self, kind: str | None = None):
        """The ``plotly`` figure of ``kind`` (default: the selected tab) for the current view."""
        with self._lock:  # not while the prefetch thread builds one
            return self._figure(kind or self.kind)

    def _figure(self, kind: str):
        from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure

        opts = {**DEFAULT_OPTIONS, **self.options(kind)}
        if kind in SCAN_KINDS:  # one scan per choice (kept by the tab)
            return self.scan.figure(kind, opts)
        if kind in ASSOCIATION_KINDS or kind in FAMOUS_KINDS:  # the tab's own result
            view = (kind, self._view_key(kind))
            if view not in self._built:
                tab = self.famous if kind in FAMOUS_KINDS else self.association
                self._built[view] = tab.figure(kind, opts)
                while len(self._built) > self.KEEP_VIEWS:
                    self._built.popitem(last=False)
            self._built.move_to_end(view)
            return self._built[view]
        if kind == "projection":  # the figure on screen (exported as it is drawn)
            return build_figure(self.cohort, kind, opts)
        if kind == "pca":  # its own pass (all samples); cache by what changes it
            key = repr((opts["region"], opts["min_maf"], opts["snps_only"], opts["by"]))
            if self._figures.get("pca-key") != key:
                self._figures["pca"] = build_figure(self.cohort, kind, opts)
                self._figures["pca-key"] = key
            return self._figures["pca"]
        # a view seen before (a group toggled back, a pair swapped back) is not released again
        view = (kind, self._view_key(kind))
        if view in self._built:
            self._built.move_to_end(view)
            return self._built[view]
        counts = None if kind == "representation" else self.counts()
        try:
            fig = build_figure(self.cohort, kind, opts, counts=counts, budget=self.budget)
        finally:
            self.disclosure.value = self._policy_html()  # the budget may have been charged
        self._built[view] = fig
        while len(self._built) > self.KEEP_VIEWS:
            self._built.popitem(last=False)
        return fig

    # --- wiring ---------------------------------------------------------------------------

    def _set_group_options(self) -> None:
        values = self.cohort.samples[self.by.value].dropna().astype(str)
        names = sorted(set(values))
        self._quiet = True
        try:
            self.groups.options = names
            self.groups.value = tuple(names)
        finally:
            self._quiet = False
        self._sync_pair()

    def _sync_pair(self) -> None:
        """Offer only the chosen groups as the pair A / B (keeping the pair when possible)."""
        chosen = list(self.groups.value) or list(self.groups.options)
        a, b = self.pair_a.value, self.pair_b.value
        a = a if a in chosen else (chosen[0] if chosen else None)
        others = [g for g in chosen if g != a]
        b = b if b in others else (others[0] if others else a)
        self._quiet = True
        try:
            for control, value in ((self.pair_a, a), (self.pair_b, b)):
                if list(control.options) != chosen:
                    control.options = chosen
                control.value = value
        finally:
            self._quiet = False

    def _on_by(self, _change=None) -> None:
        if self._quiet:
            return
        self._set_group_options()
        self._update()

    def _on_groups(self, _change=None) -> None:
        if self._quiet:
            return
        self._sync_pair()
        self._update()

    def show(self) -> None:
        """Draw the selected tab's figure if its view changed (what every control does)."""
        self._update()

    def build_then_show(self) -> None:
        """Build the selected tab's figure here (the first genotype pass: call it in a
        background thread), then :meth:`show` it on the kernel's thread, which owns the
        widgets (:mod:`genshare_widgets.widgets._kernel_thread`)."""
        try:
            self.figure()  # kept for this view: show() finds it built
        except Exception as exc:  # in a thread, nobody would see it
            failure = exc if isinstance(exc, GenShareError) else GenShareError(repr(exc))
            on_kernel_thread(self._say, _error_html(failure))
            return
        on_kernel_thread(self.show)

    def _say(self, html: str) -> None:
        self.status.value = html

    def _view_key(self, kind: str) -> str:
        return repr(sorted(self.options(kind).items()))

    def _update(self, _change=None) -> None:
        """Show the selected tab's figure for the current view (built only if it changed)."""
        if self._quiet:
            return
        started = time.perf_counter()
        with self._lock:
            self._generation += 1
            if self._show(self.kind, started):
                self._start_prefetch()

    def _show(self, kind: str, started: float) -> bool:
        key = self._view_key(kind)
        if kind in SCAN_KINDS:
            self.scan.show(key, started)
            return False
        if kind == "projection":  # projected on request (its button), then kept
            self.projection.show(key, started)
            return False
        if kind in ASSOCIATION_KINDS:
            self.association.show(key, started)
            return False
        if kind in FAMOUS_KINDS:
            self.famous.show(key, started)
            return False
        if self._drawn.get(kind) == key:
            self.last_update_seconds = time.perf_counter() - started
            self.status.value = f"{kind}: up to date (shown in {self._ms()} ms)"
            return False
        ready = self._ready.pop(kind, None)
        # a prefetched widget whose comm the page closed (made while it was connecting) is
        # not shown: a container holding it would name a model the page does not have
        if ready is not None and ready[0] == key and _alive(ready[1]):
            widget = ready[1]
        else:
            if ready is not None:
                ready[1].close()  # never shown: no view of it in the page
            try:
                widget = self._new_widget(kind, self.figure(kind))
            except GenShareError as exc:
                self.status.value = _error_html(exc)
                return False
        for stale in self._retired.pop(kind, ()):
            stale.close()  # its view left the page at the previous update
        old = self.figures.get(kind)
        self.figures[kind] = widget
        self._drawn[kind] = key
        self._slots[kind].children = (widget,)  # one message: the front end draws it once
        if old is not None:
            # closed at the next update: closing it now races the removal of its view,
            # which still talks to its model ("no comm channel defined" in the page)
            self._retired[kind] = [old]
        self.last_update_seconds = time.perf_counter() - started
        self.status.value = f"{kind}: updated in {self._ms()} ms"
        return True

    @staticmethod
    def _new_widget(kind: str, fig):
        widget = _figure_widget(fig)
        widget.add_class(f"genshare-figure-{kind}")
        return widget

    def _start_prefetch(self) -> None:
        if not self.prefetch or self.policy.active:
            return
        thread = threading.Thread(
            target=self._prefetch, args=(self._generation,), name="genshare-prefetch"
        )
        thread.daemon = True
        thread.start()

    def _prefetch(self, generation: int) -> None:
        """Build the other tabs' figures of this view while the user looks at this one."""
        time.sleep(self.PREFETCH_DELAY)  # quick successive clicks do not wait for a build
        for _title, kind in TABS:
            if kind == "pca":  # its own genotype pass: only when asked for
                continue
            with self._lock:
                if generation != self._generation:
                    return  # the view changed: the next update prefetches its own
                key = self._view_key(kind)
                if self._drawn.get(kind) == key or self._ready.get(kind, ("",))[0] == key:
                    continue
                try:
                    fig = self.figure(kind)
                except Exception:  # the tab shows the error when it is chosen
                    continue
            # its widget is made on the kernel's thread (which owns the widgets)
            on_kernel_thread(self._keep_ready, generation, kind, key, fig)

    def _keep_ready(self, generation: int, kind: str, key: str, fig) -> None:
        """Make the widget of a prefetched figure, to show when its tab is chosen."""
        with self._lock:
            if generation != self._generation or self._drawn.get(kind) == key:
                return
            widget = self._new_widget(kind, fig)
            old = self._ready.pop(kind, None)
            if old is not None:
                old[1].close()
            self._ready[kind] = (key, widget)

    def _ms(self) -> str:
        return f"{1000 * self.last_update_seconds:.0f}"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def _alive(widget) -> bool:
    """Whether the widget's comm is open (the page can close it: a comm opened while the
    page was connecting has no model there)."""
    comm = getattr(widget, "comm", None)
    return comm is not None and not getattr(comm, "_closed", False)


class ExportControl:
    """Export the explorer's current figure: PNG/SVG/PDF (kaleido), HTML or JSON, with the
    provenance sidecar and the exact ``genshare figure`` command that rebuilds it."""

    FORMATS = ("png", "svg", "pdf", "html", "json")

    def __init__(self, explorer: CohortExplorer, *, folder: str | Path = ".") -> None:
        w = _require_ipywidgets()
        self.explorer = explorer
        self.folder = Path(folder)
        self.name = w.Text(value="genshare-figure", description="File")
        self.format = w.Dropdown(options=self.FORMATS, value="png", description="Format")
        self.button = w.Button(description="Export", icon="download")
        self.result = w.HTML()
        self.written: dict[str, Path] = {}
        self.button.on_click(self._export)
        self.widget = w.VBox([w.HBox([self.name, self.format, self.button]), self.result])

    def target(self) -> Path:
        """Where the next export goes."""
        stem = self.name.value.strip() or "genshare-figure"
        return self.folder / f"{stem}.{self.format.value}"

    def _export(self, _button=None) -> None:
        from genshare_widgets.figures import DEFAULT_OPTIONS, export_figure

        ex = self.explorer
        kind = ex.kind
        opts = {**DEFAULT_OPTIONS, **ex.options()}
        out = self.target()
        self.result.value = f"exporting {escape(str(out))}…"
        try:
            self.written = export_figure(
                ex.figure(kind), ex.cohort, source=ex.source, kind=kind, out=out, options=opts
            )
        except GenShareError as exc:
            self.result.value = _error_html(exc)
            return
        import json

        command = json.loads(self.written["provenance"].read_text())["command"]
        self.result.value = (
            f"wrote <code>{escape(str(self.written['figure']))}</code> and "
            f"<code>{escape(str(self.written['provenance']))}</code><br>"
            f"rebuild with: <code>{escape(command)}</code>"
        )
