"""The analysis gate: consent codes refuse ancestry comparisons on the entries that forbid them.

Every per-group statistic, figure and widget goes through
:func:`~genshare_widgets.counts.allele_counts_by_group`, and PCA labels through
:func:`~genshare_widgets.samples.pca`; both call :func:`check_grouping`. The CLI's direct
counting path (``_stats_direct``) steps aside for stores :func:`governing_entry` ties to a
gated entry. See :mod:`genshare_widgets.disclosure._consent` for the matching rules.
"""

from pathlib import Path

from genshare_widgets.catalog._duo import forbids_ancestry_research
from genshare_widgets.disclosure._consent import PURPOSE_ENV, AnalysisRefused


def _entry_table_populations(entry) -> "dict[str, str] | None":
    """Sample id → population from the entry's own sample table (not a user's --samples)."""
    from genshare_widgets.cohort import _read_sample_table

    if entry.samples is None:
        return None
    if entry.kind == "simulated":
        from genshare_widgets.simulate import build_simulated_cohort

        path = build_simulated_cohort(entry)[1]
    elif entry.samples.file is not None:
        from genshare_widgets.fetch import fetch_file

        spec = next(f for f in entry.files if f.name == entry.samples.file)
        path = fetch_file(spec, cohort_id=entry.id)
    else:
        return None
    table = _read_sample_table(path, entry.samples)
    return {str(k): str(v) for k, v in table["population"].dropna().items()}


def _reference_populations(cohort) -> list[str | None]:
    """Each genotyped sample's population as the catalog records it (None where unknown)."""
    known = _entry_table_populations(cohort.entry) or {}
    if not known and "population" in cohort.samples.columns:
        known = {str(k): str(v) for k, v in cohort.samples["population"].dropna().items()}
    return [known.get(str(s)) for s in cohort.samples.index]


def is_ancestry_grouping(cohort, by, *, codes=None) -> bool:
    """True when grouping ``cohort`` by ``by`` compares populations (an ancestry comparison).

    That is the case when ``by`` names the population or super-population column, or when
    two groups (of two samples or more) share no population of the catalog's own sample
    table, so that a renamed or coarsened copy of the population column (``--samples``)
    counts too. A split that cuts across populations (case/control, sex, a phenotype) does
    not; neither does a single group (e.g. the whole cohort for an unlabelled PCA).

    Examples
    --------
    >>> is_ancestry_grouping(open_cohort("sim-ooa"), "superpopulation")  # doctest: +SKIP
    True
    """
    import numpy as np

    entry = cohort.entry
    spec = entry.samples if entry is not None else None
    names = {"population", "superpopulation"}
    if spec is not None:
        names |= {spec.population_column, spec.superpopulation_column or "population"}
    if isinstance(by, str) and by in names:
        return True
    if codes is None:
        from genshare_widgets.counts import resolve_groups

        codes = resolve_groups(cohort.samples, by)[0]
    codes = np.asarray(codes)
    pops = _reference_populations(cohort)
    labels = sorted({p for p in pops if p is not None})
    if len(labels) < 2:
        return False
    pop_index = {p: i for i, p in enumerate(labels)}
    pop_codes = np.array([pop_index[p] if p is not None else -1 for p in pops])
    use = (codes >= 0) & (pop_codes >= 0)
    n_groups = int(codes.max()) + 1 if len(codes) and codes.max() >= 0 else 0
    table = np.zeros((n_groups, len(labels)), dtype=np.int64)
    np.add.at(table, (codes[use], pop_codes[use]), 1)
    table = table[table.sum(axis=1) >= 2] > 0  # groups of two samples or more
    if len(table) < 2:
        return False
    shared = table.astype(np.int64) @ table.T.astype(np.int64)
    np.fill_diagonal(shared, 1)
    return bool((shared == 0).any())


def check_grouping(cohort, by, *, codes=None, analysis: str = "a per-group analysis") -> None:
    """Refuse (:class:`AnalysisRefused`) a grouping the cohort's consent does not permit.

    Refused: any analysis when the declared purpose did not match the entry's codes (recorded
    at open in ``cohort.provenance["access"]``), and an ancestry grouping
    (:func:`is_ancestry_grouping`) of an entry whose codes forbid population-origins or
    ancestry research. Cohorts outside the catalog (the user's own files) are never refused.

    Examples
    --------
    >>> check_grouping(open_cohort("sim-ooa-npoa"), "population")  # doctest: +SKIP
    Traceback (most recent call last):
    AnalysisRefused: cohort 'sim-ooa-npoa' refuses per-population frequencies, Fst ...
    """
    entry = cohort.entry
    if entry is None:
        return
    access = cohort.provenance.get("access") or {}
    if access and not access.get("allowed", True):
        raise AnalysisRefused(
            f"cohort {entry.id!r} refuses {analysis}: the declared purpose "
            f"{access.get('purpose')!r} is not permitted — "
            + "; ".join(access["reasons"])
            + f". Declare a permitted purpose ({PURPOSE_ENV} or --purpose)."
        )
    why = forbids_ancestry_research(list(entry.duo))
    if why is None:
        return
    label = by if isinstance(by, str) else "the given grouping"
    if is_ancestry_grouping(cohort, by, codes=codes):
        raise AnalysisRefused(
            f"cohort {entry.id!r} refuses per-population frequencies, Fst and PCA by "
            f"population: {why}. Grouping by {label!r} compares populations (ancestry). "
            "Group by a column that cuts across populations instead (e.g. a phenotype or "
            "case/control split), or run PCA without population labels."
        )


def freely_usable(entry) -> bool:
    """True for an open entry whose codes permit every analysis (no gate applies)."""
    return entry.access == "open" and forbids_ancestry_research(list(entry.duo)) is None


def governing_entry(store: Path):
    """The catalog entry whose terms govern a store folder opened by its path, or None.

    A store converted from a catalog entry keeps that entry's terms (its provenance names
    the entry). Simulated entries with the same recipe share one store: it is ungoverned
    when any entry that produces it is :func:`freely_usable` (the same genotypes are open).
    """
    import json as _json

    from genshare_widgets.catalog import load_catalog
    from genshare_widgets.engines._store import store_key, store_provenance

    record = store_provenance(Path(store))
    source, key = record.get("source"), record.get("key")
    if not isinstance(source, str):
        return None
    catalog = load_catalog()
    owners = [e for e in catalog.cohorts if e.id == source]
    if not owners:
        return None
    zarray = Path(store) / "call_genotype" / ".zarray"
    if key and zarray.is_file():
        from genshare_widgets.simulate import recipe_key

        chunks = _json.loads(zarray.read_text())["chunks"][0]
        for e in catalog.cohorts:
            if e.simulation is None or e in owners:
                continue
            if store_key({"simulated": recipe_key(e.simulation), "chunks": chunks}) == key:
                owners.append(e)
    if any(freely_usable(e) for e in owners):
        return None
    return owners[0]
