"""Open a cohort lazily: a catalog id, VCF/BCF file(s), a VCF-Zarr store or a PLINK 1 prefix.

Opening converts genotype files into a VCF-Zarr store once (content-keyed cache, progress bar),
then reads metadata only: later opens of a prepared cohort touch no genotype chunk. A store at
a URL (``https://.../cohort.vcz``, ``s3://...``, ``gs://...``) is read in place: never copied,
converted or hashed; its provenance records the URL.
"""

import dataclasses
import glob
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError, GenShareWarning, InputFormatError
from genshare_widgets._sample_tables import read_sample_table as _read_sample_table
from genshare_widgets._sample_tables import sample_table_columns
from genshare_widgets._version import __version__
from genshare_widgets._withdrawals import (
    PACKAGED_LISTS,
    WithdrawalList,
    Withdrawals,
    blank_withdrawn,
    read_withdrawal_list,
    resolve_withdrawals,
)
from genshare_widgets.catalog import CohortEntry, SampleTableSpec, get_entry, load_catalog
from genshare_widgets.disclosure._consent import check_access
from genshare_widgets.disclosure._gate import governing_entry, withdrawal_entry
from genshare_widgets.engines._integrity import (
    MANIFEST_ATTR,
    content_hash,
    manifest_of,
    verify_store,
)
from genshare_widgets.engines._store import (
    build_store,
    ensure_owner_only,
    file_sha256_cached,
    is_complete,
    rebuild_requested,
    store_key,
    store_path,
    store_provenance,
)
from genshare_widgets.engines.dask_engine import is_url
from genshare_widgets.fetch import fetch_file

log = logging.getLogger(__name__)

ENGINES = ("dask", "hail")
_VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
_REMOTE = ("gs://", "s3://", "s3a://", "hdfs://", "abfs://", "http://", "https://")


