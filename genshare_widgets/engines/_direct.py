"""The counting hot path: per-group counts straight from a store's chunk files.

``genshare stats`` would spend most of a short run importing xarray and dask (about 2 s here),
starting numba (about 1.5 s per process even with cached kernels) and decoding int8 genotypes.
For a local VCF-Zarr store written by GenShare (Zarr format 2, with the bit-plane copy
``call_genotype_bitplanes``, see :mod:`engines._packed`), this module reads the chunks itself
— ``.zarray`` metadata, numcodecs decompression — and counts with numpy popcounts in threads
(numpy and blosc release the GIL), importing only numpy and numcodecs. Rows that are not
packable (haploid or half-missing calls, alleles ≥ 2) are counted from ``call_genotype`` with
the numpy reference of the Dask engine, as are the records of the later ALTs of a multi-allelic
site (split per ALT allele, as ``bcftools norm -m-`` does). The results are tested equal to
:func:`genshare_widgets.counts.allele_counts_by_group` on simulated and real stores.

Anything this reader does not understand (another chunk layout, a missing packed array,
a remote store) raises :class:`UnsupportedStoreError`, and callers fall back to the Dask engine.
"""

import itertools
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from genshare_widgets.engines._integrity import (
    ChunkManifest,
    StoreIntegrityError,
    read_with_ident,
    rebuild_hint,
)

if TYPE_CHECKING:
    from genshare_widgets.engines._variants import VariantTable


class UnsupportedStoreError(Exception):
    """This store cannot be read by the direct path (callers use the Dask engine instead)."""


