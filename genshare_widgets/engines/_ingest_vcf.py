"""VCF/BCF (bgzip, plain gzip or uncompressed) → VCF-Zarr, with htslib via cyvcf2.

What is kept: CHROM, POS, ID, REF, ALT (all alleles: multi-allelic sites, indels and symbolic
alleles are stored as they are, never dropped), QUAL, FILTER and the GT field with its phasing.
Genotype codes follow VCF-Zarr: allele index, -1 missing (``.``), -2 "no allele here" (the
second slot of a haploid call such as chrX ``1`` in a male). A call written ``0/.`` stays
``[0, -1]``: one called allele and one missing, so it adds one allele to the allele number.
"""

import contextlib
import gzip
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from genshare_widgets._errors import InputFormatError
from genshare_widgets.engines._vcf_text import TextVcfReader
from genshare_widgets.engines._zarr_writer import VcfZarrWriter, record_ends

_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _is_bcf(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(2)
    try:
        with gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb") as fh:
            return fh.read(3) == b"BCF"
    except (OSError, EOFError, zlib.error):
        return False


def check_compression(path: Path, *, full: bool = True) -> None:
    """Raise :class:`InputFormatError` when a (b)gzip file is visibly truncated.

    A BGZF file must end with the 28-byte empty EOF block; without it the file was cut
    (htslib would otherwise read what is there and stop quietly). With ``full``, a plain gzip
    file is decompressed once to the end to check its trailer (the text reader checks it
    while reading, so it skips this pass).
    """
    with open(path, "rb") as fh:
        head = fh.read(18)
        if head[:2] != b"\x1f\x8b":
            return
        is_bgzf = len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC"
        if is_bgzf:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(size - 28, 0))
            if fh.read(28) != _BGZF_EOF:
                raise InputFormatError(
                    f"{path}: the bgzip file is truncated (no end-of-file block): the download "
                    "or copy was interrupted. Fetch or copy the file again."
                )
            return
    if not full:
        return
    try:
        with gzip.open(path, "rb") as gz:
            while gz.read(1 << 22):
                pass
    except (EOFError, zlib.error, OSError) as exc:
        raise InputFormatError(
            f"{path}: the gzip stream is truncated or corrupt ({exc}): the download or copy was "
            "interrupted. Fetch or copy the file again."
        ) from None


def _data_line_number(path: Path, record_index: int) -> str:
    """'line N' of the record_index-th record (0-based) in a text VCF; 'record N' for BCF."""
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as fh:
            first = fh.read(3)
            if first == b"BCF":
                return f"record {record_index + 1}"
            fh.seek(0)
            header = 0
            for line in fh:
                if not line.startswith(b"#"):
                    break
                header += 1
    except (OSError, EOFError, zlib.error):
        return f"record {record_index + 1}"
    return f"line {header + record_index + 1} (record {record_index + 1}"


def _record_place(path: Path, record_index: int, rec) -> str:
    """'line N (record N, CHROM:POS)' in a text VCF, 'record N (CHROM:POS)' in a BCF."""
    where = _data_line_number(path, record_index)
    sep = ", " if where.startswith("line") else " ("
    return f"{where}{sep}{rec.CHROM}:{rec.POS})"


def _text_header_samples(path: Path) -> list[str]:
    """Sample names read from the #CHROM line by hand (for explaining header errors)."""
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rt") if compressed else open(path) as fh:
            for line in fh:
                if line.startswith("#CHROM"):
                    return line.rstrip("\n").split("\t")[9:]
                if not line.startswith("#"):
                    break
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        pass
    return []


def vcf_samples(path: Path) -> list[str]:
    """Sample ids in a VCF's header, in column order."""
    import cyvcf2

    if path.is_file() and path.stat().st_size == 0:
        raise InputFormatError(
            f"{path}: the file is empty (0 bytes); give a VCF with its header and records"
        )
    try:
        vcf = cyvcf2.VCF(str(path), lazy=True)
    except Exception as exc:  # cyvcf2 raises bare Exception for unreadable headers
        names = _text_header_samples(path)
        if names:
            _check_unique(path, names)  # htslib refuses duplicate names: say which
        raise InputFormatError(f"{path}: not a readable VCF/BCF file ({exc})") from None
    try:
        return list(vcf.samples)
    finally:
        vcf.close()


def _check_unique(path: Path, samples: list[str]) -> None:
    seen: set[str] = set()
    dupes = sorted({s for s in samples if s in seen or seen.add(s)})  # type: ignore[func-returns-value]
    if dupes:
        shown = ", ".join(dupes[:10]) + (" ..." if len(dupes) > 10 else "")
        raise InputFormatError(
            f"{path}: {len(dupes)} sample id(s) appear more than once in the header: {shown}. "
            "Rename them (bcftools reheader) so every sample id is unique."
        )


