"""The network-service commands of ``genshare``: ``beacon serve``, ``site serve`` and
``federate`` (registered on the main group by :mod:`genshare_widgets.cli`)."""

import sys
from pathlib import Path

import click

from genshare_widgets._errors import GenShareError
from genshare_widgets.cli._options import (
    EPSILON_OPTION,
    MIN_COUNT_OPTION,
    SAMPLES_OPTION,
    WITHDRAWN_OPTION,
    _consent_options,
    serve_options,
    source_argument,
)

CUSTODIAN_OPTION = click.option(
    "--custodian-config",
    "custodian_config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The data custodian's settings (YAML: disclosure: min_count, min_variants, "
    "epsilon_per_release_max, epsilon_budget; ledger:). May only tighten the catalog entry.",
)


@click.group()
def beacon() -> None:
    """GA4GH Beacon v2 API for one cohort (see README "GA4GH Beacon v2")."""


@beacon.command("serve")
@_consent_options
@click.argument("source", nargs=-1, required=True)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option(
    "--by",
    default="population",
    show_default=True,
    help="Sample column whose groups get frequencyInPopulations rows.",
)
@serve_options(port=5050)
@click.option(
    "--granularity",
    type=click.Choice(["boolean", "count", "record", "aggregated"]),
    help="Most detailed answer (default: record if open, else count).",
)
@click.option(
    "--security",
    type=click.Choice(["PUBLIC", "REGISTERED", "CONTROLLED"]),
    help="Default: from the access tier; may be raised, never lowered.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Bearer tokens: one per line, or a YAML list (or $GENSHARE_BEACON_TOKENS).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(1),
    metavar="N",
    help="At most N requests per minute per client (token, else address).",
)
@click.option(
    "--forwarded-allow-ips",
    metavar="IPS",
    help="Reverse proxies (comma-separated) whose X-Forwarded-For is trusted (default: none; "
    "the client address is the TCP peer).",
)
@MIN_COUNT_OPTION
@EPSILON_OPTION
@CUSTODIAN_OPTION
def beacon_serve(source, samples, by, host, port, granularity, security, token_file,
                 rate_limit, forwarded_allow_ips, min_count, epsilon, custodian_config,
                 ssl_certfile,
                 ssl_keyfile):  # fmt: skip
    """Serve SOURCE as a GA4GH Beacon v2 API (counts released once at start-up).

    \b
    Example:
      genshare beacon serve sim-ooa --granularity record --port 5050
      curl 'http://127.0.0.1:5050/g_variants?referenceName=1&start=17&alternateBases=T'
    """
    from genshare_widgets.beacon._client import serve_beacon_forever

    serve_beacon_forever(
        source_argument(source),
        samples=samples,
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        by=by,
        granularity=granularity,
        security=security,
        tokens=token_file,
        min_count=min_count,
        epsilon=epsilon,
        rate_limit=rate_limit,
        forwarded_allow_ips=forwarded_allow_ips,
        custodian=custodian_config,
    )


@click.group()
def site() -> None:
    """Federation site: serve released counts of a cohort (README "Federated analysis")."""


