"""Multi-allelic sites become one biallelic record per ALT allele, as ``bcftools norm -m-``
splits them (issue 18): GenShare's split counts of an unsplit store equal the counts of the
store made from bcftools' split VCF, row for row, on an edge-case VCF written here and on the
real 1000 Genomes subset (516 multi-allelic records); the engines agree on them, and a naive
reference recounts every record from the VCF text.
"""

import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genshare_widgets import open_cohort
from genshare_widgets.counts import allele_counts_by_group, with_variant_ends, with_variant_ids

FIELDS = ("allele_count", "allele_number", "hom_alt_count", "het_count", "called_count")

HEADER = """##fileformat=VCFv4.2
##contig=<ID=1,length=100000>
##INFO=<ID=END,Number=1,Type=Integer,Description="End position">
##ALT=<ID=DEL,Description="Deletion">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	s1	s2	s3	s4	s5
"""
# tri- and quad-allelic sites, 1/2 calls, half-missing calls, haploid calls, a '*' ALT,
# a symbolic ALT beside bases (with INFO/END), indels, and plain biallelic records around them
RECORDS = """1	100	rs1	A	C	.	PASS	.	GT	0/1	1/1	0/0	./.	0|1
1	150	rs2	A	C,G	.	PASS	.	GT	1/2	0/2	./2	2/2	1|0
1	200	.	A	C,G,T	.	PASS	.	GT	3/1	2|2	0/0	./.	3/3
1	250	rs3	C	T,G	.	PASS	.	GT	2	1	0	.	2/.
1	300	rs4	A	G,*	.	PASS	.	GT	1/2	2/2	0/2	1/1	0/0
1	400	rs5	G	<DEL>,C	.	PASS	END=650	GT	1/2	0/1	2	./.	2/2
1	700	.	AT	A,ATT	.	PASS	.	GT	1/2	0/0	2/2	1/.	0/1
1	800	rs6	T	TA	.	PASS	.	GT	0/0	0/1	1/1	0/0	./.
"""
GROUPS = {"s1": "A", "s2": "A", "s3": "B", "s4": "B", "s5": "B"}


def _bgzip(text: str, path: Path) -> Path:
    with gzip.open(path, "wt") as handle:  # plain gzip: GenShare reads it, bcftools too
        handle.write(text)
    return path