class _RecordBlock:
    """One variant chunk being filled: genotype buffers plus per-variant fields."""

    def __init__(
        self,
        writer: VcfZarrWriter,
        size: int,
        n_samples: int,
        on_flush: Callable[[int], None] | None,
    ) -> None:
        self.writer, self.size, self.on_flush = writer, size, on_flush
        self.gt = np.empty((size, n_samples, 2), dtype=np.int8)
        self.phased = np.empty((size, n_samples), dtype=bool)
        self.fields: dict[str, list] = {
            k: [] for k in ("contig", "position", "alleles", "ids", "quality", "filters", "end")
        }

    def __len__(self) -> int:
        return len(self.fields["position"])

    def add(self, rec, calls: np.ndarray, ploidy: int) -> None:
        """Append one cyvcf2 record whose ``genotype.array()`` is ``calls``."""
        i = len(self)
        if ploidy == 2:
            self.gt[i] = calls[:, :2]
        else:  # haploid: the second slot holds -2, "no allele"
            self.gt[i, :, 0] = calls[:, 0]
            self.gt[i, :, 1] = -2
        self.phased[i] = calls[:, ploidy] == 1
        f, w = self.fields, self.writer
        f["contig"].append(w.contig_code(rec.CHROM))
        f["position"].append(rec.POS)
        f["alleles"].append([rec.REF, *rec.ALT])
        # INFO/END of a symbolic allele (the text reader's rule: engines._vcf_text.info_end)
        end = -1
        if any(a.startswith("<") for a in rec.ALT):
            raw = rec.INFO.get("END")
            if raw is not None:
                from genshare_widgets.engines._vcf_text import info_end

                try:
                    end = info_end(f"END={raw}", rec.POS)
                except ValueError as exc:
                    raise InputFormatError(f"record {rec.CHROM}:{rec.POS}: {exc}") from None
        f["end"].append(end)
        f["ids"].append(rec.ID or "")
        f["quality"].append(float("nan") if rec.QUAL is None else float(rec.QUAL))
        flt = rec.FILTER
        f["filters"].append([w.filter_code(x) for x in flt.split(";")] if flt else [0])
        if len(self) == self.size:
            self.flush()

    def flush(self) -> None:
        """Write the block (if not empty) and start a new one."""
        k = len(self)
        if not k:
            return
        f = self.fields
        self.writer.add_chunk(
            contig=np.array(f["contig"]),
            position=np.array(f["position"]),
            alleles=f["alleles"],
            ids=f["ids"],
            quality=f["quality"],
            filters=f["filters"],
            genotypes=self.gt[:k],
            phased=self.phased[:k],
            end=record_ends(f["position"], [a[0] for a in f["alleles"]], f["end"]),
        )
        self.fields = {key: [] for key in f}
        if self.on_flush is not None:
            self.on_flush(k)


class _RecordChecks:
    """What the text reader checks, for records read by htslib (BCF): the file is sorted
    (each contig's records together, positions not decreasing; across files too) and every
    allele index names an allele of its record."""

    def __init__(self) -> None:
        self.last: tuple[str, int] | None = None
        self.done_contigs: set[str] = set()

    def check(self, path: Path, n_file: int, rec, calls: np.ndarray, ploidy: int) -> None:
        here = (rec.CHROM, rec.POS)
        if self.last is not None:
            contig, pos = self.last
            if here[0] != contig:
                self.done_contigs.add(contig)
            if here[0] in self.done_contigs or (here[0] == contig and here[1] < pos):
                raise InputFormatError(
                    f"{path}: {_record_place(path, n_file, rec)} comes after {contig}:{pos}: the "
                    "file is not sorted; sort it first (bcftools sort -Ob -o sorted.bcf FILE)"
                )
        self.last = here
        n_alleles = 1 + len(rec.ALT)
        if calls.max() < n_alleles:  # the common case, one call over all (the phase flags are 0/1)
            return
        highest = int(calls[:, :ploidy].max(initial=-1))
        if highest >= n_alleles:
            alts = ",".join(rec.ALT) or "."
            raise InputFormatError(
                f"{path}: {_record_place(path, n_file, rec)}: a genotype names allele {highest}, "
                f"but the record has {n_alleles - 1} ALT allele(s) ({alts}). Fix or remove that "
                "record; 'bcftools view' on the file shows it."
            )


