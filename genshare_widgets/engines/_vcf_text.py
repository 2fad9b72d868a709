"""A fast reader for text VCF (plain, gzip or bgzip) that feeds :class:`VcfZarrWriter`.

Why: htslib through cyvcf2 costs tens of microseconds of Python per record, far too slow for
hundreds of thousands of records × thousands of samples. This reader:

- decompresses BGZF blocks in a thread pool (with the system's libdeflate when it is there,
  ~3x faster than zlib, straight into one buffer per read; else zlib), or streams plain gzip;
- scans each decompressed piece with a compiled kernel that finds every line's fields and
  decodes calls of the common one-character form ``a|b`` / ``a/b`` (``FORMAT`` exactly ``GT``)
  straight into the chunk arrays;
- reads CHROM/ID/REF/ALT/QUAL/FILTER by slicing, and parses any other record's calls
  (haploid calls, multi-digit alleles, extra FORMAT fields) one by one with the same rules.

It is tested equal to the htslib path and to an independent naive reader on real data. BCF
files and anything this reader does not understand go through cyvcf2 instead.
"""

import ctypes
import ctypes.util
import functools
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from genshare_widgets._errors import InputFormatError
from genshare_widgets.engines._zarr_writer import VcfZarrWriter, record_ends

# Compressed bytes per read. Genotype text compresses 20-60 fold, so 256 KiB of BGZF becomes
# up to ~15 MiB of text: small reads keep peak memory flat whatever the file size.
_READ = 1 << 18


def _is_bgzf(head: bytes) -> bool:
    return (
        len(head) >= 16 and head[:2] == b"\x1f\x8b" and bool(head[3] & 4) and head[12:14] == b"BC"
    )


def _bgzf_blocks(data: memoryview, offset: int) -> tuple[list[tuple[int, int]], int]:
    """Complete BGZF blocks in ``data[offset:]``: (start, end) pairs and where the rest starts."""
    blocks = []
    n = len(data)
    while offset + 18 <= n:
        if data[offset] != 0x1F or data[offset + 1] != 0x8B:
            raise ValueError(f"not a BGZF block at byte {offset}")
        xlen = data[offset + 10] | data[offset + 11] << 8
        bsize = data[offset + 16] | data[offset + 17] << 8  # BC subfield first, as bgzip writes
        end = offset + bsize + 1
        if end > n:
            break
        blocks.append((offset + 12 + xlen, end - 8))
        offset = end
    return blocks, offset


