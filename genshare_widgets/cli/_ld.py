"""`genshare ld-prune`: LD pruning as ``plink2 --indep-pairwise``, written as ``prune.in``
(contig position ref alt, one kept variant per line) and ``provenance.json``.

Both files are written into a temporary folder beside ``--out`` and moved into place only when
complete. Under a disclosure policy the analysed sample set is checked against (and recorded
in) the cohort's release log like the groups of ``genshare stats``: two prunings of sample
sets that differ by a few people would otherwise differ by what those people carry.
"""

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from genshare_widgets.cli._options import (
    MIN_COUNT_OPTION,
    SAMPLES_OPTION,
    WITHDRAWN_OPTION,
    _consent_options,
    check_out,
    check_selection,
    no_debris_at,
    source_argument,
    warn_data_use,
)


def ld_provenance(cohort, result, *, policy, command: list[str] | None) -> dict[str, Any]:
    """The provenance.json record of an LD pruning run."""
    from genshare_widgets._outputs import output_provenance

    return output_provenance(
        cohort,
        statistics=["prune.in"],
        policy=policy,
        command=command,
        ld_prune=result.provenance(),
        filters={"multiallelic": "sites biallelic in the store only", **result.filters},
    )


def run_ld_prune(
    cohort,
    out: Path,
    *,
    window,
    step: int,
    r2: float,
    by: str | None = None,
    groups: list[str] | None = None,
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    policy=None,
    command: list[str] | None = None,
) -> dict[str, Path]:
    """Prune and write ``prune.in`` + ``provenance.json`` into ``out``; → {name: path}."""
    import numpy as np

    from genshare_widgets._outputs import publish, staged_output, write_provenance, write_tsv
    from genshare_widgets.disclosure import policy_for
    from genshare_widgets.disclosure._gate import check_use
    from genshare_widgets.disclosure._modifiers import check_export
    from genshare_widgets.disclosure._publishing import ReleaseLog, min_difference
    from genshare_widgets.ld import analysed_samples, ld_prune

    if policy is None:
        policy = policy_for(cohort.entry)
    check_use(cohort, "statistics")
    check_export(cohort, what=f"an LD pruning into {out}")  # MOR: before anything is made
    keep = analysed_samples(cohort, by=by, groups=groups, policy=policy, analysis="LD pruning")
    log, sets = None, {}
    if policy.active:  # rule 6: no near-copy of an earlier released sample set
        label = "ld-prune:" + (",".join(groups) if groups else "all")
        sets = {label: [str(s) for s in np.asarray(cohort.samples.index)[keep]]}
        log = ReleaseLog.for_cohort(cohort)
        log.check(sets, k=min_difference(policy), region=region)
    out = Path(out)
    with staged_output(out, "ld") as tmp:
        result = ld_prune(
            cohort,
            window=window,
            step=step,
            r2=r2,
            keep=keep,
            region=region,
            min_maf=min_maf,
            snps_only=snps_only,
            policy=policy,
        )
        if by is not None:
            result.filters.update(by=by, groups=groups)
        write_tsv(result.kept, tmp / "prune.in")  # contig position ref alt
        record = ld_provenance(cohort, result, policy=policy, command=command)
        write_provenance(tmp, record)  # RTN: the return address and RETURN.md too
        if log is not None:
            log.record(
                sets,
                k=min_difference(policy),
                command=shlex.join(command or sys.argv),
                region=region,
            )
        return publish(tmp, out)


@click.command("ld-prune")
@_consent_options
@click.argument("source", nargs=-1, required=True)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option("--by", help="Sample column of --groups (e.g. population).")
@click.option("--groups", metavar="A,B", help="Prune within these groups of --by only.")
@click.option("--region", help="CHR or CHR:START-END (1-based, inclusive).")
@click.option(
    "--min-maf", type=float, help="Keep variants with MAF >= F over the analysed samples first."
)
@click.option("--snps-only", is_flag=True, help="Keep only single-base REF/ALT.")
@click.option(
    "--window", required=True, metavar="W", help="Window: W variants, or e.g. 500kb (step 1)."
)
@click.option("--step", type=click.IntRange(1), default=1, show_default=True, metavar="S")
@click.option("--r2", "r2", type=float, required=True, metavar="R2", help="r² threshold.")
@MIN_COUNT_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for prune.in and provenance.json (created).",
)
def ld_prune_command(
    source, samples, by, groups, region, min_maf, snps_only, window, step, r2, min_count, out_dir
):
    """LD pruning of SOURCE with the semantics of plink2 --indep-pairwise W S R2.

    Writes prune.in (contig position ref alt: the kept variants) and provenance.json.
    r² is the squared correlation of unphased ALT dosages over samples called at both
    variants; only sites biallelic in the store are analysed. Under a disclosure policy only
    variants with minor allele count >= k among the analysed samples take part.

    \b
    Examples:
      genshare ld-prune hapmap3 --window 50 --step 5 --r2 0.2 --out pruned/
      genshare ld-prune 1kg-phase3-subset --min-maf 0.05 --window 500kb --r2 0.1 --out p/
    """
    from genshare_widgets.ld import PruneSettings

    check_selection(region=region, min_maf=min_maf)
    check_out(out_dir)
    PruneSettings.parse(window, step, r2)  # a bad window says so before anything opens
    wanted = [g.strip() for g in groups.split(",")] if groups else None
    if wanted and not by:
        raise click.UsageError("--groups needs --by (the sample column of the groups)")
    from genshare_widgets.fetch import writes_under

    with no_debris_at(out_dir), writes_under(out_dir, what="--out", instead="choose another --out"):
        from genshare_widgets.cohort import open_cohort
        from genshare_widgets.disclosure import policy_for

        cohort = open_cohort(source_argument(source), samples=samples)
        warn_data_use(cohort.provenance.get("access"))
        written = run_ld_prune(
            cohort,
            out_dir,
            window=window,
            step=step,
            r2=r2,
            by=by,
            groups=wanted,
            region=region,
            min_maf=min_maf,
            snps_only=snps_only,
            policy=policy_for(cohort.entry, min_count=min_count),
            command=["genshare", *sys.argv[1:]],
        )
    for path in written.values():
        click.echo(str(path))
