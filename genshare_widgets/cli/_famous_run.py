"""`genshare famous`: the famous-variants panel of a cohort, written as ``famous.tsv`` and
``provenance.json``.

The panel's sites are released through the door as :func:`genshare_widgets.famous_variants`
releases them (under a policy: ``<k`` cells, the release log checked and recorded). Both files
are written into a temporary folder beside ``--out`` and moved into place only when complete,
so a failure leaves no half-written result.
"""

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from genshare_widgets.cli._options import (
    EPSILON_OPTION,
    MIN_COUNT_OPTION,
    SAMPLES_OPTION,
    WITHDRAWN_OPTION,
    _consent_options,
    check_grouping_table,
    check_out,
    no_debris_at,
    source_argument,
    warn_data_use,
)

#: The leading columns of ``famous.tsv``; then ``<group>_ac <group>_an <group>_af`` for every
#: group, then ``published`` and ``note``.
LEAD_COLUMNS = [
    "variant",
    "gene",
    "name",
    "allele",
    "in_cohort",
    "contig",
    "position",
    "ref",
    "alt",
]


def famous_tsv_table(table):
    """``famous.tsv`` from :func:`genshare_widgets.famous.famous_table`: one row per panel
    variant; per group the allele of interest's count (``<k`` suppressed, ``NA`` withheld),
    the allele number and the frequency (``NA`` unless both are released); ``published`` the
    panel's published values (``group=value``, sources in provenance.json)."""
    import numpy as np
    import pandas as pd

    from genshare_widgets.catalog._famous import load_famous_panel

    panel = load_famous_panel()
    groups = list(dict.fromkeys(table.loc[table["in_cohort"], "group"].astype(str)))
    rows = []
    for rsid, part in table.groupby("rsid", sort=False):
        first = part.iloc[0]
        present = bool(first["in_cohort"])
        row: dict[str, Any] = {
            "variant": rsid,
            "gene": first["gene"],
            "name": first["name"],
            "allele": first["allele"],
            "in_cohort": "yes" if present else "no",
            "contig": str(first["contig"]),
            "position": first["position"],
            "ref": first["ref"],
            "alt": first["alt"],
        }
        cells = {str(r.group): r for r in part.itertuples()} if present else {}
        for g in groups:
            r = cells.get(g)
            row[f"{g}_ac"] = str(r.allele_count) if r is not None else "NA"
            row[f"{g}_an"] = str(r.allele_number) if r is not None else "NA"
            row[f"{g}_af"] = float(r.frequency) if r is not None else np.nan
        row["published"] = "; ".join(
            f"{p.compare_group}={p.value:g}" for p in panel.get(str(rsid)).published
        )
        row["note"] = first["note"]
        rows.append(row)
    columns = [
        *LEAD_COLUMNS,
        *(f"{g}_{c}" for g in groups for c in ("ac", "an", "af")),
        "published",
        "note",
    ]
    return pd.DataFrame(rows, columns=columns).astype({"position": "Int64"})


def famous_provenance(cohort, released, *, by: str, build, policy, command) -> dict[str, Any]:
    """The provenance.json record of ``genshare famous``."""
    from genshare_widgets._outputs import group_sizes, output_provenance
    from genshare_widgets.catalog._famous import famous_panel_path, load_famous_panel
    from genshare_widgets.cli._stats_run import _released_sizes

    panel = load_famous_panel()
    return output_provenance(
        cohort,
        statistics=["famous.tsv"],
        policy=policy,
        command=command,
        by=by,
        genome_build=build,
        famous_panel={
            "panel_version": panel.panel_version,
            "file": famous_panel_path().name,
            "citations": {
                v.rsid: {p.compare_group: p.citation for p in v.published}
                for v in panel.variants
                if v.published
            },
        },
        groups=_released_sizes(released, group_sizes(cohort, by), policy),
        n_records_released=int(released.sizes["variants"]),
    )


def run_famous(
    cohort,
    out: Path,
    *,
    by: str = "population",
    min_count: int | None = None,
    epsilon: float | None = None,
    command: list[str] | None = None,
) -> dict[str, Path]:
    """Release the panel's sites of ``cohort`` and write ``famous.tsv`` and
    ``provenance.json`` into ``out``; → {file name: final path}."""
    from genshare_widgets._outputs import publish, staged_output, write_provenance, write_tsv
    from genshare_widgets.disclosure import policy_for
    from genshare_widgets.disclosure._modifiers import (
        check_export,
    )
    from genshare_widgets.famous import famous_table, released_famous_counts

    check_export(cohort, what=f"the famous-variants panel into {out}")  # MOR: before any work
    policy = policy_for(cohort.entry, min_count=min_count, epsilon=epsilon)
    released, build = released_famous_counts(
        cohort,
        by=by,
        min_count=min_count,
        epsilon=epsilon,
        command=shlex.join(command or sys.argv),
    )
    with staged_output(Path(out), "famous") as tmp:
        write_tsv(famous_tsv_table(famous_table(released, build=build)), tmp / "famous.tsv")
        record = famous_provenance(
            cohort, released, by=by, build=build, policy=policy, command=command
        )
        write_provenance(tmp, record)  # RTN: the return address and RETURN.md too
        return publish(tmp, out)


@click.command()
@_consent_options
@click.argument("source", nargs=-1, required=True)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option(
    "--by",
    default="population",
    show_default=True,
    help="Sample column that defines the groups (population, superpopulation...).",
)
@MIN_COUNT_OPTION
@EPSILON_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for famous.tsv and provenance.json (created).",
)
def famous(source, samples, by, min_count, epsilon, out_dir):
    """The famous-variants panel in SOURCE: which of its sites the cohort has, and the
    frequency of each site's allele of interest per group, as released.

    Writes famous.tsv (variant gene name allele in_cohort contig position ref alt, then per
    group <group>_ac <group>_an <group>_af, then published and note; a suppressed count is
    written <N, a variant the cohort lacks has in_cohort "no" and a note) and
    provenance.json (with the panel's citations).

    \b
    Examples:
      genshare famous 1kg-phase3-kidd-aisnps --by superpopulation --out famous/
      genshare famous 1kg-phase3-lct --min-count 10 --out lct/
    """
    check_out(out_dir)
    check_grouping_table(source, samples, by)
    with no_debris_at(out_dir):
        from genshare_widgets.cohort import open_cohort

        cohort = open_cohort(source_argument(source), samples=samples)
        warn_data_use(cohort.provenance.get("access"))
        written = run_famous(
            cohort,
            out_dir,
            by=by,
            min_count=min_count,
            epsilon=epsilon,
            command=["genshare", *sys.argv[1:]],
        )
    for path in written.values():
        click.echo(str(path))
