"""The analysis gate: consent codes refuse ancestry comparisons on the entries that forbid them.

Every per-group statistic, figure and widget goes through
:func:`~genshare_widgets.counts.allele_counts_by_group`, which calls :func:`check_grouping`;
a grouping is an ancestry comparison when it names the population columns, when two groups
share no population, or when a group is made mostly of one population
(:func:`population_dominated_groups`). Every PCA goes through :func:`check_pca`, which
refuses PCA outright (labelled or not) under such codes: unlabelled per-sample coordinates
are one join away from the population labels. A store path is tied to its catalog entry by
:func:`governing_entry`, so a gated entry's store is gated too. See
:mod:`genshare_widgets.disclosure._consent` for the matching rules.
"""

from pathlib import Path

from genshare_widgets._sample_tables import read_sample_table
from genshare_widgets.catalog._duo import forbids_ancestry_research
from genshare_widgets.disclosure._purpose import PURPOSE_ENV, AnalysisRefused


def _entry_table_populations(entry) -> "dict[str, str] | None":
    """Sample id → population from the entry's own sample table (not a user's --samples)."""
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
    table = read_sample_table(path, entry.samples)
    return {str(k): str(v) for k, v in table["population"].dropna().items()}


def _reference_populations(cohort) -> list[str | None]:
    """Each genotyped sample's population as the catalog records it (None where unknown)."""
    known = _entry_table_populations(cohort.entry) or {}
    if not known and "population" in cohort.samples.columns:
        known = {str(k): str(v) for k, v in cohort.samples["population"].dropna().items()}
    return [known.get(str(s)) for s in cohort.samples.index]


#: A group is a population group when more than this share of its samples come from one
#: labelled population ...
MAJORITY_SHARE = 0.5
#: ... and that share exceeds the population's share of the whole cohort by at least this much
#: (so that a split cutting across populations, e.g. by sex on a cohort where one population is
#: the majority, is not one).
ENRICHMENT_MARGIN = 0.15


def population_dominated_groups(cohort, codes) -> list[tuple[int, str, float]]:
    """Groups (of two samples or more) made mostly of one labelled population.

    → ``[(group code, population, share), ...]`` for every group whose largest population
    makes up more than :data:`MAJORITY_SHARE` of its labelled samples and exceeds that
    population's share of the cohort by :data:`ENRICHMENT_MARGIN` or more. A group listing
    one population only, or 98 samples of one population plus one of each other, is one; the
    whole cohort (a single group of everyone) never is.
    """
    import numpy as np

    codes = np.asarray(codes)
    pops = _reference_populations(cohort)
    labels = sorted({p for p in pops if p is not None})
    if len(labels) < 2 or not len(codes) or codes.max() < 0:
        return []
    pop_index = {p: i for i, p in enumerate(labels)}
    pop_codes = np.array([pop_index[p] if p is not None else -1 for p in pops])
    use = (codes >= 0) & (pop_codes >= 0)
    table = np.zeros((int(codes.max()) + 1, len(labels)), dtype=np.int64)
    np.add.at(table, (codes[use], pop_codes[use]), 1)
    cohort_share = np.bincount(pop_codes[pop_codes >= 0], minlength=len(labels)) / max(
        1, int((pop_codes >= 0).sum())
    )
    found = []
    for g, row in enumerate(table):
        n = int(row.sum())
        if n < 2:
            continue
        top = int(row.argmax())
        share = row[top] / n
        if share > MAJORITY_SHARE and share >= cohort_share[top] + ENRICHMENT_MARGIN:
            found.append((g, labels[top], float(share)))
    return found


def _names_population_column(cohort, by) -> bool:
    """True when ``by`` names the population or super-population column (the canonical
    names or the catalog entry's own)."""
    entry = cohort.entry
    spec = entry.samples if entry is not None else None
    names = {"population", "superpopulation"}
    if spec is not None:
        names |= {spec.population_column, spec.superpopulation_column or "population"}
    return isinstance(by, str) and by in names


