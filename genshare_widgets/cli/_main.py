"""The ``genshare`` command: a thin layer over the Python API.

User mistakes (unknown id, bad file, failed verification) print one clear message and exit
with status 2; no traceback.
"""

import importlib.util
import json
import os
import sys
from pathlib import Path

import click

from genshare_widgets._errors import GenShareError
from genshare_widgets._version import __version__
from genshare_widgets.cli._options import (
    EPSILON_OPTION,
    MIN_COUNT_OPTION,
    SAMPLES_OPTION,
    WITHDRAWN_OPTION,
    _consent_options,
    check_grouping_table,
    check_out,
    check_selection,
    no_debris_at,
    source_argument,
    warn_data_use,
    warn_data_use_of,
)
from genshare_widgets.cli._scan_run import scan as _scan_command
from genshare_widgets.figures import KINDS as FIGURE_KINDS
from genshare_widgets.figures import covariate_names


def _command_name(ctx: "click.Context | None") -> str:
    """``genshare stats`` (not ``python -m genshare_widgets stats``) for a context."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["genshare", *reversed(names)])


def _out_writes(folder: Path, what: str = "--out"):
    """A failed write under ``folder`` (full, read-only, no permission) as one error line."""
    from genshare_widgets.fetch import writes_under  # the catalog schema: not for --help

    return writes_under(folder, what=what, instead="choose another --out")


class _FriendlyGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GenShareError as exc:
            click.secho(f"genshare: error: {exc}", fg="red", err=True)
            ctx.exit(2)
        except OSError as exc:  # a full or read-only disk no command named: say which file
            from genshare_widgets.fetch import WRITE_ERRNOS

            if exc.errno not in WRITE_ERRNOS or not exc.filename:
                raise
            click.secho(
                f"genshare: error: {exc.filename}: {exc.strerror}; check the space and "
                "permissions there, or point --out / GENSHARE_CACHE elsewhere",
                fg="red",
                err=True,
            )
            ctx.exit(2)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Usage mistakes (an option out of range, a missing argument) print one line,
        ``genshare: error: ... (see 'genshare CMD --help')``, and exit 2, like every other
        user mistake."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `genshare`: the help
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            message = " ".join(exc.format_message().split())
            hint = f" (see '{_command_name(exc.ctx)} --help')"
            click.secho(f"genshare: error: {message}{hint}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.secho(f"genshare: error: {exc.format_message()}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="genshare")
def main() -> None:
    """GenShare: explore shared public genomic cohorts.

    \b
    Start here:
      genshare catalog list            what cohorts exist, where, under what consent
      genshare catalog show sim-ooa    everything about one cohort
      genshare prepare sim-ooa         fetch/build, verify and convert it once
      genshare lab                     JupyterLab on the curated notebooks
      genshare app                     the cohort explorer as a web page (Voilà)

    Files are cached in $GENSHARE_CACHE (default ~/.cache/genshare); an offline copy of
    catalog files can be given with GENSHARE_MIRROR=/folder.
    """


@main.group()
def catalog() -> None:
    """Browse and validate the cohort catalog (data_catalog.yaml)."""


@catalog.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--search", "text", help="Text to find in id, title, description, populations.")
@click.option(
    "--access",
    type=click.Choice(["open", "registered", "controlled"]),
    help="Only this access tier.",
)
@click.option("--population", help="Only cohorts with this population or super-population.")
def catalog_list(as_json: bool, text: str | None, access: str | None, population: str | None):
    """List catalog cohorts (optionally filtered)."""
    from genshare_widgets.catalog import load_catalog, search_catalog

    cat = load_catalog()
    entries = search_catalog(cat, text=text, access=access, population=population)
    if as_json:
        click.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    if not entries:
        click.echo("no cohort matches those filters")
        return
    rows = [("ID", "KIND", "ACCESS", "BUILD", "SAMPLES", "POPS", "TITLE")]
    for e in entries:
        n = f"{e.n_samples:,}" if e.n_samples is not None else "?"
        rows.append((e.id, e.kind, e.access, e.genome_build, n, str(len(e.populations)), e.title))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    click.echo(f"\n{len(entries)} of {len(cat.cohorts)} cohorts (catalog {cat.catalog_version})")


@catalog.command("show")
@click.argument("cohort_id")
def catalog_show(cohort_id: str):
    """Show everything the catalog says about one cohort."""
    from genshare_widgets.catalog import duo_term, get_entry

    e = get_entry(cohort_id)
    click.secho(f"{e.id}: {e.title}", bold=True)
    click.echo(e.description.strip())
    click.echo(f"\nkind: {e.kind}    genome build: {e.genome_build}    version: {e.version}")
    click.echo(
        f"access: {e.access}    dataset URL (what a GA4GH Passport grant names): {e.dataset_url}"
    )
    for code in e.duo:
        t = duo_term(code)
        click.echo(f"consent: {t.id} {t.shorthand} ({t.label})")
    if e.duo_disease:
        click.echo(f"disease (DS): {e.duo_disease}")
    from genshare_widgets.disclosure import permissions_summary

    for line in permissions_summary(e):
        click.echo(f"  {line}")
    from genshare_widgets.disclosure._labels import labels_summary

    labels = labels_summary(e)
    if labels:
        click.echo("Local Contexts labels and notices:")
        for line in labels:
            click.echo(f"  {line}")
    click.echo(f"licence: {e.licence}")
    click.echo(f"citation: {e.citation}")
    if e.homepage:
        click.echo(f"homepage: {e.homepage}")
    n = f"{e.n_samples:,}" if e.n_samples is not None else "unknown"
    click.echo(f"samples: {n}    variants: {e.n_variants or 'unknown'}")
    if e.withdrawals is not None:  # dynamic consent
        w = e.withdrawals
        size = "" if w.n_samples is None else f"{w.n_samples:,} samples, "
        click.echo(
            f"withdrawals: list version {w.version} ({w.date}), {size}{w.file} "
            f"(sha256 {w.sha256[:12]}…): left out of every analysis"
        )
    if e.simulation:
        s = e.simulation
        click.echo(f"simulation: stdpopsim {s.species}/{s.model}, {s.length:,} bp, seed {s.seed}")
    click.echo("\npopulations:")
    for p in e.populations:
        count = "?" if p.n_samples is None else str(p.n_samples)
        sup = f" [{p.superpopulation}]" if p.superpopulation else ""
        click.echo(f"  {p.code:<10} {count:>6}  {p.name or ''}{sup}")
    if e.files:
        click.echo(f"\nfiles ({len(e.files)}):")
        for f in e.files:
            digest = (
                f"sha256 {f.sha256[:12]}…"
                if f.sha256
                else "sha256 unknown (recorded on first fetch)"
            )
            click.echo(f"  {f.role:<9} {f.url}  ({digest})")
    for m in e.mirrors:
        click.echo(f"  mirror: {m}")
    if e.notes:
        click.echo(f"\nnotes: {e.notes.strip()}")


@catalog.command("validate")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def catalog_validate(path: Path | None):
    """Validate a catalog file against the schema (default: the packaged catalog)."""
    from genshare_widgets.catalog import default_catalog_path, load_catalog

    target = path or default_catalog_path()
    cat = load_catalog(target)
    click.echo(f"{target}: valid ({len(cat.cohorts)} cohorts, catalog {cat.catalog_version})")


@main.command()
@_consent_options
@click.argument("source", nargs=-1, required=True)
@click.option("--engine", type=click.Choice(["dask", "hail"]), default="dask", show_default=True)
@SAMPLES_OPTION
@click.option(
    "--rebuild",
    "--force",
    "rebuild",
    is_flag=True,
    help="Delete the converted store of SOURCE and convert it again (a damaged store).",
)
def prepare(source: tuple[str, ...], engine: str, samples: Path | None, rebuild: bool):
    """Fetch, verify and convert SOURCE once; print the store path.

    SOURCE is a catalog id, VCF/BCF path(s) or glob, a VCF-Zarr store, or a PLINK 1 prefix.
    """
    import contextlib

    from genshare_widgets.cohort import open_cohort
    from genshare_widgets.engines._store import rebuilding

    src = source_argument(source)
    if rebuild and engine == "hail":
        raise click.UsageError("--rebuild applies to VCF-Zarr stores (--engine dask)")
    if rebuild and isinstance(src, str) and (Path(src) / ".zgroup").is_file():
        from genshare_widgets.engines._integrity import rebuild_hint

        raise GenShareError(
            f"--rebuild: {src} is a store, which is read as it is; a store is rebuilt from "
            f"the files it was converted from. {rebuild_hint(Path(src))}"
        )
    with rebuilding() if rebuild else contextlib.nullcontext():
        cohort = open_cohort(src, engine=engine, samples=samples)
    click.echo(
        f"{cohort.id}: {cohort.n_samples:,} samples × {cohort.n_variants:,} variants", err=True
    )
    click.echo(str(cohort.store_path))


@main.command()
@_consent_options
@click.argument("source", nargs=-1, required=True)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option(
    "--by",
    default="population",
    show_default=True,
    help="Sample column that defines the groups (population, superpopulation, sex...).",
)
@click.option("--engine", type=click.Choice(["dask", "hail"]), default="dask", show_default=True)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run the genotype passes on this Dask cluster (tcp://HOST:PORT); its workers must "
    "reach SOURCE (shared file system or URL). Default: $GENSHARE_DASK_SCHEDULER, else this "
    "machine.",
)
@click.option("--region", help="CHR or CHR:START-END (1-based, inclusive).")
@click.option(
    "--min-maf", type=float, help="Keep variants with MAF >= F over all analysed samples."
)
@click.option(
    "--snps-only", is_flag=True, help="Keep only single-base REF/ALT (drops indels, SVs)."
)
@click.option("--freq", "want_freq", is_flag=True, help="freq.tsv: AC, AN, AF per group.")
@click.option("--fst", "want_fst", is_flag=True, help="fst.tsv: Hudson Fst for every pair.")
@click.option(
    "--fst-window",
    type=click.IntRange(1),
    metavar="BP",
    help="fst_windows.tsv: Hudson Fst in windows of BP base pairs, every pair.",
)
@click.option("--het", "want_het", is_flag=True, help="het.tsv: observed/expected heterozygosity.")
@click.option("--sfs", "want_sfs", is_flag=True, help="sfs.tsv: site frequency spectrum per group.")
@click.option("--folded", is_flag=True, help="Fold the SFS (minor allele counts).")
@click.option("--shared", "want_shared", is_flag=True, help="shared.tsv: shared/private variants.")
@click.option(
    "--sample-stats",
    is_flag=True,
    help="samples.tsv: per-sample observed heterozygosity and missingness.",
)
@click.option(
    "--pca",
    "pca_k",
    type=click.IntRange(1),
    metavar="K",
    help="pca.tsv + pca_eigenvalues.tsv: top K PCs.",
)
@click.option(
    "--ld-prune",
    metavar="W,S,R2",
    help="--pca on LD-pruned variants: plink2 --indep-pairwise W S R2 (W variants or e.g. "
    "500kb) after the MAF filter.",
)
@MIN_COUNT_OPTION
@EPSILON_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the result files (created).",
)
def stats(
    source,
    samples,
    by,
    engine,
    scheduler,
    region,
    min_maf,
    snps_only,
    want_freq,
    want_fst,
    fst_window,
    want_het,
    want_sfs,
    folded,
    want_shared,
    sample_stats,
    pca_k,
    ld_prune,
    min_count,
    epsilon,
    out_dir,
):
    """Cross-population statistics of SOURCE, written as tab-separated files in --out.

    Without a statistic flag, freq, fst, het, sfs and shared are all written. Only biallelic
    variants are analysed; provenance.json records the source, filters and versions.
    SOURCE may also be the URL of a VCF-Zarr store (https://, s3://, gs://), read in place.

    \b
    Examples:
      genshare stats 1kg-phase3-subset --by superpopulation --fst --het --out results/
      genshare stats /shared/cohort.vcz --samples pops.tsv --scheduler tcp://10.0.0.5:8786 \\
          --fst --out results/
    """
    check_selection(region=region, min_maf=min_maf)
    check_out(out_dir)
    check_grouping_table(source, samples, by)
    if ld_prune is not None:
        if not pca_k:
            raise click.UsageError("--ld-prune prunes the variants of --pca K: give --pca")
        from genshare_widgets.ld import as_settings

        as_settings(ld_prune)  # a bad W,S,R2 says so before anything opens
    with no_debris_at(out_dir), _out_writes(out_dir):
        _stats(
            source,
            samples,
            by,
            engine,
            scheduler,
            region,
            min_maf,
            snps_only,
            {
                "freq": want_freq,
                "fst": want_fst,
                "het": want_het,
                "sfs": want_sfs,
                "shared": want_shared,
            },
            fst_window,
            folded,
            sample_stats,
            pca_k,
            min_count,
            epsilon,
            out_dir,
            ld_prune=ld_prune,
        )


def _stats(
    source,
    samples,
    by,
    engine,
    scheduler,
    region,
    min_maf,
    snps_only,
    flags,
    fst_window,
    folded,
    sample_stats,
    pca_k,
    min_count,
    epsilon,
    out_dir,
    ld_prune=None,
):
    """The body of `genshare stats` (its options checked; a failure leaves no --out)."""
    from genshare_widgets._outputs import STATISTICS
    from genshare_widgets.cli._stats_run import run_stats

    wanted = [name for name, on in flags.items() if on]
    if not wanted and not (pca_k or fst_window or sample_stats):
        wanted = list(STATISTICS)
    from genshare_widgets.cohort import open_cohort
    from genshare_widgets.disclosure import policy_for

    src = source_argument(source)
    cohort = open_cohort(src, engine=engine, samples=samples, scheduler=scheduler)
    warn_data_use(cohort.provenance.get("access"))
    written = run_stats(
        cohort,
        out_dir,
        by=by,
        wanted=wanted,
        pca_k=pca_k,
        region=region,
        min_maf=min_maf,
        snps_only=snps_only,
        folded=folded,
        fst_window=fst_window,
        sample_table=sample_stats,
        ld_prune=ld_prune,
        command=["genshare", *sys.argv[1:]],
        policy=policy_for(cohort.entry, min_count=min_count, epsilon=epsilon),
    )
    for path in written.values():
        click.echo(str(path))


@main.command()
@_consent_options
@click.argument("source", nargs=-1, required=True)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option("--pheno", required=True, help="Sample column holding the phenotype.")
@click.option(
    "--covar",
    metavar="C1,C2",
    help="Covariate columns, comma-separated (text columns become 0/1 indicators).",
)
@click.option(
    "--pcs",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="Add the cohort's first N principal components as covariates.",
)
@click.option(
    "--binary/--quantitative",
    "binary",
    default=None,
    help="Force logistic (case/control 1/0 or 2/1) or linear regression; default: binary "
    "when the phenotype has only the values 0/1 or 1/2.",
)
@click.option("--region", help="CHR or CHR:START-END (1-based, inclusive).")
@click.option(
    "--min-maf", type=float, help="Keep variants with MAF >= F over the analysed samples."
)
@click.option(
    "--snps-only", is_flag=True, help="Keep only single-base REF/ALT (drops indels, SVs)."
)
@MIN_COUNT_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for assoc.tsv and provenance.json (created).",
)
def assoc(
    source, samples, pheno, covar, pcs, binary, region, min_maf, snps_only, min_count, out_dir
):
    """Genome-wide association of SOURCE's variants with a phenotype (linear or logistic).

    Writes assoc.tsv (contig position ref alt n beta se stat p note; one row per tested
    variant, NA with a note where a test is undefined or withheld) and provenance.json.
    Additive ALT dosage; a missing call drops the sample for that variant only.

    \b
    Examples:
      genshare assoc sim-ooa --pheno height_like --covar sex --pcs 4 --out gwas/
      genshare assoc cohort.vcf.gz --samples pheno.tsv --pheno disease --binary --out gwas/
    """
    check_selection(region=region, min_maf=min_maf)
    check_out(out_dir)
    covariates = covariate_names({"covar": covar})
    with no_debris_at(out_dir), _out_writes(out_dir):
        from genshare_widgets.cli._assoc_run import run_association
        from genshare_widgets.cohort import open_cohort
        from genshare_widgets.disclosure import policy_for

        cohort = open_cohort(source_argument(source), samples=samples)
        warn_data_use(cohort.provenance.get("access"))
        written = run_association(
            cohort,
            out_dir,
            pheno=pheno,
            covar=covariates,
            pcs=pcs,
            binary=binary,
            region=region,
            min_maf=min_maf,
            snps_only=snps_only,
            policy=policy_for(cohort.entry, min_count=min_count),
            command=["genshare", *sys.argv[1:]],
        )
    for path in written.values():
        click.echo(str(path))


main.add_command(_scan_command)  # genshare scan (cli/_scan_run.py)


@main.command()
@_consent_options
@click.argument("source", nargs=-1)
@click.option(
    "--kind",
    type=click.Choice(FIGURE_KINDS),
    help="Which figure (fst = the pairwise heatmap; manhattan, qq: an association, --pheno).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.png, .svg, .pdf (kaleido), .html (self-contained) or .json.",
)
@click.option(
    "--from",
    "recipe",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rebuild the figure of a FILE.provenance.json sidecar (--out to write elsewhere).",
)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option("--by", default="population", show_default=True, help="Grouping sample column.")
@click.option("--region", help="CHR or CHR:START-END (1-based, inclusive).")
@click.option("--min-maf", type=float, help="Keep variants with MAF >= F (PCA default 0.05).")
@click.option("--snps-only", is_flag=True, help="Keep only single-base REF/ALT.")
@click.option(
    "--groups", help="A,B: the two groups of af-compare and joint-sfs; ld-heatmap: its samples."
)
@click.option("--variant", help="CHR:POS or an rsID (from the VCF ID column), for --kind variant.")
@click.option("--pca-k", type=click.IntRange(1), default=4, show_default=True, help="PCs computed.")
@click.option("--color-by", help="Sample column colouring the PCA (default: --by).")
@click.option(
    "--dims", type=click.Choice(["2", "3"]), default="2", show_default=True, help="2-D or 3-D PCA."
)
@click.option(
    "--fst-window",
    type=click.IntRange(1),
    default=500_000,
    show_default=True,
    metavar="BP",
    help="Window size of fst-windows.",
)
@click.option("--folded", is_flag=True, help="Folded SFS / joint SFS.")
@click.option(
    "--min-samples",
    type=click.IntRange(1),
    default=20,
    show_default=True,
    help="Representation: groups below this are flagged.",
)
@click.option(
    "--keep-groups",
    metavar="A,B,...",
    help="Only these groups of --by (the others' samples leave the analysis, MAF included).",
)
@click.option("--pheno", help="manhattan/qq: the sample column holding the phenotype.")
@click.option(
    "--covar",
    metavar="C1,C2",
    help="manhattan/qq: covariate columns (text columns become 0/1 indicators).",
)
@click.option(
    "--pcs",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    metavar="N",
    help="manhattan/qq: add the cohort's first N principal components as covariates.",
)
@click.option(
    "--binary/--quantitative",
    "binary",
    default=None,
    help="manhattan/qq: force logistic or linear regression (default: as genshare assoc).",
)
@click.option(
    "--ld-prune",
    metavar="W,S,R2",
    help="pca: on LD-pruned variants (plink2 --indep-pairwise W S R2 after the MAF filter).",
)
@click.option(
    "--ld-max-kb",
    type=click.FloatRange(min=0, min_open=True),
    default=100,
    show_default=True,
    help="ld-decay: longest distance between the variants of a pair (kb).",
)
@click.option(
    "--stat",
    type=click.Choice(["pbs", "h12", "ihs", "xpehh"]),
    help="scan: the statistic (--groups A,B,C for pbs; A for h12/ihs and haplotype-spectrum).",
)
@click.option("--window", type=click.IntRange(1), metavar="N", help="scan: window size.")
@click.option("--step", type=click.IntRange(1), metavar="M", help="scan: window step.")
@click.option(
    "--window-unit",
    type=click.Choice(["variants", "bp"]),
    default="variants",
    show_default=True,
    help="scan: unit of --window/--step.",
)
@click.option(
    "--top", type=click.IntRange(0), default=5, show_default=True, help="scan: rows labelled."
)
@click.option(
    "--reference",
    help="projection: the PCA reference file (genshare reference) or a catalog id with one.",
)
@MIN_COUNT_OPTION
@EPSILON_OPTION
def figure(
    source,
    kind,
    out,
    recipe,
    samples,
    by,
    region,
    min_maf,
    snps_only,
    groups,
    variant,
    pca_k,
    color_by,
    dims,
    fst_window,
    folded,
    min_samples,
    keep_groups,
    pheno,
    covar,
    pcs,
    binary,
    ld_prune,
    ld_max_kb,
    stat,
    window,
    step,
    window_unit,
    top,
    reference,
    min_count,
    epsilon,
):
    """Draw one figure of SOURCE and export it; a FILE.provenance.json recipe goes beside it.

    \b
    Examples:
      genshare figure sim-ooa --kind pca --out pca.png
      genshare figure 1kg-phase3-subset --kind variant --variant rs17160776 --out card.html
      genshare figure sim-ooa --kind manhattan --pheno height_like --pcs 2 --out gwas.html
      genshare figure hapmap3 --kind ld-decay --keep-groups CEU,YRI --out decay.png
      genshare figure --from pca.png.provenance.json --out again.svg
    """
    from genshare_widgets.figures import output_format, run_figure, run_from_recipe

    if recipe is not None:
        if source or kind:
            raise click.UsageError(
                "--from FILE rebuilds a recorded figure: give no SOURCE or --kind"
            )
        if out is not None:
            output_format(out)
        folder = (out or Path(recipe)).absolute().parent
        with no_debris_at(out or Path(recipe).parent), _out_writes(folder, "the --out folder"):
            written = run_from_recipe(
                recipe, out=out, report=lambda message: click.echo(message, err=True)
            )
    else:
        if not source:
            raise click.UsageError(
                "give a SOURCE (catalog id or path), or --from FILE.provenance.json"
            )
        if kind is None:
            raise click.UsageError(
                "missing option '--kind'; choose from: " + ", ".join(FIGURE_KINDS)
            )
        if out is None:
            raise click.UsageError("missing option '--out' (FILE.png|svg|pdf|html|json)")
        try:
            output_format(out)
        except GenShareError as exc:
            raise click.BadParameter(
                str(exc).removeprefix(f"--out {out}: "), param_hint="'--out'"
            ) from None
        check_selection(region=region, min_maf=min_maf)
        check_out(out)
        if kind not in ("manhattan", "qq"):  # association figures have no grouping
            check_grouping_table(source, samples, by)
        options = {
            "samples": str(samples) if samples else None,
            "by": by,
            "region": region,
            "min_maf": min_maf,
            "snps_only": snps_only,
            "groups": groups,
            "variant": variant,
            "pca_k": pca_k,
            "color_by": color_by,
            "dims": int(dims),
            "fst_window": fst_window,
            "folded": folded,
            "min_samples": min_samples,
            "keep_groups": keep_groups,
            "min_count": min_count,
            "epsilon": epsilon,
            "pheno": pheno,
            "covar": covar,
            "pcs": pcs,
            "binary": binary,
            "ld_prune": ld_prune,
            "ld_max_kb": ld_max_kb,
            "stat": stat,
            "window": window,
            "step": step,
            "window_unit": window_unit,
            "top": top,
            "reference": reference,
        }
        warn_data_use_of(source)
        with no_debris_at(out), _out_writes(out.absolute().parent, "the --out folder"):
            written = run_figure(list(source), kind=kind, out=out, options=options)
    for path in written.values():
        click.echo(str(path))


def _notebooks_dir() -> Path:
    env = os.environ.get("GENSHARE_NOTEBOOKS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "notebooks"


@main.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--notebooks",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to open (default: the repository's notebooks/).",
)
@click.argument("lab_args", nargs=-1, type=click.UNPROCESSED)
def lab(notebooks: Path | None, lab_args: tuple[str, ...]):
    """Start JupyterLab on the curated notebooks (extra arguments go to jupyter lab)."""
    folder = notebooks or _notebooks_dir()
    if not folder.is_dir():
        raise GenShareError(f"notebook folder {folder} does not exist (use --notebooks DIR)")
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={folder}", *lab_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in lab_args:
        cmd.append("--allow-root")
    if importlib.util.find_spec("jupyterlab") is None:
        raise GenShareError('JupyterLab is not installed: pip install "genshare_widgets[lab]"')
    click.echo("starting: " + " ".join(cmd), err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Become JupyterLab (no child process): stopping `genshare lab` stops the server.
    os.execv(sys.executable, cmd)


@main.command(context_settings={"ignore_unknown_options": True})
@_consent_options
@click.option("--port", type=int, help="Port to serve on (default: Voilà's, 8866).")
@click.option("--no-browser", is_flag=True, help="Do not open a web browser.")
@click.option(
    "--cohort",
    "cohort_id",
    metavar="ID",
    help="Cohort shown first (default: the first one that opens offline, sim-ooa).",
)
@click.option(
    "--by", default="population", show_default=True, help="Sample column that defines groups."
)
@click.option(
    "--notebook",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The app notebook to serve (default: the repository's notebooks/app.ipynb).",
)
@click.argument("voila_args", nargs=-1, type=click.UNPROCESSED)
def app(
    port: int | None,
    no_browser: bool,
    cohort_id: str | None,
    by: str,
    notebook: Path | None,
    voila_args: tuple[str, ...],
):
    """Serve the cohort explorer as a standalone web page (Voilà), code hidden.

    The page has a cohort picker (cohorts that open offline: the simulated ones and those
    already in the cache or a GENSHARE_MIRROR folder) above the explorer. It listens on
    127.0.0.1 by default; extra arguments go to voila (e.g. --Voila.ip=0.0.0.0 to share it).

    \b
    Example:
      genshare app --cohort sim-admix --port 8866 --no-browser
    """
    from genshare_widgets.catalog import get_entry

    path = notebook or _notebooks_dir() / "app.ipynb"
    if not path.is_file():
        raise GenShareError(f"app notebook {path} does not exist (use --notebook FILE.ipynb)")
    if importlib.util.find_spec("voila") is None:
        raise GenShareError('Voilà is not installed: pip install "genshare_widgets[lab]"')
    if cohort_id is not None:
        get_entry(cohort_id)  # an unknown id is one clear line here, not an error in the page
        os.environ["GENSHARE_APP_COHORT"] = cohort_id
    os.environ["GENSHARE_APP_BY"] = by
    cmd = [sys.executable, "-m", "voila", str(path)]
    if not any(a.startswith(("--Voila.ip", "--ip")) for a in voila_args):
        cmd.append("--Voila.ip=127.0.0.1")
    if port is not None:
        cmd.append(f"--port={port}")
    if no_browser:
        cmd.append("--no-browser")
    cmd += list(voila_args)
    click.echo("starting: " + " ".join(cmd), err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Become Voilà (no child process): stopping `genshare app` stops the server and kernels.
    os.execv(sys.executable, cmd)


def _add_service_commands() -> None:
    from genshare_widgets.cli._services import beacon, federate, site

    for command in (beacon, site, federate):
        main.add_command(command)
    from genshare_widgets.cli._famous_run import famous

    main.add_command(famous)
    from genshare_widgets.cli._projection import project_command, reference_command

    main.add_command(reference_command)
    main.add_command(project_command)
    from genshare_widgets.cli._audit import catalog_audit_command

    catalog.add_command(catalog_audit_command)


_add_service_commands()


def _add_ld_commands() -> None:
    from genshare_widgets.cli._ld import ld_prune_command

    main.add_command(ld_prune_command)


_add_ld_commands()


if __name__ == "__main__":
    main()
