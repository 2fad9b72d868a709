"""The compact allele table (engines/_variants.py) and the values every store array holds.

The pinned digests below were computed by main before issue 14 touched ingest (format 3):
any change to parsing, packing or writing that alters a stored value fails here, array by
array. Compression settings may change (digests are of decoded values, not chunk bytes).
"""

import gzip
import hashlib
import pickle
import zlib
from pathlib import Path

import numpy as np
import pytest
import zarr

from genshare_widgets.counts import select_variants
from genshare_widgets.engines._direct import DirectStore
from genshare_widgets.engines._variants import (
    N_ALLELES_ARRAY,
    REF_ALT_BYTES_ARRAY,
    REF_ALT_LENGTH_ARRAY,
    SNV_ARRAY,
    VariantTable,
    allele_flags,
    encode_ref_alt,
    flags_from_alleles,
    read_variant_table,
)

NEW_ARRAYS = (
    N_ALLELES_ARRAY,
    SNV_ARRAY,
    REF_ALT_LENGTH_ARRAY,
    REF_ALT_BYTES_ARRAY,
    "variant_end",  # ingest format 6 (tests/test_beacon_spec.py checks INFO/END)
)


def array_digests(store: Path) -> dict[str, str]:
    """sha256 of (dtype kind, shape, values) of every array of a store, by name."""
    root = zarr.open_group(str(store), mode="r", zarr_format=2)
    out = {}
    for name, arr in sorted(root.arrays()):
        values = arr[...]
        h = hashlib.sha256(f"{arr.shape}".encode())
        if values.dtype.kind in "OTU" or str(values.dtype).startswith("StringDType"):
            h.update(b"str")
            for v in np.asarray(values, dtype=object).ravel().tolist():
                h.update(str(v).encode() + b"\x00")
        else:
            h.update(values.dtype.str.encode())
            h.update(np.ascontiguousarray(values).tobytes())
        out[name] = h.hexdigest()[:16]
    return out


EDGE_VCF = """##fileformat=VCFv4.2
##contig=<ID=1,length=1000>
##contig=<ID=X,length=2000>
##FILTER=<ID=q10,Description="low">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3
1\t10\trs1\tA\tG\t50\tPASS\t.\tGT\t0|1\t1|1\t0/0
1\t20\t.\tc\tt\t.\t.\t.\tGT:DP\t0/1:3\t./.:0\t1/1:9
1\t30\trs3\tAT\tA\t12.5\tq10\t.\tGT\t0/1\t0|0\t./1
1\t40\t.\tG\tA,T\t99\tPASS;q10\t.\tGT\t1/2\t2|2\t0/.
1\t50\t.\tT\t<DEL>\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1
1\t60\t.\tA\t.\t.\tPASS\t.\tGT\t0/0\t0/0\t0/0
1\t70\t.\tN\tA\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0
1\t80\t.\tC\tG,CA,T\t.\tPASS\t.\tGT\t3/1\t0/2\t1|1
X\t5\t.\tA\tC\t.\tPASS\t.\tGT\t0\t1\t0/1
X\t9\t.\tG\t*\t.\tPASS\t.\tGT\t1\t.\t0|1
"""

