"""The Hail engine's MatrixTable cache: VCF or PLINK → Hail MatrixTable, converted once.

Like the VCF-Zarr stores (:mod:`genshare_widgets.engines._store`), a MatrixTable is keyed by
its content (converter version + input files' sha256) and lives at
``$GENSHARE_CACHE/hail/<key>.mt``. It is written to ``<key>.mt.partial-<pid>`` and renamed
when complete (Hail's ``_SUCCESS`` marker plus GenShare's ``genshare_provenance.json``), so an
interrupted conversion never looks done; leftovers of dead processes are removed.

Conversion decisions (so the Hail and Dask engines count the same alleles):

- **Reference genome**: a custom Hail reference built from the input's own contigs (VCF header
  ``##contig`` lines, else a scan of CHROM/POS; PLINK ``.bim``), in file order. Any build,
  any contig naming ("1" or "chr1"), simulated contigs and NCBI36 PLINK files import without
  liftover or recoding, and rows sort in the same contig order as the files.
- **Partial calls** (``0/.``, ``./1``, ``1|.``): Hail's VCF reader turns a call with one missing
  allele into a missing call. GenShare's Dask engine keeps ``0/.`` as one called allele (chrX
  males in 1000 Genomes are written that way), so the import rewrites such calls into the
  haploid call of their called allele (``0/.`` → ``0``) with ``import_vcf(find_replace=...)``:
  one allele counted, not a called diploid genotype, exactly the Dask rule. The phase of such a
  call is lost (a haploid call has none); nothing GenShare computes uses it.
- Only ``GT`` is kept per entry; ``rsid``, ``qual``, ``filters`` per row (``info`` is dropped).
- Within one position Hail orders records by their alleles (its row key); the Dask store keeps
  file order. Files with several records at one position may therefore list them in another
  order (no cohort of the catalog has such records).
"""

import contextlib
import gzip
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genshare_widgets._errors import InputFormatError
from genshare_widgets.engines._hail_session import hail_dir, hail_session
from genshare_widgets.engines._integrity import folder_content_hash
from genshare_widgets.engines._store import move_into_place, remove_stale_partials, store_key
from genshare_widgets.fetch import build_lock, writes_to_cache

HAIL_FORMAT_VERSION = 2  # 2: contig lengths one past the last base (see reference_genome)
PROVENANCE_FILE = "genshare_provenance.json"
# One missing allele in a diploid call → the haploid call of the other allele (Java regex).
PARTIAL_CALL_REWRITE = (r"\t(?:([0-9]+)[/|]\.|\.[/|]([0-9]+))(?=[:\t]|$)", "\t$1$2")


def matrix_table_key(inputs: dict[str, Any]) -> str:
    """Content key of a converted MatrixTable (the converter version is part of it)."""
    return store_key({"hail_format": HAIL_FORMAT_VERSION, **inputs})


def matrix_table_path(key: str) -> Path:
    """Where the MatrixTable with this key lives once complete."""
    return hail_dir() / f"{key}.mt"


def is_complete_matrix_table(path: Path) -> bool:
    """True for a finished MatrixTable (Hail wrote ``_SUCCESS``, GenShare its provenance)."""
    return (path / "_SUCCESS").is_file() and (path / "metadata.json.gz").is_file()


def read_provenance(path: Path) -> dict[str, Any]:
    """GenShare's record of how a cached MatrixTable was made (empty for foreign ones)."""
    record = path / PROVENANCE_FILE
    if record.is_file():
        return json.loads(record.read_text())
    return {}


