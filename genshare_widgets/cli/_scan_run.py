"""`genshare scan`: a selection scan (PBS, H12, iHS, XP-EHH) written as ``scan.tsv`` and
``provenance.json`` (the CLI contract in DESIGN.md).

Both files are written into a temporary folder inside ``--out`` and moved into place only when
complete, so a failure leaves no half-written result. Under a disclosure policy the analysed
groups are checked against (and recorded in) the cohort's release log.
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


def scan_provenance(cohort, result, *, command: list[str] | None) -> dict[str, Any]:
    """The provenance.json record of a scan (``genshare scan``)."""
    from genshare_widgets._outputs import output_provenance

    return output_provenance(
        cohort,
        statistics=["scan.tsv"],
        policy=result.policy,
        command=command,
        scan=result.provenance(),
    )


def run_scan(
    cohort, out: Path, *, policy=None, command: list[str] | None = None, **options: Any
) -> dict[str, Path]:
    """Run the scan of ``options`` (:func:`genshare_widgets.scans.scan` keywords) and write
    its files into ``out``; → {file name: final path}."""
    from genshare_widgets._outputs import publish, staged_output, write_provenance
    from genshare_widgets.disclosure._modifiers import (
        check_export,
    )
    from genshare_widgets.scan_figures import released_scan

    check_export(cohort, what=f"a scan into {out}")  # MOR: before anything is made
    out = Path(out)
    with staged_output(out, "scan") as tmp:
        result = released_scan(
            cohort, command=shlex.join(command or sys.argv), policy=policy, **options
        )
        result.write_tsv(tmp / "scan.tsv")
        record = scan_provenance(cohort, result, command=command)
        write_provenance(tmp, record)  # RTN: the return address and RETURN.md too
        return publish(tmp, out)


@click.command()
@_consent_options
@click.argument("source", nargs=-1, required=True)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option(
    "--by", default="population", show_default=True, help="Sample column that defines groups."
)
@click.option(
    "--stat",
    type=click.Choice(["pbs", "h12", "ihs", "xpehh"]),
    required=True,
    help="pbs (A,B,C: A's branch), h12 (A), ihs (A), xpehh (A,B).",
)
@click.option("--groups", required=True, metavar="A[,B[,C]]", help="Groups of --by to scan.")
@click.option(
    "--window",
    type=click.IntRange(1),
    metavar="N",
    help="Window size (pbs, h12): N biallelic SNVs, or N bp with --window-unit bp.",
)
@click.option("--step", type=click.IntRange(1), metavar="M", help="Window step (default: N).")
@click.option(
    "--window-unit",
    type=click.Choice(["variants", "bp"]),
    default="variants",
    show_default=True,
    help="Unit of --window and --step.",
)
@click.option("--region", help="CHR or CHR:START-END (1-based, inclusive).")
@click.option(
    "--genetic-map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ihs/xpehh: a table with position and cM columns (and contig): integrate in cM.",
)
@click.option(
    "--include-edges",
    is_flag=True,
    help="ihs/xpehh: keep scores whose EHH has not decayed to 0.05 before the data's end.",
)
@MIN_COUNT_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for scan.tsv and provenance.json (created).",
)
def scan(
    source,
    samples,
    by,
    stat,
    groups,
    window,
    step,
    window_unit,
    region,
    genetic_map,
    include_edges,
    min_count,
    out_dir,
):
    """A selection scan of SOURCE: PBS, Garud's H12, iHS or XP-EHH.

    Writes scan.tsv (contig start end n_variants value; one row per window, or per variant
    for ihs/xpehh with the standardised score) and provenance.json. Windows by variant count
    count biallelic SNVs; a window's start is the position of its first variant.

    \b
    Examples:
      genshare scan 1kg_phase3_LCT.vcf.gz --samples 1kg_phase3_samples.tsv --by pop \\
          --stat pbs --groups CEU,CHB,YRI --window 100 --step 50 --out lct_pbs/
      genshare scan sim-ooa --stat h12 --groups CEU --window 200 --out h12/
    """
    check_selection(region=region, min_maf=None)
    check_out(out_dir)
    if stat in ("pbs", "h12") and window is None:
        raise click.UsageError(f"--stat {stat} needs --window N")
    from genshare_widgets.fetch import writes_under

    with no_debris_at(out_dir), writes_under(out_dir, what="--out", instead="choose another --out"):
        from genshare_widgets.cohort import open_cohort
        from genshare_widgets.disclosure import policy_for

        cohort = open_cohort(source_argument(source), samples=samples)
        warn_data_use(cohort.provenance.get("access"))
        written = run_scan(
            cohort,
            out_dir,
            policy=policy_for(cohort.entry, min_count=min_count),
            command=["genshare", *sys.argv[1:]],
            stat=stat,
            groups=groups,
            by=by,
            window=window,
            step=step,
            window_unit=window_unit,
            region=region,
            genetic_map=genetic_map,
            include_edges=include_edges,
        )
    for path in written.values():
        click.echo(str(path))