# Computed by main (ingest format 3) with variants_chunk_size=3 (EDGE_VCF) or 1000 (1000
# Genomes chr21 + chrX; hapmap3 with the default chunk size).
PINNED: dict[str, dict[str, str]] = {
    "edge": {
        "call_genotype": "da74a008601bdab3",
        "call_genotype_bitplanes": "74ce3510682be5c3",
        "call_genotype_phased": "017228e87008bbf1",
        "contig_id": "bc300cc8f58772fa",
        "contig_length": "4eb499f92e70c926",
        "filter_id": "1d4979bf425aaedf",
        "sample_id": "836c88eb5274d60c",
        "variant_allele": "93cfa5407e071f35",
        "variant_contig": "2c6ed983742a2456",
        "variant_filter": "4cc5a87744806c48",
        "variant_genotype_packable": "cc4dca50c2fb186e",
        "variant_id": "12b055cf548b5140",
        "variant_id_mask": "394539613a6db41e",
        "variant_position": "8b4a809691f7f08f",
        "variant_quality": "d68ac66ec952eb0c",
    },
    "kg_chr21_chrX": {
        "call_genotype": "d6c774952a11aa37",
        "call_genotype_bitplanes": "fe7a18aa16040c6f",
        "call_genotype_phased": "34be1f325d212e81",
        "contig_id": "94eb58093f978a69",
        "contig_length": "3f7dfd1fef721f98",
        "filter_id": "2ada6d1d172e8830",
        "sample_id": "48e67ce862db456f",
        "variant_allele": "1eb9ede240a47984",
        "variant_contig": "314a18be3419823a",
        "variant_filter": "80949735086dc265",
        "variant_genotype_packable": "667f071dc377d45a",
        "variant_id": "69d1fa843227f8fa",
        "variant_id_mask": "6740cf665243e5c9",
        "variant_position": "5fff0d65db842a07",
        "variant_quality": "d5955847fce03304",
    },
    "hapmap3": {
        "call_genotype": "6c89bab4fb2895b5",
        "call_genotype_bitplanes": "ffb44e05a9783255",
        "call_genotype_phased": "f704b3468e3a91e1",
        "contig_id": "3afe534df2d2386e",
        "contig_length": "cb9974582ffbcd1e",
        "filter_id": "2ada6d1d172e8830",
        "sample_id": "7fb9189b48f154b9",
        "variant_allele": "e1350d44c5141682",
        "variant_contig": "447edc6bf83ba440",
        "variant_filter": "95c41976475070c1",
        "variant_genotype_packable": "a76e2be80d5f8412",
        "variant_id": "ac970d2c59edbcd3",
        "variant_id_mask": "4ef832f411ad2611",
        "variant_position": "e5d9b6ede96c9cf9",
        "variant_quality": "4d2b8439fb9d5339",
    },
}


def _ingest_edge(tmp_path: Path, samples_chunk_size: int | None = None) -> Path:
    from genshare_widgets.engines._ingest_vcf import ingest_vcfs

    vcf = tmp_path / "edge.vcf.gz"
    vcf.write_bytes(gzip.compress(EDGE_VCF.encode()))
    store = tmp_path / "edge.vcz"
    ingest_vcfs([vcf], store, variants_chunk_size=3, samples_chunk_size=samples_chunk_size)
    return store


def _check_against_pins(store: Path, case: str) -> None:
    got = array_digests(store)
    expected = PINNED[case]
    old = {k: v for k, v in got.items() if k not in NEW_ARRAYS}
    assert old == expected
    assert set(NEW_ARRAYS) <= set(got)
    # variant_end: POS + len(REF) - 1 except where a symbolic allele gives INFO/END
    root = zarr.open_group(str(store), mode="r", zarr_format=2)
    alleles = np.asarray(root["variant_allele"][...], dtype=object)
    position = root["variant_position"][...].astype(np.int64)
    end = root["variant_end"][...].astype(np.int64)
    symbolic = np.array([any(str(a).startswith("<") for a in row[1:]) for row in alleles])
    by_ref = position + np.array([max(len(str(r)), 1) for r in alleles[:, 0]]) - 1
    np.testing.assert_array_equal(end[~symbolic], by_ref[~symbolic])
    assert (end[symbolic] >= position[symbolic]).all()


def _check_flags(store: Path) -> None:
    root = zarr.open_group(str(store), mode="r", zarr_format=2)
    alleles = root["variant_allele"][...]
    n_alleles, is_snv = flags_from_alleles(alleles)
    np.testing.assert_array_equal(root[N_ALLELES_ARRAY][...], n_alleles)
    np.testing.assert_array_equal(root[SNV_ARRAY][...], is_snv)
    assert root[N_ALLELES_ARRAY].chunks == root["variant_position"].chunks
    assert root[SNV_ARRAY].chunks == root["variant_position"].chunks
    for source in (store, str(store), DirectStore(store), root):
        got_n, got_snv = allele_flags(source)
        np.testing.assert_array_equal(got_n, n_alleles)
        np.testing.assert_array_equal(got_snv, is_snv)
    # the selection made from the flags is the one select_variants makes from the strings
    contig = root["variant_contig"][...]
    position = root["variant_position"][...]
    for snps_only in (False, True):
        index, _, _ = select_variants(
            contig_ids=np.asarray(root["contig_id"][...], dtype=object).astype(str),
            variant_contig=contig,
            variant_position=position,
            alleles=np.asarray(alleles, dtype=object).astype(str),
            snps_only=snps_only,
            biallelic_only=True,
        )
        keep = n_alleles == 2
        if snps_only:
            keep &= is_snv
        np.testing.assert_array_equal(np.flatnonzero(keep), index)