def _split_vcf(source: Path, out: Path) -> Path:
    """``bcftools norm -m-`` of ``source`` (multi-overlaps 0: the other ALTs become REF)."""
    if shutil.which("bcftools") is None:
        pytest.skip("bcftools not installed")
    subprocess.run(
        ["bcftools", "norm", "-m-", "--no-version", "-Oz", "-o", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return out


def _samples_file(path: Path, groups: dict[str, str]) -> Path:
    pd.DataFrame({"sample": list(groups), "population": list(groups.values())}).to_csv(
        path, sep="\t", index=False
    )
    return path


def _table(counts, names=FIELDS) -> pd.DataFrame:
    """One row per record and group: the keys and the counts, in the counts' order."""
    frames = []
    for g in counts["groups"].values:
        one = counts.sel(groups=g)
        frame = pd.DataFrame(
            {
                "contig": one["variant_contig"].values.astype(str),
                "position": one["variant_position"].values.astype(np.int64),
                "ref": one["variant_ref"].values.astype(str),
                "alt": one["variant_alt"].values.astype(str),
                "group": str(g),
                **{f: one[f].values.astype(np.int64) for f in names},
            }
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _naive_counts(text: str, groups: dict[str, str]) -> pd.DataFrame:
    """Per-ALT counts recounted from the VCF text, one allele at a time (the reference)."""
    rows = []
    samples = list(groups)
    for line in text.strip().splitlines():
        f = line.split("\t")
        alts = f[4].split(",")
        calls = [c.replace("|", "/").split("/") for c in f[9:]]
        for i, alt in enumerate(alts, start=1):
            for group in sorted(set(groups.values())):
                tally = dict.fromkeys(FIELDS, 0)
                for sample, call in zip(samples, calls, strict=True):
                    if groups[sample] != group:
                        continue
                    called = [a for a in call if a != "."]
                    copies = sum(int(a) == i for a in called)
                    tally["allele_count"] += copies
                    tally["allele_number"] += len(called)
                    if len(call) == 2 and len(called) == 2:
                        tally["called_count"] += 1
                        tally["het_count"] += copies == 1
                        tally["hom_alt_count"] += copies == 2
                rows.append(
                    {"contig": f[0], "position": int(f[1]), "ref": f[3], "alt": alt}
                    | {"group": group}
                    | tally
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def edge_files(tmp_path_factory):
    """The edge VCF, its ``bcftools norm -m-`` split and the sample table."""
    folder = tmp_path_factory.mktemp("multiallelic")
    vcf = _bgzip(HEADER + RECORDS, folder / "edge.vcf.gz")
    samples = _samples_file(folder / "samples.tsv", GROUPS)
    split = _split_vcf(vcf, folder / "edge.split.vcf.gz")
    return vcf, split, samples


@pytest.fixture(scope="module")
def edge(edge_files):
    """The edge VCF as a cohort, and the cohort of its ``bcftools norm -m-`` split."""
    vcf, split, samples = edge_files
    return open_cohort(vcf, samples=samples), open_cohort(split, samples=samples)


def test_edge_split_counts_equal_bcftools_split(edge):
    unsplit, split = edge
    ours = allele_counts_by_group(unsplit, by="population")
    theirs = allele_counts_by_group(split, by="population")
    assert ours.sizes["variants"] == 15  # 2 biallelic records + 13 from 6 multi-allelic
    pd.testing.assert_frame_equal(_table(ours), _table(theirs))
    assert ours["variant_allele_index"].values.tolist() == [
        1,
        1,
        2,
        1,
        2,
        3,
        1,
        2,
        1,
        2,
        1,
        2,
        1,
        2,
        1,
    ]
    f = ours.attrs["filters"]
    assert f["n_multiallelic_split"] == 6 and f["n_split_records"] == 13
    assert "n_multiallelic_excluded" not in f
    # the split store has no multi-allelic record left
    assert theirs.attrs["filters"]["n_multiallelic_split"] == 0


def test_edge_split_counts_equal_a_naive_count(edge):
    unsplit, _ = edge
    ours = _table(allele_counts_by_group(unsplit, by="population"))
    expected = _naive_counts(RECORDS, GROUPS)
    expected = expected.sort_values("group", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, expected)


def test_split_records_repeat_ids_and_ends(edge):
    unsplit, split = edge
    ours = with_variant_ends(
        with_variant_ids(allele_counts_by_group(unsplit, by="population"), unsplit), unsplit
    )
    theirs = with_variant_ends(
        with_variant_ids(allele_counts_by_group(split, by="population"), split), split
    )
    assert ours["variant_id"].values.tolist() == theirs["variant_id"].values.tolist()
    assert ours["variant_end"].values.tolist() == theirs["variant_end"].values.tolist()
    at_400 = ours["variant_position"].values == 400
    # the <DEL> record keeps INFO/END; the C record of the same row ends at its POS
    assert ours["variant_end"].values[at_400].tolist() == [650, 400]
    assert ours["variant_id"].values[at_400].tolist() == ["rs5", "rs5"]


@pytest.mark.parametrize("snps_only", [False, True])
@pytest.mark.parametrize("region", [None, "1:150-300"])
def test_filters_apply_per_split_record(edge, snps_only, region):
    unsplit, split = edge
    ours = allele_counts_by_group(unsplit, by="population", snps_only=snps_only, region=region)
    theirs = allele_counts_by_group(split, by="population", snps_only=snps_only, region=region)
    pd.testing.assert_frame_equal(_table(ours), _table(theirs))
    if snps_only:  # '*', '<DEL>' and the indels are not SNVs; C of the <DEL>,C site is
        alts = _table(ours)["alt"].unique().tolist()
        assert "*" not in alts and "<DEL>" not in alts and "C" in alts
        assert (
            ours.attrs["filters"]["n_non_snp_excluded"]
            == (theirs.attrs["filters"]["n_non_snp_excluded"])
        )
    for maf in (0.1, 0.3):
        a = allele_counts_by_group(unsplit, by="population", min_maf=maf, region=region)
        b = allele_counts_by_group(split, by="population", min_maf=maf, region=region)
        pd.testing.assert_frame_equal(_table(a), _table(b))


def test_dask_pass_gives_the_local_engine_counts(edge, monkeypatch):
    unsplit, _ = edge
    local = allele_counts_by_group(unsplit, by="population")
    monkeypatch.setenv("GENSHARE_DIRECT", "0")
    dask = allele_counts_by_group(unsplit, by="population")
    pd.testing.assert_frame_equal(_table(local), _table(dask))
    np.testing.assert_array_equal(local["variant_index"], dask["variant_index"])
    np.testing.assert_array_equal(local["variant_allele_index"], dask["variant_allele_index"])
    assert local.attrs["filters"] == dask.attrs["filters"]


@pytest.mark.hail
@pytest.mark.parametrize(
    "options",
    [{}, {"snps_only": True}, {"region": "1:150-300"}, {"min_maf": 0.3}, {"biallelic_only": True}],
    ids=["all", "snps_only", "region", "min_maf", "biallelic_only"],
)
def test_hail_engine_gives_the_local_engine_counts(edge, edge_files, hail_session, options):
    """The Hail engine's split records (rows exploded per ALT) are the local engine's: same
    records, same counts, same provenance, on every edge of the VCF (1/2 calls, half-missing
    and haploid calls, ``*``, a symbolic ALT beside a base, indels)."""
    unsplit, _ = edge
    vcf, _, samples = edge_files
    hail = open_cohort(vcf, samples=samples, engine="hail")
    local = allele_counts_by_group(unsplit, by="population", **options)
    ours = allele_counts_by_group(hail, by="population", **options)
    pd.testing.assert_frame_equal(_table(local), _table(ours))
    np.testing.assert_array_equal(local["variant_index"], ours["variant_index"])
    np.testing.assert_array_equal(local["variant_allele_index"], ours["variant_allele_index"])
    assert local.attrs["filters"] == ours.attrs["filters"]


def test_biallelic_only_keeps_the_sites_pca_uses(edge):
    unsplit, _ = edge
    sites = allele_counts_by_group(unsplit, by="population", biallelic_only=True)
    assert sites["variant_position"].values.tolist() == [100, 800]
    assert sites.attrs["filters"]["n_multiallelic_excluded"] == 6


# --- the real 1000 Genomes subset -------------------------------------------------------


@pytest.fixture(scope="module")
def kg_split(kg_subset, mirror, tmp_path_factory):
    """The subset's VCFs split by ``bcftools norm -m-``, ingested as their own cohort."""
    folder = tmp_path_factory.mktemp("kg-split")
    source = mirror / "1kg_phase3_subset"
    paths = []
    for vcf in sorted(source.glob("1KG_phase3_subset_chr*.vcf.gz")):
        paths.append(_split_vcf(vcf, folder / vcf.name.replace(".vcf.gz", ".split.vcf.gz")))
    table = pd.read_csv(source / "samples_pop.tsv", sep="\t")
    samples = folder / "samples.tsv"
    table[["sample", "pop", "super_pop"]].to_csv(samples, sep="\t", index=False)
    return open_cohort(paths, samples=samples)


def test_real_subset_split_equals_bcftools_split(kg_subset, kg_split):
    ours = allele_counts_by_group(kg_subset, by="population")
    theirs = allele_counts_by_group(kg_split, by="pop")
    f = ours.attrs["filters"]
    assert f["n_multiallelic_split"] == 516
    assert ours.sizes["variants"] == theirs.sizes["variants"]
    a, b = _table(ours), _table(theirs)
    # bcftools sorts by position within a file; GenShare keeps file order: same records
    keys = ["contig", "position", "ref", "alt", "group"]
    a = a.sort_values(keys, kind="stable").reset_index(drop=True)
    b = b.sort_values(keys, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert (ours["variant_allele_index"].values > 1).sum() == f["n_split_records"] - 516


# --- Beacon and federation serve the split records --------------------------------------


@pytest.fixture(scope="module")
def edge_beacon(edge):
    """A Beacon of the edge VCF whose every response is validated against the official
    Beacon v2 schemas (tests/test_beacon.py's client)."""
    pytest.importorskip("fastapi")
    pytest.importorskip("jsonschema")
    from test_beacon import Client, OfficialSchemas

    from genshare_widgets._serve import RunningServer
    from genshare_widgets.beacon import beacon_app

    unsplit, _ = edge
    # one population of all five samples: a Beacon serves groups of at least five
    folder = Path(str(unsplit.store_path)).parent.parent / "beacon-edge"
    folder.mkdir(exist_ok=True)
    samples = _samples_file(folder / "samples.tsv", dict.fromkeys(GROUPS, "P"))
    vcf = _bgzip(HEADER + RECORDS, folder / "edge.vcf.gz")
    served = open_cohort(vcf, samples=samples)
    server = RunningServer(beacon_app(served, granularity="record"), host="127.0.0.1", port=0)
    server.start()
    yield Client(server.url, OfficialSchemas())
    server.stop()


@pytest.mark.parametrize(
    ("position", "ref", "alt"),
    [(150, "A", "C"), (150, "A", "G"), (200, "A", "T"), (300, "A", "G"), (400, "G", "C")],
)
def test_beacon_finds_every_alt_of_a_multiallelic_site(edge, edge_beacon, position, ref, alt):
    unsplit, _ = edge
    everyone = pd.Series("P", index=unsplit.samples.index)
    counts = _table(allele_counts_by_group(unsplit, by=everyone))
    mine = counts[(counts["position"] == position) & (counts["alt"] == alt)]
    query = {
        "referenceName": "1",
        "start": position - 1,
        "referenceBases": ref,
        "alternateBases": alt,
        "requestedGranularity": "record",
    }
    got = edge_beacon.get("/g_variants", **query)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["responseSummary"]["exists"] is True  # before issue 18: false
    (record,) = body["response"]["resultSets"][0]["results"]
    rows = {f["population"]: f for f in record["frequencyInPopulations"][0]["frequencies"]}
    for _, row in mine.iterrows():
        assert rows[row["group"]]["alleleCount"] == row["allele_count"]
        assert rows[row["group"]]["alleleNumber"] == row["allele_number"]
    params = {k: v for k, v in query.items() if k != "requestedGranularity"}
    posted = edge_beacon.post(
        "/g_variants",
        {
            "meta": {"apiVersion": "v2.0.0"},
            "query": {
                "requestParameters": {**params, "start": [params["start"]]},
                "requestedGranularity": "record",
            },
        },
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["response"] == body["response"]
    # an ALT the site does not have still answers false
    absent = edge_beacon.get("/g_variants", **{**query, "alternateBases": "TTTT"})
    assert absent.json()["responseSummary"]["exists"] is False


def test_beacon_info_says_records_are_split(edge_beacon):
    info = edge_beacon.get("/info").json()
    text = str(info)
    assert "bcftools norm -m-" in text and "6 split" in text
    assert "'*'" in text and "not served (1)" in text


def test_beacon_refuses_the_spanning_deletion_allele(edge_beacon):
    """``*`` is not a sequence: a 400 that says where the deletion is found instead."""
    query = {"referenceName": "1", "start": 299, "referenceBases": "A", "alternateBases": "*"}
    got = edge_beacon.get("/g_variants", **query)
    assert got.status_code == 400
    assert "spanning-deletion" in got.json()["error"]["errorMessage"]


def test_beacon_range_over_a_star_site_serves_its_other_alts(edge_beacon):
    """A range query over 1:300 A → G,* returns the G record only (the official schema
    validates the answer: an ``alternateBases`` of ``*`` would fail it)."""
    got = edge_beacon.get(
        "/g_variants", referenceName="1", start=299, end=300, requestedGranularity="record"
    )
    assert got.status_code == 200, got.text
    (result_set,) = got.json()["response"]["resultSets"]
    alts = [r["variation"]["alternateBases"] for r in result_set["results"]]
    assert alts == ["G"]
