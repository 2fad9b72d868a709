"""A Beacon the network accepts (issue 18): the verifier's probes, every alias of a reference
and assembly, trimmed (VRS) alleles, structural variants by their INFO/END body and by
bracket queries, the model's nested POST body; every response validated against the
official schemas (tests/test_beacon.py's ``validators``)."""

import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jsonschema")

from test_beacon import OfficialSchemas, _serve


@pytest.fixture(scope="module")
def schemas():
    validated = OfficialSchemas()
    yield validated
    tally = ", ".join(f"{k}: {v}" for k, v in sorted(validated.validated.items()))
    print(f"\nofficial-schema validations: {sum(validated.validated.values())} ({tally})")


@pytest.fixture(scope="module")
def kg(kg_subset, schemas):
    server, client = _serve(kg_subset, schemas, granularity="record")
    yield client
    server.stop()


@pytest.fixture(scope="module")
def region(chr1_region, schemas):
    server, client = _serve(chr1_region, schemas, granularity="record")
    yield client
    server.stop()


@pytest.fixture(scope="module")
def kg_counts(kg_subset):
    from genshare_widgets import allele_counts_by_group

    return allele_counts_by_group(kg_subset, by="population")


def _ids(answer: dict) -> list[str]:
    sets = answer.get("response", {}).get("resultSets", [])
    return [r["variantInternalId"] for s in sets for r in s["results"]]


def _present(counts, i: int) -> bool:
    return int(counts["allele_count"].values[i].sum()) > 0


# --- the verifier's probes -----------------------------------------------------------------


@pytest.mark.parametrize("granularity", ["boolean", "count", "record"])
def test_get_g_variants_without_parameters_answers(kg, kg_counts, granularity):
    """The Beacon verifier's first probe is ``GET /g_variants`` with nothing: a valid answer
    about every variant (200), not a 400."""
    answer = kg.variants(requestedGranularity=granularity)
    assert answer["responseSummary"]["exists"] is True
    if granularity != "boolean":
        shown = int((kg_counts["allele_count"].values.sum(axis=1) > 0).sum())
        assert answer["responseSummary"]["numTotalResults"] == shown
    if granularity == "record":
        assert len(_ids(answer)) == 10  # the default page


def test_request_parameters_are_echoed_as_the_model_defines_them(kg):
    answer = kg.variants(referenceName="1", start=[100000], end=[130000])
    echoed = answer["meta"]["receivedRequestSummary"]["requestParameters"]
    assert echoed == {"g_variant": {"referenceName": "1", "start": [100000], "end": [130000]}}


def test_the_nested_post_body_answers_like_get(kg):
    query = {"referenceName": "1", "start": [0], "end": [249000000]}
    got = kg.variants(**query, requestedGranularity="record")
    body = {
        "meta": {"apiVersion": "v2.0.0"},
        "query": {
            "requestParameters": {"g_variant": query},
            "requestedGranularity": "record",
        },
    }
    posted = kg.post("/g_variants", body)
    assert posted.status_code == 200
    assert _ids(posted.json()) == _ids(got) and _ids(got)


# --- aliases of the reference and the assembly -----------------------------------------------


@pytest.mark.parametrize(
    "name", ["1", "chr1", "NC_000001.10", "refseq:NC_000001.10", "CM000663.1", "CHR1"]
)
def test_every_name_of_grch37_chromosome_1_finds_the_same_variants(kg, name):
    plain = kg.variants(referenceName="1", start=0, end=249000000, requestedGranularity="count")
    other = kg.variants(referenceName=name, start=0, end=249000000, requestedGranularity="count")
    assert plain["responseSummary"]["numTotalResults"] > 0
    assert other["responseSummary"] == plain["responseSummary"]


@pytest.mark.parametrize("assembly", ["GRCh37", "hg19", "GRCh37.p13", "GCF_000001405.25", "b37"])
def test_every_name_of_grch37_is_this_dataset(kg, assembly):
    answer = kg.variants(
        referenceName="1", start=0, end=249000000, assemblyId=assembly,
        requestedGranularity="count",
    )  # fmt: skip
    assert answer["responseSummary"]["numTotalResults"] > 0


@pytest.mark.parametrize(
    ("params", "note"),
    [
        ({"referenceName": "NC_000001.11"}, "is a GRCh38 accession; this dataset is GRCh37"),
        ({"referenceName": "1", "assemblyId": "GCF_000001405.26"}, "is not this dataset's"),
        ({"referenceName": "1", "assemblyId": "hg38"}, "is not this dataset's"),
    ],
)
def test_another_builds_names_answer_no_with_a_note(kg, params, note):
    answer = kg.variants(start=0, end=249000000, requestedGranularity="count", **params)
    assert answer["responseSummary"] == {"exists": False, "numTotalResults": 0}
    assert any(note in n for n in answer["info"]["genshare"]["notes"])


