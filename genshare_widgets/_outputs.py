"""The files a statistics run writes: TSV writing, the count tables, the provenance record
and the move into place. Shared by ``genshare stats`` (:mod:`genshare_widgets.cli`) and the
federation coordinator, so it sits below both."""

import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
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


#: Rows per block of a streamed TSV: the largest text a block holds is a few MiB, and
#: Arrow's writer is past its per-call overhead.
BLOCK_ROWS = 65_536


def _csv_options(header: bool):
    from pyarrow import csv

    return csv.WriteOptions(
        include_header=header,
        delimiter="\t",
        quoting_style="none",
        quoting_header="none",
        null_string="NA",
    )


def _render(block: Any, header: bool):
    """One block as TSV text (a ``pyarrow.Buffer``): ``block`` is a ``pyarrow`` Table or
    record batch, or {name: numpy array} in file order (NaN and None become null). Arrow's
    C++ CSV writer formats it (floats in shortest round-trip form, null as ``NA``) and
    releases the GIL while it does."""
    import pyarrow as pa
    from pyarrow import csv

    # The system allocator, not Arrow's default mimalloc: a block's buffers are freed as soon
    # as it is written, and mimalloc's per-thread heaps would keep them resident.
    pool = pa.system_memory_pool()
    if isinstance(block, dict):
        block = pa.record_batch(
            [pa.array(v, from_pandas=True, memory_pool=pool) for v in block.values()],
            names=list(block),
        )
    sink = pa.BufferOutputStream(memory_pool=pool)
    csv.write_csv(block, sink, _csv_options(header), memory_pool=pool)
    return sink.getvalue()


