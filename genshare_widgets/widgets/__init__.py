"""ipywidgets for exploring cohorts: catalog browser, cohort explorer, figure export, and a
Beacon network query form.

Widgets are thin: each composes the package's plain functions (catalog search, open_cohort,
counts, statistics, plot builders), which carry the logic and are tested on their own; the
widgets themselves are tested headless by setting their controls and clicking their buttons.
ipywidgets comes with the ``[lab]`` extra.
"""

from genshare_widgets.widgets._app import ExplorerApp, offline_cohort_ids
from genshare_widgets.widgets._beacon_network import BeaconNetworkWidget
from genshare_widgets.widgets._catalog_browser import CatalogBrowser, entry_details_html
from genshare_widgets.widgets._explorer import TABS, CohortExplorer, ExportControl

__all__ = [
    "TABS",
    "BeaconNetworkWidget",
    "CatalogBrowser",
    "CohortExplorer",
    "ExplorerApp",
    "ExportControl",
    "entry_details_html",
    "offline_cohort_ids",
]
