"""The compact allele table: how many alleles each variant has and whether it is an SNV.

Ingest (format 4, :class:`~genshare_widgets.engines._zarr_writer.VcfZarrWriter`) stores two
per-variant arrays beside ``variant_allele``, chunked like the other variant arrays:

- ``variant_n_alleles`` (uint8, int16 when a record has more than 255 alleles): the number of
  non-empty entries of the variant's ``variant_allele`` row (REF included);
- ``variant_snv`` (bool): REF and every ALT is one base among A, C, G, T (compared after
  upper-casing) and there is at least one ALT.

so the biallelic and SNP masks of a selection are vectorised over two small arrays instead of
per-variant strings. For a biallelic variant, ``variant_snv`` is exactly the ``snps_only`` rule
of :func:`genshare_widgets.counts.select_variants` (REF and ALT upper-cased among A, C, G, T).
Stores without them (older GenShare stores, vcf2zarr/bio2zarr stores, remote stores) get the
same values computed from ``variant_allele`` by :func:`allele_flags`.

Ingest format 5 adds the REF and first-ALT strings in a compact, Arrow-like form, so the local
engine never builds per-variant Python strings:

- ``variant_ref_alt_length`` (int32, (variants, 2), chunked like the other variant arrays): the
  UTF-8 byte length of REF and of the first ALT slot of ``variant_allele`` (0 for "");
- ``variant_ref_alt_bytes`` (uint8, 1-D, chunks of 1 MiB): those strings' UTF-8 bytes, REF then
  ALT, record after record, with nothing between them.

The offsets of Arrow's string layout are the running sum of the lengths (int64, computed at
read over the range of strings a call asks for, from sums kept every ``_OFFSET_STRIDE``
strings). Lengths rather than offsets are stored because they chunk by variant like every other
per-variant array (an offsets array has one entry more than there are variants), compress better
(small values) and cannot overflow a 32-bit integer (one allele is far below 2 GiB; their sum
need not be). A 300 kb spelled-out deletion costs its 300 kb once, not 300 kb times the number
of records as a fixed-width table would. :class:`VariantTable` (``DirectStore.variant_table()``)
decodes selected rows vectorised into fixed-width numpy strings or pyarrow string arrays.
"""

from typing import Any

import numpy as np

N_ALLELES_ARRAY = "variant_n_alleles"
SNV_ARRAY = "variant_snv"
REF_ALT_LENGTH_ARRAY = "variant_ref_alt_length"
REF_ALT_BYTES_ARRAY = "variant_ref_alt_bytes"
REF_ALT_BYTES_CHUNK = 1 << 20  # bytes per chunk of variant_ref_alt_bytes
_OFFSET_STRIDE = 4096  # strings between the kept running sums of the REF/ALT lengths
_SNV_BASES = frozenset("ACGTacgt")
_UPPER_BASES = frozenset("ACGT")


def _column_strings(column: np.ndarray) -> list[str]:
    """The entries of one allele column as Python ``str`` (bytes decoded, None → "")."""
    out = column.tolist()
    if set(map(type, out)) - {str}:
        out = [v.decode() if isinstance(v, bytes) else ("" if v is None else str(v)) for v in out]
    return out


