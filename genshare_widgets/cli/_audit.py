"""``genshare catalog audit``: who is in the catalogued cohorts, against the world's population.

Reads catalog metadata only (population sample counts are public catalog fields): nothing is
downloaded or opened. The TSV and the figure cite the world population table shipped with the
package (UN World Population Prospects 2024).
"""

from pathlib import Path

import click

TSV_COLUMNS = (
    "region world_population world_share n_samples sample_share representation status populations"
)


@click.command("audit")
@click.argument("cohort_id", required=False)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Write the region table as TSV ({TSV_COLUMNS}).",
)
@click.option(
    "--figure",
    "figure_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the 'who is missing' figure (.html, .json, .png, .svg or .pdf).",
)
@click.option(
    "--under",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="A region is under-represented below this fraction of its world share.",
)
def catalog_audit_command(
    cohort_id: str | None, out: Path | None, figure_out: Path | None, under: float
):
    """Representation audit: samples per world region against UN WPP 2024 shares.

    \b
    Without COHORT_ID: the whole catalog, each real person once (entries holding the same
    people counted once; simulated cohorts left out). With COHORT_ID: that entry's populations.
    Examples:
      genshare catalog audit --out audit.tsv --figure who_is_missing.html
      genshare catalog audit 1kg-phase3
    """
    from genshare_widgets.catalog import load_catalog
    from genshare_widgets.catalog._representation import audit_table, catalog_audit, cohort_audit

    cat = load_catalog()
    audit = (
        cohort_audit(cohort_id, catalog=cat, under=under)
        if cohort_id
        else catalog_audit(cat, under=under)
    )
    table = audit_table(audit)
    shown = table.assign(
        world_share=table["world_share"].map(lambda v: f"{100 * v:.1f}%" if v == v else "-"),
        sample_share=table["sample_share"].map(lambda v: f"{100 * v:.1f}%"),
    )[["region", "world_share", "n_samples", "sample_share", "status"]]
    click.echo(f"Representation audit of {audit.title} (catalog {cat.catalog_version})")
    click.echo(shown.to_string(index=False))
    if audit.missing:
        click.echo("no samples from: " + ", ".join(audit.missing))
    if audit.under_represented:
        click.echo("under-represented: " + ", ".join(audit.under_represented))
    for note in audit.notes:
        click.echo(f"note: {note}")
    click.echo(f"world population: {audit.source['citation'].strip()}")
    if out is not None:
        from genshare_widgets.figures import atomic_write

        text = table.to_csv(sep="\t", index=False, float_format="%.6g", na_rep="NA")
        atomic_write(out, text.encode())
        click.echo(str(out))
    if figure_out is not None:
        from genshare_widgets.figures import atomic_write, figure_bytes, output_format
        from genshare_widgets.plots import figure_provenance, who_is_missing_plot

        fmt = output_format(figure_out)
        prov = figure_provenance()
        prov.update(
            catalog_version=cat.catalog_version,
            cohort_id=cohort_id or "catalog",
            disclosure_policy="public catalog metadata (sample counts of data_catalog.yaml)",
        )
        fig = who_is_missing_plot(audit, provenance=prov)
        atomic_write(figure_out, figure_bytes(fig, fmt, kind="who-is-missing"))
        click.echo(str(figure_out))