@dataclass(frozen=True)
class Cohort:
    """A lazily opened cohort.

    Attributes
    ----------
    id
        Catalog id, or the file name for a path.
    genotypes
        Engine ``"dask"``: xarray Dataset with sgkit names (``call_genotype`` int8 (variants,
        samples, ploidy), -1 missing, -2 no allele; ``variant_contig``, ``variant_position``,
        ``variant_allele``, ``sample_id``) plus the sample table as ``sample_<column>``
        variables, Dask-backed. Engine ``"hail"``: a lazy Hail MatrixTable (entry ``GT``, rows
        keyed by ``locus``/``alleles``, columns by ``s``, sample table as ``sample_<column>``
        column fields).
    samples
        Sample table (pandas), indexed by sample id in genotype column order; canonical
        columns ``population``, ``superpopulation``, ``sex`` where known.
    store_path
        The VCF-Zarr store the genotypes come from: a local folder, or the URL of a remote
        store (a string); with engine ``"hail"``, the MatrixTable.
    entry
        The catalog entry, for catalog cohorts.
    provenance
        Source, catalog version, input file hashes, store key, engine, package version.
    sample_report
        How the sample table matched the genotypes (counts of unmatched samples each way).
    engine
        ``"dask"`` or ``"hail"``: which engine's genotype passes run on ``genotypes``.
    scheduler
        Where genotype passes run by default: a Dask cluster address (``tcp://HOST:PORT``), a
        local Dask scheduler name, or None (``$GENSHARE_DASK_SCHEDULER``, else local threads).
    reader
        For a local GenShare store: its chunk reader (:class:`engines._direct.DirectStore`,
        numpy and numcodecs only), through which the local engine counts; None otherwise.
    withdrawals
        The withdrawal lists applied (the catalog entry's, then ``withdrawn=``) and their mask
        (:class:`~genshare_widgets._withdrawals.Withdrawals`), or None. Withdrawn samples stay
        in ``samples`` (one row per genotype column) with every metadata column blanked, and
        :attr:`kept` is False for them: no analysis, figure, explorer view, Beacon or site
        answer counts them (see :mod:`genshare_widgets._withdrawals`).

    A local store's ``genotypes`` Dataset is built on first use (xarray, Dask and zarr load
    then): count statistics on this machine never need it.
    """

    id: str
    genotypes: Any
    samples: pd.DataFrame
    store_path: Path | str
    entry: CohortEntry | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    sample_report: dict[str, Any] = field(default_factory=dict)
    engine: str = "dask"
    scheduler: str | None = None
    reader: Any = field(default=None, repr=False, compare=False)
    withdrawals: Withdrawals | None = field(default=None, repr=False, compare=False)
    #: bool per genotype column: False for a sample that a user's ``samples=`` table
    #: (``--samples``) does not list; None when every sample is listed (or no table given)
    listed: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name == "genotypes" and isinstance(value, _LazyGenotypes):
            value = value.build()
            object.__setattr__(self, "genotypes", value)  # built once
        return value

    @property
    def n_samples(self) -> int:
        """Number of samples with genotypes."""
        if self.engine == "hail":
            return len(self.samples)
        if self.reader is not None:
            return len(self.samples)
        return int(self.genotypes.sizes["samples"])

    @property
    def kept(self) -> np.ndarray:
        """bool per genotype column: False for a withdrawn sample and for a sample that the
        user's ``samples=`` table does not list (all True without either): the one mask of
        analysed samples every genotype pass, figure and service uses
        (:func:`genshare_widgets.counts.withdrawal_mask`)."""
        kept = (
            np.ones(len(self.samples), dtype=bool)
            if self.withdrawals is None
            else self.withdrawals.kept
        )
        return kept if self.listed is None else kept & self.listed

    @property
    def n_withdrawn(self) -> int:
        """Samples withdrawn (dynamic consent): never analysed."""
        return 0 if self.withdrawals is None else self.withdrawals.n_withdrawn

    @property
    def n_variants(self) -> int:
        """Number of variant records (multi-allelic sites count once)."""
        if self.engine == "hail":
            known = self.provenance.get("n_variants")
            return int(known) if known is not None else int(self.genotypes.count_rows())
        if self.reader is not None:
            return int(self.reader.shape("variant_position")[0])
        return int(self.genotypes.sizes["variants"])

    def populations(self, by: str = "population") -> pd.DataFrame:
        """Samples per group: one row per value of ``by`` (plus super-population and the
        catalog's expected count where known).

        Examples
        --------
        >>> open_cohort("sim-ooa").populations()  # doctest: +SKIP
          population  n_samples  catalog_n_samples
        0        CEU        100                100
        """
        if by not in self.samples.columns:
            raise GenShareError(
                f"cohort {self.id!r} has no sample column {by!r}; columns: "
                f"{list(self.samples.columns)}"
            )
        groups = self.samples[by][self.kept].fillna("(no metadata)")
        table = groups.value_counts().rename("n_samples").rename_axis(by).reset_index()
        if by == "population" and "superpopulation" in self.samples.columns:
            sup = self.samples.groupby("population")["superpopulation"].first()
            table.insert(1, "superpopulation", table[by].map(sup))
        if self.entry is not None and by == "population":
            expected = {p.code: p.n_samples for p in self.entry.populations}
            names = {p.code: p.name for p in self.entry.populations}
            table["catalog_n_samples"] = table[by].map(expected).astype("Int64")
            table.insert(1, "name", table[by].map(names))
        return table.sort_values(by, ignore_index=True)

    def __repr__(self) -> str:
        groups = self.samples["population"].nunique() if "population" in self.samples else 0
        return (
            f"<Cohort {self.id!r}: {self.n_samples:,} samples"
            + (f" ({self.n_withdrawn:,} withdrawn)" if self.n_withdrawn else "")
            + f" × {self.n_variants:,} variants, "
            f"{groups} populations, engine={self.engine}, store={self.store_path}>"
        )


class _LazyGenotypes:
    """How to build a local store's ``genotypes`` Dataset (xarray over zarr, Dask-backed) the
    first time something asks for it."""

    def __init__(self, store: Path, samples: pd.DataFrame) -> None:
        self.store, self.samples = store, samples

    def build(self):
        from genshare_widgets.engines.dask_engine import open_store

        ds = open_store(self.store)
        ds.attrs.pop(MANIFEST_ATTR, None)  # one line per chunk: not for the Dataset's users
        return _attach_samples(ds, self.samples)


def _local_reader(store: Path):
    """The chunk reader of a local GenShare store with the bit-plane copy, or None (the store
    is then opened through xarray at once, as before). Called right after the store was
    verified against its manifest."""
    from genshare_widgets.engines._direct import UnsupportedStoreError, open_direct

    try:
        return open_direct(store, verified=True)
    except UnsupportedStoreError:
        return None


def _progress(total: int | None, desc: str, enabled: bool | None):
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = os.environ.get("GENSHARE_PROGRESS", "1") != "0"
    return tqdm(total=total, desc=desc, unit=" variants", disable=not enabled, leave=False)