def is_ancestry_grouping(cohort, by, *, codes=None) -> bool:
    """True when grouping ``cohort`` by ``by`` compares populations (an ancestry comparison).

    That is the case when ``by`` names the population or super-population column; when two
    groups (of two samples or more) share no population of the catalog's own sample table, so
    that a renamed or coarsened copy of the population column (``--samples``) counts too; and
    when any group is made mostly of one labelled population
    (:func:`population_dominated_groups`: a table listing one population only, or groups of
    98 samples of one population plus one of each other). A split that cuts across
    populations (case/control, sex, a phenotype) does not; neither does the whole cohort as
    one group (e.g. for totals).

    Examples
    --------
    >>> is_ancestry_grouping(open_cohort("sim-ooa"), "superpopulation")  # doctest: +SKIP
    True
    """
    if _names_population_column(cohort, by):
        return True
    if codes is None:
        from genshare_widgets._selection import resolve_groups

        codes = resolve_groups(cohort.samples, by)[0]
    return _groups_compare_populations(cohort, codes)


def _groups_compare_populations(cohort, codes) -> bool:
    """The part of :func:`is_ancestry_grouping` that reads resolved group codes only."""
    import numpy as np

    codes = np.asarray(codes)
    if population_dominated_groups(cohort, codes):
        return True
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


def _check_purpose(cohort, analysis: str) -> None:
    """Refuse every analysis when the declared purpose did not match the entry's codes."""
    access = cohort.provenance.get("access") or {}
    if access and not access.get("allowed", True):
        declared = access.get("purpose")
        said = (
            f"the declared purpose {declared!r} is not permitted"
            if declared
            else "its terms refuse use with no declared purpose"
        )
        raise AnalysisRefused(
            f"cohort {cohort.entry.id!r} refuses {analysis}: {said} — "
            + "; ".join(access["reasons"])
            + f". Declare a permitted purpose ({PURPOSE_ENV} or --purpose)."
        )


def check_use(cohort, analysis: str) -> None:
    """Refuse (:class:`AnalysisRefused`) any use of a catalog cohort whose terms refused the
    session at open: a purpose the DUO codes do not permit, an expired time limit (TS), a
    location outside a geographic restriction (GS), a Local Contexts label (a commercial
    purpose, no community approval). Cohorts outside the catalog are never refused.

    Examples
    --------
    >>> check_use(open_cohort("sim-ooa"), "a figure")  # doctest: +SKIP
    """
    if cohort.entry is not None:
        _check_purpose(cohort, analysis)


def check_grouping(
    cohort, by, *, codes=None, selection=None, analysis: str = "a per-group analysis"
) -> None:
    """Refuse (:class:`AnalysisRefused`) a grouping the cohort's consent does not permit.

    Refused: any analysis when the declared purpose did not match the entry's codes (recorded
    at open in ``cohort.provenance["access"]``), and an ancestry grouping
    (:func:`is_ancestry_grouping`) of an entry whose codes forbid population-origins or
    ancestry research. Cohorts outside the catalog (the user's own files) are never refused.

    The grouping is ``by`` resolved against ``cohort.samples``
    (:func:`genshare_widgets._selection.resolve_groups`), or the group codes of a
    :class:`~genshare_widgets._selection.Selection` already built for the run (``selection``).

    Examples
    --------
    >>> check_grouping(open_cohort("sim-ooa-npoa"), "population")  # doctest: +SKIP
    Traceback (most recent call last):
    AnalysisRefused: cohort 'sim-ooa-npoa' refuses per-population frequencies, Fst ...
    """
    entry = cohort.entry
    if entry is None:
        return
    _check_purpose(cohort, analysis)
    why = forbids_ancestry_research(list(entry.duo))
    if why is None:
        return
    label = by if isinstance(by, str) else "the given grouping"
    # ``by`` is read here, then resolved once (down in _selection) unless the caller gave the
    # codes or a Selection; the rest of the check reads the resolved codes only.
    named = _names_population_column(cohort, by)
    canonical = isinstance(by, str) and by in {"population", "superpopulation"}
    names: list[str] | None = None  # set when the refusal may name a dominated group
    if codes is None and selection is not None:
        codes, names = selection.codes, None if canonical else list(selection.names)
    elif codes is None and not canonical:
        from genshare_widgets._selection import resolve_groups

        codes, names, _ = resolve_groups(cohort.samples, by)
    if named or _groups_compare_populations(cohort, codes):
        detail = ""
        if names is not None:
            dominated = population_dominated_groups(cohort, codes)
            if dominated:
                g, pop, share = dominated[0]
                detail = (
                    f" (group {names[g]!r} is {100 * share:.0f} % {pop}: a group made mostly "
                    "of one population counts as that population)"
                )
        raise AnalysisRefused(
            f"cohort {entry.id!r} refuses per-population frequencies, Fst and PCA by "
            f"population: {why}. Grouping by {label!r} compares populations (ancestry)"
            f"{detail}. Group by a column that cuts across populations instead (e.g. a "
            "phenotype or case/control split)."
        )