def write_blocks(blocks: "Iterable[Callable[[], Any]]", path: Path) -> None:
    """Write a TSV block by block: each item of ``blocks`` makes one block's columns (the
    first block's names are the header, written once). Two blocks are made and formatted at
    a time on two threads and appended in order, so memory holds a few blocks, never the
    table. ``blocks`` must give at least one (possibly empty) block."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def job(make, header: bool):
        return _render(make(), header)

    with open(path, "wb") as out, ThreadPoolExecutor(max_workers=2) as pool:
        pending: deque = deque()
        for i, make in enumerate(blocks):
            pending.append(pool.submit(job, make, i == 0))
            if len(pending) > 2:
                out.write(pending.popleft().result())
        while pending:
            out.write(pending.popleft().result())


def write_arrow_tsv(table, path: Path, *, block_rows: int | None = None) -> None:
    """Write a ``pyarrow.Table``: tab-separated, header row, ``NA`` for nulls, floats in
    shortest round-trip form (Arrow's C++ writer: ten times faster than pandas on a
    500,000-row freq.tsv), :data:`BLOCK_ROWS` rows at a time (:func:`write_blocks`)."""

    rows = block_rows or BLOCK_ROWS

    def block(start: int):
        return lambda: table.slice(start, rows)

    write_blocks((block(s) for s in range(0, max(table.num_rows, 1), rows)), path)


def write_tsv(table: "pd.DataFrame", path: Path) -> None:
    """A DataFrame through :func:`write_arrow_tsv` (NaN becomes ``NA``)."""
    import pyarrow as pa

    write_arrow_tsv(pa.Table.from_pandas(table, preserve_index=False), path)


def write_freq_tsv(counts, path: Path, *, block_rows: int | None = None) -> None:
    """``freq.tsv`` of ``counts`` (exact or released) streamed :data:`BLOCK_ROWS` variants at
    a time: each block's columns come from
    :func:`genshare_widgets.disclosure._release.frequency_columns` (the function behind
    ``frequency_table``) on that slice of the variants, straight into an Arrow record batch;
    no DataFrame and no whole-table text is ever built. Byte-identical to
    ``write_tsv(disclosure.frequency_table(counts), path)``."""
    from genshare_widgets.disclosure._release import frequency_columns

    counts = counts.compute()  # numpy-backed: a slice must not recompute a Dask graph
    n, rows = int(counts.sizes["variants"]), block_rows or BLOCK_ROWS

    def block(start: int):
        return lambda: frequency_columns(counts.isel(variants=slice(start, start + rows)))

    write_blocks((block(s) for s in range(0, max(n, 1), rows)), path)


def group_sizes(cohort, by: str) -> dict[str, int]:
    """Samples per group of ``by`` (samples without a value are not in any group)."""
    column = cohort.samples[by].dropna().astype(str)
    return {str(g): int(n) for g, n in column.value_counts().sort_index().items()}


def _count_table_makers(wanted: list[str], folded: bool, fst_window: int | None) -> dict:
    """{file name: function of the counts giving its table}, in the order they are made."""
    from genshare_widgets import disclosure

    makers: dict[str, Any] = {}
    if "freq" in wanted:
        makers["freq.tsv"] = disclosure.frequency_table
    if "fst" in wanted:
        makers["fst.tsv"] = disclosure.hudson_fst
    if fst_window:
        makers["fst_windows.tsv"] = lambda c: disclosure.fst_windows(c, size=fst_window)
    if "het" in wanted:
        makers["het.tsv"] = disclosure.heterozygosity
    if "sfs" in wanted:
        makers["sfs.tsv"] = lambda c: disclosure.sfs(c, folded=folded)
    if "shared" in wanted:
        makers["shared.tsv"] = disclosure.shared_private
    return makers


def count_tables(
    counts, wanted: list[str], folded: bool, fst_window: int | None
) -> "dict[str, pd.DataFrame]":
    """The ``genshare stats`` count tables of ``counts``: exact counts, or a release of the
    disclosure room (whose functions give the plain statistics for exact counts)."""
    return {
        name: make(counts) for name, make in _count_table_makers(wanted, folded, fst_window).items()
    }


def write_count_tables(
    counts, folder: Path, wanted: list[str], folded: bool, fst_window: int | None
) -> list[str]:
    """Write the :func:`count_tables` of ``counts`` into ``folder`` (freq.tsv streamed by
    :func:`write_freq_tsv`, the small tables through :func:`write_tsv`); → the file names."""
    makers = _count_table_makers(wanted, folded, fst_window)
    for name, make in makers.items():
        if name == "freq.tsv":
            write_freq_tsv(counts, folder / name)
        else:
            write_tsv(make(counts), folder / name)
    return list(makers)


@contextlib.contextmanager
def staged_output(out: Path, what: str) -> "Iterator[Path]":
    """A temporary folder inside ``out`` for a run's files, which :func:`publish` moves into
    place only when all are complete. On any failure the folders on the way to ``out`` that
    this run created are removed too (a failed command leaves nothing at ``--out``); the
    temporary folder is always removed."""
    out = Path(out)
    made = [d for d in (out, *out.parents) if not d.exists()]  # innermost first
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".genshare-{what}-", dir=out))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:  # only folders this run created, if left empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(tmp: Path, out: Path) -> dict[str, Path]:
    """Move every finished file of ``tmp`` into ``out``; → {file name: final path}."""
    written: dict[str, Path] = {}
    for item in sorted(tmp.iterdir()):
        final = out / item.name
        os.replace(item, final)
        written[item.name] = final
    return written


def write_provenance(folder: Path, record: dict[str, Any]) -> None:
    """Write a run's ``provenance.json`` into ``folder`` (the temporary folder the run
    publishes when complete, after its other files). Under a RTN data-use term the record
    names the return address and ``RETURN.md`` lists every file with its sha256."""
    from genshare_widgets.disclosure._modifiers import return_to, write_return_manifest

    back = return_to(record.get("access"))
    if back is not None:
        record["return_to"] = back
    (folder / "provenance.json").write_text(json.dumps(record, indent=2, default=str))
    if back is not None:
        made = [p for p in folder.iterdir() if p.is_file()]
        write_return_manifest(folder / "RETURN.md", record, made)


def output_provenance(
    cohort,
    *,
    statistics: list[str],
    policy=None,
    command: list[str] | None = None,
    engine: str | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """The provenance.json record of a run that wrote ``statistics`` from ``cohort``: where
    the data came from (source, catalog and entry versions, file and store hashes, the
    ``--samples`` table, withdrawals, access), the run's own ``sections`` (filters, the
    statistic's settings), the disclosure policy, package versions, command and time. Every
    command's provenance (stats, assoc, scan, ld-prune, famous) is this record."""
    source = cohort.provenance
    engine = str(engine or getattr(cohort, "engine", "dask"))
    return {
        "source": source.get("source"),
        "cohort_id": getattr(cohort, "id", None),
        "catalog_version": source.get("catalog_version"),
        "entry_version": source.get("entry_version"),
        "files": source.get("files"),
        "store_key": source.get("store_key"),
        "store_content_sha256": source.get("store_content_sha256"),
        "samples_table": source.get("samples_table"),
        "engine": engine,
        "statistics": list(statistics),
        **sections,
        "disclosure_policy": policy.to_dict() if policy is not None else None,
        "access": source.get("access"),
        "withdrawals": source.get("withdrawals"),
        "package_versions": package_versions(engine=engine),
        "command": command or sys.argv,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


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
    record = output_provenance(
        _Provenanced(source, cohort_id, engine),
        statistics=files_written,
        policy=policy,
        command=command,
        dask_scheduler=dask_scheduler,
        genotype_pass=genotype_pass,
        by=by,
        filters={"multiallelic": "split per ALT allele (bcftools norm -m-)", **filters},
        pca=pca_info,
        groups=groups,
        withheld_groups=withheld_groups or {},
    )
    return record


class _Provenanced:
    """A cohort's provenance, id and engine (what :func:`output_provenance` reads) for a
    caller that holds the record, not the cohort."""

    def __init__(self, provenance: dict[str, Any], id: str, engine: str) -> None:
        self.provenance, self.id, self.engine = provenance, id, engine
