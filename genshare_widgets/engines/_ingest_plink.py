"""PLINK 1 binary (.bed/.bim/.fam) → VCF-Zarr, decoded with numpy.

PLINK 2's convention is followed: the .bim's 6th column (A2) is REF and the 5th (A1) is ALT,
so a genotype's ALT count is the number of A1 alleles. Calls are unphased; ``0`` alleles
(monomorphic placeholders) become an empty ALT.
"""

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from genshare_widgets._errors import InputFormatError
from genshare_widgets.engines._zarr_writer import VcfZarrWriter

_MAGIC = b"\x6c\x1b\x01"
# 2-bit code → (allele, allele) with REF=A2=0, ALT=A1=1.
_CODE_TO_GT = np.array([[1, 1], [-1, -1], [0, 1], [0, 0]], dtype=np.int8)


def read_fam(path: Path) -> pd.DataFrame:
    """The .fam table: family_id, sample, father, mother, sex (1/2/0), phenotype."""
    try:
        fam = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, engine="python")
    except pd.errors.EmptyDataError:
        raise InputFormatError(f"{path}: the .fam file is empty") from None
    if fam.shape[1] != 6:
        raise InputFormatError(
            f"{path}: a .fam file has 6 columns (FID IID father mother sex phenotype); "
            f"this one has {fam.shape[1]}"
        )
    fam.columns = ["family_id", "sample", "father", "mother", "sex", "phenotype"]
    return fam


def read_bim(path: Path) -> pd.DataFrame:
    """The .bim table: contig, id, cm, position, a1 (ALT), a2 (REF)."""
    try:
        bim = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            dtype={0: str, 1: str, 4: str, 5: str},
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise InputFormatError(f"{path}: the .bim file is empty") from None
    if bim.shape[1] != 6:
        raise InputFormatError(
            f"{path}: a .bim file has 6 columns (chrom id cm pos A1 A2); this one has "
            f"{bim.shape[1]}"
        )
    bim.columns = ["contig", "id", "cm", "position", "a1", "a2"]
    if not np.issubdtype(bim["position"].dtype, np.integer):
        bad = pd.to_numeric(bim["position"], errors="coerce").isna().to_numpy().nonzero()[0]
        raise InputFormatError(
            f"{path}: line {bad[0] + 1} has a non-integer position {bim['position'].iloc[bad[0]]!r}"
        )
    return bim


def ingest_plink(
    prefix: Path,
    store: Path,
    *,
    variants_chunk_size: int = 10_000,
    samples_chunk_size: int | None = None,
    on_record_block: Callable[[int], None] | None = None,
    attrs: dict | None = None,
) -> dict:
    """Convert ``prefix.bed/.bim/.fam`` into a VCF-Zarr store; returns a summary.

    Examples
    --------
    >>> ingest_plink(Path("HM3_thinned_autosomal_overlap"), Path("hm3.vcz"))  # doctest: +SKIP
    {'n_variants': 14079, 'n_samples': 957, ...}
    """
    bed_path, bim_path, fam_path = (
        prefix.with_name(prefix.name + s) for s in (".bed", ".bim", ".fam")
    )
    for p in (bed_path, bim_path, fam_path):
        if not p.is_file():
            raise InputFormatError(f"{p}: missing; a PLINK 1 fileset needs .bed, .bim and .fam")
    fam = read_fam(fam_path)
    bim = read_bim(bim_path)
    samples = fam["sample"].tolist()
    dupes = sorted(fam["sample"][fam["sample"].duplicated()].unique())
    if dupes:
        raise InputFormatError(
            f"{fam_path}: {len(dupes)} sample id(s) (IID) appear more than once: "
            f"{', '.join(dupes[:10])}. Make IIDs unique (plink2 --set-all-var-ids / rename)."
        )
    n_samples, n_variants = len(samples), len(bim)
    per_variant = (n_samples + 3) // 4
    expected = 3 + per_variant * n_variants
    size = bed_path.stat().st_size
    with open(bed_path, "rb") as fh:
        magic = fh.read(3)
    if magic != _MAGIC:
        raise InputFormatError(
            f"{bed_path}: not a SNP-major PLINK 1 .bed file (magic bytes {magic.hex()}, expected "
            f"{_MAGIC.hex()}). Re-export it with plink --make-bed."
        )
    if size != expected:
        raise InputFormatError(
            f"{bed_path}: {size} bytes, but {n_variants} variants × {n_samples} samples need "
            f"{expected}: the file is truncated or does not match its .bim/.fam."
        )
    writer = VcfZarrWriter(
        store,
        samples,
        variants_chunk_size=variants_chunk_size,
        samples_chunk_size=samples_chunk_size,
    )
    bed = np.memmap(bed_path, dtype=np.uint8, mode="r", offset=3, shape=(n_variants, per_variant))
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8)
    contig_codes = np.array([writer.contig_code(str(c)) for c in bim["contig"]], dtype=np.int16)
    try:
        for start in range(0, n_variants, variants_chunk_size):
            stop = min(start + variants_chunk_size, n_variants)
            block = np.asarray(bed[start:stop])
            codes = ((block[:, :, None] >> shifts) & 3).reshape(stop - start, -1)[:, :n_samples]
            gt = _CODE_TO_GT[codes]
            part = bim.iloc[start:stop]
            alleles = [
                [a2 if a2 != "0" else "", a1 if a1 != "0" else ""]
                for a1, a2 in zip(part["a1"], part["a2"], strict=True)
            ]
            writer.add_chunk(
                contig=contig_codes[start:stop],
                position=part["position"].to_numpy(),
                alleles=alleles,
                ids=["" if i == "." else i for i in part["id"]],
                quality=[float("nan")] * (stop - start),
                filters=[[0]] * (stop - start),
                genotypes=gt,
                phased=np.zeros((stop - start, n_samples), dtype=bool),
            )
            if on_record_block is not None:
                on_record_block(stop - start)
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()
        raise
    summary = {"n_variants": n_variants, "n_samples": n_samples, "plink_prefix": prefix.name}
    writer.finish({**(attrs or {}), "genshare_ingest": summary})
    return summary