@site.command("serve")
@_consent_options
@click.argument("source", nargs=-1, required=True)
@SAMPLES_OPTION
@WITHDRAWN_OPTION
@click.option(
    "--by",
    "groupings",
    multiple=True,
    help="The one grouping column served (default: the population column).",
)
@click.option("--name", help="Site name in answers and reports (default: the cohort id).")
@serve_options(port=5060)
@MIN_COUNT_OPTION
@EPSILON_OPTION
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the bearer token every request must carry.",
)
@CUSTODIAN_OPTION
@click.option(
    "--pca-reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Custodian-approved PCA reference file (needs --pca-reference-sha256).",
)
@click.option("--pca-reference-sha256", metavar="HEX", help="sha256sum of --pca-reference.")
@click.option(
    "--pca-k",
    type=int,
    metavar="K",
    help="Fit a K-component reference on this site's open-tier data (K <= 10).",
)
@click.option(
    "--pca-min-maf", type=float, default=0.05, show_default=True, help="MAF filter of --pca-k."
)
@click.option(
    "--assoc-pheno",
    "assoc_pheno",
    multiple=True,
    metavar="COL",
    help="Phenotype column POST /assoc serves (repeatable; none: no association).",
)
@click.option(
    "--assoc-covar",
    "assoc_covar",
    multiple=True,
    metavar="COL",
    help="Covariate column POST /assoc may use (repeatable, or C1,C2).",
)
@click.option(
    "--assoc-pcs",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="Also serve PC1..PCN as covariates: projections onto the approved PCA reference.",
)
def site_serve(source, samples, groupings, name, host, port, min_count, epsilon, token_file,
               custodian_config, pca_reference, pca_reference_sha256, pca_k, pca_min_maf,
               assoc_pheno, assoc_covar, assoc_pcs, ssl_certfile, ssl_keyfile):  # fmt: skip
    """Serve SOURCE as a counts-only federation site (released per-group counts, no samples).

    One grouping, fixed at start; groups under max(k, 5) samples are never served; PCA only
    onto one reference: an approved file pinned by sha256, or (open-tier data only) one fitted
    here with --pca-k.

    \b
    Example:
      genshare site serve 1kg-phase3-subset --samples site_a.tsv --name site-a --port 5061 \\
          --by superpopulation --pca-reference ref.json \\
          --pca-reference-sha256 "$(sha256sum ref.json | cut -d' ' -f1)"
    """
    from genshare_widgets._serve import serve_forever, tls_options, withdrawal_aware_app
    from genshare_widgets.disclosure import custodian_settings, policy_for
    from genshare_widgets.federation import PCAReference, open_site_cohort, site_app

    tls = tls_options(ssl_certfile, ssl_keyfile)  # refuse half a TLS pair before any work
    if len(set(groupings)) > 1:
        raise GenShareError(
            f"--by given {len(set(groupings))} times ({', '.join(groupings)}): a site serves "
            "one grouping (two groupings of the same samples let a coarse total minus its "
            "released finer groups recover a suppressed count); run one site per grouping, "
            "never two over the same samples"
        )
    if (pca_reference is None) != (pca_reference_sha256 is None):
        raise GenShareError(
            "--pca-reference and --pca-reference-sha256 go together: the custodian pins the "
            "approved file by its sha256 (sha256sum FILE)"
        )
    reference = (
        PCAReference.load(pca_reference, sha256=pca_reference_sha256)
        if pca_reference is not None
        else None
    )
    src = source_argument(source)
    cohort = open_site_cohort(src, samples=samples)
    if groupings and groupings[0] not in cohort.samples.columns:  # before any port is bound
        table = f"--samples {samples}" if samples else f"the sample table of {cohort.id}"
        raise GenShareError(
            f"--by {groupings[0]}: no such column in {table} (its columns: "
            f"{', '.join(map(str, cohort.samples.columns))}); give --by naming one of them or "
            "add the column to the table"
        )
    token = token_file.read_text().strip() if token_file else None
    if token_file and not token:
        raise GenShareError(f"--token-file {token_file} is empty; put the token in it")
    settings = custodian_settings(cohort.entry, custodian_config)  # contradictions stop here
    policy = policy_for(cohort.entry, min_count=min_count, epsilon=epsilon, custodian=settings)
    budget = settings.budget(cohort.id)  # the cohort's ledger: persists across restarts
    if policy.epsilon is not None:
        budget.create()  # total and cap recorded now: a restart cannot raise them
    app = withdrawal_aware_app(cohort, lambda c: site_app(  # a changed list: picked up
        c, name=name or c.id, by=groupings[0] if groupings else None, policy=policy,
        token=token, pca_reference=reference, pca_k=pca_k, pca_min_maf=pca_min_maf,
        budget=budget, assoc_phenotypes=_listed(assoc_pheno),
        assoc_covariates=_listed(assoc_covar), assoc_pcs=assoc_pcs,
    ))  # fmt: skip
    click.echo(f"site {name or cohort.id}: {policy.describe()}", err=True)
    if policy.epsilon is not None:
        click.echo(
            f"privacy budget: {budget.remaining:g} of {budget.total:g} left "
            f"(ledger {budget.ledger}, set by {settings.origin})",
            err=True,
        )
    serve_forever(app, host=host, port=port, **tls)