def _old_local_alleles(alleles: np.ndarray, n_alleles: np.ndarray) -> np.ndarray:
    """What the local engine built before ingest format 5 (counts._local_alleles on main),
    over the records it counts since multi-allelic sites are split (issue 18): fixed-width
    REF/first ALT of the records with two alleles or more, "" elsewhere."""
    two = np.flatnonzero(n_alleles >= 2)
    fixed = np.asarray(alleles[two, :2], dtype=object).astype(str)
    out = np.zeros((len(alleles), 2), dtype=fixed.dtype)
    out[two] = fixed
    return out


def _check_ref_alt(store: Path) -> None:
    """The compact REF/ALT arrays hold variant_allele's first two columns for every record,
    decode back to them (numpy and pyarrow), and give the counts main's values and dtype."""
    root = zarr.open_group(str(store), mode="r", zarr_format=2)
    alleles = np.asarray(root["variant_allele"][...], dtype=object)
    ref, alt = alleles[:, 0].astype(str).tolist(), alleles[:, 1].astype(str).tolist()
    lengths, data = encode_ref_alt(alleles)
    np.testing.assert_array_equal(root[REF_ALT_LENGTH_ARRAY][...], lengths)
    np.testing.assert_array_equal(root[REF_ALT_BYTES_ARRAY][...], data)
    assert root[REF_ALT_LENGTH_ARRAY].chunks == (root["variant_position"].chunks[0], 2)
    assert data.nbytes == lengths.sum()  # no padding: a long indel costs its own length
    assert bytes(data) == "".join(v for pair in zip(ref, alt, strict=True) for v in pair).encode()
    direct = DirectStore(store)
    table = direct.variant_table()
    assert direct.variant_table() is table  # read once per open store
    copy = pickle.loads(pickle.dumps(direct))  # e.g. a cohort shipped to a worker
    np.testing.assert_array_equal(copy.variant_table().ref_alt_bytes, table.ref_alt_bytes)
    got = table.ref_alt()
    assert got[:, 0].tolist() == ref and got[:, 1].tolist() == alt
    arrow_ref, arrow_alt = table.ref_alt_arrow()
    arrow_ref.validate(full=True)
    arrow_alt.validate(full=True)
    assert arrow_ref.to_pylist() == ref and arrow_alt.to_pylist() == alt
    # the rows the counts report: main's values and main's fixed width
    old = _old_local_alleles(alleles, table.n_alleles)
    two = np.flatnonzero(table.n_alleles >= 2)
    counted = table.ref_alt(two, width=table.biallelic_width)
    assert counted.dtype == old.dtype
    np.testing.assert_array_equal(counted, old[two])
    rng = np.random.default_rng(0)
    some = np.sort(rng.choice(len(alleles), size=min(len(alleles), 50), replace=False))
    np.testing.assert_array_equal(table.ref_alt(some), alleles[some, :2].astype(str))
    mask = np.zeros(len(alleles), dtype=bool)
    mask[some] = True
    assert [a.to_pylist() for a in table.ref_alt_arrow(mask)] == [
        alleles[some, 0].tolist(),
        alleles[some, 1].tolist(),
    ]
    # the columns the engine selects on are the store's
    np.testing.assert_array_equal(table.variant_position, root["variant_position"][...])
    np.testing.assert_array_equal(table.variant_contig, root["variant_contig"][...])
    assert table.contig_ids.tolist() == np.asarray(root["contig_id"][...], object).tolist()


