"""The files a statistics run writes: TSV writing, the count tables, the provenance record
and the move into place. Shared by ``genshare stats`` (:mod:`genshare_widgets.cli`) and the
federation coordinator, so it sits below both."""

import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas loads inside the functions
    import pandas as pd

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


def write_tsv(table: "pd.DataFrame", path: Path) -> None:
    """A DataFrame through :func:`write_arrow_tsv` (NaN becomes ``NA``)."""
    import pyarrow as pa

    write_arrow_tsv(pa.Table.from_pandas(table, preserve_index=False), path)


def group_sizes(cohort, by: str) -> dict[str, int]:
    """Samples per group of ``by`` (samples without a value are not in any group)."""
    column = cohort.samples[by].dropna().astype(str)
    return {str(g): int(n) for g, n in column.value_counts().sort_index().items()}


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