def check_pca(cohort) -> None:
    """Refuse (:class:`AnalysisRefused`) any PCA of a cohort whose codes forbid ancestry research.

    Principal components of genotypes are ancestry axes, and per-sample coordinates carry
    sample ids that join to any population table (the catalog's own is public): an
    "unlabelled" PCA would put population labels one join away. So under NPOA (or HMB/DS
    without POA/GRU/NRES) no PCA is computed at all, labelled or not, and no centroids either.
    Cohorts outside the catalog are never refused.

    Examples
    --------
    >>> check_pca(open_cohort("sim-ooa-npoa"))  # doctest: +SKIP
    Traceback (most recent call last):
    AnalysisRefused: cohort 'sim-ooa-npoa' refuses PCA: ...
    """
    entry = cohort.entry
    if entry is None:
        return
    _check_purpose(cohort, "PCA")
    why = forbids_ancestry_research(list(entry.duo))
    if why is not None:
        raise AnalysisRefused(
            f"cohort {entry.id!r} refuses PCA, with or without population labels: {why}. "
            "Principal components of genotypes are ancestry axes, and per-sample coordinates "
            "join to the population labels by sample id. Use a cohort whose consent permits "
            "population-origins research (GRU, or POA)."
        )


def check_projection(cohort) -> None:
    """Refuse (:class:`AnalysisRefused`) projecting a cohort onto a reference PCA, and
    assigning its samples to reference populations, where its codes forbid ancestry research
    (NPOA; HMB or DS without POA/GRU/NRES), quoting the code. Cohorts outside the catalog
    are never refused.

    Examples
    --------
    >>> check_projection(open_cohort("sim-ooa-npoa"))  # doctest: +SKIP
    Traceback (most recent call last):
    AnalysisRefused: cohort 'sim-ooa-npoa' refuses projection onto a reference PCA ...
    """
    entry = cohort.entry
    if entry is None:
        return
    _check_purpose(cohort, "projection onto a reference PCA")
    why = forbids_ancestry_research(list(entry.duo))
    if why is not None:
        raise AnalysisRefused(
            f"cohort {entry.id!r} refuses projection onto a reference PCA and ancestry "
            f"assignment: {why}. Placing samples among reference populations is "
            "population-origins (ancestry) research. Use a cohort whose consent permits it "
            "(GRU, or POA)."
        )


def freely_usable(entry) -> bool:
    """True for an open entry whose codes permit every analysis (no gate applies)."""
    return entry.access == "open" and forbids_ancestry_research(list(entry.duo)) is None


def _store_owners(store: Path) -> list:
    """The catalog entries a store folder was converted from: the entry its provenance names,
    and every simulated entry whose recipe makes the same store."""
    import json as _json

    from genshare_widgets.catalog import load_catalog
    from genshare_widgets.engines._store import store_key, store_provenance

    record = store_provenance(Path(store))
    source, key = record.get("source"), record.get("key")
    if not isinstance(source, str):
        return []
    catalog = load_catalog()
    owners = [e for e in catalog.cohorts if e.id == source]
    if not owners:
        return []
    zarray = Path(store) / "call_genotype" / ".zarray"
    if key and zarray.is_file():
        from genshare_widgets.simulate import recipe_key

        chunks = _json.loads(zarray.read_text())["chunks"][0]
        for e in catalog.cohorts:
            if e.simulation is None or e in owners:
                continue
            if store_key({"simulated": recipe_key(e.simulation), "chunks": chunks}) == key:
                owners.append(e)
    return owners


