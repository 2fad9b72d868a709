"""Representation audit: who is in the catalogued cohorts, against the world's population.

Each catalogued population is placed in one world region (UN SDG regions of World Population
Prospects 2024) through its continental ancestry group (``ancestry_regions.yaml``, shipped beside
this module); its samples are then compared with that region's share of the world's people
(``world_population_wpp2024.yaml``: United Nations, DESA, Population Division (2024), World
Population Prospects 2024, medium variant, population on 1 January 2025, SDG regions;
https://population.un.org/wpp/).

Definitions (tests pin them):

- ``world_share`` of a region = its population / the world population (the regions partition
  the world, so the shares add up to 1).
- ``sample_share`` of a region = its samples / all counted samples, *including* samples placed
  in no region (the ``unassigned`` row), so the rows of an audit add up to 1.
- ``representation`` = sample_share / world_share (1: as many samples as people, in proportion).
- ``status``: ``missing`` (no samples), ``under`` (representation below ``under``, default 0.5:
  fewer than half the region's proportional share), ``over`` (above ``1 / under``), else
  ``proportional``.

Caveats, said again in every output: continental ancestry labels are not residence (1000 Genomes
ASW and ACB are African-ancestry people in the Americas, CEU are Utah residents); admixed groups
(1000 Genomes AMR) are counted whole in one region; "Europe and Northern America" is one SDG
region. Catalog population counts are public metadata (they are in ``data_catalog.yaml``), so
the catalog audits release them as they are; counts from an opened cohort's sample table go
through the release door (``genshare_widgets.figures``).
"""

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genshare_widgets._errors import CatalogError

_HERE = Path(__file__).resolve().parent
WORLD_TABLE = _HERE / "world_population_wpp2024.yaml"
MAPPING_FILE = _HERE / "ancestry_regions.yaml"
UNASSIGNED = "unassigned"
UNDER = 0.5
CAVEAT = (
    "Ancestry labels are not residence (e.g. 1000 Genomes ASW/ACB: African ancestry in the "
    "Americas; CEU: Utah residents); admixed groups count whole in one region; "
    "'Europe and Northern America' is one UN SDG region."
)


@functools.cache
def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: cannot read the representation table ({exc})") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a YAML mapping")
    return data


def world_source() -> dict[str, str]:
    """The citation record of the world population table (publisher, title, edition, url,
    reference date, unit, where the numbers were copied from, ``short`` for footers)."""
    return dict(_read_yaml(WORLD_TABLE)["source"])


def world_population():  # -> pandas.DataFrame
    """The audit regions with their population and world share (WPP 2024, 1 January 2025).

    Returns
    -------
    pandas.DataFrame
        ``region`` (str), ``population_thousands`` (float: people / 1000, the WPP figure or
        the sum of WPP rows joined into one audit region), ``world_share`` (float, sums to 1),
        ``wpp_rows`` (str: the WPP 2024 region names and codes behind it), in the table's order.

    Examples
    --------
    >>> float(round(world_population()["world_share"].sum(), 12))
    1.0
    """
    import pandas as pd

    data = _read_yaml(WORLD_TABLE)
    rows = pd.DataFrame(data["regions"])
    world = float(data["world"]["population_thousands"])
    rows["wpp"] = rows["name"] + " (" + rows["un_code"].astype(str) + ")"
    order = list(dict.fromkeys(rows["audit_region"]))
    table = (
        rows.groupby("audit_region", sort=False)
        .agg(population_thousands=("population_thousands", "sum"), wpp_rows=("wpp", "; ".join))
        .reindex(order)
        .rename_axis("region")
        .reset_index()
    )
    table["world_share"] = table["population_thousands"] / world
    return table[["region", "population_thousands", "world_share", "wpp_rows"]]


def ancestry_mapping() -> dict[str, Any]:
    """The shipped placement rules (``ancestry_regions.yaml``): continental groups → regions,
    population codes → groups, deliberately unassigned groups, sample sets and overlaps
    (read and checked once; do not modify the returned mapping)."""
    return _checked_mapping(MAPPING_FILE, WORLD_TABLE)


@functools.cache
def _checked_mapping(mapping_file: Path, world_file: Path) -> dict[str, Any]:
    data = _read_yaml(mapping_file)
    regions = {str(r["audit_region"]) for r in _read_yaml(world_file)["regions"]}
    for group, spec in data["continental_groups"].items():
        if spec["region"] not in regions:
            raise CatalogError(
                f"{MAPPING_FILE}: continental group {group} names region {spec['region']!r}, "
                f"which is not a region of {WORLD_TABLE.name} ({sorted(regions)})"
            )
    for code, group in data.get("populations", {}).items():
        if group not in data["continental_groups"]:
            raise CatalogError(
                f"{MAPPING_FILE}: population {code} names group {group!r}, which is not one "
                f"of continental_groups ({', '.join(data['continental_groups'])})"
            )
    return data


