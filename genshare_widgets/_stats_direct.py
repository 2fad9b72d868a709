"""`genshare stats` hot path: count statistics of a prepared local store without xarray/dask.

Used when SOURCE is a GenShare VCF-Zarr store with the packed genotype copy, ``--samples`` is
a plain table (unique ids, every genotyped sample listed, a non-numeric grouping column) and
only count statistics are asked for (freq, fst, het, sfs, shared, --fst-window). Counting
goes through :func:`engines._direct.direct_group_counts`; freq.tsv and fst.tsv are written
from numpy with the same estimator code (``stats._hudson``) as the Dataset functions; any
other count statistic is computed by the ordinary table code on a counts Dataset built from
the same raw counts. The files are tested equal to the Dask path's. Anything outside those
conditions returns ``None`` and the caller takes the ordinary path (which also produces the
ordinary errors and warnings); so does a store converted from a catalog entry with consent
terms (not open, or ancestry research forbidden): the ordinary path applies the gate.
"""

import csv
import json
import re
import shutil
import tempfile
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from genshare_widgets._stats_run import STATISTICS, publish, stats_provenance, write_arrow_tsv


def _read_groups(path: Path, sample_ids: list[str], by: str) -> tuple[np.ndarray, list[str]] | None:
    """Per-sample group codes and sorted names from a plain TSV; None when anything is
    unusual (the ordinary path then reports it)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows:
        return None
    header = [c.strip() for c in rows[0]]
    if by not in header or by == header[0] or len(set(header)) != len(header):
        return None
    col = header.index(by)
    labels: dict[str, str] = {}
    for row in rows[1:]:
        if len(row) != len(header):
            return None
        sample = row[0].strip()
        if sample in labels:
            return None
        labels[sample] = row[col]
    if any(s not in labels for s in sample_ids):
        return None
    values = [labels[s] for s in sample_ids]
    present = [v for v in values if v != ""]
    if not present:
        return None
    numeric = True
    for v in labels.values():
        if v == "":
            continue
        try:
            float(v)
        except ValueError:
            numeric = False
            break
    if numeric:  # pandas would turn the column into numbers; the ordinary path decides
        return None
    names = sorted(set(present))
    code = {name: i for i, name in enumerate(names)}
    return np.array([code[v] if v != "" else -1 for v in values], dtype=np.int64), names


def _gated_store(path: Path) -> bool:
    """True unless the store is plainly free of consent terms: a store converted from a
    catalog entry that is not open or whose codes forbid ancestry research goes through the
    ordinary path, where ``open_cohort`` applies the access check and the analysis gate."""
    attrs = path / ".zattrs"
    try:
        record = json.loads(attrs.read_text()).get("genshare_provenance", {})
    except (OSError, ValueError):
        return False  # not a GenShare store: open_direct decides
    source = record.get("source")
    if not isinstance(source, str) or not re.match(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$", source):
        return False  # converted from the user's own files: never gated
    terms = record.get("terms")
    if terms is None:  # stores built before terms were recorded: ask the catalog
        from genshare_widgets.catalog import load_catalog

        entry = next((e for e in load_catalog().cohorts if e.id == source), None)
        if entry is None:
            return False
        terms = {"access": entry.access, "duo": list(entry.duo)}
    from genshare_widgets.catalog._duo import forbids_ancestry_research

    return terms.get("access") != "open" or forbids_ancestry_research(terms["duo"]) is not None


def _content_sha256(store) -> str:
    """The store content hash: its manifest's (every chunk read was checked against it), or
    computed from its files for a store without one."""
    from genshare_widgets.engines._integrity import content_hash, read_manifest, verify_store

    manifest = read_manifest(store.path)
    return content_hash(manifest) if manifest is not None else verify_store(store.path)


# Arrow arrays are built from numpy buffers: ``pyarrow.array()`` imports pandas (half a second)
# to check for pandas types, and this path exists to stay fast.


def _arrow_from_lengths(lengths: np.ndarray, data: bytes | np.ndarray):
    import pyarrow as pa

    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _arrow_strings(values: np.ndarray):
    """A 1-D array of Python strings → Arrow string array (one join, no per-item objects)."""
    items = [str(v) for v in values] if values.dtype != object else values.tolist()
    joined = "".join(items)
    data = joined.encode("utf-8")
    if len(data) == len(joined):  # ASCII (VCF text): characters are bytes
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    else:
        lengths = np.fromiter((len(x.encode("utf-8")) for x in items), np.int64, len(items))
    return _arrow_from_lengths(lengths, data)


def _arrow_codes(names: np.ndarray, codes: np.ndarray):
    """Arrow string array of ``names[codes]`` (e.g. contig names) without per-row objects."""
    encoded = [str(n).encode("utf-8") for n in names]
    width = max((len(e) for e in encoded), default=1) or 1
    table = np.zeros((len(encoded), width), dtype=np.uint8)
    for i, e in enumerate(encoded):
        table[i, : len(e)] = np.frombuffer(e, dtype=np.uint8)
    name_len = np.array([len(e) for e in encoded], dtype=np.int64)
    lengths = name_len[codes]
    rows = table[codes]
    return _arrow_from_lengths(
        lengths, np.ascontiguousarray(rows[np.arange(width) < lengths[:, None]])
    )


def _arrow_numbers(values: np.ndarray, kind: str):
    """numpy numbers → Arrow int32/int64/float64 array; float NaN becomes null (``NA``)."""
    import pyarrow as pa

    dtype = {"int32": np.int32, "int64": np.int64, "float64": np.float64}[kind]
    arrow_type = {"int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64()}[kind]
    data = np.ascontiguousarray(values, dtype=dtype)
    if kind == "float64":
        valid = ~np.isnan(data)
        if not valid.all():
            bitmap = np.packbits(valid, bitorder="little")
            return pa.Array.from_buffers(
                arrow_type,
                len(data),
                [pa.py_buffer(bitmap), pa.py_buffer(data)],
                null_count=int((~valid).sum()),
            )
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])


def _freq_table(raw, names, contig_ids, contig_codes, position, ref, alt):
    import pyarrow as pa

    from genshare_widgets.stats._hudson import frequencies

    columns: dict[str, Any] = {
        "contig": _arrow_codes(contig_ids, contig_codes),
        "position": _arrow_numbers(position, "int64"),
        "ref": _arrow_strings(ref),
        "alt": _arrow_strings(alt),
    }
    for j, name in enumerate(names):
        ac, an = raw[:, j, 0], raw[:, j, 1]
        columns[f"{name}_ac"] = _arrow_numbers(ac, "int32")
        columns[f"{name}_an"] = _arrow_numbers(an, "int32")
        columns[f"{name}_af"] = _arrow_numbers(frequencies(ac, an), "float64")
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))


def _fst_table(raw, names):
    import pyarrow as pa

    from genshare_widgets.stats._hudson import hudson_ratio_of_averages

    order = sorted(names)
    rows = []
    for a, b in combinations(order, 2):
        i, j = names.index(a), names.index(b)
        value, n = hudson_ratio_of_averages(raw[:, i, 0], raw[:, i, 1], raw[:, j, 0], raw[:, j, 1])
        rows.append((a, b, value, n))
    columns = {
        "pop1": _arrow_strings(np.array([r[0] for r in rows], dtype=object)),
        "pop2": _arrow_strings(np.array([r[1] for r in rows], dtype=object)),
        "hudson_fst": _arrow_numbers(np.array([r[2] for r in rows], dtype=float), "float64"),
        "n_variants": _arrow_numbers(np.array([r[3] for r in rows], dtype=np.int64), "int64"),
    }
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))


def run_stats_direct(
    source: str,
    out: Path,
    *,
    samples: Path | None,
    by: str,
    wanted: list[str],
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    folded: bool = False,
    fst_window: int | None = None,
    command: list[str] | None = None,
) -> dict[str, Path] | None:
    """Write the requested count statistics of a prepared store, or return None when the
    hot path does not apply (see the module docstring)."""
    from genshare_widgets._selection import Selection
    from genshare_widgets.disclosure._policy import NO_POLICY
    from genshare_widgets.engines._direct import DirectCounter, UnsupportedStoreError, open_direct

    if samples is None or not set(wanted) <= set(STATISTICS) or "://" in source:
        return None
    path = Path(source)
    if not path.is_dir() or _gated_store(path):
        return None
    try:
        store = open_direct(path)
        sample_ids = [str(s) for s in store.read("sample_id")]
        groups = _read_groups(Path(samples), sample_ids, by)
        if groups is None:
            return None
        codes, names = groups
        selection = Selection(
            region=region,
            snps_only=snps_only,
            min_maf=min_maf,
            by=by,
            codes=codes,
            names=tuple(names),
        )
        contig_ids = np.asarray(store.read("contig_id"), dtype=object).astype(str)
        variant_contig = store.read("variant_contig")
        variant_position = store.read("variant_position")
        # Start the genotype pass over the region's rows now; it runs in threads while the
        # alleles are decoded and the variants chosen.
        in_region = np.flatnonzero(
            selection.region_mask(
                contig_ids=contig_ids,
                variant_contig=variant_contig,
                variant_position=variant_position,
            )
        )
        lo, hi = (int(in_region[0]), int(in_region[-1]) + 1) if len(in_region) else (0, 0)
        counter = DirectCounter(store, selection.codes, selection.n_groups, lo, hi)
        alleles = np.asarray(store.read("variant_allele"), dtype=object)
        index, info = selection.select(
            contig_ids=contig_ids,
            variant_contig=variant_contig,
            variant_position=variant_position,
            alleles=alleles,
        )
        raw = counter.result(index)
    except UnsupportedStoreError:
        return None
    passing = selection.maf_mask(raw, index, info)
    raw, index = raw[passing], index[passing]
    info = {**info, "snps_only": snps_only, "n_variants_analysed": len(index)}
    attrs = json.loads((path / ".zattrs").read_text()) if (path / ".zattrs").is_file() else {}
    group_n = np.bincount(codes[codes >= 0], minlength=len(names))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".genshare-stats-", dir=out))
    try:
        tables: dict[str, Any] = {}
        if "freq" in wanted:
            tables["freq.tsv"] = _freq_table(
                raw,
                names,
                contig_ids,
                variant_contig[index],
                variant_position[index],
                alleles[index, 0],
                alleles[index, 1],
            )
        if "fst" in wanted:
            tables["fst.tsv"] = _fst_table(raw, names)
        rest = [w for w in wanted if w not in ("freq", "fst")]
        if rest or fst_window:
            from genshare_widgets._stats_run import _write_tsv, count_tables
            from genshare_widgets.counts import counts_dataset

            counts = counts_dataset(
                raw,
                index=index,
                info=info,
                names=names,
                label=by,
                group_n=group_n,
                contig_ids=contig_ids,
                variant_contig=variant_contig[index],
                variant_position=variant_position[index],
                alleles=alleles[index].astype(str),
                cohort_id=path.name,
            )
            for name, frame in count_tables(counts, rest, folded, fst_window).items():
                _write_tsv(frame, tmp / name)
        for name, table in tables.items():
            write_arrow_tsv(table, tmp / name)
        written_names = sorted({*tables, *(p.name for p in tmp.iterdir())})
        provenance = stats_provenance(
            {
                "source": source,
                "files": [],
                "store_key": (attrs.get("genshare_provenance") or {}).get("key"),
                "store_content_sha256": _content_sha256(store),
            },
            cohort_id=path.name,
            engine="dask",
            dask_scheduler="local threads",
            by=by,
            files_written=written_names,
            filters={
                "region": region,
                "min_maf": min_maf,
                "snps_only": snps_only,
                "folded_sfs": folded,
                "fst_window": fst_window,
                **info,
            },
            pca_info=None,
            groups={name: int(n) for name, n in zip(names, group_n, strict=True)},
            genotype_pass="direct-bitplanes",
            command=command,
            policy=NO_POLICY,
        )
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, default=str))
        return publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