def governing_entry(store: Path):
    """The catalog entry whose terms govern a store folder opened by its path, or None.

    A store converted from a catalog entry keeps that entry's terms (its provenance names
    the entry). Simulated entries with the same recipe share one store: it is ungoverned
    when any entry that produces it is :func:`freely_usable` (the same genotypes are open).
    """
    owners = _store_owners(store)
    if not owners or any(freely_usable(e) for e in owners):
        return None
    return owners[0]


def withdrawal_entry(store: Path):
    """The catalog entry whose withdrawal list applies to a store folder opened by its path
    (dynamic consent holds on every tier, open included), or None.

    The entry the store was converted from, when it names a withdrawal list; None when the
    store is shared with another entry that names none and whose genotypes are freely usable
    (the same people are then open without the list: a simulated teaching twin).
    """
    owners = _store_owners(store)
    listed = [e for e in owners if getattr(e, "withdrawals", None) is not None]
    if not listed:
        return None
    if any(freely_usable(e) and e not in listed for e in owners):
        return None
    return listed[0]


#: The purposes under which a per-variant association with a trait is in scope: health,
#: medical or biomedical research (HMB), general research (GRU, which includes it), research
#: on a named disease (DS) and methods development (MDS). Population origins/ancestry (POA) is
#: another purpose.
_ASSOCIATION_PURPOSES = {"GRU", "HMB", "DS", "MDS"}


def check_association(cohort, *, trait: str) -> None:
    """Refuse (:class:`AnalysisRefused`) a genotype–trait association the consent does not cover.

    Association testing is health/medical/biomedical research: permitted under NRES, GRU and
    HMB; under DS (disease-specific, DUO:0000007) only for a declared purpose ``DS`` naming the
    entry's disease (the trait is then taken to be that disease's); refused under POA alone.
    A declared purpose of population origins (POA) does not cover it either. Cohorts outside
    the catalog (the user's own files) are never refused. Principal components used as
    covariates (``pcs=N``) adjust for ancestry and release nothing about it, so NPOA does not
    refuse them here.
    """
    from genshare_widgets.disclosure._consent import _code, _codes
    from genshare_widgets.disclosure._purpose import parse_purpose

    entry = cohort.entry
    if entry is None:
        return
    _check_purpose(cohort, f"an association test of {trait!r}")
    access = cohort.provenance.get("access") or {}
    declared = access.get("purpose")
    purpose = parse_purpose(declared) if declared else None
    codes = _codes(entry)
    where = f"cohort {entry.id!r} refuses an association test of {trait!r}: "
    if purpose is not None and purpose.primary not in _ASSOCIATION_PURPOSES:
        raise AnalysisRefused(
            where + f"association with a trait is health research, and the declared purpose "
            f"is {purpose.primary} (population origins or ancestry). Declare HMB, GRU or "
            "DS:<disease> (--purpose or GENSHARE_PURPOSE) if that is your research."
        )
    if codes & {"NRES", "GRU", "HMB"}:
        return
    if "DS" in codes:
        if purpose is not None and purpose.primary == "DS" and purpose.disease == entry.duo_disease:
            return
        raise AnalysisRefused(
            where
            + f"{_code('DS')}: use must be related to {entry.duo_disease}, and "
            + (
                f"the declared purpose is {purpose.to_text()}"
                if purpose is not None
                else "no purpose naming that disease was declared"
            )
            + f". Declare DS:{entry.duo_disease} if the trait is that disease."
        )
    raise AnalysisRefused(
        where
        + "its consent codes ("
        + ", ".join(sorted(_code(c) for c in codes))
        + ") do not cover health research: association with a trait needs NRES, GRU, HMB or "
        "DS for that disease."
    )
