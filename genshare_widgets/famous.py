"""Famous variants: the curated panel's sites in a cohort, their frequencies by group beside
the published ones (counts → release door → table → figure).

The panel (:func:`~genshare_widgets.catalog._famous.load_famous_panel`) gives each site's
GRCh37/GRCh38 position, REF/ALT on the forward strand and the allele of interest. A site is in
a cohort when a record of the cohort's counts has its position on the cohort's build (the
catalog entry's ``genome_build``; for a plain file both builds are tried), its REF and its ALT
(multi-allelic records are split per ALT, as ``bcftools norm -m-`` does, so the curated ALT is
matched among them). The frequency reported is that of the allele of interest: the ALT
frequency, or, where the allele of interest is the REF (SLC24A5 rs1426654 A), the REF
frequency ``(AN - sum of AC over every ALT of the site) / AN``.

Every count comes from :func:`genshare_widgets.disclosure.release_counts` under the cohort's
policy: under a registered or controlled tier a count in 1..k-1 is shown as ``<k`` and no
frequency is drawn from it.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError
from genshare_widgets.catalog._famous import (
    FamousPanel,
    FamousVariant,
    load_famous_panel,
    normalise_build,
)

#: Columns of :func:`famous_table` (one row per variant and group; one row per variant not in
#: the cohort, with an empty group).
COLUMNS = [
    "rsid",
    "gene",
    "name",
    "allele",
    "in_cohort",
    "contig",
    "position",
    "ref",
    "alt",
    "group",
    "allele_count",
    "allele_number",
    "frequency",
    "published_frequency",
    "published_source",
    "note",
]


def _bare(contig: str) -> str:
    return str(contig).lower().removeprefix("chr")


def cohort_build(cohort) -> str | None:
    """The cohort's genome build (GRCh37/GRCh38) from its catalog entry, or None."""
    entry = getattr(cohort, "entry", None)
    return normalise_build(entry.genome_build) if entry is not None else None


def locate(counts, variant: FamousVariant, builds: list[str]) -> tuple[str, list[int]] | None:
    """(build, rows) of ``variant`` in ``counts``: the row whose ALT is the curated ALT first,
    then every other split record of the same site (same position and REF). None when the
    cohort has no record with the curated position, REF and ALT on any of ``builds``."""
    contigs = np.array([_bare(c) for c in counts["variant_contig"].values.astype(str)])
    positions = counts["variant_position"].values
    refs = counts["variant_ref"].values.astype(str)
    alts = counts["variant_alt"].values.astype(str)
    for build in builds:
        pos = variant.position(build)
        if pos is None:
            continue
        site = np.flatnonzero(
            (contigs == _bare(variant.chrom)) & (positions == pos) & (refs == variant.ref)
        )
        hit = [int(r) for r in site if alts[r] == variant.alt]
        if hit:
            return build, hit + [int(r) for r in site if alts[r] != variant.alt]
    return None


def _status(counts, name: str, row: int, col: int) -> int:
    key = f"{name}_status"
    return int(counts[key].values[row, col]) if key in counts else 0