def build_matrix_table(
    key: str, build: Callable[[Path], dict[str, Any]], *, meta: dict[str, Any]
) -> Path:
    """Return the complete MatrixTable for ``key``, converting with ``build(tmp_path)`` if needed.

    ``build`` writes a MatrixTable at the path it is given and returns a summary (samples,
    number of variants...). On any error or interruption the partial folder is removed.
    """
    final = matrix_table_path(key)
    if is_complete_matrix_table(final) and (final / PROVENANCE_FILE).is_file():
        return final
    with writes_to_cache(), build_lock(final):  # one builder per key; others wait, find it
        if is_complete_matrix_table(final) and (final / PROVENANCE_FILE).is_file():
            return final
        remove_stale_partials(key, root=final.parent, suffix=".mt", locked=True)
        if final.exists():  # no _SUCCESS or no provenance: debris of a crash or a foreign tool
            shutil.rmtree(final)
        tmp = final.with_name(f"{final.name}.partial-{os.getpid()}")
        try:
            summary = build(tmp)
            record = {"key": key, "engine": "hail", **meta, "summary": summary}
            # The content hash recorded in figure recipes (Hail checks its own partition files).
            record["content_sha256"] = folder_content_hash(tmp, exclude=(PROVENANCE_FILE,))
            (tmp / PROVENANCE_FILE).write_text(json.dumps(record, indent=1, default=str))
            move_into_place(tmp, final, complete=is_complete_matrix_table)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _compression(path: Path) -> str:
    from genshare_widgets.engines._vcf_text import _is_bgzf

    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:3] == b"BCF" or (head[:2] == b"\x1f\x8b" and path.suffix == ".bcf"):
        return "bcf"
    if _is_bgzf(head):
        return "bgzf"
    return "gzip" if head[:2] == b"\x1f\x8b" else "plain"


def vcf_contigs(paths: Sequence[Path]) -> list[tuple[str, int]]:
    """Contigs (name, length) of VCF files, in the order the files list them.

    From the ``##contig=<ID=..,length=..>`` header lines when every contig has a length; else
    from a scan of the CHROM and POS columns (length = the last position seen).
    """
    header: dict[str, int | None] = {}
    for path in paths:
        with _open_text(path) as fh:
            for line in fh:
                if not line.startswith("##"):
                    break
                if line.startswith("##contig=<"):
                    fields = dict(
                        part.split("=", 1) for part in line.strip()[10:-1].split(",") if "=" in part
                    )
                    name = fields.get("ID")
                    if name and name not in header:
                        length = fields.get("length")
                        header[name] = int(length) if length and length.isdigit() else None
    if header and all(v is not None for v in header.values()):
        return [(k, int(v)) for k, v in header.items() if v is not None]
    seen: dict[str, int] = {}
    for path in paths:
        with _open_text(path) as fh:
            for line in fh:
                if line.startswith("#"):
                    continue
                chrom, pos, _ = line.split("\t", 2)
                seen[chrom] = max(seen.get(chrom, 0), int(pos))
    for name, length in header.items():  # header order first, data-only contigs after
        seen.setdefault(name, length or 1)
    order = [*header, *(c for c in seen if c not in header)]
    return [(c, max(seen[c], header.get(c) or 0)) for c in order]


def reference_genome(name: str, contigs: Sequence[tuple[str, int]]):  # -> hl.ReferenceGenome
    """A Hail reference genome named ``name`` with these contigs, created once per session."""
    hl = hail_session()
    with contextlib.suppress(KeyError):  # the key is content-derived: same name, same contigs
        return hl.get_reference(name)
    names = [c for c, _ in contigs]
    # One base of margin: Hail turns a filter on the contig alone into the interval
    # [contig:1, contig:length), which loses a variant on the very last base (seen with PLINK
    # inputs, whose lengths are the last position).
    lengths = {c: int(n) + 1 for c, n in contigs}

    def like(*options: str) -> list[str]:
        return [c for c in names if c in options]

    return hl.ReferenceGenome(
        name,
        contigs=names,
        lengths=lengths,
        x_contigs=like("X", "chrX", "23"),
        y_contigs=like("Y", "chrY", "24"),
        mt_contigs=like("MT", "chrM", "chrMT", "M", "26"),
    )


def _write(mt, tmp: Path) -> dict[str, Any]:
    from genshare_widgets.engines.hail_engine import store_summary

    mt.write(str(tmp))
    hl = hail_session()
    written = hl.read_matrix_table(str(tmp))
    samples = [str(s) for s in written.s.collect()]
    return {**store_summary(written), "n_samples": len(samples), "samples": samples}