def test_records_name_their_sequence_by_refseq_accession(kg):
    answer = kg.variants(referenceName="1", start=0, end=249000000, requestedGranularity="record")
    record = answer["response"]["resultSets"][0]["results"][0]
    assert record["variation"]["location"]["sequence_id"] == "refseq:NC_000001.10"


def test_the_alias_table_is_the_ncbi_assembly_reports():
    """The shipped table equals what bioutils' copies of the NCBI assembly reports say, for
    every GRCh37/GRCh38 release and assembled molecule."""
    import gzip
    import json
    from importlib.resources import files

    from genshare_widgets import _assemblies

    pytest.importorskip("bioutils")
    folder = files("bioutils") / "_data" / "assemblies"
    for build in ("GRCh37", "GRCh38"):
        releases = [p for p in folder.iterdir() if p.name.startswith(f"{build}")]
        assert releases
        for path in releases:
            report = json.loads(gzip.decompress(path.read_bytes()))
            assert _assemblies.canonical_build(report["refseq_ac"]) == build
            assert _assemblies.canonical_build(report["genbank_ac"]) == build
            assert _assemblies.canonical_build(report["name"]) == build
            for seq in report["sequences"]:
                if seq["sequence_role"] != "assembled-molecule":
                    continue
                for alias in (seq["refseq_ac"], seq["genbank_ac"], *seq["aliases"]):
                    found = _assemblies.canonical_sequence(alias)
                    assert found is not None and found[0] == seq["name"], alias
                    assert found[1] in (None, build), alias
                assert _assemblies.refseq_accession(seq["name"], build) == seq["refseq_ac"]
    assert _assemblies.canonical_build("GRCm39") is None
    assert _assemblies.canonical_sequence("scaffold_7") is None


# --- trimmed alleles (VRS) ---------------------------------------------------------------------


def test_trimmed_deletions_and_insertions_are_found(kg, kg_counts):
    """A deletion written as VRS does (the shared padding base removed: start one later,
    ALT empty) finds the VCF record; so does an insertion (REF empty)."""
    ref = kg_counts["variant_ref"].values.astype(str)
    alt = kg_counts["variant_alt"].values.astype(str)
    pos = kg_counts["variant_position"].values
    contig = kg_counts["variant_contig"].values.astype(str)
    shown = kg_counts["allele_count"].values.sum(axis=1) > 0
    checked = 0
    for kind in ("deletion", "insertion"):
        long, short = (ref, alt) if kind == "deletion" else (alt, ref)
        ok = (np.char.str_len(short) == 1) & (np.char.str_len(long) > 1) & shown
        ok &= np.array([a[:1] == b[:1] for a, b in zip(ref, alt, strict=True)])
        ok &= ~np.char.startswith(alt, "<")
        for i in np.flatnonzero(ok)[:3]:
            vcf = f"{contig[i]}:{pos[i]}:{ref[i]}:{alt[i]}"
            trimmed = kg.variants(
                referenceName=contig[i], start=int(pos[i]), referenceBases=ref[i][1:],
                alternateBases=alt[i][1:], requestedGranularity="record",
            )  # fmt: skip
            assert vcf in _ids(trimmed), (kind, vcf)
            as_in_vcf = kg.variants(
                referenceName=contig[i], start=int(pos[i]) - 1, referenceBases=ref[i],
                alternateBases=alt[i], requestedGranularity="record",
            )  # fmt: skip
            assert vcf in _ids(as_in_vcf)
            dash = kg.variants(
                referenceName=contig[i], start=int(pos[i]), referenceBases=ref[i][1:] or "-",
                alternateBases=alt[i][1:] or "-", requestedGranularity="record",
            )  # fmt: skip
            assert vcf in _ids(dash)
            checked += 1
    assert checked == 6


def test_iupac_codes_match_as_wildcards(kg, kg_counts):
    snv = (np.char.str_len(kg_counts["variant_ref"].values.astype(str)) == 1) & (
        np.char.str_len(kg_counts["variant_alt"].values.astype(str)) == 1
    )
    i = int(np.flatnonzero(snv & (kg_counts["allele_count"].values.sum(axis=1) > 0))[0])
    alt = str(kg_counts["variant_alt"].values[i])
    code = {"A": "R", "G": "R", "C": "Y", "T": "Y"}[alt]  # purine / pyrimidine
    wrong = {"R": "Y", "Y": "R"}[code]
    where = {
        "referenceName": str(kg_counts["variant_contig"].values[i]),
        "start": int(kg_counts["variant_position"].values[i]) - 1,
    }
    assert kg.variants(**where, alternateBases=code)["responseSummary"]["exists"]
    assert not kg.variants(**where, alternateBases=wrong)["responseSummary"]["exists"]


# --- structural variants: INFO/END, bracket queries, lengths ----------------------------------

CN0_POS, CN0_END = 11725309, 11726488  # 1kg chr1 region: esv3585225 <CN0>, INFO/END


