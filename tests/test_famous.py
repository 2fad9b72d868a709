"""The real 1000 Genomes slices in the catalog and the famous-variants panel: every curated
number against its source, GenShare's frequencies against a direct parse of the VCFs, cards."""

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from genshare_widgets import FetchError, GenShareError
from genshare_widgets.catalog import get_entry
from genshare_widgets.catalog._famous import load_famous_panel
from genshare_widgets.catalog._schema import FileSpec

pytestmark = pytest.mark.timeout(120)

SLICES = {  # id -> (samples, records)
    "1kg-phase3-lct": (2504, 8035),
    "1kg-phase3-edar": (2504, 3482),
    "1kg-phase3-slc24a5": (2504, 575),
    "1kg-phase3-kidd-aisnps": (2504, 55),
    "1kg-30x-apol1": (3202, 4),
}


def _records(path: Path):
    """(chrom, pos, id, ref, alt, info dict, genotype fields) of every record of a VCF."""
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            info = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in f[7].split(";"))
            yield f[0], int(f[1]), f[2], f[3], f[4], info, f[9:]


def _samples(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                return line.rstrip("\n").split("\t")[9:]
    raise AssertionError("no header")


def _direct_frequency(mirror, name, pos, alt_index, groups, table="1kg_phase3_samples.tsv", col=1):
    """ALT allele frequency per group counted straight from the GT strings (no GenShare)."""
    folder = mirror / "1kg_phase3_slices"
    rows = [r.split("\t") for r in (folder / table).read_text().splitlines()[1:]]
    group_of = {r[0]: r[col] for r in rows}
    ids = _samples(folder / name)
    for _, p, *_rest, gts in _records(folder / name):
        if p != pos:
            continue
        out = {}
        for g in groups:
            calls = [
                a
                for s, gt in zip(ids, gts, strict=True)
                if group_of[s] == g
                for a in re.split(r"[|/]", gt.split(":")[0])
                if a != "."
            ]
            out[g] = sum(a == str(alt_index) for a in calls) / len(calls)
        return out
    raise AssertionError(f"no record at {pos} in {name}")


@pytest.fixture(scope="session")
def slice_cohort(mirror):
    from genshare_widgets import open_cohort

    opened = {}

    def get(cid):
        if cid not in opened:
            opened[cid] = open_cohort(cid)
        return opened[cid]

    return get


@pytest.mark.parametrize("cid", sorted(SLICES))
def test_slice_entries_validate_open_through_the_mirror_and_have_their_shape(cid, slice_cohort):
    entry = get_entry(cid)
    assert entry.access == "open" and entry.duo == ["DUO:0000004"] and entry.is_local
    for spec in entry.files:
        assert spec.sha256 and spec.size and spec.url.startswith("https://")
    assert sum(p.n_samples for p in entry.populations) == entry.n_samples == SLICES[cid][0]
    assert "HBB" in entry.notes and "rs334" in entry.notes  # no real HBB slice, said plainly
    cohort = slice_cohort(cid)
    assert (cohort.genotypes.sizes["samples"], cohort.genotypes.sizes["variants"]) == SLICES[cid]
    counts = cohort.samples["population"].value_counts()
    assert {p.code: p.n_samples for p in entry.populations} == counts.to_dict()


def test_slice_hashes_are_those_of_the_mirror(mirror):
    sums = {}
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split()
        sums[Path(path).name] = digest
    for cid in SLICES:
        for spec in get_entry(cid).files:
            assert sums[spec.name] == spec.sha256, spec.name
            assert (mirror / "1kg_phase3_slices" / spec.name).stat().st_size == spec.size


def test_a_derived_file_is_never_downloaded(isolated_cache, monkeypatch):
    from genshare_widgets.fetch import fetch_file

    monkeypatch.setenv("GENSHARE_MIRROR", str(isolated_cache / "empty"))
    spec = get_entry("1kg-phase3-lct").files[0]
    assert spec.derivation and spec.source_sha256
    with pytest.raises(FetchError, match="derived file"):
        fetch_file(spec, cohort_id="1kg-phase3-lct")
    with pytest.raises(ValueError, match="source_sha256 is only"):
        FileSpec(name="a", url="https://x.org/a", sha256="0" * 64, source_sha256="1" * 64)


def test_every_curated_number_matches_its_source(mirror):
    panel = load_famous_panel()
    assert {
        "rs4988235",
        "rs182549",
        "rs3827760",
        "rs1426654",
        "rs2814778",
        "rs73885319",
        "rs60910145",
        "rs71785313",
        "rs334",
    } <= set(panel.rsids)
    folder = mirror / "1kg_phase3_slices"
    records = {}
    for name in (
        "1kg_phase3_LCT.vcf.gz",
        "1kg_phase3_EDAR.vcf.gz",
        "1kg_phase3_SLC24A5.vcf.gz",
        "1kg_phase3_kidd55_aisnps.vcf.gz",
        "1kg_30x_APOL1_GRCh38.vcf.gz",
    ):
        if "LCT" in name:  # only the two sites (the file is 8,035 records)
            recs = [r for r in _records(folder / name) if r[1] in (136608646, 136616754)]
        else:
            recs = list(_records(folder / name))
        records[name] = {(c, p, ref, alt): (i, info) for c, p, i, ref, alt, info, _ in recs}
    checked = 0
    for v in panel.variants:
        for build in ("grch37", "grch38"):
            site = getattr(v, build)
            if site.position is None:
                assert "not verified" in site.source
                continue
            if site.url is not None:  # read from a cited page: the quote holds the number
                assert str(site.position) in site.quote
            else:  # read from the named mirrored VCF record
                name = site.source.split()[0]
                hit = records[name][(v.chrom, site.position, v.ref, v.alt)]
                assert hit[0] in (v.rsid, "."), (v.rsid, hit[0])
            checked += 1
        for pub in v.published:
            if pub.vcf is not None:
                key = (pub.vcf.contig, pub.vcf.position, pub.vcf.ref, pub.vcf.alt)
                value = float(records[pub.vcf.file][key][1][pub.vcf.field])
                if v.interest_is_ref:
                    value = 1 - value
                assert pub.value == pytest.approx(value, abs=1e-9), (v.rsid, pub)
            else:
                number = f"{pub.value * 100:g} %" if "%" in pub.quote else f"{pub.value:g}"
                assert number.replace(" %", "%") in pub.quote.replace(" %", "%"), (v.rsid, pub)
            checked += 1
    assert checked >= 30
    assert load_famous_panel().get("rs334").grch37.position is None  # never from memory


def test_citations_name_the_canonical_page_never_a_proxy():
    from urllib.parse import urlparse

    for v in load_famous_panel().variants:
        cited = [s.url for s in (v.grch37, v.grch38)] + [p.url for p in v.published]
        for url in filter(None, cited):
            parts = urlparse(url)
            assert parts.scheme in ("http", "https") and not parts.query, (v.rsid, url)
            assert "faq.com" not in parts.netloc and "bots." not in parts.netloc, (v.rsid, url)


def test_famous_frequencies_equal_a_direct_count_of_the_vcfs(mirror, slice_cohort):
    from genshare_widgets import famous_variants

    def freq(table, rsid, group):
        row = table[(table.rsid == rsid) & (table.group == group)]
        assert len(row) == 1, (rsid, group)
        return float(row.frequency.iloc[0])

    lct = famous_variants(slice_cohort("1kg-phase3-lct"), by="population")
    direct = _direct_frequency(mirror, "1kg_phase3_LCT.vcf.gz", 136608646, 1, ["CEU", "CHB", "JPT"])
    assert freq(lct, "rs4988235", "CEU") == pytest.approx(direct["CEU"], abs=1e-12)
    assert round(freq(lct, "rs4988235", "CEU"), 3) == 0.737
    assert freq(lct, "rs4988235", "CHB") == direct["CHB"] == 0.0
    sup = famous_variants(slice_cohort("1kg-phase3-lct"), by="superpopulation")
    assert freq(sup, "rs4988235", "EAS") == 0.0
    # the dbSNP 1000G global value 808/5008 is this slice's own count
    assert int(sup[sup.rsid == "rs4988235"].allele_count.sum()) == 808

    edar = famous_variants(slice_cohort("1kg-phase3-edar"), by="superpopulation")
    d = _direct_frequency(mirror, "1kg_phase3_EDAR.vcf.gz", 109513601, 1, ["EAS"], col=2)
    assert freq(edar, "rs3827760", "EAS") == pytest.approx(d["EAS"], abs=1e-12)
    assert round(d["EAS"], 3) == 0.873
    assert not edar[edar.rsid == "rs4988235"].in_cohort.any()  # LCT is not in the EDAR slice
    assert "not in this cohort" in edar[edar.rsid == "rs4988235"].note.iloc[0]

    slc = famous_variants(slice_cohort("1kg-phase3-slc24a5"), by="superpopulation")
    d = _direct_frequency(mirror, "1kg_phase3_SLC24A5.vcf.gz", 48426484, 0, ["EUR"], col=2)
    assert freq(slc, "rs1426654", "EUR") == pytest.approx(d["EUR"], abs=1e-12)  # REF A
    assert round(d["EUR"], 3) == 0.997

    kidd = famous_variants(slice_cohort("1kg-phase3-kidd-aisnps"), by="superpopulation")
    d = _direct_frequency(
        mirror, "1kg_phase3_kidd55_aisnps.vcf.gz", 159174683, 1, ["AFR", "EUR"], col=2
    )
    for g in ("AFR", "EUR"):
        assert freq(kidd, "rs2814778", g) == pytest.approx(d[g], abs=1e-12)
    assert freq(kidd, "rs2814778", "AFR") > 0.95 > 0.01 > freq(kidd, "rs2814778", "EUR")

    apol1 = famous_variants(slice_cohort("1kg-30x-apol1"), by="superpopulation")
    for rsid, pos in (("rs73885319", 36265860), ("rs60910145", 36265988), ("rs71785313", 36265995)):
        d = _direct_frequency(
            mirror,
            "1kg_30x_APOL1_GRCh38.vcf.gz",
            pos,
            1,
            ["AFR"],
            table="1kg_30x_APOL1_samples.tsv",
            col=2,
        )
        assert freq(apol1, rsid, "AFR") == pytest.approx(d["AFR"], abs=1e-12)
    for table in (lct, edar, slc, kidd, apol1):  # no cohort here has the sickle allele
        assert not table[table.rsid == "rs334"].in_cohort.any()


def test_famous_counts_go_through_the_release_door(slice_cohort):
    from genshare_widgets import famous_variants

    table = famous_variants(slice_cohort("1kg-phase3-kidd-aisnps"), by="population", min_count=50)
    shown = table[table.in_cohort]
    for value in shown.allele_count:
        assert value in ("<50", "NA") or not (1 <= int(value) < 50), value
    assert shown.allele_count.isin(["<50", "NA"]).any()
    ref_interest = shown[shown.rsid == "rs1426654"]  # REF = AN - AC must hide with AC
    assert (ref_interest.allele_count.isin(["<50", "NA"]) == ref_interest.frequency.isna()).all()


def test_cards_and_panel(slice_cohort, tmp_path):
    from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure

    def default_options(**kw):
        return {**DEFAULT_OPTIONS, **kw}

    cohort = slice_cohort("1kg-phase3-slc24a5")
    fig = build_figure(
        cohort, "variant", default_options(variant="rs1426654", by="superpopulation")
    )
    meta = fig.layout.meta
    assert meta["details"]["allele"] == "A" and meta["details"]["published"]["EUR"] == 0.997
    bars = next(t for t in fig.data if t.type == "bar")
    eur = list(bars.x).index("EUR")
    assert bars.y[eur] == pytest.approx(1003 / 1006)
    assert any(t.type == "scatter" and t.name.startswith("published") for t in fig.data)
    with pytest.raises(GenShareError, match="not in this cohort"):
        build_figure(cohort, "variant", default_options(variant="rs4988235"))
    with pytest.raises(GenShareError, match="not in this cohort"):
        build_figure(cohort, "variant", default_options(variant="rs334"))
    panel = build_figure(cohort, "famous", default_options(by="superpopulation"))
    heat = next(t for t in panel.data if t.type == "heatmap")
    assert list(heat.y) == ["rs1426654 A<br>SLC24A5"]
    assert np.nanmax(np.asarray(heat.z, dtype=float)) == pytest.approx(1003 / 1006)
    notes = " ".join(a.text for a in panel.layout.annotations)
    assert "not in this cohort" in notes and "rs334 (HBB)" in notes