def flags_from_alleles(
    alleles: np.ndarray, ref_alt: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(n_alleles, is_snv)`` of every row of an allele table (variants, width), "" pads.

    ``alleles`` may be fixed-width unicode, numpy StringDType or object strings. A value is a
    base when ``value.upper()`` is one of A, C, G, T, as ``np.char.upper`` decides it; only
    one-character values can be (upper-casing never shortens a string), so the common ones are
    looked up in a set and the rare other one-character values are upper-cased one by one.
    ``ref_alt``, the table's :func:`encode_ref_alt` (ingest has it), decides the REF and first
    ALT columns with numpy when their text is ASCII: a one-byte value among ``ACGTacgt``.
    """
    alleles = np.asarray(alleles)
    if alleles.ndim != 2:
        raise ValueError(f"allele table must be 2-D (variants, alleles), not {alleles.shape}")
    n, width = alleles.shape
    dtype = np.uint8 if width <= 255 else np.int16
    counts = np.zeros(n, dtype=np.int64)
    is_snv = np.ones(n, dtype=bool) if width >= 2 else np.zeros(n, dtype=bool)
    is_base = _SNV_BASES.__contains__
    compact = None
    if ref_alt is not None and (not len(ref_alt[1]) or int(ref_alt[1].max()) < 0x80):
        lengths = np.asarray(ref_alt[0]).reshape(n, 2)
        starts = np.cumsum(lengths.ravel(), dtype=np.int64) - lengths.ravel()
        first_byte = (
            ref_alt[1][np.minimum(starts, len(ref_alt[1]) - 1)]
            if len(ref_alt[1])
            else np.zeros(2 * n, dtype=np.uint8)
        ).reshape(n, 2)
        base_byte = np.zeros(256, dtype=bool)
        base_byte[list(b"ACGTacgt")] = True
        compact = (lengths, first_byte, base_byte)
    for j in range(width):
        if compact is not None and j < 2:  # REF and first ALT from the bytes, vectorised
            lengths, first_byte, base_byte = compact
            present = lengths[:, j] > 0
            counts += present
            is_snv &= (lengths[:, j] == 1) & base_byte[first_byte[:, j]]
            continue
        column = _column_strings(alleles[:, j])
        present = np.fromiter(map(bool, column), dtype=bool, count=n)
        counts += present
        single_base = np.fromiter(map(is_base, column), dtype=bool, count=n)
        one_char = np.fromiter(map(len, column), dtype=np.int64, count=n) == 1
        for i in np.flatnonzero(one_char & ~single_base).tolist():  # e.g. "N", "*", odd case
            single_base[i] = column[i].upper() in _UPPER_BASES
        if j < 2:  # REF and the first ALT must be bases
            is_snv &= single_base
        else:  # further slots: empty padding or a base
            is_snv &= single_base | ~present
    return counts.astype(dtype), is_snv


def _read(source: Any, name: str) -> np.ndarray | None:
    """Array ``name`` of a DirectStore, xarray Dataset, zarr group or mapping (None if absent)."""
    has = getattr(source, "has", None)
    if callable(has) and hasattr(source, "read_chunk"):  # engines._direct.DirectStore
        return np.asarray(source.read(name)) if has(name) else None
    try:
        present = name in source
    except TypeError:
        return None
    if not present:
        return None
    values = source[name]
    values = getattr(values, "values", values)  # xarray DataArray
    return np.asarray(values[...] if hasattr(values, "chunks") else values)


def allele_flags(source: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(n_alleles, is_snv)`` for every variant of a store.

    ``source`` is a :class:`~genshare_widgets.engines._direct.DirectStore`, an xarray Dataset
    (``Cohort.genotypes``), an open zarr group, or a local store path. Reads ``variant_n_alleles``
    and ``variant_snv`` when the store has them, else computes both from ``variant_allele``
    (:func:`flags_from_alleles`): the results are the same either way.

    Examples
    --------
    >>> n_alleles, is_snv = allele_flags(cohort.genotypes)  # doctest: +SKIP
    >>> biallelic_snps = (n_alleles == 2) & is_snv  # doctest: +SKIP
    """
    if isinstance(source, str) or hasattr(source, "__fspath__"):
        import zarr

        source = zarr.open_group(str(source), mode="r", zarr_format=2)
    n_alleles = _read(source, N_ALLELES_ARRAY)
    is_snv = _read(source, SNV_ARRAY)
    if n_alleles is not None and is_snv is not None:
        return n_alleles, is_snv.astype(bool, copy=False)
    alleles = _read(source, "variant_allele")
    if alleles is None:
        raise KeyError("the store has no variant_allele array")
    return flags_from_alleles(alleles)


def encode_ref_alt(alleles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lengths, data)``: the compact REF/first-ALT table of an allele table (variants,
    width) — int32 (variants, 2) UTF-8 byte lengths and the uint8 bytes of REF, ALT, REF, ALT,
    … in record order (see the module docstring). A table with one column has ALT "" throughout.
    """
    alleles = np.asarray(alleles)
    if alleles.ndim != 2:
        raise ValueError(f"allele table must be 2-D (variants, alleles), not {alleles.shape}")
    n, width = alleles.shape
    flat: list[str] = [""] * (2 * n)
    if width >= 1:
        flat[0::2] = _column_strings(alleles[:, 0])
    if width >= 2:
        flat[1::2] = _column_strings(alleles[:, 1])
    text = "".join(flat)
    data = text.encode("utf-8")
    if len(data) == len(text):  # ASCII: one byte per character
        lengths = np.fromiter(map(len, flat), dtype=np.int64, count=2 * n)
    else:
        lengths = np.fromiter((len(v.encode("utf-8")) for v in flat), dtype=np.int64, count=2 * n)
    if n and lengths.max() > np.iinfo(np.int32).max:
        raise ValueError("an allele longer than 2 GiB cannot be stored")
    return lengths.astype(np.int32).reshape(n, 2), np.frombuffer(data, dtype=np.uint8).copy()


class VariantTable:
    """The per-variant columns the local engine selects on, and the REF/first-ALT strings
    in compact form, decoded for the rows asked for only.

    Get one from :meth:`genshare_widgets.engines._direct.DirectStore.variant_table` (read once
    per open store, then cached) or :func:`read_variant_table`.

    Attributes
    ----------
    contig_ids
        Contig names (fixed-width unicode), indexed by ``variant_contig``.
    variant_contig, variant_position
        Contig code and 1-based position of every variant.
    n_alleles, is_snv
        The compact flags of :func:`allele_flags`.
    ref_alt_length, ref_alt_bytes
        int32 (variants, 2) UTF-8 byte lengths of REF and first ALT, and the uint8 bytes
        (:func:`encode_ref_alt`).

    Examples
    --------
    >>> table = store.variant_table()  # doctest: +SKIP
    >>> table.ref_alt([0, 5])  # doctest: +SKIP
    array([['A', 'G'], ['AT', 'A']], dtype='<U2')
    >>> ref, alt = table.ref_alt_arrow([0, 5])  # pyarrow string arrays  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        contig_ids: np.ndarray,
        variant_contig: np.ndarray,
        variant_position: np.ndarray,
        n_alleles: np.ndarray,
        is_snv: np.ndarray,
        ref_alt_length: np.ndarray,
        ref_alt_bytes: np.ndarray,
    ) -> None:
        n = len(variant_position)
        lengths = np.asarray(ref_alt_length)
        data = np.asarray(ref_alt_bytes)
        if lengths.shape != (n, 2) or data.ndim != 1:
            raise ValueError(
                f"REF/ALT table of shape {lengths.shape} and {data.shape} bytes for {n} variants"
            )
        self.contig_ids = contig_ids
        self.variant_contig = variant_contig
        self.variant_position = variant_position
        self.n_alleles = n_alleles
        self.is_snv = is_snv
        self.ref_alt_length = lengths.astype(np.int32, copy=False)
        self.ref_alt_bytes = data.astype(np.uint8, copy=False)
        flat = self.ref_alt_length.ravel()
        total = int(flat.sum(dtype=np.int64))
        if (n and flat.min() < 0) or total != len(self.ref_alt_bytes):
            raise ValueError(
                f"REF/ALT lengths add up to {total} bytes, "
                f"the byte array holds {len(self.ref_alt_bytes)}"
            )
        self.ascii = not len(self.ref_alt_bytes) or int(self.ref_alt_bytes.max()) < 0x80
        self._biallelic_width: int | None = None
        self._stride_sums: np.ndarray | None = None

    def _starts(self, slots: np.ndarray) -> np.ndarray:
        """int64: where the strings ``slots`` (2·row + 0 for REF, + 1 for ALT; 2·variants for
        the end) start in ``ref_alt_bytes`` (Arrow's offsets at those slots).

        Only the running sum over the range the slots span is computed, from the sums kept
        every ``_OFFSET_STRIDE`` strings, so a caller walking a store chunk by chunk pays for
        its chunk, not for the whole table per call (8 bytes per string are not kept)."""
        flat = self.ref_alt_length.ravel()
        if not len(slots):
            return np.zeros(0, dtype=np.int64)
        if self._stride_sums is None:
            sums = np.zeros(-(-flat.size // _OFFSET_STRIDE) + 1, dtype=np.int64)
            if flat.size:
                np.cumsum(
                    np.add.reduceat(flat, np.arange(0, flat.size, _OFFSET_STRIDE), dtype=np.int64),
                    out=sums[1:],
                )
            self._stride_sums = sums
        lo = int(slots.min()) // _OFFSET_STRIDE * _OFFSET_STRIDE
        hi = int(slots.max())
        local = np.empty(hi - lo + 1, dtype=np.int64)
        local[0] = self._stride_sums[lo // _OFFSET_STRIDE]
        np.cumsum(flat[lo:hi], out=local[1:])
        local[1:] += local[0]
        return local[slots - lo]

    def __len__(self) -> int:
        return len(self.variant_position)

    def char_lengths(self) -> np.ndarray:
        """int64 (variants, 2): the length in characters of REF and first ALT."""
        lengths = self.ref_alt_length.astype(np.int64)
        if self.ascii:
            return lengths
        # a UTF-8 character is one byte that is not a continuation byte (0b10xxxxxx)
        cont = np.zeros(len(self.ref_alt_bytes) + 1, dtype=np.int64)
        np.cumsum((self.ref_alt_bytes & 0xC0) == 0x80, out=cont[1:])
        starts = self._starts(np.arange(self.ref_alt_length.size + 1))
        return (lengths.ravel() - np.diff(cont[starts])).reshape(-1, 2)

    @property
    def biallelic_width(self) -> int:
        """Characters of the longest REF or first ALT among the records with two alleles or
        more (at least 1): the fixed width of the counts Dataset's ``variant_ref`` and
        ``variant_alt``, the same for every selection of a store (wider only when a later ALT
        of a split multi-allelic record is longer)."""
        if self._biallelic_width is None:
            two = self.n_alleles >= 2
            longest = int(self.char_lengths()[two].max()) if two.any() else 0
            self._biallelic_width = max(longest, 1)
        return self._biallelic_width

    def _rows(self, index: Any) -> np.ndarray:
        if index is None:
            return np.arange(len(self), dtype=np.int64)
        rows = np.asarray(index)
        if rows.dtype == bool:
            return np.flatnonzero(rows)
        return rows.astype(np.int64, copy=False).ravel()

    def _gather(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lengths, bytes, position in string)`` of the strings ``slots`` (2·row + 0 for
        REF, + 1 for ALT), their bytes laid end to end."""
        lengths = self.ref_alt_length.ravel()[slots].astype(np.int64)
        starts = self._starts(slots)
        total = int(lengths.sum())
        first = np.cumsum(lengths) - lengths  # where each string starts in the gathered bytes
        within = np.arange(total, dtype=np.int64) - np.repeat(first, lengths)
        return lengths, self.ref_alt_bytes[np.repeat(starts, lengths) + within], within

    def ref_alt(self, index: Any = None, *, width: int | None = None) -> np.ndarray:
        """Fixed-width unicode (len(index), 2): REF and first ALT of the rows ``index`` (row
        numbers or a boolean mask; all rows by default).

        ``width`` (characters) defaults to the longest string returned (at least 1, as numpy
        picks for these strings); a smaller one than needed raises ValueError. ASCII alleles
        (every VCF allele by the specification) are laid out with numpy alone; other text is
        decoded string by string.
        """
        rows = self._rows(index)
        k = len(rows)
        slots = np.empty(2 * k, dtype=np.int64)
        slots[0::2] = 2 * rows
        slots[1::2] = 2 * rows + 1
        if not self.ascii:
            lengths, data, _ = self._gather(slots)
            ends = np.cumsum(lengths).tolist()
            starts = [0, *ends[:-1]] if ends else []
            raw = data.tobytes()
            values = [raw[a:b].decode() for a, b in zip(starts, ends, strict=True)]
            longest = max(map(len, values), default=0)
            w = max(longest, 1) if width is None else width
            if longest > w:
                raise ValueError(f"an allele of {longest} characters does not fit width {w}")
            return np.array(values, dtype=f"<U{w}").reshape(k, 2)
        lengths = self.ref_alt_length.ravel()[slots]
        longest = int(lengths.max()) if k else 0
        w = max(longest, 1) if width is None else width
        if longest > w:
            raise ValueError(f"an allele of {longest} characters does not fit width {w}")
        if longest <= 1:  # SNVs (and empty ALTs): one byte or none per string
            data = self.ref_alt_bytes
            if not len(data):
                codes = np.zeros(2 * k, dtype=np.uint32)
            else:  # an empty string may start at the very end of the bytes: clip, then mask
                first = data[np.minimum(self._starts(slots), len(data) - 1)]
                codes = np.where(lengths == 1, first, 0).astype(np.uint32)
            if w == 1:
                return codes.view("<U1").reshape(k, 2)
            out = np.zeros((2 * k, w), dtype=np.uint32)
            out[:, 0] = codes
        else:
            out = np.zeros((2 * k, w), dtype=np.uint32)  # UTF-32 code units: one per byte
            lengths, data, within = self._gather(slots)
            out[np.repeat(np.arange(2 * k), lengths), within] = data
        return out.view(f"<U{w}").reshape(k, 2)

    def ref_alt_arrow(self, index: Any = None) -> tuple[Any, Any]:
        """``(ref, alt)`` as pyarrow string arrays (large_string past 2 GiB of text) for the
        rows ``index`` (row numbers or a boolean mask; all rows by default), built from the
        stored bytes without Python strings."""
        import pyarrow as pa

        rows = self._rows(index)
        out = []
        for column in (0, 1):
            lengths, data, _ = self._gather(2 * rows + column)
            offsets = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            kind, off_type = (
                (pa.string(), np.int32) if offsets[-1] < 2**31 else (pa.large_string(), np.int64)
            )
            out.append(
                pa.Array.from_buffers(
                    kind,
                    len(rows),
                    [None, pa.py_buffer(offsets.astype(off_type)), pa.py_buffer(data)],
                )
            )
        return out[0], out[1]


def read_variant_table(store: Any) -> VariantTable:
    """The :class:`VariantTable` of a :class:`~genshare_widgets.engines._direct.DirectStore`:
    the compact REF/ALT arrays when the store has them, else the same table encoded from
    ``variant_allele`` (a store written before ingest format 5 or by another tool).

    Prefer ``store.variant_table()``, which reads it once per open store.
    """
    n_alleles, is_snv = allele_flags(store)
    if store.has(REF_ALT_LENGTH_ARRAY) and store.has(REF_ALT_BYTES_ARRAY):
        lengths = store.read(REF_ALT_LENGTH_ARRAY)
        data = store.read(REF_ALT_BYTES_ARRAY)
    else:
        lengths, data = encode_ref_alt(store.read("variant_allele"))
    position = store.read("variant_position")
    try:
        return VariantTable(
            contig_ids=np.asarray(store.read("contig_id"), dtype=object).astype(str),
            variant_contig=store.read("variant_contig"),
            variant_position=position,
            n_alleles=n_alleles,
            is_snv=is_snv,
            ref_alt_length=np.asarray(lengths).reshape(-1, 2),
            ref_alt_bytes=data,
        )
    except ValueError as exc:  # the arrays disagree: a damaged or foreign store
        from genshare_widgets.engines._integrity import StoreIntegrityError, rebuild_hint

        path = getattr(store, "path", store)
        raise StoreIntegrityError(
            f"store {path}: its REF/ALT table is inconsistent ({exc}). " + rebuild_hint(path)
        ) from None