class DirectStore:
    """Read-only access to the arrays of a local Zarr-format-2 store, chunk by chunk.

    Parameters
    ----------
    path
        The store folder (it must contain ``.zgroup``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / ".zgroup").is_file():
            raise UnsupportedStoreError(f"{self.path}: not a Zarr format 2 group")
        self._meta: dict[str, dict[str, Any]] = {}
        self._manifest = ChunkManifest(self.path)  # every file read is checked against it
        self._variant_table: VariantTable | None = None
        self._variant_table_lock = threading.Lock()

    def meta(self, name: str) -> dict[str, Any]:
        """The ``.zarray`` metadata of array ``name`` (checked for what this reader handles)."""
        if name not in self._meta:
            file = self.path / name / ".zarray"
            if not file.is_file():
                raise UnsupportedStoreError(f"{self.path}: no array {name!r}")
            raw, ident = read_with_ident(file)
            self._manifest.check(name, ".zarray", raw, ident)
            meta = json.loads(raw)
            if meta.get("order", "C") != "C" or meta.get("dimension_separator", ".") != ".":
                raise UnsupportedStoreError(f"{name}: chunk layout not handled")
            filters = meta.get("filters") or []
            if meta["dtype"] == "|O":
                if [f.get("id") for f in filters] != ["vlen-utf8"]:
                    raise UnsupportedStoreError(f"{name}: object array without vlen-utf8")
            elif filters:
                raise UnsupportedStoreError(f"{name}: filters not handled")
            self._meta[name] = meta
        return self._meta[name]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the lock and the cached variant table (read again where needed)."""
        state = dict(self.__dict__)
        state["_variant_table"] = None
        del state["_variant_table_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._variant_table_lock = threading.Lock()

    def variant_table(self) -> "VariantTable":
        """The store's per-variant table, a :class:`~.engines._variants.VariantTable`: contig
        names, contig codes, positions, the compact flags ``n_alleles``/``is_snv``, and REF and
        first ALT in compact form, decoded only for the rows asked for
        (``table.ref_alt(index)``, ``table.ref_alt_arrow(index)``).

        Read once per open store and cached, so a warm notebook's later passes reuse it. A
        store without the compact arrays (written before ingest format 5, or by another tool)
        gets the same table from ``variant_allele``.
        """
        with self._variant_table_lock:
            if self._variant_table is None:
                from genshare_widgets.engines._variants import read_variant_table

                self._variant_table = read_variant_table(self)
            return self._variant_table

    def has(self, name: str) -> bool:
        """True when the store holds array ``name``."""
        return (self.path / name / ".zarray").is_file()

    def chunk_rows(self, name: str) -> int:
        """Rows (first dimension) per chunk of array ``name``."""
        return int(self.meta(name)["chunks"][0])

    def n_chunks(self, name: str) -> int:
        """Chunks of array ``name`` along its first dimension."""
        rows, step = self.meta(name)["shape"][0], self.meta(name)["chunks"][0]
        return -(-rows // step)

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of array ``name``."""
        return tuple(self.meta(name)["shape"])

    def read_chunk(self, name: str, row_chunk: int, *, out: np.ndarray | None = None) -> np.ndarray:
        """Chunk ``row_chunk`` along the first dimension (all other dimensions must be whole).

        ``out``: a C-contiguous array of the chunk's full shape and dtype to decompress into
        (a hot loop reuses one buffer instead of faulting in fresh pages per chunk); the
        result is then a view of it, valid until the buffer is reused.
        """
        from numcodecs import get_codec

        meta = self.meta(name)
        shape, chunks = meta["shape"], meta["chunks"]
        if any(c < s for c, s in zip(chunks[1:], shape[1:], strict=True)):
            raise UnsupportedStoreError(f"{name}: chunked along a later dimension")
        if out is not None and (
            out.dtype != np.dtype(meta["dtype"])
            or out.shape != tuple(chunks)
            or not out.flags.c_contiguous
        ):
            raise ValueError(f"{name}: out must be C-contiguous {meta['dtype']} of shape {chunks}")
        n_chunks = self.n_chunks(name)
        if not 0 <= row_chunk < n_chunks:
            raise IndexError(f"{name}: chunk {row_chunk} of {n_chunks} ({shape[0]} rows)")
        key = ".".join([str(row_chunk)] + ["0"] * (len(shape) - 1))
        start = row_chunk * chunks[0]
        rows = min(chunks[0], shape[0] - start)
        out_shape = (rows, *shape[1:])
        try:
            data, ident = read_with_ident(self.path / name / key)
        except FileNotFoundError:
            self._manifest.check(name, key, None)
            fill = meta["fill_value"]
            return np.full(
                out_shape, fill, dtype=object if meta["dtype"] == "|O" else meta["dtype"]
            )
        self._manifest.check(name, key, data, ident)
        try:
            if meta["dtype"] == "|O":
                raw = get_codec(meta["compressor"]).decode(data)
                values = get_codec({"id": "vlen-utf8"}).decode(raw)
                return values.reshape(chunks)[:rows]
            dtype = np.dtype(meta["dtype"])
            if out is not None and (meta.get("compressor") or {}).get("id") == "blosc":
                # bytes 4-8 of a Blosc header: the decompressed size; only a whole chunk fills out
                if len(data) < 16 or int.from_bytes(data[4:8], "little") != out.nbytes:
                    raise ValueError(f"decompressed size is not the {out.nbytes} bytes of a chunk")
                get_codec(meta["compressor"]).decode(data, out=out.reshape(-1).view(np.uint8))
                return out[:rows]
            if meta.get("compressor"):
                data = get_codec(meta["compressor"]).decode(data)
            return np.frombuffer(data, dtype=dtype).reshape(chunks)[:rows]
        except (RuntimeError, ValueError) as exc:  # a store without a manifest: blosc says
            raise StoreIntegrityError(
                f"store {self.path}: chunk {name}/{key} cannot be decoded ({exc}). "
                + rebuild_hint(self.path)
            ) from None

    def allele_rows(self, rows: np.ndarray) -> np.ndarray:
        """Fixed-width strings (len(rows), alleles): the ``variant_allele`` rows ``rows``,
        reading only the chunks that hold them (the ALTs of split multi-allelic records)."""
        rows = np.asarray(rows, dtype=np.int64)
        width = self.shape("variant_allele")[1]
        out = np.empty((len(rows), width), dtype=object)
        step = self.chunk_rows("variant_allele")
        for c in np.unique(rows // step).tolist():
            at = np.flatnonzero(rows // step == c)
            out[at] = self.read_chunk("variant_allele", c)[rows[at] - c * step]
        out[out == None] = ""  # noqa: E711 (elementwise)
        return out.astype(str) if len(rows) else np.zeros((0, width), dtype="<U1")

    def read(self, name: str) -> np.ndarray:
        """The whole array ``name``."""
        meta = self.meta(name)
        parts = [self.read_chunk(name, i) for i in range(self.n_chunks(name))]
        if not parts:
            return np.zeros(tuple(meta["shape"]), dtype=object if meta["dtype"] == "|O" else None)
        return np.concatenate(parts)


def open_direct(path: str | Path, *, verified: bool = False) -> DirectStore:
    """A :class:`DirectStore` for a GenShare store that has the bit-plane genotype copy.

    ``verified``: the caller has just run :func:`~engines._integrity.verify_store` on it (the
    cohort opener does), so its files are not checked twice; every chunk read is still
    checked against the manifest.
    """
    from genshare_widgets.engines._integrity import verify_store

    store = DirectStore(path)
    if not verified:
        verify_store(store.path)  # every file against the manifest (stat only when unchanged)
    for name in ("call_genotype_bitplanes", "variant_genotype_packable", "call_genotype"):
        store.meta(name)
    if store.chunk_rows("call_genotype_bitplanes") != store.chunk_rows("call_genotype"):
        raise UnsupportedStoreError("bit-plane and int8 genotypes are chunked differently")
    return store


def group_masks(group: np.ndarray, n_groups: int, n_words: int) -> np.ndarray:
    """uint64 (groups, words): bit ``s % 64`` of word ``s // 64`` set for the samples of each
    group (``group`` int per sample, -1 = left out)."""
    bits = np.zeros((n_groups, n_words * 64), dtype=np.uint8)
    member = np.flatnonzero(group >= 0)
    bits[group[member], member] = 1
    packed = np.packbits(bits, axis=1, bitorder="little")  # byte k holds samples 8k..8k+7
    return packed.view("<u8").astype(np.uint64).reshape(n_groups, n_words)


_BLOCK_ROWS = 2048  # variants per step: a step's word-major planes stay in the L2 cache
_workspace = threading.local()  # per thread: the step buffers, reused from chunk to chunk


def _buffers(n_words: int) -> dict[str, np.ndarray]:
    """This thread's step buffers for ``n_words`` words per plane row. Reusing them matters:
    fresh multi-megabyte arrays per chunk cost more in page faults than the popcounts."""
    found = getattr(_workspace, "buffers", None)
    if found is None or found["lo"].shape[0] != n_words:
        shape = (n_words, _BLOCK_ROWS)
        found = {
            "lo": np.empty(shape, dtype=np.uint64),
            "hi": np.empty(shape, dtype=np.uint64),
            "both": np.empty(shape, dtype=np.uint64),
            "tmp": np.empty(shape, dtype=np.uint64),
            "bits": np.empty(shape, dtype=np.uint8),
        }
        _workspace.buffers = found
    return found


def _tally(
    plane: np.ndarray, mask: np.ndarray, a: int, b: int, tmp: np.ndarray, bits: np.ndarray
) -> np.ndarray:
    """int32 per variant: set bits of ``plane & mask`` over words ``[a, b)`` (word-major)."""
    part, count = tmp[a:b], bits[a:b]
    np.bitwise_and(plane[a:b], mask[a:b, None], out=part)
    np.bitwise_count(part, out=count)
    return count.sum(axis=0, dtype=np.int32)


def bitplane_group_counts(
    planes: np.ndarray, masks: np.ndarray, n_group_samples: np.ndarray
) -> np.ndarray:
    """int32 (variants, groups, 5) [allele count, allele number, hom-alt, het, called] of
    packable rows, from bit planes uint64 (variants, 2, words) and group masks (groups, words).

    missing = popcount(lo & hi & mask); het = popcount(lo & mask) - missing;
    hom-alt = popcount(hi & mask) - missing; called = samples in the group - missing.
    Works word-major (words × variants) so every numpy call runs along a long contiguous row,
    in steps of a few thousand variants through buffers the thread keeps, and each group
    only over the words from its first to its last sample: groups that sit together in the
    sample order (populations usually do) cost their own share, not the whole row each.
    """
    n_var, _, n_words = planes.shape
    n_groups = masks.shape[0]
    out = np.empty((n_var, n_groups, 5), dtype=np.int32)
    spans = []
    for g in range(n_groups):
        words = np.flatnonzero(masks[g])
        spans.append((int(words[0]), int(words[-1]) + 1) if len(words) else (0, 0))
    work = _buffers(n_words)
    for v0 in range(0, n_var, _BLOCK_ROWS):
        v1 = min(v0 + _BLOCK_ROWS, n_var)
        width = v1 - v0
        lo, hi = work["lo"][:, :width], work["hi"][:, :width]
        both, tmp, bits = work["both"][:, :width], work["tmp"][:, :width], work["bits"][:, :width]
        np.copyto(lo, planes[v0:v1, 0, :].T)
        np.copyto(hi, planes[v0:v1, 1, :].T)
        np.bitwise_and(lo, hi, out=both)

        for g in range(n_groups):
            mask, (a, b) = masks[g], spans[g]
            missing = _tally(both, mask, a, b, tmp, bits)
            het = _tally(lo, mask, a, b, tmp, bits) - missing
            hom = _tally(hi, mask, a, b, tmp, bits) - missing
            called = np.int32(n_group_samples[g]) - missing
            block = out[v0:v1, g]
            block[:, 0] = het + 2 * hom
            block[:, 1] = 2 * called
            block[:, 2] = hom
            block[:, 3] = het
            block[:, 4] = called
    return out


class DirectCounter:
    """Per-group counts of the variants in rows ``[lo, hi)`` of a store, started at once in
    background threads; :meth:`result` then picks the rows wanted.

    Counting every packable row of the span while the caller is still decoding alleles and
    choosing variants costs little (popcounts over the bit planes) and hides the genotype
    pass behind that work. Non-packable rows are counted exactly from ``call_genotype``, and
    only for the rows finally asked for.

    Parameters
    ----------
    store
        An :func:`open_direct` store.
    group
        int64 group code per sample, -1 for samples left out.
    n_groups
        Number of groups.
    lo, hi
        Row span to count.
    threads
        Worker threads (default: the number of CPUs).
    """

    def __init__(
        self,
        store: DirectStore,
        group: np.ndarray,
        n_groups: int,
        lo: int,
        hi: int,
        *,
        threads: int | None = None,
    ) -> None:
        self.store = store
        self.group = np.asarray(group, dtype=np.int64)
        self.n_groups = n_groups
        self.lo, self.hi = lo, hi
        self.step = store.chunk_rows("call_genotype_bitplanes")
        self._counter = GroupCounter(
            self.group, n_groups, store.shape("call_genotype_bitplanes")[2]
        )
        first, last = lo // self.step, max(hi - 1, lo) // self.step
        workers = threads or (os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=max(workers, 1))
        self._chunks = (
            {c: self._pool.submit(self._count_chunk, c) for c in range(first, last + 1)}
            if hi > lo
            else {}
        )

    def _count_chunk(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        meta = self.store.meta("call_genotype_bitplanes")
        buffer = getattr(_workspace, "planes", None)  # this thread's decompression buffer
        if buffer is None or buffer.shape != tuple(meta["chunks"]):
            buffer = _workspace.planes = np.empty(tuple(meta["chunks"]), dtype=meta["dtype"])
        planes = self.store.read_chunk("call_genotype_bitplanes", c, out=buffer)
        packable = self.store.read_chunk("variant_genotype_packable", c)
        return self._counter.planes(planes), packable

    def result(self, index: np.ndarray, alt_allele: np.ndarray | None = None) -> np.ndarray:
        """int32 (len(index), groups, 5) for the sorted rows ``index`` (all in the span).

        ``alt_allele`` (per row of ``index``; default all 1): the ALT allele each record
        counts, as :func:`genshare_widgets._selection.select_variants` gives it; a store row
        split into several records appears once per record. Records of a later ALT are
        counted from ``call_genotype`` (they are rare) with that allele as ALT."""
        out = np.zeros((len(index), self.n_groups, 5), dtype=np.int32)
        later = (
            np.zeros(len(index), dtype=bool) if alt_allele is None else np.asarray(alt_allele) > 1
        )
        try:
            if len(index) and (index[0] < self.lo or index[-1] >= self.hi):
                raise ValueError("rows outside the counted span")
            chunk_of = index // self.step
            cuts = np.flatnonzero(np.diff(chunk_of)) + 1  # index is sorted: runs per chunk
            for a, b in zip(
                np.concatenate([[0], cuts]), np.concatenate([cuts, [len(index)]]), strict=True
            ):
                c = int(chunk_of[a])
                rows = index[a:b] - c * self.step
                counts, packable = self._chunks.pop(c).result()  # freed once copied
                if rows[-1] - rows[0] + 1 == len(rows) and not later[a:b].any():
                    # a run of distinct rows: slices, no gathers
                    out[a:b] = counts[rows[0] : rows[-1] + 1]
                    exact = ~packable[rows[0] : rows[-1] + 1]
                else:
                    out[a:b] = counts[rows]
                    exact = ~packable[rows] | later[a:b]
                if exact.any():
                    gt = self.store.read_chunk("call_genotype", c)[rows[exact]]
                    alt = 1 if alt_allele is None else np.asarray(alt_allele)[a:b][exact]
                    out[a:b][exact] = self._counter.calls(gt, alt)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return out


class GroupCounter:
    """Per-group counts (:data:`engines._group_counts.FIELDS`) of rows a genotype stream has
    in memory, by the count pass's rules: packable rows from their bit planes
    (:func:`bitplane_group_counts`), other rows from ``call_genotype``
    (:func:`engines._group_counts.block_counts`). ``group``: int64 code per store sample, -1
    for samples left out."""

    def __init__(self, group: np.ndarray, n_groups: int, n_words: int) -> None:
        self.group = np.asarray(group, dtype=np.int64)
        self.n_groups = n_groups
        self.masks = group_masks(self.group, n_groups, n_words)
        member = np.flatnonzero(self.group >= 0)
        self.n_group = np.bincount(self.group[member], minlength=n_groups).astype(np.int64)
        self.onehot = np.zeros((len(self.group), n_groups), dtype=np.float32)
        self.onehot[member, self.group[member]] = 1

    def planes(self, planes: np.ndarray) -> np.ndarray:
        """int32 (rows, groups, 5) of packable rows' planes uint64 (rows, 2, words)."""
        return bitplane_group_counts(planes, self.masks, self.n_group)

    def calls(self, gt: np.ndarray, alt_allele: "np.ndarray | int" = 1) -> np.ndarray:
        """int32 (rows, groups, 5) of genotype calls int8 (rows, samples, 2), counting
        ``alt_allele`` (per row, or one for all) as ALT."""
        from genshare_widgets.engines._group_counts import block_counts

        return block_counts(np.asarray(gt), self.onehot, alt_allele)

    def rows(
        self,
        packable: np.ndarray,
        planes: np.ndarray,
        slow_calls,
        slow_alt: "np.ndarray | int" = 1,
    ) -> np.ndarray:
        """Counts of rows with packable flags ``packable``: ``planes`` are the packable
        rows' planes and ``slow_calls`` the other rows' calls, each in row order, counting
        ``slow_alt`` (per slow row, or one for all) as their ALT."""
        out = np.empty((len(packable), self.n_groups, 5), dtype=np.int32)
        out[packable] = self.planes(planes)
        if slow_calls is not None:
            out[~packable] = self.calls(slow_calls, slow_alt)
        return out


def direct_group_counts(
    store: DirectStore,
    group: np.ndarray,
    n_groups: int,
    index: np.ndarray,
    alt_allele: np.ndarray | None = None,
    *,
    threads: int | None = None,
) -> np.ndarray:
    """int32 (len(index), n_groups, 5): the counts of ``_group_counts.group_counts`` for the
    records ``index`` (sorted store rows) and ``alt_allele`` (their ALT; default 1), read
    from the bit-plane copy in threads.

    ``group`` int64 per sample, -1 for samples left out.
    """
    if not len(index):
        return np.zeros((0, n_groups, 5), dtype=np.int32)
    lo, hi = int(index[0]), int(index[-1]) + 1
    counter = DirectCounter(store, group, n_groups, lo, hi, threads=threads)
    return counter.result(index, alt_allele)


def standardized_from_planes(planes: np.ndarray, p: np.ndarray, n_samples: int) -> np.ndarray:
    """Patterson-standardised float64 (variants, samples) from packable bit-plane rows.

    The same float64 operations as ``_sample_pass.standardized_block`` on the int8 calls
    (dosage − 2p, divided by sqrt(p(1 − p)); missing → 0), so the values are identical.
    """
    raw = np.ascontiguousarray(planes).view(np.uint8)
    bits = np.unpackbits(raw, axis=2, count=n_samples, bitorder="little")
    dosage = bits[:, 0, :] + 2 * bits[:, 1, :]  # 0, 1, 2 ALT copies; 3 = missing
    p64 = np.asarray(p, dtype=np.float64)[:, None]
    x = dosage.astype(np.float64)
    x -= 2 * p64
    x /= np.sqrt(p64 * (1 - p64))
    x[dosage == 3] = 0.0
    return x


def direct_reduce_standardized(
    store: DirectStore,
    index: np.ndarray,
    p: np.ndarray,
    block_fn,
    shape: tuple[int, ...],
    *,
    rows_per_block: int = 4096,
    threads: int | None = None,
) -> np.ndarray:
    """Σ of ``block_fn(X_b)`` over blocks of the standardised genotypes of rows ``index``
    (sorted; ``p`` their ALT frequencies): the bit-plane twin of
    ``_sample_pass.reduce_standardized``. Blocks of ``rows_per_block`` variants keep the
    float64 matrix small (48 MB for 1,500 samples); non-packable rows are standardised from
    ``call_genotype``.

    The summation order is fixed by the data, never by the threads: within a store chunk the
    blocks are added in row order (packable rows, then the others), and the chunk totals are
    added in chunk order on the calling thread. So the result is bit-identical for any
    ``threads``; another ``rows_per_block`` (or store chunking) is another order and agrees
    to float64 rounding only.
    """
    from collections import deque

    from genshare_widgets.engines._sample_pass import standardized_block

    n_samples = store.shape("call_genotype")[1]
    step = store.chunk_rows("call_genotype_bitplanes")
    chunk_of = index // step
    bounds = np.flatnonzero(np.diff(chunk_of)) + 1
    starts = np.concatenate([[0], bounds]).astype(int)
    ends = np.concatenate([bounds, [len(index)]]).astype(int)

    def one_chunk(lo: int, hi: int) -> np.ndarray:
        c = int(chunk_of[lo])
        rows, pc = index[lo:hi] - c * step, p[lo:hi]
        planes = store.read_chunk("call_genotype_bitplanes", c)
        packable = store.read_chunk("variant_genotype_packable", c)[rows]
        total = np.zeros(shape, dtype=np.float64)
        fast = np.flatnonzero(packable)
        for b in range(0, len(fast), rows_per_block):
            part = fast[b : b + rows_per_block]
            x = standardized_from_planes(planes[rows[part]], pc[part], n_samples)
            total += np.asarray(block_fn(x), dtype=np.float64)
        slow = np.flatnonzero(~packable)
        if len(slow):
            gt = store.read_chunk("call_genotype", c)[rows[slow]]
            total += np.asarray(block_fn(standardized_block(gt, pc[slow])), dtype=np.float64)
        return total

    # Chunks run in the pool, at most W + 1 ahead of the one being added (memory stays at a few
    # (samples × samples) totals whatever the number of variants); the totals are added in
    # chunk order, so the result depends neither on W nor on which worker finishes first.
    workers = max(1, threads or min(len(starts), os.cpu_count() or 1))
    result = np.zeros(shape, dtype=np.float64)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for a, b in zip(starts, ends, strict=True):
            pending.append(pool.submit(one_chunk, a, b))
            if len(pending) > workers:
                result += pending.popleft().result()
        while pending:
            result += pending.popleft().result()
    return result


def dosage_from_calls(gt: np.ndarray, alt_allele: "np.ndarray | int" = 1) -> np.ndarray:
    """ALT dosage float64 (variants, samples) from int8 calls (variants, samples, ploidy): the
    number of ALT copies among the called alleles; NaN when any allele is missing (−1). Fill
    values (−2, the absent second allele of a haploid call) are not alleles, so a haploid call
    counts 0 or 1 (PLINK 2's ``--xchr-model 1`` for males). ``alt_allele`` (per variant, or
    one for all; default 1, the first ALT): the allele whose copies are counted, every other
    called allele counting as REF (a record of a multi-allelic site split as ``bcftools norm
    -m-`` does)."""
    gt = np.asarray(gt)
    alt = np.asarray(alt_allele, dtype=gt.dtype if gt.dtype.kind == "i" else np.int64)
    alt = alt[:, None, None] if alt.ndim else alt
    x = (gt == alt).sum(axis=2).astype(np.float64)
    x[(gt == -1).any(axis=2) | (gt < 0).all(axis=2)] = np.nan
    return x


class DosageBlock(NamedTuple):
    """ALT dosages of a block of variants, as the association pass reads them.

    ``positions``: the block's rows as positions into the requested ``index``; ``x``: float64
    (rows, samples) with 0, 1, 2 ALT copies and 0 where the call is missing; ``gaps``: the rows
    (into the block) with at least one missing call; ``missing``: bool (len(gaps), samples),
    True where those rows' calls are missing; ``counts``: the rows' per-group counts when the
    stream was given a :class:`GroupCounter`. ``x`` may be a reused buffer: it is valid until
    the next block is asked for."""

    positions: np.ndarray
    x: np.ndarray
    gaps: np.ndarray
    missing: np.ndarray
    counts: np.ndarray | None = None

    def with_nan(self) -> np.ndarray:
        """A fresh float64 copy of ``x`` with NaN for the missing calls."""
        x = np.array(self.x, dtype=np.float64, copy=True)
        if len(self.gaps):
            rows = x[self.gaps]
            rows[self.missing] = np.nan
            x[self.gaps] = rows
        return x


def filled_block(positions: np.ndarray, dosage: np.ndarray) -> DosageBlock:
    """A :class:`DosageBlock` from a NaN-coded dosage matrix."""
    nan = np.isnan(dosage)
    gaps = np.flatnonzero(nan.any(axis=1))
    return DosageBlock(positions, np.where(nan, 0.0, dosage), gaps, nan[gaps])


def _later_alts(index: np.ndarray, alt_allele: np.ndarray | None) -> np.ndarray:
    """bool per record of ``index``: True for a second or later ALT of its row."""
    if alt_allele is None:
        return np.zeros(len(index), dtype=bool)
    alt_allele = np.asarray(alt_allele)
    if len(alt_allele) != len(index):
        raise ValueError("alt_allele must give one ALT index per record of index")
    return alt_allele > 1


def _sample_words(samples: np.ndarray, n_words: int) -> np.ndarray:
    """uint64 words with the bits of ``samples`` set (bit s % 64 of word s // 64)."""
    bits = np.zeros(n_words * 64, dtype=np.uint8)
    bits[samples] = 1
    return np.packbits(bits, bitorder="little").view(np.uint64)


def direct_dosage_blocks(
    store: DirectStore,
    index: np.ndarray,
    samples: np.ndarray | None = None,
    *,
    rows_per_block: int = 2048,
    counter: "GroupCounter | None" = None,
    alt_allele: np.ndarray | None = None,
):
    """Iterate :class:`DosageBlock` over the records ``index`` (sorted store rows) of a local
    store, at most ``rows_per_block`` records at a time, restricted to the sample positions
    ``samples`` (None: all). ``alt_allele``: each record's ALT index in its row (default all
    1), as :func:`genshare_widgets._selection.select_variants` gives it: a multi-allelic row
    split per ALT appears once per ALT.

    Packable rows counted for their first ALT come from the bit planes: the missing calls
    (both bits set) are found on the packed words, cleared there, and the two planes unpacked
    into 0/1/2; other records (rows that are not packable, and every record of a second or
    later ALT, whose dosage the planes do not hold) come from ``call_genotype``
    (:func:`dosage_from_calls` of their ALT). A worker thread prepares the next block
    (decompression, unpacking, conversion to float64 in one of two reused buffers) while the
    caller works on the current one, so memory stays at two blocks whatever the number of
    variants."""
    n_samples = store.shape("call_genotype")[1]
    step = store.chunk_rows("call_genotype_bitplanes")
    n_words = store.shape("call_genotype_bitplanes")[2]
    index = np.asarray(index, dtype=np.int64)
    alt_allele = None if alt_allele is None else np.asarray(alt_allele, dtype=np.int64)
    later = _later_alts(index, alt_allele)
    n_out = n_samples if samples is None else len(samples)
    kept = None if samples is None else _sample_words(np.asarray(samples), n_words)
    tasks: list[tuple[int, int, int]] = []
    chunk_of = index // step
    for c in np.unique(chunk_of):
        lo, hi = np.searchsorted(chunk_of, [c, c + 1])
        tasks += [(int(c), b, min(b + rows_per_block, hi)) for b in range(lo, hi, rows_per_block)]
    buffers = [np.empty((rows_per_block, n_out)) for _ in range(2 if len(tasks) > 1 else 1)]
    chunk: dict[str, Any] = {"c": None}

    def make(t: int) -> DosageBlock:
        c, lo, hi = tasks[t]
        if chunk["c"] != c:
            chunk.update(
                c=c,
                planes=store.read_chunk("call_genotype_bitplanes", c),
                packable=store.read_chunk("variant_genotype_packable", c),
                calls=None,
            )
        rows = index[lo:hi] - c * step
        planes = chunk["planes"][rows]
        low, high = planes[:, 0], planes[:, 1]
        miss = low & high
        if kept is not None:
            miss &= kept
        clean = np.empty_like(planes)
        np.bitwise_and(low, ~high, out=clean[:, 0])
        np.bitwise_and(high, ~low, out=clean[:, 1])
        bits = np.unpackbits(clean.view(np.uint8), axis=2, count=n_samples, bitorder="little")
        code = bits[:, 0, :]
        code += bits[:, 1, :] << 1
        if samples is not None:
            code = code[:, samples]
        x = buffers[t % len(buffers)][: hi - lo]
        x[...] = code
        # missing calls of packable rows from their planes (non-packable rows' planes are 0;
        # a later ALT's record of a packable row takes its missing calls from its calls)
        miss[later[lo:hi]] = 0
        gaps = np.flatnonzero(miss.any(axis=1))
        missing = np.unpackbits(
            miss[gaps].view(np.uint8), axis=1, count=n_samples, bitorder="little"
        ).astype(bool)
        if samples is not None:
            missing = missing[:, samples]
        packable = chunk["packable"][rows] & ~later[lo:hi]
        slow = np.flatnonzero(~packable)
        slow_calls = None
        slow_alt = alt_allele[lo:hi][slow] if alt_allele is not None else 1
        if len(slow):
            if chunk["calls"] is None:
                chunk["calls"] = store.read_chunk("call_genotype", c)
            slow_calls = chunk["calls"][rows[slow]]
            d = dosage_from_calls(slow_calls, slow_alt)
            if samples is not None:
                d = d[:, samples]
            nan = np.isnan(d)
            x[slow] = np.where(nan, 0.0, d)
            with_nan = nan.any(axis=1)
            gaps = np.concatenate([gaps, slow[with_nan]])
            missing = np.concatenate([missing, nan[with_nan]])
            order = np.argsort(gaps)
            gaps, missing = gaps[order], missing[order]
        counts = (
            None
            if counter is None
            else counter.rows(packable, planes[packable], slow_calls, slow_alt)
        )
        return DosageBlock(np.arange(lo, hi), x, gaps, missing, counts)

    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(make, 0) if tasks else None
        for t in range(len(tasks)):
            assert ahead is not None
            block = ahead.result()
            # the worker fills the other buffer while the caller works on this block
            ahead = pool.submit(make, t + 1) if t + 1 < len(tasks) else None
            yield block


#: Set bits of each byte value.
POPCOUNT8 = np.array([bin(v).count("1") for v in range(256)], dtype=np.int64)


def byte_tables(weights: np.ndarray, n_bytes: int) -> np.ndarray:
    """float64 (n_bytes, 256, m): for byte position ``j`` and value ``v``, the sum of the rows
    ``weights[8j + b]`` (samples, m) over the bits ``b`` set in ``v`` (rows past the last
    sample count 0). With these, Σ_s dosage_s · weights_s of a bit-plane row is one table
    lookup per byte and plane (:func:`engines._kernels.plane_products`)."""
    n, m = weights.shape
    padded = np.zeros((n_bytes * 8, m))
    padded[:n] = weights
    bits = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float64)
    return np.ascontiguousarray(np.einsum("vb,jbm->jvm", bits, padded.reshape(n_bytes, 8, m)))


class PlaneProducts(NamedTuple):
    """Regression sums of packable rows (:func:`engines._kernels.plane_products`):
    ``positions`` into the requested index; ``xw`` Σ dosage × weights; ``xx`` Σ dosage²;
    ``n_missing``; ``missing_moments`` Σ over the missing calls of the per-sample moments."""

    positions: np.ndarray
    xw: np.ndarray
    xx: np.ndarray
    n_missing: np.ndarray
    missing_moments: np.ndarray


def direct_regression_products(
    store: DirectStore,
    index: np.ndarray,
    samples: np.ndarray | None,
    weights: np.ndarray,
    moments: np.ndarray,
    *,
    threads: int | None = None,
    counter: "GroupCounter | None" = None,
    alt_allele: np.ndarray | None = None,
):
    """Iterate the regression sums of the records ``index`` (sorted store rows;
    ``alt_allele`` their ALT index in the row, default all 1, as
    :func:`direct_dosage_blocks`) of a local store, one store chunk at a time, as ``(lo, hi,
    products, block, counts)``: the chunk's records are positions ``lo .. hi - 1`` of
    ``index``; ``products`` the :class:`PlaneProducts` of its packable rows counted for
    their first ALT, computed on the bit planes without unpacking them (in ``threads``
    parts), and ``block`` a :class:`DosageBlock` of its other records (haploid or partly
    called genotypes, and every second or later ALT of a split row, read from
    ``call_genotype``) for the caller's dense path; either is None when the chunk has no
    such record; ``counts`` the rows' per-group counts (int32 (hi - lo, groups, 5)) when
    a :class:`GroupCounter` is given, else None. ``weights`` (samples, m) and ``moments``
    (samples, q) are per-sample rows over ALL the store's samples (rows of samples not
    analysed are ignored); ``samples``: the analysed sample positions (None: all). The next
    chunk is read while this one is summed."""
    from genshare_widgets.engines._kernels import plane_products

    n_samples = store.shape("call_genotype")[1]
    step = store.chunk_rows("call_genotype_bitplanes")
    n_words = store.shape("call_genotype_bitplanes")[2]
    index = np.asarray(index, dtype=np.int64)
    everyone = np.arange(n_samples) if samples is None else np.asarray(samples)
    kept = _sample_words(everyone, n_words)
    table = byte_tables(weights, n_words * 8)
    moments = np.ascontiguousarray(moments, dtype=np.float64)
    alt_allele = None if alt_allele is None else np.asarray(alt_allele, dtype=np.int64)
    later = _later_alts(index, alt_allele)
    workers = max(1, threads or min(2, os.cpu_count() or 1))
    chunk_of = index // step
    chunks = np.unique(chunk_of)

    def load(c: int):
        lo, hi = np.searchsorted(chunk_of, [c, c + 1])
        rows = index[lo:hi] - c * step
        # the planes hold a row's first ALT: a later ALT's record takes the dense path
        packable = store.read_chunk("variant_genotype_packable", c)[rows] & ~later[lo:hi]
        planes = store.read_chunk("call_genotype_bitplanes", c)[rows[packable]]
        slow = np.flatnonzero(~packable)
        slow_alt = alt_allele[lo:hi][slow] if alt_allele is not None else 1
        calls = store.read_chunk("call_genotype", c)[rows[slow]] if len(slow) else None
        counts = None if counter is None else counter.rows(packable, planes, calls, slow_alt)
        return lo, packable, planes, slow, (calls, slow_alt), counts

    def start(pool, loaded):
        """Submit the kernel on a loaded chunk's packable rows, in ``workers`` parts."""
        lo, packable, planes, slow, calls, counts = loaded
        fast = np.flatnonzero(packable)
        cuts = np.linspace(0, len(fast), workers + 1).astype(int)
        parts = [
            pool.submit(plane_products, planes[a:b], table, kept, moments, POPCOUNT8)
            for a, b in itertools.pairwise(cuts)
            if b > a
        ]
        return lo, packable, fast, parts, slow, calls, counts

    def finish(started):
        lo, packable, fast, parts, slow, calls, counts = started
        products = block = None
        if parts:
            done = [part.result() for part in parts]
            products = PlaneProducts(
                lo + fast, *(np.concatenate([d[f] for d in done]) for f in range(4))
            )
        if len(slow):
            calls, slow_alt = calls
            assert calls is not None
            x = dosage_from_calls(calls, slow_alt)
            block = filled_block(lo + slow, x if samples is None else x[:, samples])
        return lo, lo + len(packable), products, block, counts

    # the kernel sums chunk i + 1 while the caller fits chunk i, and chunk i + 2 is read
    with ThreadPoolExecutor(max_workers=workers + 1) as pool:
        ahead = pool.submit(load, int(chunks[0])) if len(chunks) else None
        running = None
        for i in range(len(chunks)):
            assert ahead is not None
            loaded = ahead.result()
            ahead = pool.submit(load, int(chunks[i + 1])) if i + 1 < len(chunks) else None
            started = start(pool, loaded)
            if running is not None:
                yield finish(running)
            running = started
        if running is not None:
            yield finish(running)