def convert_vcfs(paths: Sequence[Path], tmp: Path, *, key: str) -> dict[str, Any]:
    """``hl.import_vcf`` → MatrixTable at ``tmp`` (see the module docstring for the rules)."""
    hl = hail_session()
    kinds = {p: _compression(p) for p in paths}
    bcf = [p for p, k in kinds.items() if k == "bcf"]
    if bcf:
        raise InputFormatError(
            f"{bcf[0]}: a BCF file. Hail reads text VCF only: convert it with "
            f"'bcftools view -Oz -o {bcf[0].with_suffix('.vcf.gz').name} {bcf[0].name}', or use "
            "engine='dask', which reads BCF."
        )
    contigs = vcf_contigs(paths)
    rg = reference_genome(f"genshare_{key}", contigs)
    values = set(kinds.values())
    mt = hl.import_vcf(
        [str(p) for p in paths],
        reference_genome=rg,
        force="gzip" in values,  # plain gzip cannot be split: one core per file (Hail warns)
        force_bgz="gzip" not in values and "bgzf" in values,
        array_elements_required=False,
        find_replace=PARTIAL_CALL_REWRITE,
    )
    if "GT" not in mt.entry:
        raise InputFormatError(f"{paths[0]}: no GT FORMAT field: there are no genotypes to open")
    mt = mt.select_rows("rsid", "qual", "filters").select_entries("GT")
    summary = _write(mt, tmp)
    _check_allele_indices(hl.read_matrix_table(str(tmp)), paths)
    return {"reference_genome": rg.name, "partial_calls": "haploid", **summary}


def _check_allele_indices(mt, paths: Sequence[Path]) -> None:
    """Refuse a genotype that names an allele its record does not have (``5|7`` at a site
    with one ALT), as the Dask engine's readers do; Hail's import keeps such calls."""
    hl = hail_session()
    n_alleles = hl.len(mt.alleles)
    beyond = hl.range(mt.GT.ploidy).any(lambda i: mt.GT[i] >= n_alleles)
    bad = mt.filter_entries(hl.is_defined(mt.GT) & beyond).entries()
    first = bad.select(allele=hl.max(hl.range(bad.GT.ploidy).map(lambda i: bad.GT[i]))).head(1)
    found = first.collect()
    if found:
        row = found[0]
        where = f"{row.locus.contig}:{row.locus.position}"
        alts = ",".join(row.alleles[1:]) or "."
        raise InputFormatError(
            f"{', '.join(str(p) for p in paths)}: record {where}, sample {row.s}: a genotype names "
            f"allele {row.allele}, but the record has {len(row.alleles) - 1} ALT allele(s) "
            f"({alts}). Fix or remove that record; 'bcftools view' on the file shows it."
        )


def convert_plink(prefix: Path, tmp: Path, *, key: str) -> dict[str, Any]:
    """``hl.import_plink`` (A2 is REF, as in PLINK 2 and the Dask engine) → MatrixTable."""
    from genshare_widgets.engines._ingest_plink import read_bim

    hl = hail_session()
    bim = read_bim(prefix.with_name(prefix.name + ".bim"))
    contigs = bim.groupby("contig", sort=False)["position"].max()
    rg = reference_genome(f"genshare_{key}", [(str(c), max(int(n), 1)) for c, n in contigs.items()])
    mt = hl.import_plink(
        bed=str(prefix.with_name(prefix.name + ".bed")),
        bim=str(prefix.with_name(prefix.name + ".bim")),
        fam=str(prefix.with_name(prefix.name + ".fam")),
        reference_genome=rg,
        contig_recoding={str(c): str(c) for c in contigs.index},
        a2_reference=True,
    )
    mt = mt.select_rows("rsid").select_entries("GT")
    return {"reference_genome": rg.name, **_write(mt, tmp)}


def prepare_matrix_table(kind: str, inputs: Sequence[Path], hashes: list[dict[str, str]]) -> Path:
    """The cached MatrixTable of VCF files (``kind="vcf"``) or a PLINK prefix (``"plink"``)."""
    key = matrix_table_key({kind: [h["sha256"] for h in hashes]})
    if kind == "plink":

        def build(tmp: Path) -> dict[str, Any]:
            return convert_plink(inputs[0], tmp, key=key)

    else:

        def build(tmp: Path) -> dict[str, Any]:
            return convert_vcfs(list(inputs), tmp, key=key)

    return build_matrix_table(
        key, build, meta={"source": [str(p) for p in inputs], "files": hashes}
    )


def is_matrix_table(path: Path) -> bool:
    """A Hail MatrixTable folder (``metadata.json.gz`` with rows/cols/entries inside)."""
    return path.is_dir() and (path / "metadata.json.gz").is_file() and (path / "entries").is_dir()