class _WithoutCompactTable:
    """A DirectStore that hides the format-5 REF/ALT arrays (a store written before them)."""

    def __init__(self, store: DirectStore, data: np.ndarray | None = None) -> None:
        self.store, self.path, self.data = store, store.path, data

    def has(self, name: str) -> bool:
        if self.data is not None:
            return self.store.has(name)
        return name not in (REF_ALT_LENGTH_ARRAY, REF_ALT_BYTES_ARRAY) and self.store.has(name)

    def read(self, name: str) -> np.ndarray:
        if name == REF_ALT_BYTES_ARRAY and self.data is not None:
            return self.data
        return self.store.read(name)

    def read_chunk(self, name: str, row_chunk: int) -> np.ndarray:
        return self.store.read_chunk(name, row_chunk)


LONG_INSERTION = "A" + "CGTTA" * 80  # 401 bp
LONG_DELETION = "G" + "TTGCA" * 70  # 351 bp
LONG_VCF = f"""##fileformat=VCFv4.2
##contig=<ID=1,length=100000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3
1\t100\t.\tA\t{LONG_INSERTION}\t.\tPASS\t.\tGT\t0|1\t1|1\t0/0
1\t200\t.\t{LONG_DELETION}\tG\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1
1\t300\t.\tC\t.\t.\tPASS\t.\tGT\t0/0\t0/0\t0/0
1\t400\t.\tA\t<DUP:TANDEM>\t.\tPASS\t.\tGT\t0/1\t0/0\t./.
1\t500\t.\tG\t*\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0
1\t600\t.\tT\tC,<NON_REF>\t.\tPASS\t.\tGT\t0/1\t0/2\t1/1
1\t700\t.\tG\tG]1:900]\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0
1\t800\t.\tac\ta\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0
1\t900\t.\t{"T" * 500}\t{LONG_INSERTION},G\t.\tPASS\t.\tGT\t1/2\t0/0\t0/0
1\t1000\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0
"""


def test_long_indels_and_symbolic_alts_round_trip(tmp_path):
    from genshare_widgets.counts import _local_pass
    from genshare_widgets.engines._direct import open_direct
    from genshare_widgets.engines._ingest_vcf import ingest_vcfs

    vcf = tmp_path / "long.vcf.gz"
    vcf.write_bytes(gzip.compress(LONG_VCF.encode()))
    store = tmp_path / "long.vcz"
    ingest_vcfs([vcf], store, variants_chunk_size=4)
    _check_ref_alt(store)
    root = zarr.open_group(str(store), mode="r", zarr_format=2)
    assert root[REF_ALT_LENGTH_ARRAY][...].tolist() == [
        [1, 401], [351, 1], [1, 0], [1, 12], [1, 1], [1, 1], [1, 8], [2, 1], [500, 401], [1, 1]
    ]  # fmt: skip
    table = DirectStore(store).variant_table()
    assert table.biallelic_width == 500  # the 500 bp REF is multi-allelic: split, reported
    # the local engine's pass reports them, multi-allelic rows split per ALT (issue 18)
    from genshare_widgets._selection import Selection

    raw, index, alt, _, alleles, *_ = _local_pass(
        open_direct(store), np.zeros(3, dtype=np.int64), 1, Selection()
    )
    assert index.tolist() == [0, 1, 3, 4, 5, 5, 6, 7, 8, 8, 9]
    assert alt.tolist() == [1, 1, 1, 1, 1, 2, 1, 1, 1, 2, 1]
    assert alleles.dtype == np.dtype("<U500")
    assert alleles[:2].tolist() == [["A", LONG_INSERTION], [LONG_DELETION, "G"]]
    assert alleles[2:8].tolist() == [
        ["A", "<DUP:TANDEM>"], ["G", "*"], ["T", "C"], ["T", "<NON_REF>"], ["G", "G]1:900]"],
        ["ac", "a"],
    ]  # fmt: skip
    assert alleles[8:].tolist() == [["T" * 500, LONG_INSERTION], ["T" * 500, "G"], ["C", "T"]]
    assert raw[:, 0, 0].tolist() == [3, 3, 1, 3, 3, 1, 1, 1, 1, 1, 1]
    _, index, alt, _, alleles, *_ = _local_pass(
        open_direct(store), np.zeros(3, dtype=np.int64), 1, Selection(snps_only=True)
    )
    assert index.tolist() == [5, 9] and alt.tolist() == [1, 1]
    assert alleles.dtype == np.dtype("<U500")