@dataclass(frozen=True)
class Placement:
    """Where one population is counted: its continental ``group`` (or None), ``region`` (or
    ``"unassigned"``/``"unmapped"``) and ``via``, the rule that placed it."""

    group: str | None
    region: str
    via: str


def _superpopulations(catalog) -> dict[str, str]:
    """Population code → super-population, from every entry that gives one."""
    found: dict[str, str] = {}
    if catalog is None:
        return found
    for entry in catalog.cohorts:
        for pop in entry.populations:
            if pop.superpopulation:
                found.setdefault(pop.code, pop.superpopulation)
    return found


def place_population(
    code: str,
    superpopulation: str | None = None,
    *,
    catalog=None,
    unmapped: str = "error",
    where: str = "",
) -> Placement:
    """The region a population's samples are counted in (rules in ``ancestry_regions.yaml``).

    Parameters
    ----------
    code, superpopulation
        The population code and, when the cohort gives one, its super-population.
    catalog
        A loaded catalog: a code without a super-population takes the one the same code has
        in another entry (default: the packaged catalog).
    unmapped
        ``"error"``: a population no rule places is a :class:`CatalogError`;
        ``"bucket"``: it is counted in an ``unmapped`` row instead.
    where
        Words naming the entry, for the error message.

    Examples
    --------
    >>> place_population("YRI", "AFR").region
    'Sub-Saharan Africa'
    """
    data = ancestry_mapping()
    groups = data["continental_groups"]
    by_upper = {g.upper(): g for g in groups}
    if superpopulation:
        group = by_upper.get(str(superpopulation).upper())
        if group is not None:
            return Placement(group, groups[group]["region"], "super-population")
    if code in data.get("populations", {}):
        group = data["populations"][code]
        return Placement(group, groups[group]["region"], "population table")
    if code in data.get("unassigned", {}):
        return Placement(None, UNASSIGNED, data["unassigned"][code])
    if catalog is None:
        from genshare_widgets.catalog._load import load_catalog

        catalog = load_catalog()
    known = _superpopulations(catalog).get(code)
    if known and known.upper() in by_upper:
        group = by_upper[known.upper()]
        return Placement(group, groups[group]["region"], "same code elsewhere in the catalog")
    if code.upper() in by_upper:
        group = by_upper[code.upper()]
        return Placement(group, groups[group]["region"], "continental group code")
    if unmapped == "bucket":
        return Placement(None, "unmapped", "no rule places it")
    sup = f" (super-population {superpopulation!r})" if superpopulation else ""
    raise CatalogError(
        f"{where or 'representation audit'}: population {code!r}{sup} is in no world region: "
        f"add it to {MAPPING_FILE.name} (populations: CODE: GROUP, one of "
        f"{', '.join(groups)}; or unassigned: CODE: reason)"
    )


@dataclass
class RepresentationAudit:
    """Samples by population and by world region, against the world's population.

    Attributes
    ----------
    populations
        One row per population: ``cohort`` (str), ``population`` (str), ``name`` (str),
        ``group`` (continental group or None), ``region`` (str), ``via`` (str: the placing
        rule), ``n_samples`` (Int64; <NA> when the catalog does not record it),
        ``cohort_share`` (float: share of the counted samples).
    regions
        One row per region (then ``unassigned``/``unmapped`` rows when any samples are there):
        ``region``, ``world_share``, ``n_samples`` (int), ``sample_share``,
        ``representation``, ``status``, ``populations`` (str: contributing codes).
    title
        What was audited (a cohort id, or "the catalog").
    notes
        What was decided (overlaps, not counted entries, unknown counts) and the caveats.
    source
        The world table's citation record (:func:`world_source`).
    """

    populations: Any
    regions: Any
    title: str
    notes: list[str] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=world_source)

    @property
    def n_samples(self) -> int:
        """Samples counted (those with a recorded count)."""
        return int(self.regions["n_samples"].sum())

    @property
    def missing(self) -> list[str]:
        """World regions with no samples at all."""
        return list(self.regions.loc[self.regions["status"] == "missing", "region"])

    @property
    def under_represented(self) -> list[str]:
        """Regions with samples, but fewer than ``under`` times their proportional share."""
        return list(self.regions.loc[self.regions["status"] == "under", "region"])


