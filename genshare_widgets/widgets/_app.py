"""The explorer as one page: a cohort picker above a :class:`CohortExplorer`.

This is what ``genshare app`` serves with Voilà (``notebooks/app.ipynb`` displays it). The
picker lists only cohorts that open without the internet: the simulated ones (built on this
machine) and catalog entries whose files are already in the cache or in an offline mirror
(``GENSHARE_MIRROR``). Errors (a cohort that fails to open, a bad region) appear in the page's
status lines, never as a traceback.
"""

import threading
import time
from html import escape
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.widgets._catalog_browser import _require_ipywidgets
from genshare_widgets.widgets._explorer import CohortExplorer, _error_html
from genshare_widgets.widgets._kernel_thread import on_kernel_thread

_OPENABLE_KINDS = ("simulated", "vcf", "plink")


def offline_cohort_ids(catalog=None) -> list[str]:
    """Catalog ids that open on this machine without the internet, in catalog order.

    Simulated entries always do (they are built locally). A ``vcf`` or ``plink`` entry does
    when every one of its files is already in the cache (``GENSHARE_CACHE/downloads/<id>/``)
    or found by name in a ``GENSHARE_MIRROR`` folder; the hashes are checked when it opens.
    Aggregate-only entries (``sites``, ``hail-mt``) hold no genotypes and are never listed.

    Examples
    --------
    >>> "sim-ooa" in offline_cohort_ids()
    True
    """
    from genshare_widgets.catalog import load_catalog
    from genshare_widgets.fetch import _find_in_mirrors, cache_dir

    catalog = catalog if catalog is not None else load_catalog()
    downloads = cache_dir() / "downloads"
    ids = []
    for entry in catalog.cohorts:
        if entry.kind not in _OPENABLE_KINDS:
            continue
        if entry.kind == "simulated" or all(
            (downloads / entry.id / spec.name).is_file()
            or next(_find_in_mirrors(spec.name), None) is not None
            for spec in entry.files
        ):
            ids.append(entry.id)
    return ids