def _join_samples(
    sample_ids: list[str], table: pd.DataFrame | None, *, table_name: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Align the sample table to genotype column order; say what did not match."""
    if table is None:
        return pd.DataFrame(index=pd.Index(sample_ids, name="sample")), {"metadata": None}
    in_geno = pd.Index(sample_ids)
    only_geno = in_geno.difference(table.index)
    only_meta = table.index.difference(in_geno)
    if len(only_geno) == len(in_geno):
        raise InputFormatError(
            f"none of the {len(in_geno)} genotype samples (e.g. {list(in_geno[:3])}) appear in "
            f"{table_name} (ids there look like {list(table.index[:3])}). Is the right file or "
            "id column given?"
        )
    report = {
        "metadata": table_name,
        "n_genotype_samples": len(in_geno),
        "n_without_metadata": len(only_geno),
        "n_metadata_without_genotypes": len(only_meta),
    }
    if len(only_geno):
        warnings.warn(
            f"{len(only_geno)} of {len(in_geno)} genotype samples have no row in {table_name} "
            f"(e.g. {list(only_geno[:5])}); they are left out of every analysis (a sample "
            "table lists the samples to analyse).",
            GenShareWarning,
            stacklevel=3,
        )
    if len(only_meta):
        log.info(
            "%d samples of %s have no genotypes here (e.g. %s); they are ignored",
            len(only_meta),
            table_name,
            list(only_meta[:5]),
        )
    joined = table.reindex(in_geno)
    joined.index.name = "sample"
    return joined, report


def _attach_samples(ds, samples: pd.DataFrame):
    for col in samples.columns:
        values = samples[col]
        name = "sample_" + "".join(ch if ch.isalnum() else "_" for ch in str(col).lower())
        if values.dtype == object or str(values.dtype).startswith("string"):
            data = values.astype(object).where(values.notna(), "").to_numpy()
        else:
            data = values.to_numpy()
        ds[name] = ("samples", data)
    return ds


def _expand_paths(source: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [source] if isinstance(source, (str, Path)) else list(source)
    paths: list[Path] = []
    for item in items:
        text = str(item)
        if any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(text)))
            if not matches:
                raise GenShareError(f"no file matches {text!r}")
            paths.extend(Path(m) for m in matches)
        else:
            paths.append(Path(text).expanduser())
    return paths


def _looks_like_path(source: str) -> bool:
    return (
        os.sep in source
        or source.startswith(".")
        or any(ch in source for ch in "*?[")
        or source.endswith((*_VCF_SUFFIXES, ".vcz", ".zarr", ".mt", ".bed", ".bim", ".fam"))
        or Path(source).exists()
    )


def _is_zarr_store(path: Path) -> bool:
    return path.is_dir() and ((path / ".zgroup").is_file() or (path / "zarr.json").is_file())


def _plink_prefix(path: Path) -> Path | None:
    if path.suffix in (".bed", ".bim", ".fam"):
        return path.with_suffix("")
    if path.with_name(path.name + ".bed").is_file():
        return path
    return None


def _ingest(kind: str, inputs: list[Path], chunks: int, progress: bool | None, attrs: dict):
    def build(tmp: Path) -> dict:
        # imported only to convert (opening a prepared store reads no VCF/zarr code)
        from genshare_widgets.engines._ingest_plink import ingest_plink
        from genshare_widgets.engines._ingest_vcf import ingest_vcfs

        with _progress(None, f"converting {inputs[0].name}", progress) as bar:
            if kind == "plink":
                return ingest_plink(
                    inputs[0],
                    tmp,
                    variants_chunk_size=chunks,
                    on_record_block=bar.update,
                    attrs=attrs,
                )
            return ingest_vcfs(
                inputs, tmp, variants_chunk_size=chunks, on_record_block=bar.update, attrs=attrs
            )

    return build


def _open_paths(paths: list[Path], chunks: int, progress: bool | None):
    """→ (store path, cohort id, provenance files list)."""
    for p in paths:
        if not p.exists() and _plink_prefix(p) is None:
            raise GenShareError(f"{p}: no such file or directory")
    first = paths[0]
    if len(paths) == 1 and _is_zarr_store(first):
        return first, first.name, []
    prefix = _plink_prefix(first) if len(paths) == 1 else None
    if prefix is not None:
        files = [prefix.with_name(prefix.name + s) for s in (".bed", ".bim", ".fam")]
        hashes = [{"name": f.name, "sha256": file_sha256_cached(f)} for f in files if f.is_file()]
        key = store_key({"plink": [h["sha256"] for h in hashes], "chunks": chunks})
        build = _ingest("plink", [prefix], chunks, progress, {"source_files": hashes})
        meta = {"source": str(prefix), "files": hashes}
        return build_store(key, build, meta=meta), prefix.name, hashes
    for p in paths:
        if p.is_dir():
            raise GenShareError(
                f"{p}: a folder but not a VCF-Zarr store (no .zgroup or zarr.json inside)"
            )
    hashes = [{"name": p.name, "sha256": file_sha256_cached(p)} for p in paths]
    key = store_key({"vcf": [h["sha256"] for h in hashes], "chunks": chunks})
    build = _ingest("vcf", paths, chunks, progress, {"source_files": hashes})
    store = build_store(key, build, meta={"source": [str(p) for p in paths], "files": hashes})
    name = first.name if len(paths) == 1 else f"{first.name} (+{len(paths) - 1} files)"
    return store, name, hashes


def _entry_meta(entry: CohortEntry, hashes: list[dict[str, str]]) -> dict[str, Any]:
    """Store provenance of a catalog entry's store: its id, files, and consent terms (the
    store keeps its entry's terms when opened by path: :func:`disclosure._gate.governing_entry`)."""
    terms = {"access": entry.access, "duo": list(entry.duo)}
    return {"source": entry.id, "files": hashes, "terms": terms}


def _shared_store_source(entry: CohortEntry) -> CohortEntry:
    """The entry a simulated store records as its source. Entries with the same recipe share
    one store; it names the first freely usable one of them in catalog order, whichever was
    opened first, so its provenance and the ``genshare prepare ID --rebuild`` that a damaged
    store's error suggests do not depend on that order, and name an entry anyone may prepare
    (the store is ungoverned then anyway: :func:`disclosure._gate.governing_entry`)."""
    from genshare_widgets.disclosure._gate import freely_usable
    from genshare_widgets.simulate import recipe_key

    assert entry.simulation is not None
    recipe = recipe_key(entry.simulation)
    for other in load_catalog().cohorts:
        if (
            other.simulation is not None
            and recipe_key(other.simulation) == recipe
            and freely_usable(other)
        ):
            return other
    return entry


def _open_entry(entry: CohortEntry, chunks: int, progress: bool | None):
    """→ (store path, sample table path or None, provenance files list).

    A registered or controlled entry's store, simulated files and downloads folder are
    owner-only (0700 folders, 0600 files; rule 9 of the threat model).
    """
    private = entry.access != "open"
    if entry.kind == "simulated":
        from genshare_widgets.simulate import build_simulated_cohort, recipe_key

        assert entry.simulation is not None
        key = store_key({"simulated": recipe_key(entry.simulation), "chunks": chunks})
        vcf, table = build_simulated_cohort(entry)
        if private:
            ensure_owner_only(vcf.parent)
        hashes = [{"name": vcf.name, "sha256": file_sha256_cached(vcf)}]
        build = _ingest("vcf", [vcf], chunks, progress, {"source_files": hashes})
        meta = _entry_meta(_shared_store_source(entry), hashes)
        store = build_store(key, build, meta=meta, owner_only=private)
        return store, table, hashes
    if entry.kind in ("vcf", "plink"):
        geno = [f for f in entry.files if f.role == "genotypes"]
        table_path: Path | None = None
        if entry.samples is not None and entry.samples.file is not None:
            spec = next(f for f in entry.files if f.name == entry.samples.file)
            table_path = fetch_file(spec, cohort_id=entry.id)
        published = [f.sha256 for f in geno if f.sha256 is not None]
        if len(published) == len(geno):  # every hash is in the catalog: no need to fetch
            hashes = [{"name": f.name, "sha256": h} for f, h in zip(geno, published, strict=True)]
            key = store_key({entry.kind: [h["sha256"] for h in hashes], "chunks": chunks})
            if is_complete(store_path(key)) and not rebuild_requested():
                if private:
                    ensure_owner_only(store_path(key))
                return store_path(key), table_path, hashes
        local = [fetch_file(f, cohort_id=entry.id) for f in geno]
        if private:
            for path in {p.parent for p in local}:
                ensure_owner_only(path)  # the downloads folder (its files are already 0600)
        hashes = [{"name": p.name, "sha256": file_sha256_cached(p)} for p in local]
        key = store_key({entry.kind: [h["sha256"] for h in hashes], "chunks": chunks})
        if entry.kind == "plink":
            beds = [p for p in local if p.suffix == ".bed"]
            if len(beds) != 1:
                raise GenShareError(f"catalog entry {entry.id!r}: a plink cohort needs one .bed")
            inputs = [beds[0].with_suffix("")]
        else:
            inputs = local
        build = _ingest(entry.kind, inputs, chunks, progress, {"source_files": hashes})
        store = build_store(key, build, meta=_entry_meta(entry, hashes), owner_only=private)
        return store, table_path, hashes
    where = ", ".join(f.url for f in entry.files[:2])
    raise GenShareError(
        f"cohort {entry.id!r} is a {entry.kind!r} resource ({where}...): it has no "
        "individual genotypes to open on this machine. "
        + (
            "Open it with engine='hail' on a cloud Hail cluster that can read that bucket "
            "(Hail from PyPI reads only local files)."
            if entry.kind == "hail-mt"
            else "Aggregate-only entries are for comparison with frequencies, not for opening."
        )
    )


def _hail_open_paths(paths: list[Path]):
    """Engine "hail": → (MatrixTable path, cohort id, provenance files list)."""
    from genshare_widgets.engines._hail_store import is_matrix_table, prepare_matrix_table

    for p in paths:
        if not p.exists() and _plink_prefix(p) is None:
            raise GenShareError(f"{p}: no such file or directory")
    first = paths[0]
    if len(paths) == 1 and is_matrix_table(first):
        return first, first.name, []
    if len(paths) == 1 and _is_zarr_store(first):
        raise GenShareError(
            f"{first}: a VCF-Zarr store, which Hail cannot read. Open it with engine='dask', or "
            "give the Hail engine the VCF or PLINK files it was made from."
        )
    prefix = _plink_prefix(first) if len(paths) == 1 else None
    if prefix is not None:
        files = [prefix.with_name(prefix.name + s) for s in (".bed", ".bim", ".fam")]
        hashes = [{"name": f.name, "sha256": file_sha256_cached(f)} for f in files if f.is_file()]
        return prepare_matrix_table("plink", [prefix], hashes), prefix.name, hashes
    for p in paths:
        if p.is_dir():
            raise GenShareError(
                f"{p}: a folder but neither a Hail MatrixTable (no metadata.json.gz and "
                "entries/ inside) nor a VCF-Zarr store"
            )
    hashes = [{"name": p.name, "sha256": file_sha256_cached(p)} for p in paths]
    name = first.name if len(paths) == 1 else f"{first.name} (+{len(paths) - 1} files)"
    return prepare_matrix_table("vcf", paths, hashes), name, hashes


def _hail_open_entry(entry: CohortEntry):
    """Engine "hail": → (MatrixTable path or URL, sample table path or None, files list)."""
    from genshare_widgets.engines._hail_store import (
        is_complete_matrix_table,
        matrix_table_key,
        matrix_table_path,
        prepare_matrix_table,
    )

    if entry.kind == "simulated":
        from genshare_widgets.simulate import build_simulated_cohort

        vcf, table = build_simulated_cohort(entry)
        hashes = [{"name": vcf.name, "sha256": file_sha256_cached(vcf)}]
        return prepare_matrix_table("vcf", [vcf], hashes), table, hashes
    table_path: Path | None = None
    if entry.samples is not None and entry.samples.file is not None:
        spec = next(f for f in entry.files if f.name == entry.samples.file)
        table_path = fetch_file(spec, cohort_id=entry.id)
    if entry.kind == "hail-mt":
        # Readable only where Hail has the bucket's connector (a cloud Hail cluster).
        url = next(f.url for f in entry.files if f.role == "genotypes" and f.url.endswith(".mt"))
        return url, table_path, []
    if entry.kind not in ("vcf", "plink"):
        raise GenShareError(
            f"cohort {entry.id!r} is a {entry.kind!r} resource: it has no individual genotypes "
            "for the Hail engine to open"
        )
    geno = [f for f in entry.files if f.role == "genotypes"]
    published = [f.sha256 for f in geno if f.sha256 is not None]
    if len(published) == len(geno):  # every hash is in the catalog: no need to fetch
        hashes = [{"name": f.name, "sha256": h} for f, h in zip(geno, published, strict=True)]
        ready = matrix_table_path(matrix_table_key({entry.kind: published}))
        if is_complete_matrix_table(ready):
            return ready, table_path, hashes
    local = [fetch_file(f, cohort_id=entry.id) for f in geno]
    hashes = [{"name": p.name, "sha256": file_sha256_cached(p)} for p in local]
    if entry.kind == "plink":
        beds = [p for p in local if p.suffix == ".bed"]
        if len(beds) != 1:
            raise GenShareError(f"catalog entry {entry.id!r}: a plink cohort needs one .bed")
        return prepare_matrix_table("plink", [beds[0].with_suffix("")], hashes), table_path, hashes
    return prepare_matrix_table("vcf", local, hashes), table_path, hashes


def open_cohort(
    source: str | Path | Sequence[str | Path],
    *,
    engine: str = "dask",
    samples: str | Path | None = None,
    variants_chunk_size: int = 10_000,
    progress: bool | None = None,
    scheduler: str | None = None,
    storage_options: dict[str, Any] | None = None,
    purpose: Any = None,
    credential: Any = None,
    withdrawn: str | Path | Sequence[str | Path] | None = None,
) -> Cohort:
    """Open a cohort lazily.

    Parameters
    ----------
    source
        A catalog id (``"sim-ooa"``), a VCF/BCF path (several paths or a glob allowed;
        plain gzip accepted), a VCF-Zarr store folder or the URL of one (``https://``,
        ``s3://``, ``gs://``, any fsspec URL; read in place, chunk by chunk), or a PLINK 1
        prefix (``data/hm3`` or ``data/hm3.bed``).
    engine
        ``"dask"`` (default): a VCF-Zarr store read through xarray/Dask. ``"hail"``: a Hail
        MatrixTable (VCF and PLINK inputs are converted once into ``$GENSHARE_CACHE/hail/``;
        a ``*.mt`` folder is read as it is). Needs ``pip install 'genshare_widgets[hail]'``
        and Java; see :mod:`genshare_widgets.engines._hail_store` for how calls are imported.
    samples
        A TSV with a header whose first column is the sample id; it replaces the catalog's
        sample table. Other columns become ``sample_<column>`` variables.
    variants_chunk_size
        Variants per chunk in the converted store (part of the cache key).
    progress
        Show a progress bar while converting (default: on unless ``GENSHARE_PROGRESS=0``).
    scheduler
        Where the genotype passes run: the address of a ``dask.distributed`` scheduler
        (``tcp://HOST:PORT``), whose workers must reach the store (shared file system or a
        URL), or a local Dask scheduler name. Default: ``$GENSHARE_DASK_SCHEDULER``, else
        Dask's local threads. The client connects at the first genotype pass.
    storage_options
        Options for the fsspec file system of a URL source (e.g. ``{"anon": True}`` for a
        public S3 bucket, ``{"token": "anon"}`` for a public Google Cloud bucket).
    purpose
        The declared research purpose (a :class:`~genshare_widgets.disclosure.Purpose` or its
        text form, e.g. ``"HMB;non-commercial;irb=IRB-2026-017"``); default
        ``$GENSHARE_PURPOSE``. ``registered`` catalog entries need one that their DUO codes
        permit.
    credential
        A credential file (or :class:`~genshare_widgets.disclosure.Credential`) approving the
        cohort; default the file named by ``$GENSHARE_CREDENTIAL``. ``controlled`` entries
        need one. Refusals raise :class:`~genshare_widgets.disclosure.AccessDenied` before any
        work; the decision (purpose, project, obligations, credential holder) is recorded in
        ``provenance["access"]``. The user's own files are not gated, except a store converted
        from a gated catalog entry, which keeps that entry's terms.
    withdrawn
        Withdrawal list file(s) (sample ids, one per line), ADDED to the catalog entry's own
        list (``withdrawals`` in the catalog): those samples are left out of everything
        (:mod:`genshare_widgets._withdrawals`); ``provenance["withdrawals"]`` records each
        list's version and sha256 and the number withdrawn. An unreadable list, a catalog list
        whose hash differs, or ids not in the cohort raise
        :class:`~genshare_widgets._withdrawals.WithdrawalError` naming the file. The files
        named by ``$GENSHARE_WITHDRAWN`` (``os.pathsep``-separated; what ``--withdrawn`` sets
        for one command) are added too.

    Examples
    --------
    >>> cohort = open_cohort("sim-ooa")  # doctest: +SKIP
    >>> cohort.populations()  # doctest: +SKIP
    >>> remote = open_cohort("https://example.org/cohort.vcz", samples="pops.tsv")  # doctest: +SKIP
    """
    from genshare_widgets.engines._distributed import check_scheduler

    if scheduler is not None:
        check_scheduler(scheduler)
    if engine not in ENGINES:
        raise GenShareError(f"unknown engine {engine!r}; choose one of {ENGINES}")
    entry = None
    table_path: Path | None = None
    store: Path | str
    catalog_version: str | None = None
    spec: SampleTableSpec | None = None
    hashes: list[dict[str, str]] = []
    hail = engine == "hail"
    access = None
    withdrawal_source = None  # the entry whose withdrawal list applies when ``entry`` is None
    remote = is_url(source)
    if storage_options is not None and not remote:
        raise GenShareError(
            f"storage_options apply to a URL source; {source!r} is not a URL (https://, s3://...)"
        )
    if isinstance(source, str) and remote and not hail:  # read in place: not converted
        store = source.rstrip("/")
        cohort_id = store.rsplit("/", 1)[-1]
    elif isinstance(source, str) and not _looks_like_path(source):
        catalog = load_catalog()
        entry = get_entry(source, catalog=catalog)
        access = check_access(entry, purpose=purpose, credential=credential)
        if hail:
            store, table_path, hashes = _hail_open_entry(entry)
            if entry.access != "open" and not str(store).startswith(_REMOTE):
                ensure_owner_only(Path(store))  # the converted MatrixTable (rule 9)
        else:
            store, table_path, hashes = _open_entry(entry, variants_chunk_size, progress)
        cohort_id = entry.id
        spec = entry.samples
        catalog_version = catalog.catalog_version
    else:
        paths = _expand_paths(source)
        if len(paths) == 1 and _is_zarr_store(paths[0]) and not hail:
            entry = governing_entry(paths[0])  # a store keeps its catalog entry's terms
            if entry is not None:
                access = check_access(entry, purpose=purpose, credential=credential)
            else:  # and its withdrawal list, on every tier (dynamic consent)
                withdrawal_source = withdrawal_entry(paths[0])
        if hail:
            store, cohort_id, hashes = _hail_open_paths(paths)
        else:
            store, cohort_id, hashes = _open_paths(paths, variants_chunk_size, progress)
    if hail:
        from genshare_widgets.engines._hail_store import read_provenance
        from genshare_widgets.engines.hail_engine import open_matrix_table, sample_ids

        record = read_provenance(Path(store)) if not str(store).startswith(_REMOTE) else {}
        summary = record.get("summary", {})
        sample_ids_ = summary.get("samples") or sample_ids(open_matrix_table(store))
        content_sha256 = record.get("content_sha256")
    else:
        # A local store: every file against its manifest (only changed files are hashed).
        content_sha256 = None if remote else verify_store(Path(store))
        reader = None if remote else _local_reader(Path(store))
        if reader is not None:  # the Dataset is built when first asked for
            sample_ids_ = [str(s) for s in reader.read("sample_id")]
        else:
            from genshare_widgets.engines.dask_engine import open_store

            ds = open_store(store, storage_options=storage_options)
            manifest = manifest_of(ds.attrs)
            ds.attrs.pop(MANIFEST_ATTR, None)  # one line per chunk: not for the Dataset's users
            if remote:  # the content hash the store's manifest records (chunks are not checked)
                content_sha256 = content_hash(manifest) if manifest is not None else None
            sample_ids_ = [str(s) for s in ds["sample_id"].values]
    table = None
    table_name = ""
    if samples is not None:
        samples_path = Path(samples)
        if not samples_path.is_file():
            raise GenShareError(f"--samples {samples_path}: no such file")
        header = sample_table_columns(samples_path)
        # The grouping column is the catalog's population column or `population`; never the
        # id column (every sample its own group): without one, grouping asks for --by.
        population_column = (
            spec.population_column
            if spec and spec.population_column in header
            else ("population" if "population" in header[1:] else None)
        )
        user_spec = SampleTableSpec.model_construct(
            id_column=str(header[0]), population_column=population_column
        )
        table = _read_sample_table(samples_path, user_spec)
        table_name = str(samples_path)
    elif table_path is not None and spec is not None:
        table = _read_sample_table(table_path, spec)
        table_name = table_path.name
    joined, report = _join_samples(sample_ids_, table, table_name=table_name)
    # a user's --samples table names the samples to analyse: the unlisted ones are left out
    # of everything, through the cohort's one mask of analysed samples (Cohort.kept)
    listed: np.ndarray | None = None
    if table is not None and samples is not None and report.get("n_without_metadata"):
        listed = np.array(pd.Index(sample_ids_).isin(table.index), dtype=bool)
    withdrawals = _withdrawals(entry or withdrawal_source, withdrawn, sample_ids_)
    if withdrawals is not None:
        withdrawals = dataclasses.replace(withdrawals, table_before=joined)
        joined = blank_withdrawn(joined, withdrawals.kept)
    genotypes: Any
    if hail:
        genotypes = open_matrix_table(store, joined)
        reader = None
    elif reader is not None:
        genotypes = _LazyGenotypes(Path(store), joined)
        record = store_provenance(Path(store))
    else:
        genotypes = _attach_samples(ds, joined)
        # A remote store's record comes with its root attributes (already fetched by the open).
        record = (
            ds.attrs.get("genshare_provenance", {}) if remote else store_provenance(Path(store))
        )
    provenance = {
        "source": str(source)
        if not isinstance(source, (list, tuple))
        else [str(s) for s in source],
        "cohort_id": cohort_id,
        "catalog_version": catalog_version,
        "entry_version": entry.version if entry else None,
        "files": hashes,
        "store": str(store),
        "store_key": record.get("key"),
        "store_content_sha256": content_sha256,
        "remote": remote,
        "engine": engine,
        "genshare_version": __version__,
    }
    if samples is not None:  # a figure's recipe and "reproduce" command name it again
        provenance["samples_table"] = str(Path(samples).resolve())
    if access is not None:
        provenance["access"] = access.record()
    if withdrawals is not None:
        provenance["withdrawals"] = withdrawals.record()
    if hail:
        provenance["n_variants"] = summary.get("n_variants")
        provenance["hail_store"] = {
            k: summary[k] for k in ("n_variants", "contigs", "allele_width") if k in summary
        }
        provenance["hail_reference_genome"] = summary.get("reference_genome")
        provenance["partial_calls"] = summary.get("partial_calls")
    return Cohort(
        id=cohort_id,
        genotypes=genotypes,
        samples=joined,
        store_path=store,
        entry=entry,
        provenance=provenance,
        sample_report=report,
        engine=engine,
        scheduler=scheduler,
        reader=reader,
        withdrawals=withdrawals,
        listed=listed,
    )


def withdrawal_lists(
    entry: CohortEntry | None, withdrawn: str | Path | Sequence[str | Path] | None
) -> list[WithdrawalList]:
    """Read the catalog entry's withdrawal list (hash-checked) and each ``withdrawn`` file."""
    lists = []
    spec = getattr(entry, "withdrawals", None) if entry is not None else None
    if spec is not None:
        path = Path(spec.file)
        if not path.is_absolute():
            path = PACKAGED_LISTS / spec.file
        lists.append(
            read_withdrawal_list(
                path,
                expected_sha256=spec.sha256,
                origin="catalog",
                version=spec.version,
                date=str(spec.date),
                field_name=f"catalog entry {entry.id!r} field withdrawals.file",  # type: ignore[union-attr]
            )
        )
    extra: list[str | Path] = []
    if withdrawn is not None:
        extra = [withdrawn] if isinstance(withdrawn, (str, Path)) else list(withdrawn)
    env = os.environ.get("GENSHARE_WITHDRAWN")  # set by --withdrawn for one command
    if env:
        extra += [p for p in env.split(os.pathsep) if p]
    seen = set()
    for item in extra:
        path = Path(item).expanduser().resolve()
        if path not in seen:
            seen.add(path)
            lists.append(read_withdrawal_list(path))
    return lists


def refresh_withdrawals(cohort: Cohort) -> Cohort | None:
    """``cohort`` with its withdrawal lists read again when a list file changed since it was
    opened; None when none changed (or it has none). A changed list is checked as at open
    (the catalog's hash, unknown ids): a failing check raises
    :class:`~genshare_widgets._withdrawals.WithdrawalError`. Services call this per request
    (:class:`genshare_widgets._serve.WithdrawalReload`); the store is not touched.

    Examples
    --------
    >>> fresh = refresh_withdrawals(cohort)  # doctest: +SKIP
    """
    from genshare_widgets._withdrawals import reread

    old = cohort.withdrawals
    if old is None or not old.changed():
        return None
    spec = getattr(cohort.entry, "withdrawals", None)
    lists = reread(old.lists, spec.sha256 if spec is not None else None)
    table = old.table_before
    fresh = resolve_withdrawals([str(s) for s in table.index], lists)
    fresh = dataclasses.replace(fresh, table_before=table)
    provenance = {**cohort.provenance, "withdrawals": fresh.record()}
    return dataclasses.replace(
        cohort,
        samples=blank_withdrawn(table, fresh.kept),
        withdrawals=fresh,
        provenance=provenance,
    )


def _withdrawals(entry, withdrawn, sample_ids: list[str]) -> Withdrawals | None:
    lists = withdrawal_lists(entry, withdrawn)
    return resolve_withdrawals(sample_ids, lists) if lists else None
