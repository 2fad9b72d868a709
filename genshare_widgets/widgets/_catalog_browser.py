"""Catalog browser: search and filter the cohort catalog, read an entry, open it.

The filtering is :func:`genshare_widgets.catalog.search_catalog`; this module only wires
ipywidgets to it. Errors (an entry whose files cannot be fetched offline, a controlled cohort)
appear in the widget's status line, never as a traceback.
"""

from collections.abc import Callable
from html import escape
from typing import Any

from genshare_widgets._errors import GenShareError

ANY = "any"


def _require_ipywidgets():
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - the [lab] extra is installed in CI
        raise GenShareError(
            'the widgets need ipywidgets: pip install "genshare_widgets[lab]"'
        ) from None
    return ipywidgets


def access_html(entry, *, purpose=None, credential=None) -> str:
    """The access decision for the session's declared purpose and credential (default
    ``$GENSHARE_PURPOSE`` / ``$GENSHARE_CREDENTIAL``): allowed, or refused with reasons, and
    the obligations; HTML, every value escaped."""
    from genshare_widgets.disclosure._consent import check_access

    head = "<p><b>Access for your declared purpose:</b> "
    try:
        decision = check_access(entry, purpose=purpose, credential=credential)
    except GenShareError as exc:
        return f'{head}<span style="color:#b00020">refused — {escape(str(exc))}</span></p>'
    said = f" ({escape(decision.purpose)})" if decision.purpose else " (none declared)"
    if decision.allowed:
        verdict = f'<span style="color:#1b7837">allowed</span>{said}'
    else:
        why = "; ".join(decision.reasons)
        verdict = f'<span style="color:#b00020">analyses refused</span>{said}: {escape(why)}'
    if decision.ancestry:
        verdict += f"<br>ancestry comparisons refused: {escape(decision.ancestry)}"
    items = "".join(f"<li>{escape(o)}</li>" for o in decision.obligations)
    from genshare_widgets.widgets._data_use_banner import warning_banner_html

    return (
        warning_banner_html(decision.warnings)  # e.g. BC Consent Non-Verified
        + head
        + verdict
        + "</p>"
        + (f"<p>Obligations:</p><ul>{items}</ul>" if items else "")
    )


