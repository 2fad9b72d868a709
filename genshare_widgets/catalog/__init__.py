"""The cohort catalog: schema, loading and validation, search, DUO consent codes, and the
representation audit (samples per world region against UN World Population Prospects 2024)."""

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
from genshare_widgets.catalog._representation import (
    RepresentationAudit,
    catalog_audit,
    cohort_audit,
    place_population,
    populations_audit,
    world_population,
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
    "RepresentationAudit",
    "ReturnAddress",
    "SampleTableSpec",
    "SimulatedCovariate",
    "SimulatedTrait",
    "SimulationRecipe",
    "catalog_audit",
    "catalog_table",
    "cohort_audit",
    "default_catalog_path",
    "duo_term",
    "forbids_ancestry_research",
    "get_entry",
    "label_type",
    "load_catalog",
    "parse_catalog",
    "place_population",
    "populations_audit",
    "search_catalog",
    "world_population",
]