class ExplorerApp:
    """A cohort picker and the :class:`CohortExplorer` of the chosen cohort.

    Parameters
    ----------
    cohort_id
        The cohort shown first (default: the first offline cohort, ``sim-ooa``).
    by
        The sample column that defines groups at first.
    catalog
        A loaded catalog (default: the packaged one).
    background
        Open the cohorts picked later and draw their first figure in a background thread, so
        the page stays responsive with "opening …" in its status line and fills in when the
        explorer is ready (what ``genshare app`` does). The first cohort always opens before
        returning: the page must find every widget it shows when it connects. Default: open
        every cohort before returning.

    Attributes
    ----------
    explorer
        The :class:`CohortExplorer` on screen (None when no cohort could be opened).

    Examples
    --------
    >>> app = ExplorerApp("sim-ooa")  # doctest: +SKIP
    >>> app  # in a notebook or Voilà: the page  # doctest: +SKIP
    >>> app.picker.value = "sim-admix"  # opens it and swaps the explorer  # doctest: +SKIP
    """

    def __init__(
        self,
        cohort_id: str | None = None,
        *,
        by: str = "population",
        catalog=None,
        background: bool = False,
    ):
        from genshare_widgets.catalog import load_catalog

        w = _require_ipywidgets()
        self.catalog = catalog if catalog is not None else load_catalog()
        self.by = by
        self.explorer: CohortExplorer | None = None
        self.background = background
        self._opening = threading.Lock()  # one cohort opens at a time
        self._threads: list[threading.Thread] = []  # opening, then the first figure
        self._first = False  # True while the first cohort opens (never in the background)
        titles = {e.id: e.title for e in self.catalog.cohorts}
        ids = offline_cohort_ids(self.catalog)
        if cohort_id is not None and cohort_id not in ids:
            ids.insert(0, cohort_id)  # asked for by name: try it, errors show in the page
        self.picker = w.Dropdown(
            options=[(f"{i} — {titles.get(i, 'not in the catalog')}", i) for i in ids],
            value=None,
            description="Cohort",
            layout=w.Layout(width="60%"),
            style={"description_width": "initial"},
        )
        self.status = w.HTML()
        self.body = w.VBox()
        self.widget = w.VBox(
            [
                w.HTML(
                    "<h2 style='margin:0.2em 0'>GenShare cohort explorer</h2>"
                    "<p style='margin:0 0 0.5em 0;color:#555'>Pick a cohort, choose groups "
                    "and filters; each tab compares the groups. Export writes the figure with "
                    "the <code>genshare figure</code> command that rebuilds it.</p>"
                ),
                w.HBox([self.picker, self.status]),
                self.body,
            ]
        )
        self.widget.add_class("genshare-app")
        self.picker.observe(self._on_pick, names="value")
        first = cohort_id or (ids[0] if ids else None)
        if first is None:
            self.status.value = _error_html(
                GenShareError("no cohort opens offline here: run `genshare prepare sim-ooa`")
            )
        else:
            self._first = True
            try:
                self.picker.value = first
            finally:
                self._first = False

    def _on_pick(self, _change: Any = None) -> None:
        cohort_id = self.picker.value
        if cohort_id is None:
            return
        self.status.value = f"opening <code>{escape(cohort_id)}</code>…"
        if not self.background or self._first:
            # The first cohort opens before the page is shown: every widget the page finds
            # when it connects exists already (a model made while the page is connecting
            # can miss it: "widget model not found"). Later picks open in the background.
            self._open()
            return
        # the kernel stays free to answer the page (it asks for the widgets' state) while the
        # cohort opens: the page shows its controls first, the explorer when it is ready
        self._start(self._open, "genshare-open")

    def _start(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Return when the cohort being opened in the background (if any) is on screen
        (outside a kernel; in one, the last steps run on the kernel's thread)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._threads[0].join(left)
            if self._threads[0].is_alive():
                return
            self._threads.pop(0)

    def _open(self) -> None:
        with self._opening:
            self._open_current()

    def _open_current(self) -> None:
        """Open the picked cohort (in the background: in a thread) and hand it to
        :meth:`_attach` on the kernel's thread, which builds the explorer's widgets."""
        from genshare_widgets.cohort import open_cohort

        cohort_id = self.picker.value
        if cohort_id is None or (
            self.explorer is not None and self.explorer.cohort.id == cohort_id
        ):
            return
        try:
            cohort = open_cohort(cohort_id, progress=False)
            columns = [str(c) for c in cohort.samples.columns]
            if not columns:
                raise GenShareError(f"{cohort_id}: the sample table has no column to group by")
        except GenShareError as exc:
            self.status.value = _error_html(exc)
            return
        except Exception as exc:  # in a thread, nobody would see it
            if not self.background:
                raise
            self.status.value = _error_html(GenShareError(f"{cohort_id}: {exc!r}"))
            return
        by = self.by if self.by in columns else columns[0]
        if threading.current_thread() is threading.main_thread():
            self._attach(cohort_id, cohort, by, draw=True)
        else:
            on_kernel_thread(self._attach, cohort_id, cohort, by)

    def _attach(self, cohort_id: str, cohort, by: str, *, draw: bool = False) -> None:
        """Build the explorer of ``cohort`` and put it on the page (on the kernel's thread);
        unless ``draw``, its first figure is then built in a thread."""
        if cohort_id != self.picker.value:
            return  # another cohort was picked meanwhile: its own opening follows
        try:
            # in the background the controls show before the first genotype pass
            explorer = CohortExplorer(cohort, by=by, draw=draw, prefetch=self.background)
        except GenShareError as exc:
            self.status.value = _error_html(exc)
            return
        except Exception as exc:  # in a callback, nobody would see it
            if draw:
                raise
            self.status.value = _error_html(GenShareError(f"{cohort_id}: {exc!r}"))
            return
        self.explorer = explorer
        self.body.children = (explorer.widget,)
        self.status.value = (
            f"<code>{escape(cohort.id)}</code>: {cohort.n_samples:,} samples × "
            f"{cohort.n_variants:,} variants"
        )
        if not draw:
            self._start(explorer.build_then_show, "genshare-first-figure")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