def _read_records(
    path: Path, writer: VcfZarrWriter, block: _RecordBlock, checks: _RecordChecks
) -> int:
    """Stream one file's records into ``block``; return how many there were."""
    import cyvcf2

    vcf = cyvcf2.VCF(str(path), gts012=False, strict_gt=False)
    try:
        for hrec in vcf.header_iter():
            info = hrec.info()
            if hrec.type == "CONTIG" and "ID" in info and "length" in info:
                with contextlib.suppress(ValueError):
                    writer.contig_lengths[info["ID"]] = int(info["length"])
        n_file, last = 0, "the header"
        iterator = iter(vcf)
        while True:
            try:
                rec = next(iterator)
            except StopIteration:
                break
            except Exception as exc:  # cyvcf2 raises bare Exception on htslib parse errors
                check_compression(path)
                where = _data_line_number(path, n_file)
                where += ", " if where.startswith("line") else " ("
                raise InputFormatError(
                    f"{path}: {where}after {last}) could not be parsed by htslib ({exc}). Fix or "
                    "remove that line; 'bcftools view' on the file shows the same error with "
                    "more detail."
                ) from None
            if rec.genotype is None:
                raise InputFormatError(
                    f"{path}: {_record_place(path, n_file, rec)} has no "
                    "GT field. GenShare reads genotypes from FORMAT/GT."
                )
            calls = rec.genotype.array()
            ploidy = calls.shape[1] - 1
            if ploidy not in (1, 2):
                raise InputFormatError(
                    f"{path}: {_record_place(path, n_file, rec)} has "
                    f"ploidy {ploidy}; GenShare handles haploid and diploid calls only."
                )
            checks.check(path, n_file, rec, calls, ploidy)
            block.add(rec, calls, ploidy)
            n_file += 1
            last = f"{rec.CHROM}:{rec.POS}"
        return n_file
    finally:
        vcf.close()


def ingest_vcfs(
    paths: list[Path],
    store: Path,
    *,
    variants_chunk_size: int = 10_000,
    samples_chunk_size: int | None = None,
    on_record_block: Callable[[int], None] | None = None,
    attrs: dict | None = None,
) -> dict:
    """Convert one or more VCF/BCF files with the same samples into a VCF-Zarr store.

    Files are appended in the order given (e.g. chr1..chr22, X). Returns a summary
    (records per file, sample count) that the caller stores as provenance.

    Examples
    --------
    >>> ingest_vcfs([Path("chr21.vcf.gz")], Path("out.vcz"))  # doctest: +SKIP
    {'n_variants': 1120, ...}
    """
    if not paths:
        raise InputFormatError("no VCF files given")
    samples = vcf_samples(paths[0])
    if not samples:
        raise InputFormatError(
            f"{paths[0]}: the VCF has no sample columns (a sites-only file). GenShare needs "
            "genotypes; for allele-frequency-only resources use a 'sites' catalog entry."
        )
    _check_unique(paths[0], samples)
    for path in paths[1:]:
        other = vcf_samples(path)
        if other != samples:
            extra = sorted(set(other) - set(samples))[:5]
            missing = sorted(set(samples) - set(other))[:5]
            detail = (
                f"not in {paths[0].name}: {extra}; missing here: {missing}"
                if extra or missing
                else "same ids in another order"
            )
            raise InputFormatError(
                f"{path}: its samples differ from {paths[0]} ({detail}). All files of one "
                "cohort must list the same samples in the same order (bcftools merge or "
                "bcftools view -s can align them)."
            )

    writer = VcfZarrWriter(
        store,
        samples,
        variants_chunk_size=variants_chunk_size,
        samples_chunk_size=samples_chunk_size,
    )
    n_samples = len(samples)
    block = _RecordBlock(writer, variants_chunk_size, n_samples, on_record_block)
    per_file = []
    # One accumulator for all files, so that chunks stay full across file boundaries (a
    # partial chunk would be rewritten, compressed again, by the next file).
    use_htslib = any(_is_bcf(p) for p in paths)
    text = TextVcfReader(writer, variants_chunk_size, n_samples, on_record_block)
    checks = _RecordChecks()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for path in paths:
                check_compression(path, full=use_htslib)
                if use_htslib:
                    n_records = _read_records(path, writer, block, checks)
                else:
                    n_records = text.run(path, pool)
                per_file.append({"file": path.name, "n_records": n_records})
        block.flush()
        text.flush()
    except BaseException:
        with contextlib.suppress(Exception):  # the reading error is the one to report
            writer.close()
        raise
    if writer.n_variants == 0:
        with contextlib.suppress(Exception):
            writer.close()
        raise InputFormatError(
            f"{paths[0]}: no variant records after the header"
            f"{' (in any of the files)' if len(paths) > 1 else ''}; give a VCF with at least "
            "one record"
        )
    summary = {
        "n_variants": writer.n_variants,
        "n_samples": n_samples,
        "records_per_file": per_file,
    }
    writer.finish({**(attrs or {}), "genshare_ingest": summary})
    return summary
