"""`genshare reference` and `genshare project`: fit a shareable PCA reference, and place a
cohort's samples on one (:mod:`genshare_widgets.projection`).

``project --out DIR`` writes ``projection.tsv`` (sample, PC1 … PCk; with ``--assign`` also
``assigned_group`` and ``probability``), ``matching.tsv`` (the matching report, one row per
count) and ``provenance.json``, into a temporary folder moved into place only when complete.
"""

import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from genshare_widgets._errors import GenShareError
from genshare_widgets.cli._options import (
    SAMPLES_OPTION,
    WITHDRAWN_OPTION,
    _consent_options,
    check_grouping_table,
    check_out,
    source_argument,
    warn_data_use,
)


def _ld_prune(text: str | None):
    """``W,S,R2`` (or ``Wkb,S,R2``) → the pruning settings of :func:`genshare_widgets.ld.ld_prune`
    (one parser for every command's ``--ld-prune``)."""
    if text is None:
        return None
    from genshare_widgets.ld import as_settings

    return as_settings(text)


@click.command("reference")
@_consent_options
@click.argument("source", nargs=-1, required=True)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option("--by", default="population", show_default=True, help="Label column of the samples.")
@click.option("--pca", "k", type=click.IntRange(1, 10), required=True, help="Components (1..10).")
@click.option("--min-maf", type=float, default=0.05, show_default=True, help="MAF >= F (>= 0.05).")
@click.option("--region", help="CHR or CHR:START-END (1-based, inclusive).")
@click.option("--snps-only", is_flag=True, help="Keep only single-base REF/ALT.")
@click.option("--ld-prune", metavar="W,S,R2", help="LD-prune first (plink2 --indep-pairwise).")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The reference file to write (JSON, format 2); its sha256 is printed.",
)
def reference_command(source, samples, by, k, min_maf, region, snps_only, ld_prune, out):
    """Fit a PCA reference on SOURCE (open-tier data only) and write it as a versioned file.

    The PCA is the one of `genshare stats --pca` (same variants and frequencies); the file
    holds the SNP weights, ALT frequencies, eigenvalues, variants (with rsIDs), genome build,
    the reference samples' PCs and labels, and provenance. Prints the file's sha256.

    \b
    Examples:
      genshare reference 1kg-phase3-subset --by superpopulation --pca 6 --out 1kg-ref.json
    """
    from genshare_widgets.cohort import open_cohort
    from genshare_widgets.projection import fit_reference

    prune = _ld_prune(ld_prune)
    if out.exists() and out.is_dir():
        raise GenShareError(f"--out {out} is a folder; give the reference file's name")
    check_grouping_table(source, samples, by)
    cohort = open_cohort(source_argument(source), samples=samples)
    warn_data_use(cohort.provenance.get("access"))
    ref = fit_reference(
        cohort,
        k=k,
        by=by,
        min_maf=min_maf,
        region=region,
        snps_only=snps_only,
        ld_prune=prune,
    )
    ref.provenance["command"] = ["genshare", *sys.argv[1:]]
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = ref.save(out)
    click.echo(f"{out}\tsha256 {digest}\t{len(ref.p)} variants\t{ref.k} PCs")


@click.command("project")
@_consent_options
@click.argument("source", nargs=-1, required=True)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option(
    "--reference", "reference", required=True, help="Reference file, or a catalog id with one."
)
@click.option("--reference-sha256", help="Refuse the reference unless its sha256 is this.")
@click.option("--assign", is_flag=True, help="Assign each sample to a reference group.")
@click.option("--label", help="Reference label to assign (default superpopulation).")
@click.option(
    "--threshold", type=float, default=0.8, show_default=True, help="Unassigned below this."
)
@click.option("--oadp", is_flag=True, help="Correct the shrinkage of projected PCs (OADP).")
@click.option(
    "--match-by",
    type=click.Choice(["position", "rsid"]),
    default="position",
    show_default=True,
    help="Match variants by (contig, position, ref, alt), or by rsID across builds.",
)
@click.option(
    "--min-matched",
    type=float,
    default=0.5,
    show_default=True,
    help="Least fraction (< 1) or number of reference variants that must match.",
)
@click.option("--build", help="SOURCE's genome build (default: its catalog entry's).")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for projection.tsv, matching.tsv, provenance.json (created).",
)
def project_command(
    source,
    samples,
    reference,
    reference_sha256,
    assign,
    label,
    threshold,
    oadp,
    match_by,
    min_matched,
    build,
    out_dir,
):
    """Project SOURCE's samples onto a PCA reference (and assign ancestry with --assign).

    \b
    Examples:
      genshare project my.vcf.gz --reference 1kg-ref.json --assign --out placed/
      genshare project hapmap3 --reference ref38.json --match-by rsid --out placed/
    """
    from genshare_widgets._outputs import (
        package_versions,
        publish,
        staged_output,
        write_provenance,
        write_tsv,
    )
    from genshare_widgets.cohort import open_cohort
    from genshare_widgets.projection import project

    check_out(out_dir)
    cohort = open_cohort(source_argument(source), samples=samples)
    warn_data_use(cohort.provenance.get("access"))
    result = project(
        cohort,
        reference,
        sha256=reference_sha256,
        oadp=oadp,
        match_by=match_by,
        min_matched=min_matched,
        build=build,
        assign=assign,
        label=label,
        threshold=threshold,
    )
    columns = [
        c
        for c in result.coordinates.columns
        if not str(c).startswith("p_") and c not in ("mahalanobis_d2", "outside_reference")
    ]
    table = result.coordinates[columns].reset_index(names="sample")
    report = result.report
    record = {
        **result.provenance,
        "matching": report,
        "command": ["genshare", *sys.argv[1:]],
        "package_versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with staged_output(out_dir, "project") as tmp:
        write_tsv(table, tmp / "projection.tsv")
        (tmp / "matching.tsv").write_text(
            "item\tvalue\n" + "".join(f"{k}\t{v}\n" for k, v in report.items())
        )
        write_provenance(tmp, record)  # RTN: the return address and RETURN.md too
        written = publish(tmp, out_dir)
    click.echo(
        f"matched {report['matched']} of {report['reference_variants']} reference variants "
        f"({report['flipped']} flipped, {report['ambiguous_dropped']} strand-ambiguous dropped, "
        f"{report['missing_in_target']} missing in {cohort.id})",
        err=True,
    )
    for path in written.values():
        click.echo(str(path))