def test_non_ascii_and_empty_tables_decode():
    alleles = np.array([["é", "A", ""], ["AT", "ü", ""], ["C", "", ""], ["ñn", "G", "T"]], object)
    lengths, data = encode_ref_alt(alleles)
    assert lengths.tolist() == [[2, 1], [2, 2], [1, 0], [3, 1]]
    n_alleles, is_snv = flags_from_alleles(alleles)
    compact = flags_from_alleles(alleles, ref_alt=(lengths, data))  # non-ASCII: strings decide
    assert compact[0].tolist() == n_alleles.tolist() == [2, 2, 1, 3]
    assert compact[1].tolist() == is_snv.tolist() == [False] * 4
    table = VariantTable(
        contig_ids=np.array(["1"]),
        variant_contig=np.zeros(4, np.int16),
        variant_position=np.arange(1, 5, dtype=np.int32),
        n_alleles=n_alleles,
        is_snv=is_snv,
        ref_alt_length=lengths,
        ref_alt_bytes=data,
    )
    assert not table.ascii
    assert table.char_lengths().tolist() == [[1, 1], [2, 1], [1, 0], [2, 1]]
    assert table.biallelic_width == 2  # characters, not bytes
    old = _old_local_alleles(alleles, n_alleles)
    got = table.ref_alt([0, 1], width=table.biallelic_width)
    assert got.dtype == old.dtype and got.tolist() == old[:2].tolist()
    assert table.ref_alt([3]).tolist() == [["ñn", "G"]]
    assert [a.to_pylist() for a in table.ref_alt_arrow([1, 3])] == [["AT", "ñn"], ["ü", "G"]]
    with pytest.raises(ValueError, match="does not fit"):
        table.ref_alt([3], width=1)
    assert table.ref_alt([]).shape == (0, 2) and table.ref_alt_arrow([])[0].to_pylist() == []
    empty = encode_ref_alt(np.zeros((0, 2), dtype=object))
    assert empty[0].shape == (0, 2) and empty[1].shape == (0,)
    columns = {
        "contig_ids": np.array(["1"]),
        "variant_contig": np.zeros(2, np.int16),
        "variant_position": np.arange(1, 3, dtype=np.int32),
        "n_alleles": np.ones(2, np.uint8),
        "is_snv": np.zeros(2, bool),
        "ref_alt_length": np.zeros((2, 2), np.int32),  # PLINK's "0" alleles are stored as ""
        "ref_alt_bytes": np.zeros(0, np.uint8),
    }
    no_text = VariantTable(**columns)
    assert no_text.ref_alt().tolist() == [["", ""], ["", ""]]
    assert no_text.ref_alt([1], width=3).dtype == np.dtype("<U3")
    assert no_text.biallelic_width == 1
    with pytest.raises(ValueError, match="add up to"):
        VariantTable(**{**columns, "ref_alt_length": np.ones((2, 2), np.int32)})