class _Libdeflate:
    """libdeflate's raw-deflate decoder through ctypes (the call releases the GIL)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        lib.libdeflate_alloc_decompressor.restype = ctypes.c_void_p
        lib.libdeflate_alloc_decompressor.argtypes = []
        lib.libdeflate_free_decompressor.argtypes = [ctypes.c_void_p]
        lib.libdeflate_deflate_decompress.restype = ctypes.c_int
        lib.libdeflate_deflate_decompress.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
        ]
        self.lib = lib

    def inflate_blocks(self, data: bytes, blocks: list[tuple[int, int]]) -> bytes | bytearray:
        """The BGZF blocks' text, one after the other, in one buffer.

        Each block's size comes from its ISIZE trailer. When libdeflate refuses a block
        (corrupt, or a trailer that does not match its data), the whole read goes through
        zlib instead: it raises the error the zlib path raises, or gives the same text.
        """
        sizes = [int.from_bytes(data[b + 4 : b + 8], "little") for _, b in blocks]
        if not sizes or max(sizes) > 1 << 16:  # a BGZF block holds at most 64 KiB of text
            return _zlib_inflate_blocks(data, blocks)
        out = bytearray(sum(sizes))
        lib = self.lib
        decompressor = lib.libdeflate_alloc_decompressor()
        if not decompressor:
            return _zlib_inflate_blocks(data, blocks)
        try:
            base_in = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
            base_out = ctypes.addressof(ctypes.c_char.from_buffer(out))
            pos = 0
            for (a, b), size in zip(blocks, sizes, strict=True):
                status = lib.libdeflate_deflate_decompress(
                    decompressor, base_in + a, b - a, base_out + pos, size, None
                )
                if status != 0:
                    return _zlib_inflate_blocks(data, blocks)
                pos += size
        finally:
            lib.libdeflate_free_decompressor(decompressor)
        return out


@functools.cache
def _libdeflate() -> _Libdeflate | None:
    """The system libdeflate, or None (then zlib decodes)."""
    # The usual soname first (no ldconfig run); find_library for other systems.
    for find in (lambda: "libdeflate.so.0", lambda: ctypes.util.find_library("deflate")):
        name = find()
        if name is None:
            continue
        try:
            return _Libdeflate(ctypes.CDLL(name))
        except (OSError, AttributeError):
            continue
    return None


def _zlib_inflate_blocks(data: bytes, blocks: list[tuple[int, int]]) -> bytes:
    return b"".join(zlib.decompress(data[a:b], -15) for a, b in blocks)


def decompressed_blocks(path: Path, pool: ThreadPoolExecutor) -> Iterator[bytes | bytearray]:
    """The file's text in large pieces (line boundaries not aligned)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
        fh.seek(0)
        if _is_bgzf(head):
            libdeflate = _libdeflate()
            inflate = libdeflate.inflate_blocks if libdeflate else _zlib_inflate_blocks
            pending = b""
            future = None
            while True:
                raw = fh.read(_READ)
                data = pending + raw
                blocks, rest = _bgzf_blocks(memoryview(data), 0)
                pending = data[rest:]
                nxt = pool.submit(inflate, data, blocks)
                if future is not None:
                    yield future.result()
                future = nxt
                if not raw:
                    break
            if future is not None:
                yield future.result()
            if pending:
                raise InputFormatError(f"{path}: the bgzip file ends inside a block (truncated)")
            return
        if head[:2] == b"\x1f\x8b":
            decomp = zlib.decompressobj(31)
            while True:
                raw = fh.read(_READ // 4)
                if not raw:
                    break
                out = decomp.decompress(raw)
                while decomp.eof and decomp.unused_data:  # concatenated gzip members
                    leftover = decomp.unused_data
                    decomp = zlib.decompressobj(31)
                    out += decomp.decompress(leftover)
                yield out
            if not decomp.eof:
                raise InputFormatError(
                    f"{path}: the gzip stream is truncated: the download or copy was interrupted. "
                    "Fetch or copy the file again."
                )
            return
        while raw := fh.read(_READ):
            yield raw


def _parse_call(text: bytes) -> tuple[int, int, bool]:
    gt = text.split(b":", 1)[0]
    if b"|" in gt:
        parts, phased = gt.split(b"|"), True
    else:
        parts = gt.split(b"/")
        phased = len(parts) == 1  # htslib convention: a haploid call counts as phased
    if len(parts) > 2:
        raise ValueError(f"ploidy {len(parts)}")
    bad = [a for a in parts if a not in (b".", b"") and not a.isdigit()]
    if bad:
        raise ValueError(f"allele {bad[0].decode(errors='replace')!r} is not an index or '.'")
    codes = [-1 if a in (b".", b"") else int(a) for a in parts]
    return codes[0], codes[1] if len(codes) == 2 else -2, phased


def info_end(info: str, position: int) -> int:
    """INFO/END of a record (-1 when INFO has none); ValueError naming the problem when END
    is not an integer at or after POS."""
    for item in info.split(";"):
        key, _, value = item.partition("=")
        if key == "END":
            try:
                end = int(value)
            except ValueError:
                raise ValueError(f"INFO/END {value!r} is not an integer") from None
            if end < position:
                raise ValueError(f"INFO/END {end} is before POS {position}")
            return end
    return -1


def _info_end(info: str, position: int, reader, line_no: int) -> int:
    try:
        return info_end(info, position)
    except ValueError as exc:
        raise reader._error(line_no, str(exc)) from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class TextVcfReader:
    """Stream text VCFs into a writer, one chunk of records at a time (chunks span files).

    The compiled :func:`~genshare_widgets.engines._kernels.scan_vcf_records` finds the fields
    of every line and decodes one-character diploid calls straight into the chunk arrays;
    Python then reads CHROM/ID/REF/ALT/QUAL/FILTER column-wise, and parses the remaining
    records' calls one by one.
    """

    def __init__(
        self,
        writer: VcfZarrWriter,
        chunk: int,
        n_samples: int,
        on_flush: Callable[[int], None] | None,
    ) -> None:
        self.path = Path()
        self.writer, self.chunk, self.n = writer, chunk, n_samples
        self.on_flush = on_flush
        self.gt = np.empty((chunk, n_samples, 2), dtype=np.int8)
        self.phased = np.empty((chunk, n_samples), dtype=bool)
        self.fields = np.empty((chunk, 11), dtype=np.int64)
        self.positions = np.empty(chunk, dtype=np.int64)
        self.fast = np.empty(chunk, dtype=bool)
        self.filled = 0
        self.blocks: list[tuple] = []  # per-variant columns of the rows scanned so far
        self.slow: list[tuple[int, bytes, bytes, int, Path]] = []
        self.last: tuple[int, int] | None = None  # (contig code, position) of the last record
        self.done_contigs: set[int] = set()  # contigs whose records have ended

    def _error(self, line_no: int, what: str) -> InputFormatError:
        return InputFormatError(
            f"{self.path}: line {line_no}: {what}. Fix or remove that line; 'bcftools view' on "
            "the file reports the same problem."
        )

    def run(self, path: Path, pool: ThreadPoolExecutor) -> int:
        """Read one file's records; returns how many. Call :meth:`flush` after the last file."""
        self.path = path
        n_records = 0
        header_lines = 0
        header_done = False
        carry: bytes | bytearray = b""
        for piece in decompressed_blocks(path, pool):
            if header_done and carry:
                # The line cut by the previous piece, joined on its own (no copy of the piece).
                nl = piece.find(b"\n")
                if nl < 0:
                    carry += piece
                    continue
                head = carry + piece[: nl + 1]
                used, added = self._scan(head, 0, header_lines + n_records + 1)
                n_records += added
                if used != len(head):  # cannot happen: head is one complete line
                    raise self._error(header_lines + n_records + 1, "a record cannot be read")
                data, offset = piece, nl + 1
            else:
                data = carry + piece if carry else piece
                offset = 0
            if not header_done:
                while True:
                    nl = data.find(b"\n", offset)
                    if nl < 0:
                        break
                    line = data[offset:nl]
                    header_lines += 1
                    offset = nl + 1
                    if line.startswith(b"##"):
                        self._header_line(line)
                    elif line.startswith(b"#CHROM"):
                        header_done = True
                        break
                    else:
                        raise self._error(header_lines, "a record before the #CHROM header line")
                if not header_done:
                    carry = data[offset:]
                    continue
            offset, added = self._scan(data, offset, header_lines + n_records + 1)
            n_records += added
            carry = data[offset:]
        if not header_done:
            raise InputFormatError(f"{self.path}: no #CHROM header line: not a VCF file")
        if carry.strip():  # a last line without a newline
            n_records += self._scan(carry + b"\n", 0, header_lines + n_records + 1)[1]
        return n_records

    def _scan(self, data: bytes | bytearray, offset: int, first_line: int) -> tuple[int, int]:
        """Scan complete lines of ``data[offset:]`` into the chunk, writing each full chunk.

        Returns the offset after the last complete line and the number of records read.
        """
        from genshare_widgets.engines._kernels import scan_vcf_records

        buf = np.frombuffer(data, dtype=np.uint8)
        added = 0
        while True:
            rows, offset = scan_vcf_records(
                buf,
                offset,
                self.n,
                self.gt,
                self.phased,
                self.filled,
                self.fields,
                self.positions,
                self.fast,
            )
            self._collect(data, self.filled, self.filled + rows, first_line + added)
            self.filled += rows
            added += rows
            if self.filled < self.chunk:
                return offset, added
            self.flush()

    def _header_line(self, line: bytes | bytearray) -> None:
        if line.startswith(b"##contig=<"):
            body = line[10:].rstrip(b">").decode(errors="replace")
            items = dict(kv.split("=", 1) for kv in body.split(",") if "=" in kv)
            if "ID" in items and items.get("length", "").isdigit():
                self.writer.contig_lengths[items["ID"]] = int(items["length"])

    def _collect(self, data: bytes | bytearray, lo: int, hi: int, first_line: int) -> None:
        """Per-variant fields of rows lo..hi (their genotypes are already in place or queued).

        Column-wise: the CHROM..FILTER text of every row is joined and split once (C loops),
        so no Python work is done per record except for rare multi-allelic or non-PASS rows.
        """
        if hi <= lo:
            return
        f = self.fields[lo:hi]
        bad = np.flatnonzero(f[:, 9] > f[:, 10])
        if len(bad):
            row = f[bad[0]].tolist()
            n_cols = sum(1 for x in row[1:10] if x <= row[10]) + 1
            raise self._error(first_line + int(bad[0]), f"{n_cols} columns, expected {9 + self.n}")
        bad = np.flatnonzero(self.positions[lo:hi] < 0)
        if len(bad):
            row = f[bad[0]].tolist()
            raise self._error(
                first_line + int(bad[0]),
                f"position {data[row[1] : row[2] - 1].decode(errors='replace')!r} is not "
                "an integer",
            )
        starts, ends = f[:, 0].tolist(), (f[:, 7] - 1).tolist()
        text = b"\t".join([data[a:b] for a, b in zip(starts, ends, strict=True)])
        cols = text.decode().split("\t")
        if len(cols) != 7 * (hi - lo):
            raise self._error(first_line, "a record's first seven columns cannot be read")
        w = self.writer
        known = w._contig_index
        contig = [known.get(c) if c in known else w.contig_code(c) for c in cols[0::7]]
        ref, alt = cols[3::7], cols[4::7]
        multi = [j for j, a in enumerate(alt) if "," in a]
        width = 2 + (max(alt[j].count(",") for j in multi) if multi else 0)
        alleles = np.full((hi - lo, width), "", dtype=object)
        alleles[:, 0] = ref
        alleles[:, 1] = alt
        alleles[:, 1][alleles[:, 1] == "."] = ""
        for j in multi:
            parts = alt[j].split(",")
            alleles[j, 1 : 1 + len(parts)] = parts
        ids = np.array(cols[2::7], dtype=object)
        ids[ids == "."] = ""
        quals = cols[5::7]
        try:
            quality = np.array([q if q != "." else "nan" for q in quals]).astype(np.float64)
        except ValueError:
            j = next(i for i, q in enumerate(quals) if q != "." and not _is_float(q))
            raise self._error(first_line + j, f"QUAL {quals[j]!r} is not a number") from None
        filter_memo: dict[str, list[int]] = {".": [0], "PASS": [0]}
        filters = []
        for flt in cols[6::7]:
            codes = filter_memo.get(flt)
            if codes is None:
                codes = filter_memo[flt] = [w.filter_code(x) for x in flt.split(";")]
            filters.append(codes)
        self._check_sorted(np.asarray(contig, dtype=np.int64), self.positions[lo:hi], first_line)
        lines = np.arange(first_line, first_line + hi - lo)
        info_end = np.full(hi - lo, -1, dtype=np.int64)
        symbolic = (j for j, a in enumerate(alt) if any(x.startswith("<") for x in a.split(",")))
        for j in symbolic:  # INFO/END of records with a symbolic allele
            row = f[j].tolist()
            info = bytes(data[row[7] : row[8] - 1]).decode(errors="replace")
            info_end[j] = _info_end(info, int(self.positions[lo + j]), self, first_line + j)
        ends = record_ends(self.positions[lo:hi], ref, info_end)
        self.blocks.append((contig, alleles, ids, quality, filters, lines, self.path, ends))

        for j in np.flatnonzero(~self.fast[lo:hi]).tolist():
            row = f[j].tolist()
            self.slow.append(
                (
                    lo + j,
                    bytes(data[row[8] : row[9] - 1]),
                    bytes(data[row[9] : row[10]]),
                    first_line + j,
                    self.path,
                )
            )

    def _check_sorted(self, contig: np.ndarray, position: np.ndarray, first_line: int) -> None:
        """Refuse records out of order: windows, regions and chunk lookups assume each
        contig's records are together and in position order."""
        if self.last is not None:
            contig = np.concatenate([[self.last[0]], contig])
            position = np.concatenate([[self.last[1]], position])
            first_line -= 1
        same = contig[1:] == contig[:-1]
        back = np.flatnonzero(same & (position[1:] < position[:-1]))
        new = np.flatnonzero(~same)
        again: list[int] = []
        seen = set(self.done_contigs)
        for j in new.tolist():  # a contig that comes back after another one
            seen.add(int(contig[j]))
            if int(contig[j + 1]) in seen:
                again.append(j)
        bad = sorted({*back.tolist(), *again})
        if bad:
            j = bad[0]
            names = self.writer.contigs
            where = f"{names[int(contig[j + 1])]}:{int(position[j + 1])}"
            before = f"{names[int(contig[j])]}:{int(position[j])}"
            raise InputFormatError(
                f"{self.path}: line {first_line + j + 1}: record {where} comes after {before}: "
                "the VCF is not sorted; sort it first (bcftools sort -Oz -o sorted.vcf.gz FILE)"
            )
        self.done_contigs |= {int(c) for c in contig[:-1][~same]}
        self.last = (int(contig[-1]), int(position[-1]))

    def flush(self) -> None:
        """Parse the queued careful-path calls and write the buffered records as one chunk."""
        k = self.filled
        if not k:
            return
        for i, fmt, blob, line_no, path in self.slow:
            self.path = path
            self._parse_slow(self.gt, self.phased, i, fmt, blob, line_no)
        blocks = self.blocks
        width = max(b[1].shape[1] for b in blocks)
        alleles = np.full((k, width), "", dtype=object)
        row = 0
        for b in blocks:
            alleles[row : row + len(b[1]), : b[1].shape[1]] = b[1]
            row += len(b[1])
        # every allele index must name an allele of its record (REF + ALTs)
        n_alleles = (alleles != "").sum(axis=1)
        highest = self.gt[:k].reshape(k, -1).max(axis=1)
        bad = np.flatnonzero(highest >= n_alleles)
        if len(bad):
            i = int(bad[0])
            lines = np.concatenate([b[5] for b in blocks])
            paths = [b[6] for b in blocks for _ in range(len(b[5]))]
            self.path = paths[i]
            alts = ",".join(a for a in alleles[i, 1:] if a)
            raise self._error(
                int(lines[i]),
                f"a genotype names allele {int(highest[i])}, but the record has "
                f"{int(n_alleles[i]) - 1} ALT allele(s) ({alts})",
            )
        self.writer.add_chunk(
            contig=np.concatenate([np.asarray(b[0], dtype=np.int16) for b in blocks]),
            position=self.positions[:k].copy(),
            alleles=alleles,
            ids=np.concatenate([b[2] for b in blocks]),
            quality=np.concatenate([b[3] for b in blocks]),
            filters=[codes for b in blocks for codes in b[4]],
            genotypes=self.gt[:k],
            phased=self.phased[:k],
            copy=False,  # handed over: the next chunk gets fresh buffers (no 45 MB copy)
            end=np.concatenate([b[7] for b in blocks]),
        )
        self.gt = np.empty_like(self.gt)
        self.phased = np.empty_like(self.phased)
        if self.on_flush is not None:
            self.on_flush(k)
        self.blocks, self.slow, self.filled = [], [], 0

    def _parse_slow(self, gt, phased, i: int, fmt: bytes, blob: bytes, line_no: int) -> None:
        if not (fmt == b"GT" or fmt.startswith(b"GT:")):
            raise self._error(line_no, "no GT field (GenShare reads genotypes from FORMAT/GT)")
        cells = blob.split(b"\t")
        if len(cells) != self.n:
            raise self._error(line_no, f"{len(cells)} sample columns, the header has {self.n}")
        memo: dict[bytes, tuple[int, int, bool]] = {}
        for s, cell in enumerate(cells):
            call = memo.get(cell)
            if call is None:
                try:
                    call = _parse_call(cell)
                except ValueError as exc:
                    msg = f"sample {s + 1}: genotype {cell.decode(errors='replace')!r} ({exc})"
                    if "ploidy" in str(exc):
                        msg += "; GenShare handles haploid and diploid calls only"
                    raise self._error(line_no, msg) from None
                memo[cell] = call
            gt[i, s, 0], gt[i, s, 1], phased[i, s] = call