def _listed(values) -> list[str]:
    """Repeatable and comma-separated values of an option, in order, once each."""
    return list(dict.fromkeys(v.strip() for item in values for v in item.split(",") if v.strip()))


@click.command()
@click.option("--site", "sites", multiple=True, required=True, help="Site URL (repeatable).")
@click.option(
    "--stats",
    "wanted",
    default="freq,fst,het,sfs,shared",
    show_default=True,
    help="Count statistics, or assoc alone (federated association: needs --pheno).",
)
@click.option("--by", help="Grouping column every site offers (count statistics).")
@click.option("--pheno", metavar="COL", help="assoc: the phenotype every site serves.")
@click.option("--covar", "covar", multiple=True, metavar="C1,C2", help="assoc: covariates.")
@click.option("--binary", is_flag=True, help="assoc: binary trait, logistic regression.")
@click.option(
    "--pcs",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="assoc: add PC1..PCN (each site's projection onto its approved PCA reference).",
)
@click.option(
    "--meta", is_flag=True, help="assoc: also assoc_meta.tsv (inverse-variance meta-analysis)."
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--region", help="CHR or CHR:START-END (1-based, inclusive).")
@click.option("--min-maf", type=float, help="MAF filter on the combined counts.")
@click.option("--snps-only", is_flag=True, help="Keep only single-base REF/ALT.")
@click.option("--folded", is_flag=True, help="Fold the SFS.")
@click.option("--pca", "pca_k", type=int, metavar="K", help="pca_groups.tsv: group centroids.")
@click.option(
    "--pca-reference",
    help="Site URL serving its approved PCA reference, or a reference file (default: the "
    "first site advertising one).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds per request, to the last byte of the answer; a site slower than that is "
    "excluded.",
)
@click.option(
    "--min-sites",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Stop, writing nothing, when fewer sites than this can be used.",
)
@click.option("--token", envvar="GENSHARE_FEDERATION_TOKEN", help="Bearer token for the sites.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False), help="TLS CA file.")
def federate(sites, wanted, by, pheno, covar, binary, pcs, meta, out_dir, region, min_maf,
             snps_only, folded, pca_k, pca_reference, timeout, min_sites, token,
             ca_bundle):  # fmt: skip
    """Query federation sites, combine their counts, write the `genshare stats` files.

    \b
    Example:
      genshare federate --site http://a:5061 --site http://b:5062 --stats fst,freq \\
          --by superpopulation --out results/
      genshare federate --site http://a:5061 --site http://b:5062 --stats assoc \\
          --pheno bmi --covar age,sex --out results/
    """
    from genshare_widgets.federation import federate as run_federation
    from genshare_widgets.federation._coordinator import describe_exclusion

    result = run_federation(
        list(sites), stats=wanted.split(","), by=by, out=out_dir, region=region,
        min_maf=min_maf, snps_only=snps_only, folded=folded, timeout=timeout, token=token,
        verify=ca_bundle or True, pca_k=pca_k, pca_reference=pca_reference,
        min_sites=min_sites, command=["genshare", *sys.argv[1:]], pheno=pheno,
        covar=_listed(covar) + [f"PC{i + 1}" for i in range(pcs)], binary=binary, meta=meta,
    )  # fmt: skip
    for item in result.excluded:
        click.secho(f"excluded {describe_exclusion(item)}", fg="yellow", err=True)
    for path in result.files.values():
        click.echo(str(path))


@beacon.command("network")
@click.option(
    "--beacon",
    "beacons",
    multiple=True,
    required=True,
    metavar="URL",
    help="A Beacon's base URL (repeatable): each is asked the same /g_variants question.",
)
@click.option("--reference-name", required=True, help="referenceName, e.g. 1 or chr1.")
@click.option("--start", type=click.IntRange(0), required=True, help="0-based start (VCF POS - 1).")
@click.option("--end", type=click.IntRange(1), help="0-based exclusive end: a range query.")
@click.option("--reference-bases", help="referenceBases (sequence query).")
@click.option("--alternate-bases", help="alternateBases (sequence query).")
@click.option("--variant-type", help="variantType (SNP, INDEL, DEL, ...).")
@click.option("--assembly-id", help="assemblyId (GRCh37, GRCh38, ...).")
@click.option(
    "--granularity",
    type=click.Choice(["boolean", "count", "record", "aggregated"]),
    default="record",
    show_default=True,
    help="requestedGranularity (frequencies come from record-level answers).",
)
@click.option("--method", type=click.Choice(["GET", "POST"]), default="GET", show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds each Beacon has for its whole answer; a slower one is excluded.",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds the whole query may take (default 2 x --timeout + 1).",
)
@click.option(
    "--token",
    "token_items",
    multiple=True,
    metavar="URL=TOKEN",
    help="Bearer token for one Beacon (repeatable); sent to that Beacon only.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Lines 'URL TOKEN' (or URL=TOKEN): tokens kept off the command line.",
)
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False), help="TLS CA file.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON records.")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the merged table to this TSV file (excluded Beacons included, with reasons).",
)
def beacon_network(beacons, reference_name, start, end, reference_bases, alternate_bases,
                   variant_type, assembly_id, granularity, method, timeout, deadline,
                   token_items, token_file, ca_bundle, as_json, out_file):  # fmt: skip
    """Ask many Beacons one /g_variants question in parallel; print one merged table.

    One row per Beacon and, at record granularity, per variant and population. A Beacon that
    is down, slow, refuses or answers malformed data is listed as excluded, with the reason
    (on stderr, and in the table's status/reason columns). Exit status 1 when no Beacon
    answered.

    \b
    Example:
      genshare beacon network --beacon http://127.0.0.1:5050 --beacon http://127.0.0.1:5051 \\
          --reference-name 1 --start 16 --alternate-bases T --granularity record
    """
    import json

    from genshare_widgets.beacon import _network

    tokens = _network.parse_tokens(token_items)
    if token_file is not None:
        tokens.update(_network.parse_tokens(token_file.read_text().splitlines()))
    result = _network.beacon_network(
        list(beacons), reference_name=reference_name, start=start, end=end,
        reference_bases=reference_bases, alternate_bases=alternate_bases,
        variant_type=variant_type, assembly_id=assembly_id, granularity=granularity,
        method=method, timeout=timeout, deadline=deadline, tokens=tokens,
        verify=ca_bundle or True,
    )  # fmt: skip
    table = result.table
    if out_file is not None:
        table.to_csv(out_file, sep="\t", index=False, na_rep="NA")
        click.echo(str(out_file))
    elif as_json:
        records = json.loads(table.to_json(orient="records"))
        click.echo(json.dumps({"query": result.query.describe(), "rows": records}, indent=1))
    else:
        shown = table.drop(columns=["reason"]).dropna(axis=1, how="all").astype(object)
        shown = shown.where(shown.notna(), ".")  # one mark for "this Beacon did not say"
        with _wide_display():
            click.echo(shown.to_string(index=False))
    for item in result.excluded:
        click.secho(f"excluded {item['beacon']}: {item['reason']}", fg="yellow", err=True)
    if len(result.excluded) == len(result.beacons):
        raise SystemExit(1)


def _wide_display():
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", None)
