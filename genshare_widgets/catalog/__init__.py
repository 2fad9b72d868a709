"""The cohort catalog: schema, loading and validation, search, DUO consent codes."""

from genshare_widgets.catalog._data_use import (
    LABEL_TYPES,
    DuoTerms,
    LabelType,
    LocalContextsLabel,
    ReturnAddress,
    label_type,
)
from genshare_widgets.catalog._duo import DUO_TERMS, DuoTerm, duo_term, forbids_ancestry_research
from genshare_widgets.catalog._load import (
    catalog_table,
    default_catalog_path,
    get_entry,
    load_catalog,
    parse_catalog,
    search_catalog,
)
from genshare_widgets.catalog._schema import (
    Catalog,
    CohortEntry,
    FileSpec,
    Population,
    SampleTableSpec,
    SimulatedCovariate,
    SimulatedTrait,
    SimulationRecipe,
)

__all__ = [
    "DUO_TERMS",
    "LABEL_TYPES",
    "Catalog",
    "CohortEntry",
    "DuoTerm",
    "DuoTerms",
    "FileSpec",
    "LabelType",
    "LocalContextsLabel",
    "Population",
    "ReturnAddress",
    "SampleTableSpec",
    "SimulatedCovariate",
    "SimulatedTrait",
    "SimulationRecipe",
    "catalog_table",
    "default_catalog_path",
    "duo_term",
    "forbids_ancestry_research",
    "get_entry",
    "label_type",
    "load_catalog",
    "parse_catalog",
    "search_catalog",
]
