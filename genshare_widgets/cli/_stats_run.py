"""`genshare stats`: compute the requested statistics and write the contract's files.

Every file is written into a temporary folder beside ``--out`` and moved into place only when
all of them are complete, so a failure leaves no half-written result.
"""

import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genshare_widgets._errors import GenShareError
from genshare_widgets._outputs import (
    STATISTICS,
    publish,
    stats_provenance,
    write_count_tables,
    write_provenance,
    write_tsv,
)
from genshare_widgets._outputs import group_sizes as _group_sizes

if TYPE_CHECKING:  # pandas loads inside the functions: the direct hot path never needs it
    from genshare_widgets.disclosure import DisclosurePolicy


def run_stats(
    cohort,
    out: Path,
    *,
    by: str,
    wanted: list[str],
    pca_k: int | None = None,
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    folded: bool = False,
    fst_window: int | None = None,
    sample_table: bool = False,
    command: list[str] | None = None,
    policy: "DisclosurePolicy | None" = None,
    budget=None,
    ld_prune=None,
) -> dict[str, Path]:
    """Compute and write the requested statistics; returns {file name: final path}.

    ``policy`` (default: the cohort's tier default, :func:`disclosure.policy_for`) decides
    what leaves: under suppression or noise every table comes from the release
    (:mod:`genshare_widgets.disclosure._release`); ``budget`` is charged for noise (default:
    the cohort's ledger under ``$GENSHARE_STATE/privacy``).
    """
    from genshare_widgets.counts import allele_counts_by_group, pass_scheduler
    from genshare_widgets.disclosure import policy_for, release_counts
    from genshare_widgets.disclosure._policy import cohort_budget
    from genshare_widgets.disclosure._publishing import (
        ReleaseLog,
        group_sample_sets,
        min_difference,
        refuse_per_person_output,
        with_union,
    )
    from genshare_widgets.disclosure._release import withheld_groups
    from genshare_widgets.engines._distributed import resolve_scheduler
    from genshare_widgets.samples import pca, sample_stats

    if policy is None:
        policy = policy_for(cohort.entry)
    # rule 5: nothing per person under a policy (checked before anything is computed)
    if pca_k:
        refuse_per_person_output(policy, what="--pca (pca.tsv)", cohort_id=cohort.id)
    if sample_table:
        refuse_per_person_output(policy, what="--sample-stats (samples.tsv)", cohort_id=cohort.id)

    if by not in cohort.samples.columns:
        columns = list(cohort.samples.columns)
        raise GenShareError(
            f"cannot group by {by!r}: the cohort's sample table has "
            f"{columns if columns else 'no columns'}. Give --samples TSV (first column = "
            "sample id) and name a column of it with --by."
        )
    needs_counts = bool(set(wanted) & set(STATISTICS)) or bool(fst_window)
    if cohort.entry is not None and (needs_counts or pca_k):  # refuse before writing anything
        from genshare_widgets.disclosure._gate import check_grouping

        check_grouping(cohort, by, analysis="per-group statistics" if needs_counts else "PCA")
        if pca_k:
            from genshare_widgets.disclosure._gate import check_pca

            check_pca(cohort)
    from genshare_widgets.disclosure._gate import check_use
    from genshare_widgets.disclosure._modifiers import check_export

    check_use(cohort, "statistics")  # the entry's terms (e.g. --sample-stats alone)
    check_export(cohort, what=f"statistics into {out}")  # MOR: before anything is written
    group_sizes = _group_sizes(cohort, by)
    withheld = withheld_groups(group_sizes, policy)
    released_sets: dict[str, list[str]] = {}
    log = None
    if needs_counts and policy.active:  # rule 6: refuse a near-copy of a released group
        released_sets = with_union(
            group_sample_sets(cohort.samples, by, [g for g in group_sizes if g not in withheld])
        )
        log = ReleaseLog.for_cohort(cohort)
        log.check(released_sets, k=min_difference(policy), region=region)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".genshare-stats-", dir=out))
    written: dict[str, Path] = {}
    try:
        # Under a policy the MAF filter runs on released values (disclosure door): choosing
        # variants from exact counts would be an oracle for the hidden ones.
        exact_maf = None if policy.active else min_maf
        counts = (
            allele_counts_by_group(
                cohort, by=by, region=region, min_maf=exact_maf, snps_only=snps_only
            )
            if needs_counts
            else None
        )
        if counts is not None and policy.active:
            counts = release_counts(
                counts,
                policy,
                budget=budget if budget is not None else cohort_budget(cohort),
                min_maf=min_maf,
                what=f"genshare stats {cohort.id} --by {by} ({', '.join(wanted)})",
            )
        # freq.tsv streams by blocks of variants; the other count tables are small
        files = (
            write_count_tables(counts, tmp, wanted, folded, fst_window)
            if counts is not None
            else []
        )
        tables: dict[str, Any] = {}
        if sample_table:
            per = sample_stats(cohort, region=region, snps_only=snps_only, policy=policy)
            tables["samples.tsv"] = per.reset_index()
        pca_info = None
        if pca_k:
            result = pca(
                cohort,
                k=pca_k,
                by=by,
                min_maf=0.05 if min_maf is None else min_maf,
                region=region,
                snps_only=snps_only,
                ld_prune=ld_prune,
                policy=policy,
            )
            coords = result.coordinates.reset_index().rename(columns={"index": "sample"})
            tables["pca.tsv"] = coords
            tables["pca_eigenvalues.tsv"] = result.eigenvalues
            pca_info = {
                "method": result.method,
                "n_variants": result.n_variants,
                "min_maf": 0.05 if min_maf is None else min_maf,
            }
            if ld_prune is not None:
                pca_info["ld_prune"] = result.filters["ld_prune"]
        for name, table in tables.items():
            write_tsv(table, tmp / name)
        files += list(tables)
        provenance = stats_provenance(
            cohort.provenance,
            cohort_id=cohort.id,
            engine=cohort.engine,
            dask_scheduler=resolve_scheduler(pass_scheduler(cohort)) or "local threads",
            by=by,
            files_written=sorted(files),
            filters={
                "region": region,
                "min_maf": min_maf,
                "snps_only": snps_only,
                "folded_sfs": folded,
                "fst_window": fst_window,
                **(counts.attrs["filters"] if counts is not None else {}),
            },
            pca_info=pca_info,
            groups=(_released_sizes(counts, group_sizes, policy) if counts is not None else None),
            policy=policy,
            withheld_groups=withheld,
            genotype_pass=_genotype_pass(cohort)
            if counts is not None or pca_k or sample_table
            else None,
            command=command,
        )
        write_provenance(tmp, provenance)  # RTN: the return bundle is --out, in RETURN.md
        if log is not None:  # checked again and recorded under the log's lock
            log.record(
                released_sets,
                k=min_difference(policy),
                command=shlex.join(command or sys.argv),
                region=region,
            )
        written = publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


def _released_sizes(released, group_sizes: dict[str, int], policy) -> dict[str, Any]:
    """Samples per group as the release shows them: under differential privacy the noisy
    sizes the door drew (exact sizes would tell who is in a case or control group), else the
    exact sizes with withheld groups written ``<k``."""
    from genshare_widgets.disclosure._release import release_group_sizes

    if policy.epsilon is not None:
        names = [str(g) for g in released["groups"].values]
        noisy = dict(zip(names, (int(n) for n in released["group_n_samples"].values), strict=True))
        return {g: noisy.get(g, policy.marker or "withheld") for g in group_sizes}
    return release_group_sizes(group_sizes, policy)


def _genotype_pass(cohort) -> str:
    """Which genotype pass ran: "hail", "bitplanes" (local store, this machine) or "dask"."""
    from genshare_widgets.counts import _direct_store, pass_scheduler

    if cohort.engine == "hail":
        return "hail"
    if pass_scheduler(cohort) is None and _direct_store(cohort) is not None:
        return "bitplanes"
    return "dask"