def region_shares(populations, *, under: float = UNDER):  # -> pandas.DataFrame
    """Samples per world region from a per-population table (see :class:`RepresentationAudit`).

    ``populations`` needs ``population``, ``region`` and ``n_samples`` (rows with <NA> counts
    are left out). Every world region gets a row, with 0 samples when none is there.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"population": ["YRI"], "region": ["Sub-Saharan Africa"],
    ...                   "n_samples": [10]})
    >>> region_shares(t).set_index("region").loc["Oceania", "status"]
    'missing'
    """
    import numpy as np
    import pandas as pd

    if not 0 < under < 1:
        raise ValueError(f"under must be between 0 and 1, not {under}")
    world = world_population()
    counted = populations[populations["n_samples"].notna()]
    n = counted.groupby("region", sort=False)["n_samples"].sum().astype("int64")
    codes = counted.groupby("region", sort=False)["population"].agg(
        lambda s: ", ".join(dict.fromkeys(str(c) for c in s))
    )
    extra = [r for r in n.index if r not in set(world["region"])]
    table = pd.concat(
        [world[["region", "world_share"]], pd.DataFrame({"region": extra, "world_share": np.nan})],
        ignore_index=True,
    )
    table["n_samples"] = table["region"].map(n).fillna(0).astype("int64")
    total = int(table["n_samples"].sum())
    table["sample_share"] = table["n_samples"] / total if total else 0.0
    table["representation"] = table["sample_share"] / table["world_share"]
    status = np.where(
        table["n_samples"] == 0,
        "missing",
        np.where(
            table["representation"] < under,
            "under",
            np.where(table["representation"] > 1 / under, "over", "proportional"),
        ),
    )
    table["status"] = np.where(table["world_share"].isna(), "no region", status)
    table["populations"] = table["region"].map(codes).fillna("")
    return table


def _entry_rows(entry, *, catalog, unmapped: str) -> list[dict[str, Any]]:
    rows = []
    for pop in entry.populations:
        place = place_population(
            pop.code,
            pop.superpopulation,
            catalog=catalog,
            unmapped=unmapped,
            where=f"catalog entry {entry.id!r}",
        )
        rows.append(
            {
                "cohort": entry.id,
                "population": pop.code,
                "name": pop.name or "",
                "group": place.group,
                "region": place.region,
                "via": place.via,
                "n_samples": pop.n_samples,
            }
        )
    return rows


def _population_frame(rows: Iterable[Mapping[str, Any]]):
    import pandas as pd

    columns = ["cohort", "population", "name", "group", "region", "via", "n_samples"]
    table = pd.DataFrame(list(rows), columns=columns)
    table["n_samples"] = table["n_samples"].astype("Int64")
    total = table["n_samples"].sum()
    table["cohort_share"] = (table["n_samples"] / total).astype("Float64") if total else 0.0
    return table


def cohort_audit(
    entry, *, catalog=None, unmapped: str = "error", under: float = UNDER
) -> RepresentationAudit:
    """The audit of one catalog entry from its populations' recorded sample counts.

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> cohort_audit(get_entry("1kg-phase3")).missing
    ['Northern Africa and Western Asia', 'Oceania']
    """
    if isinstance(entry, str):
        from genshare_widgets.catalog._load import get_entry

        entry = get_entry(entry, catalog=catalog)
    pops = _population_frame(_entry_rows(entry, catalog=catalog, unmapped=unmapped))
    notes = []
    unknown = pops.loc[pops["n_samples"].isna(), "population"].tolist()
    if unknown:
        notes.append(
            f"{len(unknown)} of {len(pops)} populations have no recorded sample count "
            f"({', '.join(unknown[:8])}{'…' if len(unknown) > 8 else ''}): not counted"
        )
    if entry.kind == "simulated":
        notes.append("simulated cohort: no participants (the labels are the model's)")
    notes.append(CAVEAT)
    return RepresentationAudit(
        populations=pops,
        regions=region_shares(pops, under=under),
        title=entry.id,
        notes=notes,
    )


def populations_audit(
    counts: Mapping[str, int],
    *,
    superpopulations: Mapping[str, str | None] | None = None,
    names: Mapping[str, str] | None = None,
    title: str = "cohort",
    catalog=None,
    unmapped: str = "bucket",
    under: float = UNDER,
) -> RepresentationAudit:
    """The audit of samples per population given directly (an opened cohort's sample table,
    after withdrawals and ``--samples``). A population no rule places is counted ``unmapped``
    by default (a user's own labels), or refused with ``unmapped="error"``.

    Examples
    --------
    >>> populations_audit({"YRI": 50, "CEU": 50}).under_represented
    []
    """
    sup = dict(superpopulations or {})
    rows = []
    for code, n in counts.items():
        place = place_population(
            str(code), sup.get(code), catalog=catalog, unmapped=unmapped, where=title
        )
        rows.append(
            {
                "cohort": title,
                "population": str(code),
                "name": (names or {}).get(code, ""),
                "group": place.group,
                "region": place.region,
                "via": place.via,
                "n_samples": int(n),
            }
        )
    pops = _population_frame(rows)
    return RepresentationAudit(
        populations=pops, regions=region_shares(pops, under=under), title=title, notes=[CAVEAT]
    )


