"""Group colours of a cohort: the one mapping every figure of that cohort shares."""

from genshare_widgets.plots._colors import group_colors


def superpopulations_of(cohort, *, by: str = "population") -> dict[str, str]:
    """group → super-population, from the sample table's ``superpopulation`` column, else from
    the catalog entry's populations (simulated cohorts have it only there)."""
    out: dict[str, str] = {}
    samples = cohort.samples
    if by in samples.columns and "superpopulation" in samples.columns and by != "superpopulation":
        pairs = samples[[by, "superpopulation"]].dropna().drop_duplicates()
        for group, sup in zip(pairs[by], pairs["superpopulation"], strict=True):
            out.setdefault(str(group), str(sup))
    if not out and by == "population" and cohort.entry is not None:
        out = {p.code: p.superpopulation for p in cohort.entry.populations if p.superpopulation}
    return out


def cohort_colors(cohort, *, by: str = "population") -> dict[str, str]:
    """The colours of the groups of ``by`` in ``cohort`` (see :func:`group_colors`).

    Examples
    --------
    >>> cohort_colors(open_cohort("sim-ooa"))  # doctest: +SKIP
    {'CEU': '#0072B2', 'CHB': '#009E73', 'YRI': '#E69F00'}
    """
    if by not in cohort.samples.columns:
        return {}
    groups = [str(g) for g in cohort.samples[by].dropna().unique()]
    return group_colors(groups, superpopulation_of=superpopulations_of(cohort, by=by))