def test_rows_decode_the_same_whatever_the_range_asked(kg_subset):
    """A chunk's rows are decoded from a running sum over their own range (kept sums every
    few thousand strings), so a store read chunk by chunk gives the whole table's strings:
    ranges that start, end and straddle those stride boundaries, scattered rows, the last
    row, and non-ASCII text, each against Python's own slicing of the bytes."""
    from genshare_widgets.engines import _variants

    table = DirectStore(kg_subset.store_path).variant_table()
    flat = table.ref_alt_length.ravel().astype(np.int64)
    ends = np.cumsum(flat)
    raw = table.ref_alt_bytes.tobytes()
    expect = np.array(
        [raw[e - n : e].decode() for e, n in zip(ends, flat, strict=True)], dtype=object
    ).reshape(-1, 2)
    n, stride = len(table), _variants._OFFSET_STRIDE // 2  # rows per stride of strings
    rng = np.random.default_rng(7)
    picks = [
        np.arange(0, min(n, 3 * stride + 5)),
        np.arange(stride - 3, min(n, stride + 3)),
        np.arange(max(0, n - 700), n),
        np.sort(rng.choice(n, size=300, replace=False)),
        rng.choice(n, size=300, replace=False),  # unsorted
        np.array([n - 1, 0]),
    ]
    assert n > 3 * stride  # the subset spans several strides
    for rows in picks:
        assert table.ref_alt(rows).tolist() == expect[rows].tolist()
        assert table.ref_alt_arrow(rows)[1].to_pylist() == expect[rows, 1].tolist()
    assert (table.char_lengths() == flat.reshape(-1, 2)).all()  # ASCII: characters = bytes
    # non-ASCII text past the first stride goes through the same starts
    text = np.array([["é" * (i % 3 + 1), "A" if i % 2 else "ü"] for i in range(5000)], object)
    lengths, data = encode_ref_alt(text)
    wide = VariantTable(
        contig_ids=np.array(["1"]),
        variant_contig=np.zeros(5000, np.int16),
        variant_position=np.arange(1, 5001, dtype=np.int32),
        n_alleles=np.full(5000, 2, np.uint8),
        is_snv=np.zeros(5000, bool),
        ref_alt_length=lengths,
        ref_alt_bytes=data,
    )
    for rows in (np.arange(4090, 4200), np.array([4999, 2047, 2048, 0])):
        assert wide.ref_alt(rows).tolist() == text[rows].tolist()
    assert wide.char_lengths()[4095:4099].tolist() == [[len(a), len(b)] for a, b in text[4095:4099]]


@pytest.mark.parametrize("fixture", ["sim_ooa", "kg_subset"])
def test_variant_table_without_compact_arrays_is_the_same(fixture, request):
    """A store without the format-5 arrays (older or foreign) gets the same table from
    variant_allele; a byte array that disagrees with the lengths is a store error."""
    from genshare_widgets.engines._integrity import StoreIntegrityError

    cohort = request.getfixturevalue(fixture)
    store = DirectStore(cohort.store_path)
    assert store.has(REF_ALT_LENGTH_ARRAY) and store.has(REF_ALT_BYTES_ARRAY)
    table = store.variant_table()
    fallback = read_variant_table(_WithoutCompactTable(store))
    for name in ("contig_ids", "variant_contig", "variant_position", "n_alleles", "is_snv",
                 "ref_alt_length", "ref_alt_bytes"):  # fmt: skip
        np.testing.assert_array_equal(getattr(fallback, name), getattr(table, name), name)
    assert fallback.biallelic_width == table.biallelic_width
    short = store.read(REF_ALT_BYTES_ARRAY)[:-1]
    with pytest.raises(StoreIntegrityError, match="REF/ALT table is inconsistent"):
        read_variant_table(_WithoutCompactTable(store, short))


def test_counts_alleles_equal_main_on_real_data(kg_subset):
    """The counts Dataset's variant_ref/variant_alt: main's values and dtype (indels and
    multi-allelic records in the 1000 Genomes subset)."""
    from genshare_widgets.counts import allele_counts_by_group

    counts = allele_counts_by_group(kg_subset, by="population")
    alleles = np.asarray(kg_subset.genotypes["variant_allele"].values, dtype=object)
    n_alleles, _ = flags_from_alleles(alleles)
    rows, alt = counts["variant_index"].values, counts["variant_allele_index"].values
    old = _old_local_alleles(alleles, n_alleles)[rows]
    assert (n_alleles > 2).any() and (np.char.str_len(old) > 1).any()
    # a split record's ALT is its own allele of the row
    old[:, 1] = np.asarray(alleles[rows, alt], dtype=object).astype(str)
    assert counts["variant_ref"].dtype == old.dtype == counts["variant_alt"].dtype
    np.testing.assert_array_equal(counts["variant_ref"].values, old[:, 0])
    np.testing.assert_array_equal(counts["variant_alt"].values, old[:, 1])