def test_a_range_inside_a_deletions_body_finds_it(region):
    """The <CN0> record covers 0-based [POS - 1, END): a range far from POS but inside the
    deleted body finds it, a range just past END does not."""
    inside = region.variants(
        referenceName="1", start=CN0_END - 100, end=CN0_END - 50, variantType="DEL",
        requestedGranularity="record",
    )  # fmt: skip
    records = inside["response"]["resultSets"][0]["results"]
    assert [r["info"]["vcfAlt"] for r in records] == ["<CN0>"]
    interval = records[0]["variation"]["location"]["interval"]
    assert (interval["start"]["value"], interval["end"]["value"]) == (CN0_POS - 1, CN0_END)
    past = region.variants(
        referenceName="1", start=CN0_END, end=CN0_END + 50, variantType="DEL",
        requestedGranularity="count",
    )  # fmt: skip
    assert past["responseSummary"]["numTotalResults"] == 0


@pytest.mark.parametrize(
    ("start", "end", "found"),
    [
        ([CN0_POS - 1, CN0_POS], [CN0_END, CN0_END + 1], True),  # exact both sides
        ([CN0_POS - 50, CN0_POS + 50], [CN0_END - 50, CN0_END + 50], True),  # fuzzy
        ([CN0_POS, CN0_POS + 50], [CN0_END - 50, CN0_END + 50], False),  # starts too early
        ([CN0_POS - 50, CN0_POS + 50], [CN0_END + 1, CN0_END + 50], False),  # ends too early
    ],
)
def test_bracket_queries_find_structural_variants_by_start_and_end(region, start, end, found):
    answer = region.variants(
        referenceName="1", start=",".join(map(str, start)), end=",".join(map(str, end)),
        variantType="DEL", requestedGranularity="record",
    )  # fmt: skip
    alts = [
        r.get("info", {}).get("vcfAlt")
        for s in answer.get("response", {}).get("resultSets", [])
        for r in s["results"]
    ]
    assert ("<CN0>" in alts) is found


def test_variant_length_bounds_are_honoured(region):
    """``variantMinLength``/``variantMaxLength``: the <CN0> is END − POS = 1,179 bases long;
    SNVs are 1 base."""
    where = {"referenceName": "1", "start": CN0_POS - 10, "end": CN0_END}
    long = region.variants(**where, variantMinLength=1000, requestedGranularity="record")
    assert [r["info"]["vcfAlt"] for r in long["response"]["resultSets"][0]["results"]] == ["<CN0>"]
    assert not region.variants(**where, variantMinLength=1180)["responseSummary"]["exists"]
    short = region.variants(**where, variantMaxLength=1, requestedGranularity="record")
    for record in short["response"]["resultSets"][0]["results"]:
        assert record["variation"]["variantType"] == "SNP"


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools is not installed")
def test_info_end_is_read_the_same_from_vcf_text_and_bcf(mirror, tmp_path, monkeypatch):
    """The text reader and htslib (BCF) write the same ``variant_end``, equal to bcftools'
    INFO/END where a record has a symbolic allele."""
    from genshare_widgets import open_cohort

    monkeypatch.setenv("GENSHARE_CACHE", str(tmp_path / "cache"))
    vcf = mirror / "1kg_phase3_chr1_region" / "genotype_plot_example.vcf.gz"
    bcf = tmp_path / "region.bcf"
    subprocess.run(["bcftools", "view", "-Ob", "-o", str(bcf), str(vcf)], check=True)
    text_end = open_cohort(str(vcf)).genotypes["variant_end"].values
    bcf_end = open_cohort(str(bcf)).genotypes["variant_end"].values
    np.testing.assert_array_equal(text_end, bcf_end)
    listed = subprocess.run(
        ["bcftools", "query", "-f", "%POS\t%REF\t%ALT\t%INFO/END\n", str(vcf)],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    expect = []
    for line in listed:
        pos, ref, alt, end = line.split("\t")
        symbolic = any(a.startswith("<") for a in alt.split(","))
        expect.append(int(end) if symbolic and end != "." else int(pos) + len(ref) - 1)
    np.testing.assert_array_equal(text_end, expect)
    assert CN0_END in text_end


def test_a_bad_info_end_is_refused_naming_the_line(tmp_path, monkeypatch):
    from genshare_widgets import open_cohort
    from genshare_widgets._errors import GenShareError

    monkeypatch.setenv("GENSHARE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "bad_end.vcf"
    path.write_text(
        "##fileformat=VCFv4.2\n"
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n'
        "##contig=<ID=1,length=1000>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
        "1\t100\t.\tA\tT\t.\tPASS\t.\tGT\t0|1\n"
        "1\t200\t.\tA\t<DEL>\t.\tPASS\tEND=150\tGT\t0|1\n"
    )
    with pytest.raises(GenShareError, match=r"line 6.*INFO/END 150 is before POS 200"):
        open_cohort(str(path)).genotypes  # noqa: B018 (the store is built on first use)
    assert not list((tmp_path / "cache").rglob("*.vcz"))  # nothing half-written kept
