"""ipywidgets for exploring cohorts: the catalog browser (more arrive with the figure work).

Widgets are thin: each composes the package's plain functions (catalog search, open_cohort,
counts, statistics, plot builders), which carry the logic and are tested on their own; the
widgets themselves are tested headless by setting their controls and clicking their buttons.
ipywidgets comes with the ``[lab]`` extra.
"""

from genshare_widgets.widgets._catalog_browser import CatalogBrowser, entry_details_html

__all__ = ["CatalogBrowser", "entry_details_html"]