def _set_rows(entries: list, set_id: str, *, catalog) -> tuple[list[dict[str, Any]], list[str]]:
    """The people of a sample set counted once (rule in ``ancestry_regions.yaml``)."""
    largest: dict[str, dict[str, Any]] = {}
    for entry in entries:
        for row in _entry_rows(entry, catalog=catalog, unmapped="error"):
            if row["n_samples"] is None:
                largest.setdefault(row["population"], {**row, "n_samples": None})
                continue
            known = largest.get(row["population"])
            if known is None or known["n_samples"] is None or row["n_samples"] > known["n_samples"]:
                largest[row["population"]] = row
    rows = [{**r, "cohort": set_id} for r in largest.values()]
    counted = sum(r["n_samples"] or 0 for r in rows)
    biggest = max((e.n_samples or 0 for e in entries), default=0)
    notes = []
    if biggest > counted:
        rows.append(
            {
                "cohort": set_id,
                "population": "(population not recorded)",
                "name": "",
                "group": None,
                "region": UNASSIGNED,
                "via": "the largest entry's n_samples exceeds its recorded populations",
                "n_samples": biggest - counted,
            }
        )
        notes.append(
            f"{set_id}: {biggest - counted:,} of {biggest:,} people have no recorded "
            "population (counted as unassigned)"
        )
    return rows, notes


def catalog_audit(catalog=None, *, under: float = UNDER) -> RepresentationAudit:
    """The catalog-wide audit: every real person once, whichever entries hold them.

    Simulated entries are left out (no participants). Entries listed together in a sample
    set of ``ancestry_regions.yaml`` are counted once (per population, the largest recorded
    count); documented overlaps between sets are subtracted; entries with no recorded
    population counts are left out and named in ``notes``.

    Examples
    --------
    >>> audit = catalog_audit()
    >>> "Oceania" in audit.missing  # HGDP's Oceanians have no recorded count in the catalog
    True
    """
    from genshare_widgets.catalog._load import load_catalog

    cat = catalog if catalog is not None else load_catalog()
    data = ancestry_mapping()
    by_id = {e.id: e for e in cat.cohorts}
    member_of = {eid: s["id"] for s in data.get("sample_sets", []) for eid in s["entries"]}
    groups: dict[str, list] = {}
    notes: list[str] = []
    for entry in cat.cohorts:
        if entry.kind == "simulated":
            continue
        groups.setdefault(member_of.get(entry.id, entry.id), []).append(entry)
    rows: list[dict[str, Any]] = []
    for set_id, entries in groups.items():
        if all(p.n_samples is None for e in entries for p in e.populations):
            notes.append(
                f"{set_id}: not counted, the catalog records no per-population sample counts"
            )
            continue
        set_rows, set_notes = _set_rows(entries, set_id, catalog=cat)
        rows += set_rows
        notes += set_notes
        if len(entries) > 1:
            notes.append(f"{set_id}: {', '.join(e.id for e in entries)} counted once")
    for overlap in data.get("overlaps", []):
        if overlap["set"] not in groups or overlap["counted_in"] not in groups:
            continue
        for row in rows:
            if row["cohort"] == overlap["set"] and row["population"] in overlap["populations"]:
                row["n_samples"] -= int(overlap["populations"][row["population"]])
        shared = sum(int(n) for n in overlap["populations"].values())
        notes.append(
            f"{overlap['set']}: {shared:,} people already counted in {overlap['counted_in']} "
            f"left out; {' '.join(overlap['caveat'].split())}"
        )
    for item in data.get("uncounted_overlaps", []):
        if all(e in groups for e in item["entries"]):
            notes.append(" ".join(item["note"].split()))
    notes.append("simulated entries are not counted (no participants)")
    notes.append(CAVEAT)
    unknown = sorted({eid for eid in member_of if eid not in by_id})
    if unknown:
        raise CatalogError(
            f"{MAPPING_FILE.name}: sample_sets name {unknown}, which are not catalog entries"
        )
    pops = _population_frame(rows)
    return RepresentationAudit(
        populations=pops,
        regions=region_shares(pops, under=under),
        title="the catalog",
        notes=notes,
    )


def audit_table(audit: RepresentationAudit):  # -> pandas.DataFrame
    """The region table as written by ``genshare catalog audit --out FILE.tsv``: ``region
    world_population world_share n_samples sample_share representation status populations``
    (world_population in people, shares as fractions)."""
    world = world_population().set_index("region")["population_thousands"]
    table = audit.regions.copy()
    table.insert(1, "world_population", (table["region"].map(world) * 1000).round().astype("Int64"))
    return table