def famous_table(
    released, *, panel: FamousPanel | None = None, build: str | None = None
) -> pd.DataFrame:
    """The panel's variants in released counts: one row per variant and group, with the
    allele of interest's count and frequency and the published value for that group.

    Parameters
    ----------
    released
        Counts as the release door let them out
        (:func:`genshare_widgets.disclosure.release_counts`; plain counts are taken as
        released under no policy).
    panel
        The famous-variants panel (default: the packaged one).
    build
        The counts' genome build (``GRCh37``/``GRCh38``); None tries both.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`. ``allele_count``/``allele_number`` hold the number, or
        ``<k`` (suppressed) or ``NA`` (withheld); ``frequency`` is NaN where not released.
        A variant not in the cohort has one row, ``in_cohort`` False, an empty ``group`` and
        a ``note`` saying why.

    Examples
    --------
    >>> famous_table(released, build="GRCh37").query("rsid == 'rs3827760'")  # doctest: +SKIP
    """
    panel = panel or load_famous_panel()
    key = normalise_build(build)
    builds: list[str] = [key] if key else ["GRCh37", "GRCh38"]
    groups = [str(g) for g in released["groups"].values]
    marker = f"<{released.attrs.get('min_count', '')}"
    ac_all = released["allele_count"].values.astype(np.int64)
    an_all = released["allele_number"].values.astype(np.int64)
    usable_all = (
        released["allele_usable"].values
        if "allele_usable" in released
        else np.ones(ac_all.shape, dtype=bool)
    )
    rows: list[dict[str, Any]] = []
    for variant in panel.variants:
        published = {p.compare_group: p for p in variant.published}
        found = locate(released, variant, builds)
        base = {
            "rsid": variant.rsid,
            "gene": variant.gene,
            "name": variant.name,
            "allele": variant.allele_of_interest,
        }
        if found is None:
            where = ", ".join(
                f"{b} {variant.chrom}:{variant.position(b):,}"
                if variant.position(b)
                else f"{b}: position not verified"
                for b in builds
            )
            rows.append(
                {
                    **base,
                    "in_cohort": False,
                    "contig": variant.chrom,
                    "position": variant.position(builds[0]),
                    "ref": variant.ref,
                    "alt": variant.alt,
                    "group": "",
                    "allele_count": "",
                    "allele_number": "",
                    "frequency": np.nan,
                    "published_frequency": np.nan,
                    "published_source": "",
                    "note": f"not in this cohort (no {variant.ref}>{variant.alt} record at "
                    f"{where})",
                }
            )
            continue
        used, site = found
        row = site[0]
        for j, group in enumerate(groups):
            an = int(an_all[row, j])
            an_ok = _status(released, "allele_number", row, j) == 0
            if variant.interest_is_ref:  # REF = AN - every ALT of the site
                ok = an_ok and all(
                    _status(released, "allele_count", r, j) == 0 and bool(usable_all[r, j])
                    for r in site
                )
                count = an - int(sum(ac_all[r, j] for r in site))
            else:
                ok = _status(released, "allele_count", row, j) == 0 and bool(usable_all[row, j])
                count = int(ac_all[row, j])
            # each cell as freq.tsv writes it: "<k" suppressed, "NA" withheld; the REF count
            # of interest is hidden as the most hidden of AN and the site's AC
            an_status = _status(released, "allele_number", row, j)
            if variant.interest_is_ref:
                status = max([an_status] + [_status(released, "allele_count", r, j) for r in site])
            else:
                status = _status(released, "allele_count", row, j)
            shown = "NA" if status == 2 else marker
            pub = published.get(group)
            rows.append(
                {
                    **base,
                    "in_cohort": True,
                    "contig": str(released["variant_contig"].values[row]),
                    "position": int(released["variant_position"].values[row]),
                    "ref": variant.ref,
                    "alt": variant.alt,
                    "group": group,
                    "allele_count": count if ok else shown,
                    "allele_number": an if an_ok else ("NA" if an_status == 2 else marker),
                    "frequency": count / an if ok and an_ok and an > 0 else np.nan,
                    "published_frequency": pub.value if pub else np.nan,
                    "published_source": pub.citation if pub else "",
                    "note": f"{used}; allele of interest is the REF" * variant.interest_is_ref
                    or used,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS).astype({"position": "Int64"})


def released_famous_counts(
    cohort,
    *,
    by: str = "population",
    min_count: int | None = None,
    epsilon: float | None = None,
    budget=None,
    counts=None,
    command: str | None = None,
):
    """The cohort's counts at the panel's sites, as the release door lets them out.

    One genotype pass (or ``counts``, unfiltered counts of ``cohort`` by ``by``, when the caller
    has them); the records of the panel's sites are kept and released under the cohort's policy
    (:func:`genshare_widgets.disclosure.policy_for` with ``min_count``/``epsilon``). Under an
    active policy the released groups are checked against the cohort's release log (rule 6)
    and recorded, as every figure is. Returns ``(released, build)``.
    """
    from genshare_widgets import disclosure
    from genshare_widgets._outputs import group_sizes
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.disclosure._gate import check_use
    from genshare_widgets.disclosure._publishing import (
        ReleaseLog,
        group_sample_sets,
        min_difference,
        with_union,
    )
    from genshare_widgets.disclosure._release import withheld_groups

    check_use(cohort, "the famous-variants panel")
    if by not in cohort.samples.columns:
        raise GenShareError(
            f"--by {by!r}: the cohort's sample table has columns {list(cohort.samples.columns)}"
        )
    policy = disclosure.policy_for(cohort.entry, min_count=min_count, epsilon=epsilon)
    if counts is None:
        counts = allele_counts_by_group(cohort, by=by)
    build = cohort_build(cohort)
    panel = load_famous_panel()
    builds = [build] if build else ["GRCh37", "GRCh38"]
    rows = sorted({r for v in panel.variants for r in (locate(counts, v, builds) or ("", []))[1]})
    sub = counts.isel(variants=rows)
    sets = None
    if policy.active:
        hidden = withheld_groups(group_sizes(cohort, by), policy)
        names = [str(g) for g in sub["groups"].values if str(g) not in hidden]
        sets = with_union(group_sample_sets(cohort.samples, by, names))
        ReleaseLog.for_cohort(cohort).check(sets, k=min_difference(policy))
    released = disclosure.release_counts(
        sub, policy, budget=budget, what=f"famous variants of {cohort.id} by {by}"
    )
    if sets is not None:
        ReleaseLog.for_cohort(cohort).record(
            sets,
            k=min_difference(policy),
            command=command or f"genshare famous {cohort.id} --by {by}",
        )
    return released, build


def famous_variants(
    cohort,
    *,
    by: str = "population",
    min_count: int | None = None,
    epsilon: float | None = None,
) -> pd.DataFrame:
    """The famous-variants panel in a cohort: which sites it has, and the frequency of each
    site's allele of interest per group beside the published frequency.

    Parameters
    ----------
    cohort
        An opened :class:`~genshare_widgets.cohort.Cohort`.
    by
        The grouping column (``population``, ``superpopulation``, ...).
    min_count, epsilon
        Disclosure options, as for every release (``min_count`` may only raise the tier's k).

    Returns
    -------
    pandas.DataFrame
        :func:`famous_table` of the released counts (columns :data:`COLUMNS`).

    Examples
    --------
    >>> import genshare_widgets as gs
    >>> table = gs.famous_variants(gs.open_cohort("1kg-phase3-edar"), by="superpopulation")
    ... # doctest: +SKIP
    >>> table.query("rsid == 'rs3827760' and group == 'EAS'")["frequency"]  # doctest: +SKIP
    """
    released, build = released_famous_counts(cohort, by=by, min_count=min_count, epsilon=epsilon)
    return famous_table(released, build=build)


def famous_card(cohort, released, build: str | None, rsid: str, *, by: str, provenance=None):
    """The variant card of the panel variant ``rsid`` drawn from its released counts
    (:func:`released_famous_counts`): the frequency of its allele of interest per group,
    the published values as diamonds. A variant the cohort lacks is refused with "not in
    this cohort" and the reason.

    Examples
    --------
    >>> released, build = released_famous_counts(cohort, by="superpopulation")  # doctest: +SKIP
    >>> famous_card(cohort, released, build, "rs1426654", by="superpopulation")  # doctest: +SKIP
    """
    from genshare_widgets import plots

    site = load_famous_panel().get(rsid)
    builds: list[str] = [build] if build else ["GRCh37", "GRCh38"]
    found = locate(released, site, builds)
    if found is None:
        where = ", ".join(
            f"{b} {site.chrom}:{site.position(b):,}"
            if site.position(b)
            else f"{b}: position not verified in the panel"
            for b in builds
        )
        raise GenShareError(
            f"{rsid} ({site.name}) is not in this cohort {cohort.id!r}: no {site.ref}>{site.alt} "
            f"record at {where}"
        )
    row = found[1][0]
    entry = getattr(cohort, "entry", None)
    return plots.variant_card(
        released,
        position=f"{released['variant_contig'].values[row]}:"
        f"{int(released['variant_position'].values[row])}",
        alt=site.alt,
        allele=site.allele_of_interest,
        published=published_for_card(site),
        published_label="published (famous-variants panel)",
        title=f"{rsid} {site.allele_of_interest} ({site.name}): frequency by group",
        populations=entry.populations if entry is not None and by == "population" else None,
        colors=plots.cohort_colors(cohort, by=by),
        provenance=provenance,
    )


def published_for_card(variant: FamousVariant) -> Mapping[str, float]:
    """``group → published frequency`` of ``variant`` (for :func:`plots.variant_card`)."""
    return {p.compare_group: p.value for p in variant.published}
