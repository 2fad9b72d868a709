"""The selection value (genshare_widgets._selection): built once, read by every engine.

select_variants must give the same rows and the same record of what was dropped whether it
reads the per-variant allele strings or the compact arrays a store may carry (``n_alleles``,
``is_snv``); the arrays here come from a one-variant-at-a-time reference, not from the
function under test.
"""

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genshare_widgets._errors import GenShareError
from genshare_widgets._selection import (
    Selection,
    allele_flags,
    resolve_groups,
    select_variants,
)

_BASES = {"A", "C", "G", "T"}


def _reference_flags(alleles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One record at a time: alleles present, and REF and first ALT single bases."""
    n_alleles, is_snv = [], []
    for row in alleles.tolist():
        n_alleles.append(sum(1 for a in row if a != ""))
        is_snv.append(str(row[0]).upper() in _BASES and str(row[1]).upper() in _BASES)
    return np.array(n_alleles, dtype=np.int64), np.array(is_snv, dtype=bool)


_ALLELE = st.sampled_from(["A", "C", "G", "T", "a", "t", "AT", "GTT", "<DEL>", "*", "N", "0"])
_RECORD = st.tuples(_ALLELE, st.sampled_from(["", *"ACGT", "AC", "<INS>", "*", "g"])).flatmap(
    lambda ra: st.lists(_ALLELE, max_size=2).map(
        lambda extra: [*ra, *(extra if ra[1] else [])] + [""] * (2 - len(extra if ra[1] else []))
    )
)


def _store_arrays(records: list[list[str]], contigs: list[int], positions: list[int]):
    alleles = np.array(records, dtype=object).astype(str)
    return {
        "contig_ids": np.array(["1", "2"]),
        "variant_contig": np.array(contigs, dtype=np.int64),
        "variant_position": np.array(positions, dtype=np.int64),
        "alleles": alleles,
    }


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(_RECORD, min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
    region=st.sampled_from([None, "1", "chr2", "1:10-60", "2:1-1000"]),
    snps_only=st.booleans(),
)
def test_compact_arrays_select_what_the_strings_select(records, seed, region, snps_only):
    rng = np.random.default_rng(seed)
    arrays = _store_arrays(
        records,
        rng.integers(0, 2, len(records)).tolist(),
        np.sort(rng.integers(1, 100, len(records))).tolist(),
    )
    n_alleles, is_snv = _reference_flags(arrays["alleles"])
    from_strings = select_variants(**arrays, region=region, snps_only=snps_only)
    compact = {k: v for k, v in arrays.items() if k != "alleles"}
    from_arrays = select_variants(
        **compact,
        region=region,
        snps_only=snps_only,
        n_alleles=n_alleles,
        is_snv=is_snv,
        alleles_of=arrays["alleles"].__getitem__,  # a split record's ALT, when not all bases
    )
    assert np.array_equal(from_strings[0], from_arrays[0])
    assert np.array_equal(from_strings[1], from_arrays[1])
    assert from_strings[2] == from_arrays[2]
    # allele_flags (what an ingest may store) agrees with the reference too
    flags = allele_flags(arrays["alleles"])
    assert np.array_equal(flags[0], n_alleles) and np.array_equal(flags[1], is_snv)


def test_compact_arrays_on_a_simulated_store(sim_ooa):
    from genshare_widgets.counts import _strings, variant_selection

    ds = sim_ooa.genotypes
    alleles = _strings(ds["variant_allele"].values)
    n_alleles, is_snv = _reference_flags(alleles)
    compact = {
        "contig_ids": _strings(ds["contig_id"].values),
        "variant_contig": ds["variant_contig"].values,
        "variant_position": ds["variant_position"].values,
    }
    for region in (None, "1:1-5000000"):
        for snps_only in (False, True):
            expected, _, info, _ = variant_selection(ds, region=region, snps_only=snps_only)
            got, _, got_info = select_variants(
                **compact,
                region=region,
                snps_only=snps_only,
                n_alleles=n_alleles,
                is_snv=is_snv,
                alleles_of=alleles.__getitem__,
            )
            assert np.array_equal(got, expected) and got_info == info
            assert len(got) > 0


def test_without_strings_or_arrays_select_variants_says_what_it_needs():
    compact = _store_arrays([["A", "C"]], [0], [5])
    del compact["alleles"]
    with pytest.raises(ValueError, match="needs alleles"):
        select_variants(**compact)
    with pytest.raises(ValueError, match="needs alleles"):
        select_variants(**compact, n_alleles=np.array([2]), snps_only=True)
    index, _, _ = select_variants(**compact, n_alleles=np.array([2]))  # no SNP filter: no strings
    assert index.tolist() == [0]


def test_multiallelic_records_are_split_unless_biallelic_only():
    arrays = _store_arrays([["A", "C", "G"], ["A", "C", ""], ["A", "", ""]], [0, 0, 0], [1, 2, 3])
    index, alt, info = select_variants(**arrays, biallelic_only=True)
    assert index.tolist() == [1] and info["n_multiallelic_excluded"] == 1
    index, alt, info = select_variants(**arrays)
    assert index.tolist() == [0, 0, 1] and alt.tolist() == [1, 2, 1]
    assert info["n_multiallelic_split"] == 1 and info["n_split_records"] == 2


def test_selection_is_built_once_from_the_sample_table():
    samples = pd.DataFrame(
        {"pop": ["YRI", "CEU", None, "CEU"], "sex": ["f", "m", "f", "m"]},
        index=pd.Index(["s1", "s2", "s3", "s4"], name="sample"),
    )
    sel = Selection.build(samples, "pop", region="1:1-10", snps_only=True, min_maf=0.05)
    codes, names, label = resolve_groups(samples, "pop")
    assert np.array_equal(sel.codes, codes) and sel.names == tuple(names) and sel.by == label
    assert sel.n_groups == 2 and sel.group_n.tolist() == [2, 1]
    assert (sel.region, sel.snps_only, sel.biallelic_only, sel.min_maf) == (
        "1:1-10",
        True,
        False,
        0.05,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        sel.region = None  # type: ignore[misc]
    codes[:] = 0  # the selection keeps its own copy
    assert sel.codes.tolist() == [1, 0, -1, 0]
    by_map = Selection.build(samples, {"s1": "a", "s4": "b"})
    assert by_map.codes.tolist() == [0, -1, -1, 1] and by_map.by == "group"


def test_selection_refuses_what_the_old_checks_refused():
    samples = pd.DataFrame({"pop": ["A"]}, index=pd.Index(["s1"], name="sample"))
    with pytest.raises(
        GenShareError, match=re.escape("--min-maf must be between 0 and 0.5, not 0.7")
    ):
        Selection.build(samples, "pop", min_maf=0.7)
    with pytest.raises(GenShareError, match="no sample column 'nope' to group by"):
        Selection.build(samples, "nope")
    with pytest.raises(GenShareError, match="--min-maf must be between"):
        Selection(min_maf=-0.1)
    with pytest.raises(ValueError, match="group codes"):
        Selection(codes=np.array([0, 2]), names=("a", "b"))


def test_counts_keeps_the_old_names():
    import genshare_widgets._selection as low
    import genshare_widgets.counts as counts

    for name in (
        "parse_region",
        "region_mask",
        "select_variants",
        "resolve_groups",
        "check_min_maf",
        "apply_min_maf",
        "Selection",
    ):
        assert getattr(counts, name) is getattr(low, name)
    assert counts._contig_code is low.contig_code


def _outcome(call):
    try:
        call()
    except Exception as exc:  # the type and the words of a refusal
        return type(exc).__name__, str(exc)
    return None


def test_the_gate_checks_a_selection_as_it_checks_a_grouping():
    """check_grouping with a Selection built for the run refuses exactly what it refuses when
    it resolves ``by`` itself, with the same words (the detail naming a dominated group too);
    allele_counts_by_group, which now hands it the Selection, refuses with them as well."""
    from genshare_widgets import open_cohort
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.disclosure._gate import check_grouping

    cohort = open_cohort("sim-ooa-npoa")
    pops = cohort.samples["population"]
    first = sorted(pops.dropna().unique())[0]
    mostly_one = pops.where(pops == first, "rest").rename("split")  # a group of one population
    across = pd.Series(
        ["a" if i % 2 else "b" for i in range(len(pops))], index=pops.index, name="alt"
    )
    refused = 0
    for by in ("population", "superpopulation", "sex", mostly_one, across):
        plain = _outcome(lambda by=by: check_grouping(cohort, by, analysis="x"))
        if isinstance(by, str) and by not in cohort.samples.columns:
            selection = None  # superpopulation: no such column here, yet refused by name
        else:
            selection = Selection.build(cohort.samples, by)
            given = _outcome(
                lambda by=by, s=selection: check_grouping(cohort, by, selection=s, analysis="x")
            )
            assert given == plain, by
        if plain is not None:
            refused += 1
            assert plain[0] == "AnalysisRefused"
            counted = _outcome(lambda by=by: allele_counts_by_group(cohort, by=by))
            assert counted == (plain[0], plain[1].replace(" x", " per-group allele counts"))
    assert refused == 3, refused
    assert (
        "made mostly of one population"
        in _outcome(lambda: check_grouping(cohort, mostly_one, analysis="x"))[1]
    )
    # a grouping that does not resolve: the gate's refusal still speaks first
    assert _outcome(lambda: allele_counts_by_group(cohort, by="no_such_column")) == _outcome(
        lambda: check_grouping(cohort, "no_such_column", analysis="per-group allele counts")
    )