def entry_details_html(entry, *, purpose=None, credential=None) -> str:
    """The details pane of one catalog entry (HTML, every value escaped), with the access
    decision for the declared ``purpose``/``credential`` (see :func:`access_html`)."""
    from genshare_widgets.catalog._duo import duo_term
    from genshare_widgets.disclosure import policy_for
    from genshare_widgets.widgets._data_use_banner import duo_terms_html, labels_html

    consent = "".join(
        f"<li><b>{escape(duo_term(c).shorthand)}</b> ({escape(c)}): "
        f"{escape(duo_term(c).label)}</li>"
        for c in entry.duo
    )
    pops = ", ".join(
        escape(p.code) + (f" ({p.n_samples})" if p.n_samples is not None else "")
        for p in entry.populations
    )
    n_samples = f"{entry.n_samples:,}" if entry.n_samples is not None else "unknown"
    rows = [
        ("Kind", entry.kind),
        ("Genome build", entry.genome_build),
        ("Samples", n_samples),
        ("Variants", str(entry.n_variants) if entry.n_variants is not None else "unknown"),
        ("Access tier", entry.access),
        ("Released numbers", policy_for(entry).describe()),
        ("Licence", entry.licence),
        ("Version", entry.version),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    link = (
        f'<p><a href="{escape(entry.homepage)}" target="_blank">{escape(entry.homepage)}</a></p>'
        if entry.homepage
        else ""
    )
    return (
        f"<h3>{escape(entry.title)} <code>{escape(entry.id)}</code></h3>"
        f"<p>{escape(entry.description)}</p><table>{table}</table>"
        f"<p><b>Populations:</b> {pops or 'none listed'}</p>"
        f"<p><b>Consent (GA4GH DUO):</b></p><ul>{consent}</ul>"
        + duo_terms_html(entry)
        + labels_html(entry)
        + access_html(entry, purpose=purpose, credential=credential)
        + f"<p><b>Cite:</b> {escape(entry.citation)}</p>{link}"
        + (f"<p><i>{escape(entry.notes)}</i></p>" if entry.notes else "")
    )


class CatalogBrowser:
    """Browse the catalog: text search, filters, a details pane, a representation pane (who
    is in the selected cohort or the whole catalog, and who is missing, against UN World
    Population Prospects 2024) and an Open button.

    Parameters
    ----------
    catalog
        A loaded :class:`~genshare_widgets.catalog.Catalog` (default: the packaged one).
    open_kwargs
        Keyword arguments for :func:`~genshare_widgets.open_cohort` when Open is clicked.

    Attributes
    ----------
    cohort
        The :class:`~genshare_widgets.Cohort` opened last (None before).

    Examples
    --------
    >>> browser = CatalogBrowser()  # doctest: +SKIP
    >>> browser  # in a notebook: the widget  # doctest: +SKIP
    >>> browser.search.value = "1000 genomes"  # doctest: +SKIP
    >>> browser.open_button.click(); browser.cohort  # doctest: +SKIP
    """

    def __init__(self, catalog=None, *, open_kwargs: dict[str, Any] | None = None) -> None:
        from genshare_widgets.catalog import load_catalog
        from genshare_widgets.catalog._duo import duo_term

        w = _require_ipywidgets()
        self.catalog = catalog if catalog is not None else load_catalog()
        self.open_kwargs = dict(open_kwargs or {})
        self.cohort: Any = None
        self._callbacks: list[Callable[[Any], None]] = []
        entries = self.catalog.cohorts
        populations = sorted(
            {p.code for e in entries for p in e.populations}
            | {p.superpopulation for e in entries for p in e.populations if p.superpopulation}
        )
        consents = sorted({duo_term(c).shorthand for e in entries for c in e.duo})
        self.search = w.Text(placeholder="search id, title, description, population")
        self.access = w.Dropdown(
            options=[ANY, "open", "registered", "controlled"], value=ANY, description="Access"
        )
        self.population = w.Dropdown(
            options=[ANY, *populations], value=ANY, description="Population"
        )
        self.kind = w.Dropdown(
            options=[ANY, *sorted({e.kind for e in entries})], value=ANY, description="Format"
        )
        self.consent = w.Dropdown(options=[ANY, *consents], value=ANY, description="Consent")
        self.results = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.details = w.HTML()
        self.open_button = w.Button(description="Open", button_style="primary", icon="folder-open")
        self.status = w.HTML()
        from genshare_widgets.widgets._representation_panel import RepresentationPanel

        # Representation tab: who is in the selected cohort (or the catalog), who is missing;
        # drawn when the tab is shown.
        self.representation = RepresentationPanel(self.catalog, ipywidgets=w)
        self.panes = w.Tab(
            children=[self.details, self.representation.widget],
            titles=("Details", "Representation"),
        )
        self.panes.observe(self._show_representation, names="selected_index")
        for control in (self.search, self.access, self.population, self.kind, self.consent):
            control.observe(self._refresh, names="value")
        self.results.observe(self._show_details, names="value")
        self.open_button.on_click(self._open)
        self.widget = w.VBox(
            [
                self.search,
                w.HBox([self.access, self.population]),
                w.HBox([self.kind, self.consent]),
                self.results,
                w.HBox([self.open_button, self.status]),
                self.panes,
            ]
        )
        self.widget.add_class("genshare-catalog-browser")  # named in the page (browser tests)
        self._refresh()

    # --- logic (plain Python, tested without a browser) -----------------------------------

    def matching(self) -> list:
        """Entries passing the current search text and filters."""
        from genshare_widgets.catalog import search_catalog

        def value(control) -> str | None:
            return None if control.value == ANY else control.value

        return search_catalog(
            self.catalog,
            text=self.search.value.strip() or None,
            access=value(self.access),
            population=value(self.population),
            kind=value(self.kind),
            duo=value(self.consent),
        )

    def selected(self):
        """The selected catalog entry, or None."""
        if self.results.value is None:
            return None
        return next((e for e in self.catalog.cohorts if e.id == self.results.value), None)

    def on_open(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(cohort)`` after each successful Open."""
        self._callbacks.append(callback)

    # --- wiring ---------------------------------------------------------------------------

    def _refresh(self, _change=None) -> None:
        entries = self.matching()
        current = self.results.value
        self.results.options = [(f"{e.id} — {e.title}", e.id) for e in entries]
        ids = [e.id for e in entries]
        self.results.value = current if current in ids else (ids[0] if ids else None)
        self.status.value = "" if entries else "<i>no cohort matches these filters</i>"
        self._show_details()

    def _show_details(self, _change=None) -> None:
        entry = self.selected()
        self.details.value = (
            entry_details_html(
                entry,
                purpose=self.open_kwargs.get("purpose"),
                credential=self.open_kwargs.get("credential"),
            )
            if entry is not None
            else ""
        )
        self.open_button.disabled = entry is None
        self._show_representation()

    def _show_representation(self, _change=None) -> None:
        if self.panes.selected_index == 1:
            self.representation.show(self.selected())

    def _open(self, _button=None) -> None:
        from genshare_widgets.cohort import open_cohort

        entry = self.selected()
        if entry is None:
            return
        self.status.value = f"opening <code>{escape(entry.id)}</code>…"
        try:
            cohort = open_cohort(entry.id, **self.open_kwargs)
        except GenShareError as exc:
            self.status.value = f'<span style="color:#b00020">{escape(str(exc))}</span>'
            return
        self.cohort = cohort
        self.status.value = (
            f"opened <code>{escape(entry.id)}</code>: {cohort.n_samples:,} samples × "
            f"{cohort.n_variants:,} variants"
        )
        for callback in self._callbacks:
            callback(self.cohort)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
