"""The famous-variants panel: a curated list of well-known sites and their published
frequencies (``famous_variants.yaml`` beside this module), validated by a pydantic schema.

Each number in the file names where it comes from: a GRCh37/GRCh38 position names the real VCF
record it was read from or a cited page with the quoted text; a published frequency names the
mirrored 1000 Genomes VCF record and INFO field, or a cited page with the quoted text.
``tests/test_famous.py`` checks every one of them against that source.
"""

import functools
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from genshare_widgets._errors import CatalogError

Build = Literal["GRCh37", "GRCh38"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SitePosition(_Strict):
    """A position on one build and where it was read (null: not verified here)."""

    position: int | None = Field(default=None, ge=1)
    source: str
    url: str | None = None
    quote: str | None = Field(default=None, description="the text of url the position is read from")

    @model_validator(mode="after")
    def _quoted(self) -> "SitePosition":
        if self.url is not None and (self.quote is None or str(self.position) not in self.quote):
            raise ValueError(f"position {self.position} from {self.url}: quote the text holding it")
        return self


class VcfInfoSource(_Strict):
    """A 1000 Genomes release INFO field of one record of a mirrored VCF."""

    file: str
    contig: str
    position: int = Field(ge=1)
    ref: str
    alt: str
    field: str


class PublishedFrequency(_Strict):
    """A published frequency of the allele of interest in one population."""

    population: str = Field(description="the population as the source names it")
    group: str | None = Field(
        default=None,
        description="the cohort group it compares with (default: population, when it is a "
        "1000 Genomes population or super-population code)",
    )
    value: float = Field(ge=0, le=1)
    source: str | None = None
    url: str | None = None
    quote: str | None = None
    vcf: VcfInfoSource | None = None

    @model_validator(mode="after")
    def _cited(self) -> "PublishedFrequency":
        if (self.vcf is None) == (self.url is None):
            raise ValueError(
                f"published frequency for {self.population}: give exactly one source, a vcf "
                "INFO field or a url with its quote"
            )
        if self.url is not None and (self.quote is None or self.source is None):
            raise ValueError(f"published frequency from {self.url}: give source and quote")
        return self

    @property
    def compare_group(self) -> str:
        """The cohort group this value is shown beside."""
        return self.group or self.population

    @property
    def citation(self) -> str:
        """Where the value comes from, in one line."""
        if self.vcf is not None:
            return (
                f"1000 Genomes phase 3 release 20130502, INFO {self.vcf.field} of "
                f"{self.vcf.contig}:{self.vcf.position} {self.vcf.ref}>{self.vcf.alt} "
                f"({self.vcf.file})"
            )
        return f"{self.source} ({self.url})"


class FamousVariant(_Strict):
    """One famous site: alleles on the forward strand, the allele of interest, positions on
    both builds (null where not verified), a story and published frequencies."""

    rsid: str = Field(pattern=r"^rs\d+$")
    gene: str
    name: str
    chrom: str
    grch37: SitePosition
    grch38: SitePosition
    ref: str = Field(pattern=r"^[ACGT]+$")
    alt: str = Field(pattern=r"^[ACGT]+$")
    allele_of_interest: str
    story: str
    published: list[PublishedFrequency] = Field(default_factory=list)

    @model_validator(mode="after")
    def _allele(self) -> "FamousVariant":
        if self.allele_of_interest not in (self.ref, self.alt):
            raise ValueError(
                f"{self.rsid}: allele_of_interest {self.allele_of_interest!r} is neither "
                f"REF {self.ref!r} nor ALT {self.alt!r}"
            )
        return self

    def position(self, build: str) -> int | None:
        """The position on ``build`` (GRCh37 or GRCh38; hg19/hg38 and b37 accepted)."""
        key = normalise_build(build)
        if key is None:
            return None
        return (self.grch37 if key == "GRCh37" else self.grch38).position

    @property
    def interest_is_ref(self) -> bool:
        """True when the allele of interest is the reference allele (its frequency is then
        1 - the ALT frequency)."""
        return self.allele_of_interest == self.ref


class FamousPanel(_Strict):
    """The whole panel."""

    panel_version: str
    variants: list[FamousVariant]

    @model_validator(mode="after")
    def _unique(self) -> "FamousPanel":
        ids = [v.rsid for v in self.variants]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rsids listed twice: {dupes}")
        return self

    def get(self, rsid: str) -> FamousVariant:
        """The variant with this rsID (KeyError naming the panel's rsIDs otherwise)."""
        for v in self.variants:
            if v.rsid == rsid:
                return v
        raise KeyError(f"{rsid!r} is not in the famous-variants panel ({self.rsids})")

    @property
    def rsids(self) -> list[str]:
        """The panel's rsIDs in file order."""
        return [v.rsid for v in self.variants]


def normalise_build(build: str | None) -> Build | None:
    """``GRCh37``/``GRCh38`` for the usual spellings (hg19, b37, hs37d5, hg38...), else None."""
    if not build:
        return None
    text = str(build).lower()
    if any(t in text for t in ("grch37", "hg19", "b37", "hs37", "37")):
        return "GRCh37"
    if any(t in text for t in ("grch38", "hg38", "b38", "38")):
        return "GRCh38"
    return None


def famous_panel_path() -> Path:
    """The packaged ``famous_variants.yaml``."""
    return Path(str(resources.files("genshare_widgets.catalog").joinpath("famous_variants.yaml")))


@functools.lru_cache(maxsize=4)
def load_famous_panel(path: str | None = None) -> FamousPanel:
    """Load and validate the famous-variants panel (default: the packaged one).

    Examples
    --------
    >>> load_famous_panel().get("rs4988235").gene
    'MCM6 (LCT enhancer)'
    """
    where = Path(path) if path else famous_panel_path()
    try:
        raw = yaml.safe_load(where.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{where}: cannot read the famous-variants panel: {exc}") from None
    try:
        return FamousPanel.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise CatalogError(f"{where}: {loc}: {first['msg']}") from None
