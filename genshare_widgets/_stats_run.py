"""`genshare stats`: compute the requested statistics and write the contract's files.

Every file is written into a temporary folder beside ``--out`` and moved into place only when
all of them are complete, so a failure leaves no half-written result.
"""

import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genshare_widgets._errors import GenShareError

if TYPE_CHECKING:  # pandas loads inside the functions: the direct hot path never needs it
    import pandas as pd

    from genshare_widgets.disclosure import DisclosurePolicy

STATISTICS = ("freq", "fst", "het", "sfs", "shared")


def _dist_info_versions() -> dict[str, str]:
    """{normalised distribution name: version} from the ``*.dist-info`` folder names on
    ``sys.path`` — what ``importlib.metadata`` reads, without its half-second of imports."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for item in names:
            if item.endswith(".dist-info") and "-" in item:
                name, _, ver = item[: -len(".dist-info")].rpartition("-")
                found.setdefault(name.lower().replace("-", "_").replace(".", "_"), ver)
    return found


def package_versions(*, engine: str = "dask") -> dict[str, str]:
    """Versions of the packages a result depends on (Hail and PySpark for engine "hail")."""
    out: dict[str, str] = {}
    installed = _dist_info_versions()
    extra = ("hail", "pyspark") if engine == "hail" else ()
    for name in (
        *extra,
        "genshare_widgets",
        "numpy",
        "pandas",
        "xarray",
        "dask",
        "zarr",
        "distributed",
        "fsspec",
        "cyvcf2",
        "msprime",
        "stdpopsim",
        "scipy",
    ):
        if name in installed:
            out[name] = installed[name]
            continue
        from importlib.metadata import PackageNotFoundError, version

        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    out["python"] = platform.python_version()
    return out


def write_arrow_tsv(table, path: Path) -> None:
    """Write a ``pyarrow.Table``: tab-separated, header row, ``NA`` for nulls, floats in
    shortest round-trip form (Arrow's C++ writer: ten times faster than pandas on a
    500,000-row freq.tsv)."""
    import pyarrow as pa
    from pyarrow import csv

    def options(header: bool):
        return csv.WriteOptions(
            include_header=header,
            delimiter="\t",
            quoting_style="none",
            quoting_header="none",
            null_string="NA",
        )

    if table.num_rows < 200_000:
        csv.write_csv(table, str(path), options(True))
        return
    # Large tables: format two halves at once (Arrow releases the GIL), then write in order.
    from concurrent.futures import ThreadPoolExecutor

    half = table.num_rows // 2

    def render(part, header: bool):
        sink = pa.BufferOutputStream()
        csv.write_csv(part, sink, options(header))
        return sink.getvalue()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(render, table.slice(0, half), True)
        second = pool.submit(render, table.slice(half), False)
        parts = [first.result(), second.result()]
    with open(path, "wb") as out:
        for buffer in parts:
            out.write(buffer)


def _write_tsv(table: "pd.DataFrame", path: Path) -> None:
    """A DataFrame through :func:`write_arrow_tsv` (NaN becomes ``NA``)."""
    import pyarrow as pa

    write_arrow_tsv(pa.Table.from_pandas(table, preserve_index=False), path)


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
) -> dict[str, Path]:
    """Compute and write the requested statistics; returns {file name: final path}.

    ``policy`` (default: the cohort's tier default, :func:`disclosure.policy_for`) decides
    what leaves: under suppression or noise every table comes from the release
    (:mod:`genshare_widgets.disclosure._release`); ``budget`` is charged for noise (default:
    the cohort's ledger under ``$GENSHARE_STATE/privacy``).
    """
    from genshare_widgets.counts import allele_counts_by_group, pass_scheduler
    from genshare_widgets.disclosure import policy_for, release_counts
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
                budget=budget if budget is not None else _cohort_budget(cohort),
                min_maf=min_maf,
                what=f"genshare stats {cohort.id} --by {by} ({', '.join(wanted)})",
            )
        tables = count_tables(counts, wanted, folded, fst_window) if counts is not None else {}
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
        for name, table in tables.items():
            _write_tsv(table, tmp / name)
        provenance = stats_provenance(
            cohort.provenance,
            cohort_id=cohort.id,
            engine=cohort.engine,
            dask_scheduler=resolve_scheduler(pass_scheduler(cohort)) or "local threads",
            by=by,
            files_written=sorted(tables),
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
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, default=str))
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


def _group_sizes(cohort, by: str) -> dict[str, int]:
    """Samples per group of ``by`` (samples without a value are not in any group)."""
    column = cohort.samples[by].dropna().astype(str)
    return {str(g): int(n) for g, n in column.value_counts().sort_index().items()}


def _cohort_budget(cohort, custodian=None):
    """The privacy ledger of this cohort: keyed by cohort id (not by store, cache folder or
    chunking), total and per-release cap from the custodian (entry, or a service's config)."""
    from genshare_widgets.disclosure import custodian_settings
    from genshare_widgets.fetch import cache_dir

    budget = custodian_settings(cohort.entry, custodian).budget(cohort.id)
    store_key = cohort.provenance.get("store_key")
    # ledgers of earlier versions: keyed by store, inside the cache
    old = cache_dir() / "privacy" / f"{store_key}.json" if store_key else None
    return budget.carry_over(old) if old is not None else budget


def count_tables(
    counts, wanted: list[str], folded: bool, fst_window: int | None
) -> "dict[str, pd.DataFrame]":
    """The ``genshare stats`` count tables of ``counts``: exact counts, or a release of the
    disclosure room (whose functions give the plain statistics for exact counts)."""
    from genshare_widgets import disclosure

    tables: dict[str, Any] = {}
    if "freq" in wanted:
        tables["freq.tsv"] = disclosure.frequency_table(counts)
    if "fst" in wanted:
        tables["fst.tsv"] = disclosure.hudson_fst(counts)
    if fst_window:
        tables["fst_windows.tsv"] = disclosure.fst_windows(counts, size=fst_window)
    if "het" in wanted:
        tables["het.tsv"] = disclosure.heterozygosity(counts)
    if "sfs" in wanted:
        tables["sfs.tsv"] = disclosure.sfs(counts, folded=folded)
    if "shared" in wanted:
        tables["shared.tsv"] = disclosure.shared_private(counts)
    return tables


def _genotype_pass(cohort) -> str:
    """Which genotype pass ran: "hail", "bitplanes" (local store, this machine) or "dask"."""
    from genshare_widgets.counts import _direct_store, pass_scheduler

    if cohort.engine == "hail":
        return "hail"
    if pass_scheduler(cohort) is None and _direct_store(cohort) is not None:
        return "bitplanes"
    return "dask"


def publish(tmp: Path, out: Path) -> dict[str, Path]:
    """Move every finished file of ``tmp`` into ``out``; → {file name: final path}."""
    written: dict[str, Path] = {}
    for item in sorted(tmp.iterdir()):
        final = out / item.name
        os.replace(item, final)
        written[item.name] = final
    return written


def stats_provenance(
    source: dict[str, Any],
    *,
    cohort_id: str,
    engine: str,
    dask_scheduler: str,
    by: str,
    files_written: list[str],
    filters: dict[str, Any],
    pca_info: dict[str, Any] | None,
    groups: dict[str, int] | None,
    genotype_pass: str | None,
    command: list[str] | None,
    policy=None,
    withheld_groups: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The provenance.json record of a ``genshare stats`` run."""
    return {
        "source": source.get("source"),
        "cohort_id": cohort_id,
        "catalog_version": source.get("catalog_version"),
        "entry_version": source.get("entry_version"),
        "files": source.get("files"),
        "store_key": source.get("store_key"),
        "store_content_sha256": source.get("store_content_sha256"),
        "engine": engine,
        "dask_scheduler": dask_scheduler,
        "genotype_pass": genotype_pass,
        "by": by,
        "statistics": files_written,
        "filters": {"biallelic_only": True, **filters},
        "pca": pca_info,
        "groups": groups,
        "disclosure_policy": policy.to_dict() if policy is not None else None,
        "withheld_groups": withheld_groups or {},
        "access": source.get("access"),
        "package_versions": package_versions(engine=engine),
        "command": command or sys.argv,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