def test_flags_rule_on_odd_alleles():
    table = np.array(
        [
            ["A", "C", ""],  # SNV
            ["a", "t", ""],  # lower case counts
            ["AC", "A", ""],  # deletion
            ["A", "C", "G"],  # multi-allelic SNV
            ["A", "C", "GT"],  # multi-allelic, one indel
            ["A", "", ""],  # monomorphic (ALT '.')
            ["N", "A", ""],
            ["A", "<DEL>", ""],
            ["A", "*", ""],
        ],
        dtype=object,
    )
    n_alleles, is_snv = flags_from_alleles(table)
    assert n_alleles.tolist() == [2, 2, 2, 3, 3, 1, 2, 2, 2]
    assert is_snv.tolist() == [True, True, False, True, False, False, False, False, False]
    compact = flags_from_alleles(table, ref_alt=encode_ref_alt(table))  # ingest's way
    np.testing.assert_array_equal(compact[0], n_alleles)
    np.testing.assert_array_equal(compact[1], is_snv)
    assert compact[0].dtype == n_alleles.dtype
    for form in (table.astype(str), table.astype("T") if hasattr(np, "dtypes") else table):
        got = flags_from_alleles(form)
        np.testing.assert_array_equal(got[0], n_alleles)
        np.testing.assert_array_equal(got[1], is_snv)


def test_flags_fallback_for_store_without_them(tmp_path):
    root = zarr.open_group(str(tmp_path / "old.vcz"), mode="w", zarr_format=2)
    alleles = np.array([["A", "G", ""], ["AT", "A", ""], ["c", "g", "t"]], dtype=object)
    arr = root.create_array("variant_allele", shape=alleles.shape, dtype=str, fill_value="")
    arr[:] = alleles
    n_alleles, is_snv = allele_flags(tmp_path / "old.vcz")
    assert n_alleles.tolist() == [2, 2, 3] and is_snv.tolist() == [True, False, True]


@pytest.mark.parametrize("samples_chunk_size", [None, 2])
def test_edge_vcf_store_arrays_equal_main(tmp_path, samples_chunk_size):
    store = _ingest_edge(tmp_path, samples_chunk_size)
    _check_against_pins(store, "edge")
    _check_flags(store)
    _check_ref_alt(store)
    root = zarr.open_group(str(store), mode="r", zarr_format=2)
    assert root[N_ALLELES_ARRAY][...].tolist() == [2, 2, 2, 3, 2, 1, 2, 4, 2, 2]
    assert root[SNV_ARRAY][...].tolist() == [1, 1, 0, 1, 0, 0, 0, 0, 1, 0]


def test_real_vcf_store_arrays_equal_main(mirror, tmp_path):
    from genshare_widgets.engines._ingest_vcf import ingest_vcfs

    folder = mirror / "1kg_phase3_subset"
    paths = [folder / "1KG_phase3_subset_chr21.vcf.gz", folder / "1KG_phase3_subset_chrX.vcf.gz"]
    store = tmp_path / "kg.vcz"
    ingest_vcfs(paths, store, variants_chunk_size=1000)
    _check_against_pins(store, "kg_chr21_chrX")
    _check_flags(store)
    _check_ref_alt(store)


def test_plink_store_arrays_equal_main(mirror, tmp_path):
    from genshare_widgets.engines._ingest_plink import ingest_plink

    store = tmp_path / "hm3.vcz"
    ingest_plink(mirror / "hapmap3" / "HM3_thinned_autosomal_overlap", store)
    _check_against_pins(store, "hapmap3")
    _check_flags(store)
    _check_ref_alt(store)


