"""The catalog schema: what one cohort entry of ``data_catalog.yaml`` holds.

Every model forbids unknown fields, so a typo in the YAML (``sha265:``) is an error naming the
entry and the field rather than a silently ignored key.
"""

import datetime
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from genshare_widgets.catalog._data_use import (
    DuoTerms,
    LocalContextsLabel,
    check_terms_against_codes,
)
from genshare_widgets.catalog._duo import duo_term

CohortKind = Literal["simulated", "vcf", "vcf-zarr", "plink", "hail-mt", "sites"]
AccessTier = Literal["open", "registered", "controlled"]
FileRole = Literal["genotypes", "index", "samples", "sites", "other"]

_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSpec(_Strict):
    """One downloadable file of a cohort.

    ``sha256`` may be null when the provider publishes none: the first fetch then records the
    hash it saw and later fetches are checked against it (the catalog says so in ``notes``).
    """

    name: str = Field(description="file name in the cache and in an offline mirror")
    url: str = Field(description="documented public location (https://, ftp://, gs:// or s3://)")
    sha256: str | None = None
    md5: str | None = None
    size: int | None = Field(default=None, ge=0, description="bytes")
    role: FileRole = "genotypes"
    derivation: str | None = Field(
        default=None,
        description="set when this file is NOT the one at url but was made from it: how. "
        "Such a file exists only in a cache or an offline mirror (GENSHARE_MIRROR); sha256 "
        "and size are those of the derived file, never downloaded",
    )
    source_sha256: str | None = Field(
        default=None, description="sha256 of the source file at url (derived files only)"
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if "/" in value or value in {"", ".", ".."}:
            raise ValueError(f"file name {value!r} must be a plain file name without '/'")
        return value

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not re.match(r"^(https?|ftp|gs|s3|az)://", value):
            raise ValueError(
                f"url {value!r} must start with https://, http://, ftp://, gs://, s3:// or az://"
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _sha256_hex(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError(f"sha256 {value!r} is not 64 lowercase hex digits")
        return value

    @field_validator("source_sha256")
    @classmethod
    def _source_sha256_hex(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError(f"source_sha256 {value!r} is not 64 lowercase hex digits")
        return value

    @model_validator(mode="after")
    def _derived_is_verifiable(self) -> "FileSpec":
        if self.source_sha256 is not None and self.derivation is None:
            raise ValueError("source_sha256 is only for a derived file: say how in derivation")
        if self.derivation is not None and self.sha256 is None:
            raise ValueError(
                "a derived file needs the sha256 of the derived file (it cannot be recorded "
                "on a first download: the url holds its source, not the file)"
            )
        return self

    @field_validator("md5")
    @classmethod
    def _md5_hex(cls, value: str | None) -> str | None:
        if value is not None and not _MD5.match(value):
            raise ValueError(f"md5 {value!r} is not 32 lowercase hex digits")
        return value


class SampleTableSpec(_Strict):
    """Where the sample metadata lives and which columns mean what."""

    file: str | None = Field(default=None, description="name of a files[] entry with role samples")
    id_column: str = "sample"
    population_column: str = "population"
    superpopulation_column: str | None = None
    sex_column: str | None = None
    phenotype_columns: list[str] = Field(default_factory=list)
    covariate_columns: list[str] = Field(
        default_factory=list, description="numeric columns meant as covariates (e.g. age)"
    )
    separator: str = "\t"


class Population(_Strict):
    """A population (group of samples) of a cohort, with its sampling location when known."""

    code: str
    name: str | None = None
    superpopulation: str | None = None
    n_samples: int | None = Field(default=None, ge=0)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


_COLUMN_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_RESERVED_COLUMNS = {"sample", "population", "superpopulation", "sex"}
# The single trait of a version-1 recipe (``phenotype``, ``n_causal``, ``heritability``), and of a
# recipe that names no trait at all.
_V1_TRAIT: dict[str, object] = {
    "name": "height_like",
    "kind": "quantitative",
    "n_causal": 50,
    "heritability": 0.5,
}


class SimulatedTrait(_Strict):
    """One simulated trait of a recipe: a column of the built sample table.

    The trait is ``y = g + e + shift[population] + sum(effect_c * (c - mean(c)))``: ``g`` sums
    ``n_causal`` randomly chosen biallelic variants' (minor allele frequency at least
    ``causal_min_maf``) ALT dosages times N(0, 1) effects, scaled so that var(g) =
    ``heritability`` exactly; ``e`` is N(0, 1 - heritability) noise, so the stated
    heritability is var(g) / var(g + e) in expectation (realised values are recorded with the
    build). ``population_shift`` adds a per-population constant with no genetic cause (ancestry
    confounds the trait); ``covariate_effects`` adds a covariate's centred value times the effect.
    A ``binary`` trait thresholds that sum (its liability): the top ``prevalence`` fraction are
    cases, coded 1, the rest controls, coded 0; its heritability is on the liability scale.
    """

    name: str = Field(pattern=_COLUMN_NAME, description="column name in the sample table")
    kind: Literal["quantitative", "binary"] = "quantitative"
    heritability: float = Field(
        gt=0, lt=1, description="var(g) / var(g + e): the genetic share of the non-fixed part"
    )
    n_causal: int = Field(ge=1, description="number of causal biallelic variants")
    causal_min_maf: float = Field(
        default=0.0,
        ge=0,
        lt=0.5,
        description="draw causal variants among those with at least this minor allele "
        "frequency in the whole cohort (0: among all biallelic variants)",
    )
    prevalence: float | None = Field(
        default=None, gt=0, lt=1, description="binary only: the fraction of cases"
    )
    population_shift: dict[str, float] = Field(
        default_factory=dict,
        description="per-population shift of the trait (liability) mean, not genetic; "
        "populations not named: 0",
    )
    covariate_effects: dict[str, float] = Field(
        default_factory=dict,
        description="trait (liability) units per unit of a recipe covariate (centred)",
    )

    @model_validator(mode="after")
    def _prevalence_for_binary(self) -> "SimulatedTrait":
        if self.kind == "binary" and self.prevalence is None:
            raise ValueError(
                f"trait {self.name!r} is binary: give its prevalence (fraction of cases, 0-1)"
            )
        if self.kind == "quantitative" and self.prevalence is not None:
            raise ValueError(
                f"trait {self.name!r} is quantitative: prevalence is only for kind binary"
            )
        return self


class SimulatedCovariate(_Strict):
    """A simulated numeric covariate: an integer drawn uniformly from ``low`` to ``high``
    (both included) for each individual, independent of genotypes and population."""

    name: str = Field(pattern=_COLUMN_NAME, description="column name in the sample table")
    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> "SimulatedCovariate":
        if self.high <= self.low:
            raise ValueError(
                f"covariate {self.name!r}: high ({self.high}) must be above low ({self.low})"
            )
        return self


class SimulationRecipe(_Strict):
    """How an embedded cohort is simulated: a stdpopsim model run with msprime.

    ``samples`` maps each model population to a number of diploid individuals. The same recipe
    with the same software versions gives byte-identical VCFs and sample tables.
    ``traits`` and ``covariates`` are the simulated columns of the sample table (see
    :class:`SimulatedTrait`, :class:`SimulatedCovariate`). A version-1 recipe's single-trait
    fields ``phenotype``, ``n_causal`` and ``heritability`` are still accepted and read as one
    quantitative trait; a recipe with neither has that trait with its old defaults
    (``height_like``, 50 causal variants, heritability 0.5).
    """

    engine: Literal["msprime"] = "msprime"
    species: str = "HomSap"
    model: str
    contig_name: str = "1"
    length: int = Field(gt=0, le=50_000_000)
    samples: dict[str, int]
    seed: int
    traits: list[SimulatedTrait] = Field(
        default_factory=lambda: [SimulatedTrait.model_validate(_V1_TRAIT)], min_length=1
    )
    covariates: list[SimulatedCovariate] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _version1_fields(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        old = [k for k in ("phenotype", "n_causal", "heritability") if k in data]
        if not old:
            return data
        if "traits" in data:
            raise ValueError(
                f"give either traits or the older single-trait fields ({', '.join(old)}), "
                "not both: move them into a traits entry"
            )
        data = dict(data)
        trait = dict(_V1_TRAIT)
        trait.update({"name" if k == "phenotype" else k: data.pop(k) for k in old})
        data["traits"] = [trait]
        return data

    @model_validator(mode="after")
    def _consistent_traits(self) -> "SimulationRecipe":
        names = [t.name for t in self.traits] + [c.name for c in self.covariates]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"trait/covariate names listed twice: {dupes}")
        reserved = sorted(set(names) & _RESERVED_COLUMNS)
        if reserved:
            raise ValueError(
                f"{reserved} name sample-table columns the simulation writes itself "
                f"({', '.join(sorted(_RESERVED_COLUMNS))}): rename the trait or covariate"
            )
        covariates = {c.name for c in self.covariates}
        n_individuals = sum(self.samples.values())
        for trait in self.traits:
            if trait.prevalence is not None:
                n_cases = round(trait.prevalence * n_individuals)
                if not 0 < n_cases < n_individuals:
                    raise ValueError(
                        f"trait {trait.name!r}: prevalence {trait.prevalence:g} of "
                        f"{n_individuals} individuals is {n_cases} cases; a binary trait needs "
                        "cases and controls"
                    )
            unknown = sorted(set(trait.population_shift) - set(self.samples))
            if unknown:
                raise ValueError(
                    f"trait {trait.name!r}: population_shift names {unknown}, which the recipe "
                    f"does not simulate (its populations: {sorted(self.samples)})"
                )
            unknown = sorted(set(trait.covariate_effects) - covariates)
            if unknown:
                raise ValueError(
                    f"trait {trait.name!r}: covariate_effects names {unknown}, which are not "
                    f"covariates of the recipe (its covariates: {sorted(covariates)})"
                )
        return self

    def trait(self, name: str) -> SimulatedTrait:
        """The trait with this name."""
        for trait in self.traits:
            if trait.name == name:
                return trait
        raise KeyError(f"the recipe has no trait {name!r} (its traits: {self.trait_names})")

    @property
    def trait_names(self) -> list[str]:
        """The names of the simulated traits, in recipe order."""
        return [t.name for t in self.traits]


class DisclosureSettings(_Strict):
    """The data custodian's disclosure settings of a cohort (the entry's ``disclosure:`` block,
    or the ``disclosure:`` block of a service's custodian config).

    Every field is optional: a missing one takes the access tier's default
    (:func:`genshare_widgets.disclosure.custodian_settings`, README "Disclosure control").
    Values that contradict the tier (k below its floor, an epsilon above its ceiling) are
    refused when the cohort is opened for a release or a service starts, naming the field.
    """

    min_count: int | None = Field(
        default=None, ge=1, description="k: person counts in 1..k-1 are never shown"
    )
    min_variants: int | None = Field(
        default=None,
        ge=1,
        description="fewest variants a released mean (observed heterozygosity) may cover",
    )
    epsilon_per_release_max: float | None = Field(
        default=None, gt=0, description="cap on the epsilon of one differentially private release"
    )
    epsilon_budget: float | None = Field(
        default=None, gt=0, description="total epsilon all releases of the cohort may spend"
    )
    dp_mechanism: Literal["gaussian", "laplace"] | None = Field(
        default=None, description="DP noise: discrete Gaussian (zCDP) or discrete Laplace"
    )
    dp_delta: float | None = Field(
        default=None, gt=0, lt=1e-3, description="delta of a Gaussian (zCDP) release"
    )

    @model_validator(mode="after")
    def _cap_within_budget(self) -> "DisclosureSettings":
        cap, total = self.epsilon_per_release_max, self.epsilon_budget
        if cap is not None and total is not None and cap > total:
            raise ValueError(
                f"disclosure.epsilon_per_release_max ({cap:g}) is above disclosure."
                f"epsilon_budget ({total:g}): no release could ever be afforded"
            )
        return self


class WithdrawalSpec(_Strict):
    """The entry's versioned withdrawal list (dynamic consent): sample ids, one per line, that
    no analysis may use (see :mod:`genshare_widgets._withdrawals`)."""

    file: str = Field(
        description="a list shipped in genshare_widgets/withdrawal_lists/ (plain name) or an "
        "absolute path to the custodian's list"
    )
    version: str = Field(description="the list's version; a new list is a new version")
    date: datetime.date = Field(description="the date of this version (YYYY-MM-DD)")
    sha256: str = Field(description="sha256 of the list file: a mismatch is refused")
    n_samples: int | None = Field(default=None, ge=0, description="ids in the list")

    @field_validator("sha256")
    @classmethod
    def _sha256_hex(cls, value: str) -> str:
        if not _SHA256.match(value):
            raise ValueError(f"sha256 {value!r} is not 64 lowercase hex digits")
        return value


class PCAReferenceSpec(_Strict):
    """A PCA reference file fitted on this entry (``genshare reference``), pinned by hash:
    ``genshare project SOURCE --reference ENTRY_ID`` loads it, and a file whose sha256 differs
    is refused (:func:`genshare_widgets.projection.entry_reference`)."""

    file: str = Field(description="absolute path, or a file name looked up under $GENSHARE_MIRROR")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the reference file")


class CohortEntry(_Strict):
    """One cohort of the catalog."""

    id: str = Field(pattern=_ID_PATTERN)
    title: str
    description: str
    kind: CohortKind
    genome_build: str
    files: list[FileSpec] = Field(default_factory=list)
    mirrors: list[str] = Field(default_factory=list)
    simulation: SimulationRecipe | None = None
    samples: SampleTableSpec | None = Field(
        default=None, description="sample metadata; null only for aggregate-only 'sites' entries"
    )
    populations: list[Population]
    n_samples: int | None = Field(default=None, ge=0)
    n_variants: int | str | None = None
    access: AccessTier
    duo: list[str] = Field(min_length=1)
    duo_disease: str | None = Field(
        default=None,
        pattern=r"^(MONDO:\d{7}|DOID:\d+)$",
        description="the disease of a DS (DUO:0000007) code: a MONDO (or DOID) id",
    )
    duo_terms: DuoTerms | None = Field(
        default=None,
        description="parameters of the DUO modifiers (GS regions, TS end, MOR date, RTN "
        "address, COL investigators): catalog/_data_use.py",
    )
    local_contexts: list[LocalContextsLabel] = Field(
        default_factory=list,
        description="Local Contexts TK/BC Labels and Notices: catalog/_data_use.py",
    )
    licence: str
    citation: str
    homepage: str | None = None
    dataset_url: str = Field(
        default="",
        max_length=255,
        pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$",
        description="the dataset's persistent identifier as a URL: what a GA4GH Passport's "
        "ControlledAccessGrants visa names (value) to grant this entry; default "
        "urn:genshare:dataset:<id>",
    )
    version: str
    notes: str | None = None
    min_cell_count: int | None = Field(
        default=None,
        ge=1,
        description="the entry's own small-count threshold; may lower the tier default "
        "(an older spelling of disclosure.min_count)",
    )
    disclosure: DisclosureSettings | None = Field(
        default=None, description="the custodian's disclosure settings (k, DP cap and budget)"
    )
    withdrawals: WithdrawalSpec | None = Field(
        default=None, description="the versioned list of withdrawn samples (dynamic consent)"
    )
    pca_reference: PCAReferenceSpec | None = Field(
        default=None, description="a PCA reference fitted on this entry (issue 19), by hash"
    )

    @model_validator(mode="before")
    @classmethod
    def _default_dataset_url(cls, data: Any) -> Any:
        """An entry without ``dataset_url`` is ``urn:genshare:dataset:<id>``."""
        if isinstance(data, dict) and not data.get("dataset_url") and "id" in data:
            data = {**data, "dataset_url": f"urn:genshare:dataset:{data['id']}"}
        return data

    @field_validator("duo")
    @classmethod
    def _known_duo(cls, codes: list[str]) -> list[str]:
        out = []
        for code in codes:
            try:
                out.append(duo_term(code).id)
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
        return out

    @model_validator(mode="after")
    def _consistent(self) -> "CohortEntry":
        has_ds = "DUO:0000007" in self.duo
        if has_ds and self.duo_disease is None:
            raise ValueError("DS (DUO:0000007) needs the disease: set duo_disease (MONDO id)")
        if self.duo_disease is not None and not has_ds:
            raise ValueError("duo_disease is only meaningful with DS (DUO:0000007) in duo")
        check_terms_against_codes(self.duo, self.duo_terms)
        if self.kind == "simulated":
            if self.simulation is None:
                raise ValueError("kind 'simulated' needs a 'simulation' recipe")
            missing = {p.code for p in self.populations} ^ set(self.simulation.samples)
            if missing:
                raise ValueError(
                    f"populations and simulation.samples disagree on {sorted(missing)}"
                )
            for pop in self.populations:
                if pop.n_samples is not None and pop.n_samples != self.simulation.samples[pop.code]:
                    raise ValueError(
                        f"population {pop.code}: n_samples {pop.n_samples} but the recipe "
                        f"simulates {self.simulation.samples[pop.code]}"
                    )
            if self.samples is not None:
                recipe = self.simulation
                for field, names in (
                    ("phenotype_columns", recipe.trait_names),
                    ("covariate_columns", [c.name for c in recipe.covariates]),
                ):
                    listed = getattr(self.samples, field)
                    if listed and sorted(listed) != sorted(names):
                        raise ValueError(
                            f"samples.{field} {listed} must list the recipe's simulated "
                            f"{field.split('_')[0]}s {names}"
                        )
        else:
            if self.simulation is not None:
                raise ValueError(f"kind {self.kind!r} cannot have a 'simulation' recipe")
            if not self.files:
                raise ValueError(f"kind {self.kind!r} needs at least one entry in 'files'")
        if self.samples is None and self.kind != "sites":
            raise ValueError(f"kind {self.kind!r} needs a 'samples' block (sample metadata)")
        if (
            self.disclosure is not None
            and self.disclosure.min_count is not None
            and self.min_cell_count is not None
            and self.disclosure.min_count != self.min_cell_count
        ):
            raise ValueError(
                f"min_cell_count ({self.min_cell_count}) and disclosure.min_count "
                f"({self.disclosure.min_count}) disagree: keep one"
            )
        names = [f.name for f in self.files]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"file names listed twice: {dupes}")
        if self.samples and self.samples.file is not None and self.samples.file not in names:
            raise ValueError(
                f"samples.file {self.samples.file!r} is not one of this entry's files {names}"
            )
        codes = [p.code for p in self.populations]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"population codes listed twice: {dupes}")
        counts = [p.n_samples for p in self.populations]
        if self.n_samples is not None and counts and all(c is not None for c in counts):
            total = sum(c for c in counts if c is not None)
            if total != self.n_samples:
                raise ValueError(
                    f"n_samples is {self.n_samples} but the populations add up to {total}"
                )
        return self

    @property
    def is_local(self) -> bool:
        """True when the cohort can be built or fetched into a genotype store on this machine."""
        return self.kind in {"simulated", "vcf", "vcf-zarr", "plink"}

    def population(self, code: str) -> Population:
        """The population with this code."""
        for pop in self.populations:
            if pop.code == code:
                return pop
        raise KeyError(f"cohort {self.id!r} has no population {code!r}")


class Catalog(_Strict):
    """The whole catalog: a version and its cohort entries (ids unique)."""

    catalog_version: str
    cohorts: list[CohortEntry]

    @model_validator(mode="after")
    def _unique_ids(self) -> "Catalog":
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.cohorts):
            if entry.id in seen:
                raise ValueError(
                    f"duplicate cohort id {entry.id!r} (entries {seen[entry.id]} and {i})"
                )
            seen[entry.id] = i
        urls: dict[str, str] = {}
        for entry in self.cohorts:  # one grant must never open two entries
            if entry.dataset_url in urls:
                raise ValueError(
                    f"cohorts {urls[entry.dataset_url]!r} and {entry.id!r} share the dataset_url "
                    f"{entry.dataset_url!r}; a Passport grant names one dataset: give each its own"
                )
            urls[entry.dataset_url] = entry.id
        return self
