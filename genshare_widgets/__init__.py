"""GenShare: explore shared public genomic cohorts in Jupyter.

Importing the package is fast and touches neither disk nor network: the heavy modules
(xarray, dask, zarr, cyvcf2, stdpopsim) load on first use of the functions that need them.

Examples
--------
>>> import genshare_widgets as gs
>>> cohort = gs.open_cohort("sim-ooa")  # doctest: +SKIP
>>> cohort.populations()  # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from genshare_widgets._errors import (
    CatalogError,
    FetchError,
    GenShareError,
    GenShareWarning,
    InputFormatError,
)
from genshare_widgets._version import __version__

if TYPE_CHECKING:
    from genshare_widgets._pca_reference import PCAReference
    from genshare_widgets.ancestry import assign_ancestry
    from genshare_widgets.association import association
    from genshare_widgets.beacon import beacon_network
    from genshare_widgets.catalog import catalog_table, get_entry, load_catalog, search_catalog
    from genshare_widgets.cohort import Cohort, open_cohort
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.famous import famous_variants
    from genshare_widgets.fetch import fetch_cohort, fetch_file
    from genshare_widgets.figures import figure, figure_command
    from genshare_widgets.ld import ld_decay, ld_matrix, ld_prune
    from genshare_widgets.projection import fit_reference, project
    from genshare_widgets.samples import pca, sample_stats
    from genshare_widgets.scans import scan
    from genshare_widgets.sweep_sim import simulate_sweep

_LAZY = {
    "association": "genshare_widgets.association",
    "famous_variants": "genshare_widgets.famous",
    "beacon_network": "genshare_widgets.beacon",
    "Cohort": "genshare_widgets.cohort",
    "open_cohort": "genshare_widgets.cohort",
    "load_catalog": "genshare_widgets.catalog",
    "get_entry": "genshare_widgets.catalog",
    "search_catalog": "genshare_widgets.catalog",
    "catalog_table": "genshare_widgets.catalog",
    "fetch_file": "genshare_widgets.fetch",
    "fetch_cohort": "genshare_widgets.fetch",
    "allele_counts_by_group": "genshare_widgets.counts",
    "pca": "genshare_widgets.samples",
    "figure": "genshare_widgets.figures",
    "figure_command": "genshare_widgets.figures",
    "sample_stats": "genshare_widgets.samples",
    "ld_prune": "genshare_widgets.ld",
    "ld_matrix": "genshare_widgets.ld",
    "ld_decay": "genshare_widgets.ld",
    "scan": "genshare_widgets.scans",
    "PCAReference": "genshare_widgets._pca_reference",
    "assign_ancestry": "genshare_widgets.ancestry",
    "fit_reference": "genshare_widgets.projection",
    "project": "genshare_widgets.projection",
    "simulate_sweep": "genshare_widgets.sweep_sim",
}

__all__ = [
    "CatalogError",
    "Cohort",
    "FetchError",
    "GenShareError",
    "GenShareWarning",
    "InputFormatError",
    "PCAReference",
    "__version__",
    "allele_counts_by_group",
    "assign_ancestry",
    "association",
    "beacon_network",
    "catalog_table",
    "famous_variants",
    "fetch_cohort",
    "fetch_file",
    "figure",
    "figure_command",
    "fit_reference",
    "get_entry",
    "ld_decay",
    "ld_matrix",
    "ld_prune",
    "load_catalog",
    "open_cohort",
    "pca",
    "project",
    "sample_stats",
    "scan",
    "search_catalog",
    "simulate_sweep",
    "stats",
]


def __getattr__(name: str) -> Any:
    if name == "stats":
        import importlib

        module = importlib.import_module("genshare_widgets.stats")
        globals()["stats"] = module
        return module
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genshare_widgets' has no attribute {name!r}")