@pytest.mark.parametrize("fixture", ["sim_ooa", "kg_subset"])
def test_cached_store_flags_equal_fallback(fixture, request):
    from genshare_widgets.engines._integrity import read_manifest

    cohort = request.getfixturevalue(fixture)
    _check_flags(Path(cohort.store_path))
    _check_ref_alt(Path(cohort.store_path))
    manifest = read_manifest(Path(cohort.store_path))
    assert manifest is not None
    for name in NEW_ARRAYS:  # the chunk manifest covers the new arrays
        files = manifest["arrays"][name]
        first = "0.0" if name == REF_ALT_LENGTH_ARRAY else "0"
        assert first in files and all(files.values()), name
    got = allele_flags(cohort.genotypes)
    expected = flags_from_alleles(np.asarray(cohort.genotypes["variant_allele"].values))
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _bgzip(text: bytes, block: int) -> bytes:
    """BGZF of ``text`` in blocks of ``block`` bytes (as bgzip writes, plus the EOF block)."""
    out = []
    for i in range(0, len(text), block):
        piece = text[i : i + block]
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = comp.compress(piece) + comp.flush()
        bsize = len(body) + 25
        header = bytes.fromhex("1f8b08040000000000ff0600") + b"BC\x02\x00"
        out.append(header + bsize.to_bytes(2, "little") + body)
        out.append(zlib.crc32(piece).to_bytes(4, "little") + len(piece).to_bytes(4, "little"))
    return b"".join(out) + _BGZF_EOF


@pytest.fixture(scope="module")
def kg_bgzf(mirror, tmp_path_factory) -> list[Path]:
    """The 1000 Genomes chr21 + chrX subset re-compressed as BGZF, 7,000-byte blocks."""
    folder = tmp_path_factory.mktemp("bgzf")
    paths = []
    for chrom in ("21", "X"):
        text = gzip.decompress(
            (mirror / "1kg_phase3_subset" / f"1KG_phase3_subset_chr{chrom}.vcf.gz").read_bytes()
        )
        path = folder / f"chr{chrom}.vcf.gz"
        path.write_bytes(_bgzip(text, 7000))
        paths.append(path)
    return paths


@pytest.mark.parametrize("libdeflate", [True, False])
@pytest.mark.parametrize("read_size", [5000, 1 << 18])
def test_bgzf_reads_and_either_inflater_give_main_arrays(
    kg_bgzf, tmp_path, monkeypatch, libdeflate, read_size
):
    """Reads of a few KiB cut records across pieces (and some pieces hold no whole block);
    with libdeflate or zlib, the stored values are main's."""
    from genshare_widgets.engines import _vcf_text
    from genshare_widgets.engines._ingest_vcf import ingest_vcfs

    assert _vcf_text._is_bgzf(kg_bgzf[0].read_bytes()[:18])
    if libdeflate and _vcf_text._libdeflate() is None:
        pytest.skip("no libdeflate on this system (zlib decodes)")
    monkeypatch.setattr(_vcf_text, "_READ", read_size)
    if not libdeflate:
        monkeypatch.setattr(_vcf_text, "_libdeflate", lambda: None)
    store = tmp_path / "kg.vcz"
    ingest_vcfs(kg_bgzf, store, variants_chunk_size=1000)
    _check_against_pins(store, "kg_chr21_chrX")


def test_libdeflate_refusal_falls_back_to_zlib(kg_bgzf):
    """A block whose ISIZE trailer lies: libdeflate refuses it, zlib decodes the same text;
    a corrupt block raises zlib's error either way."""
    from genshare_widgets.engines import _vcf_text

    inflater = _vcf_text._libdeflate()
    if inflater is None:
        pytest.skip("no libdeflate on this system (zlib decodes)")
    raw = kg_bgzf[0].read_bytes()
    blocks, _ = _vcf_text._bgzf_blocks(memoryview(raw), 0)
    expected = _vcf_text._zlib_inflate_blocks(raw, blocks)
    assert bytes(inflater.inflate_blocks(raw, blocks)) == expected
    a, b = blocks[1]
    size = int.from_bytes(raw[b + 4 : b + 8], "little")
    lying = raw[: b + 4] + (size - 1).to_bytes(4, "little") + raw[b + 8 :]
    assert bytes(inflater.inflate_blocks(lying, blocks)) == expected
    corrupt = raw[: a + 10] + bytes(x ^ 0xFF for x in raw[a + 10 : a + 40]) + raw[a + 40 :]
    with pytest.raises(zlib.error):
        _vcf_text._zlib_inflate_blocks(corrupt, blocks)
    with pytest.raises(zlib.error):
        inflater.inflate_blocks(corrupt, blocks)
