"""The bad-input corpus: every user mistake gets one clear line, exit 2, and leaves nothing.

Each case runs the real ``genshare`` command in a fresh, empty cache and asserts:

- exit status 2 and no traceback;
- one ``genshare: error: ...`` line naming the faulty input (file, line, option or field)
  and what to do about it;
- nothing at ``--out`` (not even an empty folder; an existing file stays as it was);
- nothing half-written in the cache (no ``*.partial-*`` folder, no store without its
  completion marker, see :func:`genshare_widgets.engines._store.is_complete`).

Inputs are tiny files written into ``tmp_path``; only the grouping case that the issue
reported uses the real ``samples_pop.tsv``. A few cases also go through the Python API.
"""

import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from genshare_widgets import GenShareError, allele_counts_by_group, open_cohort
from genshare_widgets.engines._store import is_complete
from tests.cli_runner import NOBODY, run_as_unprivileged_user, run_genshare

SAMPLES = ["s1", "s2", "s3", "s4", "s5", "s6"]
HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1,length=100000>\n##contig=<ID=2,length=100000>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
)
GTS = ["0|0", "0|1", "1|1", "0|1", "1|0", "0|0"]
CONTROLLED = "sim-ooa-hmb-controlled"
PURPOSE = "HMB;non-commercial;irb=IRB-2026-017;publish"


def _rec(pos, gts=GTS, *, contig: str = "1", ref: str = "A", alt: str = "G") -> str:
    return "\t".join([contig, str(pos), ".", ref, alt, ".", "PASS", ".", "GT", *gts])


def write_vcf(
    path: Path, records: list[str] | None = None, *, samples: list[str] = SAMPLES
) -> Path:
    """A tiny VCF (plain text, or gzip when the name ends in .gz)."""
    if records is None:
        records = [_rec(100 * (i + 1), GTS[i % 6 :] + GTS[: i % 6]) for i in range(12)]
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    columns += ["FORMAT", *samples] if samples else []
    text = HEADER + "\t".join(columns) + "\n" + "".join(r + "\n" for r in records)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def write_table(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


POPS = "sample\tpopulation\n" + "".join(
    f"{s}\t{'A' if i < 3 else 'B'}\n" for i, s in enumerate(SAMPLES)
)


def pops(tmp: Path) -> Path:
    return write_table(tmp / "pops.tsv", POPS)


def write_plink(prefix: Path, *, n_samples: int = 4, n_variants: int = 3) -> Path:
    """A tiny SNP-major PLINK 1 fileset."""
    Path(f"{prefix}.bim").write_text(
        "".join(f"1\trs{i}\t0\t{100 * (i + 1)}\tA\tG\n" for i in range(n_variants))
    )
    Path(f"{prefix}.fam").write_text(
        "".join(f"f{i}\ti{i}\t0\t0\t1\t-9\n" for i in range(n_samples))
    )
    per_variant = (n_samples + 3) // 4
    Path(f"{prefix}.bed").write_bytes(b"\x6c\x1b\x01" + b"\x00" * per_variant * n_variants)
    return prefix


def write_credential(path: Path, *, cohorts=(CONTROLLED,), expires="2099-12-31") -> Path:
    approval = {"cohorts": list(cohorts), "project": "Teaching", "purpose": PURPOSE}
    approval["expires"] = expires
    path.write_text(yaml.safe_dump({"holder": "A. Researcher", "approvals": [approval]}))
    return path


def write_catalog(path: Path, change: Callable[[dict], None]) -> Path:
    """The packaged catalog with one deliberate mistake."""
    from genshare_widgets.catalog import default_catalog_path

    data = yaml.safe_load(default_catalog_path().read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _first_with_files(data: dict) -> dict:
    return next(c for c in data["cohorts"] if c.get("files"))


def write_recipe(path: Path, content) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _prepared_copy(tmp: Path) -> Path:
    """A copy of the store ``genshare prepare`` makes of a tiny VCF."""
    import shutil

    store = open_cohort(write_vcf(tmp / "tiny.vcf")).store_path
    return Path(shutil.copytree(store, tmp / "copy.vcz"))


def _damaged_store(tmp: Path) -> Path:
    copy = _prepared_copy(tmp)
    chunk = copy / "call_genotype_bitplanes" / "0.0.0"
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0x04
    chunk.write_bytes(bytes(data))
    return copy


def _recipe_then_change_store(tmp: Path) -> Path:
    """A figure of a store, then the store's genotypes zeroed (and its manifest rewritten, as
    a rebuild from other data would): → the figure's recipe, renamed r.json."""
    import zarr

    from genshare_widgets.engines._integrity import write_manifest
    from genshare_widgets.figures import run_figure

    copy = _prepared_copy(tmp)
    options = {"samples": str(pops(tmp)), "by": "population"}
    written = run_figure([str(copy)], kind="fst", out=tmp / "fst.json", options=options)
    group = zarr.open_group(str(copy), mode="r+", zarr_format=2)
    group["call_genotype"][:] = 0
    group["call_genotype_bitplanes"][:] = 0
    write_manifest(copy)
    return Path(written["provenance"]).rename(tmp / "r.json")


@dataclass
class Case:
    """``build(tmp)`` writes the inputs and returns the command's arguments; ``names`` and
    ``fix`` are patterns the error line must contain (the input at fault, what to do)."""

    build: Callable[[Path], list[str]]
    names: str
    fix: str
    api: Callable[[Path], object] | None = field(default=None)


def _stats(*extra: str, vcf: Callable[[Path], Path] | None = None, table=pops):
    """``genshare stats VCF --samples TSV EXTRA --out tmp/out`` on tiny inputs."""

    def build(tmp: Path) -> list[str]:
        source = (vcf or (lambda t: write_vcf(t / "tiny.vcf")))(tmp)
        args = ["stats", str(source)]
        if table is not None:
            args += ["--samples", str(table(tmp))]
        return [*args, *extra, "--out", str(tmp / "out")]

    return build


def _bad_vcf(records: list[str], name: str = "bad.vcf", **kw) -> Callable[[Path], Path]:
    return lambda tmp: write_vcf(tmp / name, records, **kw)


def _bad_table(content: str | bytes, name: str = "table.tsv"):
    return lambda tmp: write_table(tmp / name, content)


GOOD = [_rec(100 * (i + 1)) for i in range(5)]

CASES: dict[str, Case] = {
    # --- VCF files ------------------------------------------------------------------------
    "vcf-wrong-column-count": Case(
        _stats(vcf=_bad_vcf([*GOOD[:2], "1\t300\t.\tA\tG\t.\tPASS\t.\tGT\t0|0\t0|1"])),
        names=r"bad\.vcf: line 8",
        fix=r"column|field",
    ),
    "vcf-non-numeric-pos": Case(
        _stats(vcf=_bad_vcf([*GOOD[:2], _rec("abc")])),
        names=r"bad\.vcf: line 8: position 'abc'",
        fix=r"integer",
    ),
    "vcf-gt-0/A": Case(
        _stats(vcf=_bad_vcf([*GOOD[:2], _rec(300, ["0/A", *GTS[1:]])])),
        names=r"bad\.vcf: line 8: sample 1: genotype '0/A'",
        fix=r"allele 'A' is not an index.*Fix or remove that line",
    ),
    "vcf-allele-index-beyond-alt": Case(
        _stats(vcf=_bad_vcf([*GOOD[:2], _rec(300, ["5|7", *GTS[1:]])])),
        names=r"bad\.vcf: line 8",
        fix=r"ALT",
    ),
    "vcf-unsorted": Case(
        _stats(vcf=_bad_vcf([_rec(500), _rec(100), _rec(300)])),
        names=r"bad\.vcf: line 7",
        fix=r"sort",
    ),
    "vcf-empty-file": Case(
        _stats(vcf=lambda tmp: write_table(tmp / "empty.vcf", "")),
        names=r"empty\.vcf: the file is empty",
        fix=r"give a VCF",
    ),
    "vcf-no-records": Case(
        _stats(vcf=_bad_vcf([], "header_only.vcf")),
        names=r"header_only\.vcf",
        fix=r"no (variant )?records|no variants",
    ),
    "vcf-duplicate-sample-ids": Case(
        _stats(vcf=_bad_vcf(GOOD, samples=["s1", "s2", "s3", "s4", "s5", "s1"]), table=None),
        names=r"bad\.vcf.*: s1",
        fix=r"more than once|rename|unique",
    ),
    "vcf-without-samples": Case(
        _stats(vcf=_bad_vcf(["1\t100\t.\tA\tG\t.\tPASS\t."], "sites.vcf", samples=[]), table=None),
        names=r"sites\.vcf",
        fix=r"no sample columns",
    ),
    "vcf-missing-file": Case(
        lambda tmp: ["prepare", str(tmp / "absent.vcf.gz")],
        names=r"absent\.vcf\.gz",
        fix=r"no such file",
    ),
    # --- PLINK prefixes ---------------------------------------------------------------------
    "plink-missing-fam": Case(
        lambda tmp: (
            write_plink(tmp / "pl"),
            (tmp / "pl.fam").unlink(),
            ["prepare", str(tmp / "pl")],
        )[-1],
        names=r"pl\.fam",
        fix=r"missing|no such|needs",
    ),
    "plink-bim-bed-mismatch": Case(
        lambda tmp: (
            write_plink(tmp / "pl"),
            Path(f"{tmp / 'pl'}.bim").write_text("1\trs0\t0\t100\tA\tG\n"),
            ["prepare", str(tmp / "pl")],
        )[-1],
        names=r"pl\.bed",
        fix=r"\.bim|\.fam",
    ),
    "plink-fam-bed-mismatch": Case(
        lambda tmp: (
            write_plink(tmp / "pl", n_samples=4),
            Path(f"{tmp / 'pl'}.fam").write_text(
                "".join(f"f{i}\ti{i}\t0\t0\t1\t-9\n" for i in range(9))
            ),
            ["prepare", str(tmp / "pl")],
        )[-1],
        names=r"pl\.bed",
        fix=r"\.bim|\.fam",
    ),
    # --- sample tables ----------------------------------------------------------------------
    "samples-missing-by-column": Case(
        _stats("--by", "superpopulation"),
        names=r"pops\.tsv: no column 'superpopulation'",
        fix=r"--by population",
    ),
    "samples-no-population-column": Case(
        _stats(table=_bad_table("id\tpop\n" + "".join(f"{s}\tX{s}\n" for s in SAMPLES))),
        names=r"table\.tsv.*\['id', 'pop'\]",
        fix=r"--by pop",
    ),
    "samples-duplicate-ids": Case(
        _stats(table=_bad_table(POPS + "s1\tB\n")),
        names=r"table\.tsv.*'s1' \(line 2\), 's1' \(line 8\)",
        fix=r"exactly one row",
    ),
    "samples-ids-not-in-data": Case(
        _stats(table=_bad_table("sample\tpopulation\nx1\tA\nx2\tB\n")),
        names=r"table\.tsv",
        fix=r"right file or id column",
    ),
    "samples-latin1": Case(
        _stats(table=_bad_table("sample\tpopulation\ns1\tBrésil\n".encode("latin-1"))),
        names=r"table\.tsv.*line 2",
        fix=r"UTF-8",
    ),
    "samples-unbalanced-quote": Case(
        _stats(table=_bad_table('sample\tpopulation\ns1\t"A\ns2\tB\n')),
        names=r"table\.tsv",
        fix=r"quote",
    ),
    "samples-random-bytes": Case(
        _stats(table=_bad_table(bytes(range(256)) * 8, "noise.tsv")),
        names=r"noise\.tsv",
        fix=r"UTF-8|tab-separated",
    ),
    "samples-empty-file": Case(
        _stats(table=_bad_table("", "empty.tsv")),
        names=r"empty\.tsv",
        fix=r"header row",
    ),
    "figure-samples-no-population-column": Case(
        lambda tmp: [
            "figure",
            str(write_vcf(tmp / "tiny.vcf")),
            "--samples",
            str(write_table(tmp / "t.tsv", "id\tpop\n" + "".join(f"{s}\tP\n" for s in SAMPLES))),
            "--kind",
            "fst",
            "--out",
            str(tmp / "fig.html"),
        ],
        names=r"t\.tsv.*\['id', 'pop'\]",
        fix=r"--by pop",
    ),
    # --- regions ----------------------------------------------------------------------------
    "region-bad-syntax": Case(
        _stats("--region", "1:abc"), names=r"region '1:abc'", fix=r"CHR:START-END"
    ),
    "region-reversed": Case(
        _stats("--region", "1:500-100"), names=r"region '1:500-100'", fix=r"before start"
    ),
    "region-unknown-contig": Case(
        _stats("--region", "7:1-100"), names=r"contig '7'", fix=r"give one of them"
    ),
    "region-zero-start": Case(
        _stats("--region", "1:0-100"), names=r"region '1:0-100'", fix=r"1-based"
    ),
    # --- numeric options --------------------------------------------------------------------
    "min-maf-2": Case(_stats("--min-maf", "2"), names=r"--min-maf", fix=r"0 and 0\.5"),
    "pca-0": Case(_stats("--pca", "0"), names=r"--pca", fix=r"x>=1|at least 1"),
    "fst-window-0": Case(_stats("--fst-window", "0"), names=r"--fst-window", fix=r"x>=1|at least"),
    "min-count-negative": Case(_stats("--min-count", "-3"), names=r"--min-count", fix=r"x>=1"),
    "figure-pca-k-0": Case(
        lambda tmp: [
            "figure",
            str(write_vcf(tmp / "tiny.vcf")),
            "--kind",
            "pca",
            "--pca-k",
            "0",
            "--out",
            str(tmp / "fig.html"),
        ],
        names=r"--pca-k",
        fix=r"x>=1",
    ),
    # --- outputs ----------------------------------------------------------------------------
    "out-is-a-file": Case(
        lambda tmp: [
            *_stats()(tmp)[:-2],
            "--out",
            str(write_table(tmp / "out", "keep me\n")),
        ],
        names=r"'--out'.*in/out'",
        fix=r"is a file",
    ),
    "out-unwritable-folder": Case(
        lambda tmp: [*_stats()(tmp)[:-2], "--out", str(tmp / "locked" / "out")],
        names=r"locked",
        fix=r"writable|permission",
    ),
    "out-under-a-file": Case(
        lambda tmp: [*_stats()(tmp)[:-2], "--out", str(tmp / "pops.tsv" / "out")],
        names=r"--out .*pops\.tsv/out: .*pops\.tsv is a file",
        fix=r"choose another --out",
    ),
    "figure-out-unknown-extension": Case(
        lambda tmp: [
            "figure",
            str(write_vcf(tmp / "tiny.vcf")),
            "--samples",
            str(pops(tmp)),
            "--kind",
            "fst",
            "--out",
            str(tmp / "fig.bmp"),
        ],
        names=r"--out",
        fix=r"png|html",
    ),
    # --- catalogs ---------------------------------------------------------------------------
    "catalog-bad-sha256": Case(
        lambda tmp: [
            "catalog",
            "validate",
            str(
                write_catalog(
                    tmp / "cat.yaml",
                    lambda d: _first_with_files(d)["files"][0].update(sha256="abc123"),
                )
            ),
        ],
        names=r"cat\.yaml.*sha256",
        fix=r"64",
    ),
    "catalog-duplicate-id": Case(
        lambda tmp: [
            "catalog",
            "validate",
            str(write_catalog(tmp / "cat.yaml", lambda d: d["cohorts"].append(d["cohorts"][0]))),
        ],
        names=r"cat\.yaml.*sim-ooa",
        fix=r"duplicate|more than once|unique",
    ),
    "catalog-missing-field": Case(
        lambda tmp: [
            "catalog",
            "validate",
            str(write_catalog(tmp / "cat.yaml", lambda d: d["cohorts"][0].pop("title"))),
        ],
        names=r"cat\.yaml.*title",
        fix=r"[Ff]ield required|missing",
    ),
    # --- recipes (figure --from) ------------------------------------------------------------
    "recipe-malformed-json": Case(
        lambda tmp: ["figure", "--from", str(write_recipe(tmp / "r.json", '{"kind": "fst",'))],
        names=r"r\.json",
        fix=r"JSON",
    ),
    "recipe-json-list": Case(
        lambda tmp: ["figure", "--from", str(write_recipe(tmp / "r.json", [1, 2]))],
        names=r"r\.json",
        fix=r"object|provenance",
    ),
    "recipe-number": Case(
        lambda tmp: ["figure", "--from", str(write_recipe(tmp / "r.json", "42"))],
        names=r"r\.json",
        fix=r"object|provenance",
    ),
    "recipe-without-samples": Case(
        lambda tmp: [
            "figure",
            "--from",
            str(
                write_recipe(
                    tmp / "r.json",
                    {
                        "recipe_version": 1,
                        "kind": "fst",
                        "source": ["sim-ooa"],
                        "options": {"by": "population"},
                        "output": "fst.html",
                        "cohort": {"id": "sim-ooa"},
                    },
                )
            ),
        ],
        names=r"r\.json: field options\.samples",
        fix=r"draw the figure again",
    ),
    "recipe-store-changed": Case(
        lambda tmp: [
            "figure",
            "--from",
            str(_recipe_then_change_store(tmp)),
            "--out",
            str(tmp / "again.json"),
        ],
        names=r"r\.json: the data of .*store .*copy\.vcz has content sha256",
        fix=r"draw the figure again",
    ),
    # --- damaged stores ---------------------------------------------------------------------
    "store-chunk-flipped": Case(
        lambda tmp: [
            "stats",
            str(_damaged_store(tmp)),
            "--samples",
            str(pops(tmp)),
            "--fst",
            "--out",
            str(tmp / "out"),
        ],
        names=r"store .*copy\.vcz: chunk call_genotype_bitplanes/0\.0\.0",
        fix=r"genshare prepare .*tiny\.vcf --rebuild",
    ),
    # --- credentials ------------------------------------------------------------------------
    "credential-expired": Case(
        lambda tmp: [
            "prepare",
            CONTROLLED,
            "--purpose",
            PURPOSE,
            "--credential",
            str(write_credential(tmp / "old.yaml", expires="2020-01-01")),
        ],
        names=r"expired on 2020-01-01",
        fix=r"Renew",
    ),
    "credential-other-cohort": Case(
        lambda tmp: [
            "prepare",
            CONTROLLED,
            "--purpose",
            PURPOSE,
            "--credential",
            str(write_credential(tmp / "other.yaml", cohorts=["sim-admix"])),
        ],
        names=CONTROLLED,
        fix=r"credential",
    ),
    "credential-is-a-folder": Case(
        lambda tmp: [
            "prepare",
            CONTROLLED,
            "--purpose",
            PURPOSE,
            "--credential",
            str(tmp),
        ],
        names=r"'--credential'",
        fix=r"is a directory.*genshare prepare --help",
    ),
    "unknown-cohort-id": Case(
        lambda tmp: ["prepare", "sim-ofa"], names=r"'sim-ofa'", fix=r"'sim-ooa'"
    ),
}


def _leftovers_in_cache(cache: Path) -> list[Path]:
    """Half-written things: partial folders anywhere, stores without the completion marker."""
    if not cache.exists():
        return []
    bad = [p for p in cache.rglob("*") if ".partial-" in p.name]
    stores = cache / "stores"
    if stores.is_dir():
        bad += [p for p in stores.iterdir() if p.is_dir() and not is_complete(p)]
    return bad


def _out_paths(args: list[str]) -> list[Path]:
    return [Path(args[i + 1]) for i, a in enumerate(args[:-1]) if a == "--out"]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, isolated_cache, request):
    case = CASES[name]
    as_root = name == "out-unwritable-folder" and os.geteuid() == 0
    if as_root:  # root writes anywhere: run this case as an unprivileged user, in folders
        # that user can enter (pytest's tmp folders are 0700) with a cache of its own
        tmp_path = Path(tempfile.mkdtemp(prefix="genshare-corpus-"))
        request.addfinalizer(lambda: shutil.rmtree(tmp_path, ignore_errors=True))
        tmp_path.chmod(0o755)
        isolated_cache = tmp_path / "cache"
        isolated_cache.mkdir()
        os.chown(isolated_cache, NOBODY, NOBODY)
    tmp = tmp_path / "in"
    tmp.mkdir()
    args = case.build(tmp)
    outs = _out_paths(args)
    before = {p: p.read_bytes() for p in outs if p.is_file()}
    locked = tmp / "locked"
    if name == "out-unwritable-folder":
        locked.mkdir()
        locked.chmod(0o500)
    try:
        if as_root:
            env = {"GENSHARE_CACHE": str(isolated_cache), "GENSHARE_STATE": str(isolated_cache)}
            command = [sys.executable, "-m", "genshare_widgets", *args]
            proc = run_as_unprivileged_user(command, {**os.environ, **env, "HOME": str(tmp)})
        else:
            proc = run_genshare(*args, timeout=120)
    finally:
        if locked.exists():
            locked.chmod(0o700)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("genshare: error: ")]
    assert len(errors) == 1, proc.stderr
    assert "Usage:" not in proc.stderr, proc.stderr
    message = errors[0]
    assert re.search(case.names, message), message
    assert re.search(case.fix, message), message
    for out in outs:
        if out in before:
            assert out.read_bytes() == before[out], f"{out} was changed"
        else:
            assert not out.exists(), f"{out} was left behind: {list(out.parent.iterdir())}"
    assert _leftovers_in_cache(isolated_cache) == []


# --- the same mistakes through the Python API -----------------------------------------------

API_CASES = {
    "vcf-non-numeric-pos": (
        lambda tmp: open_cohort(write_vcf(tmp / "bad.vcf", [*GOOD[:2], _rec("abc")])),
        r"bad\.vcf: line 8: position 'abc'",
    ),
    "vcf-unsorted": (
        lambda tmp: open_cohort(write_vcf(tmp / "bad.vcf", [_rec(500), _rec(100)])),
        r"bad\.vcf: line 7.*sort",
    ),
    "vcf-allele-index-beyond-alt": (
        lambda tmp: open_cohort(write_vcf(tmp / "bad.vcf", [_rec(300, ["5|7", *GTS[1:]])])),
        r"bad\.vcf: line 6.*ALT",
    ),
    "samples-latin1": (
        lambda tmp: open_cohort(
            write_vcf(tmp / "tiny.vcf"),
            samples=write_table(
                tmp / "t.tsv", "sample\tpopulation\ns1\tBrésil\n".encode("latin-1")
            ),
        ),
        r"t\.tsv.*UTF-8",
    ),
    "samples-empty": (
        lambda tmp: open_cohort(
            write_vcf(tmp / "tiny.vcf"), samples=write_table(tmp / "e.tsv", "")
        ),
        r"e\.tsv.*header row",
    ),
    "store-chunk-flipped": (
        lambda tmp: allele_counts_by_group(open_cohort(_damaged_store(tmp), samples=pops(tmp))),
        r"store .*copy\.vcz: chunk call_genotype_bitplanes/0\.0\.0 .*--rebuild",
    ),
    "region-zero-start": (
        lambda tmp: __import__("genshare_widgets.counts", fromlist=["x"]).allele_counts_by_group(
            open_cohort(write_vcf(tmp / "tiny.vcf"), samples=pops(tmp)), region="1:0-100"
        ),
        r"1-based",
    ),
}


@pytest.mark.parametrize("name", list(API_CASES))
def test_bad_input_python_api(name, tmp_path, isolated_cache):
    build, pattern = API_CASES[name]
    with pytest.raises(GenShareError, match=pattern):
        build(tmp_path)
    assert _leftovers_in_cache(isolated_cache) == []


# --- what must work, and the notes ----------------------------------------------------------


def test_unicode_and_spaces_in_paths_work(tmp_path, isolated_cache):
    folder = tmp_path / "données de test ü"
    folder.mkdir()
    vcf = write_vcf(folder / "cohorte très petite.vcf")
    table = pops(folder)
    out = folder / "résultats à moi"
    proc = run_genshare("stats", str(vcf), "--samples", str(table), "--fst", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "fst.tsv").read_text().splitlines()[0] == "pop1\tpop2\thudson_fst\tn_variants"
    fig = folder / "figure ü.html"
    proc = run_genshare(
        "figure", str(vcf), "--samples", str(table), "--kind", "fst", "--out", str(fig)
    )
    assert proc.returncode == 0, proc.stderr
    assert fig.stat().st_size > 0


def test_numeric_by_and_single_group_give_a_note(tmp_path, isolated_cache):
    vcf = write_vcf(tmp_path / "tiny.vcf")
    numeric = write_table(
        tmp_path / "n.tsv",
        "sample\tbatch\n" + "".join(f"{s}\t{i % 2 + 1}\n" for i, s in enumerate(SAMPLES)),
    )
    proc = run_genshare(
        "stats", str(vcf), "--samples", str(numeric), "--by", "batch", "--fst",
        "--out", str(tmp_path / "o1"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"genshare: note: .*--by batch.*numbers", proc.stderr), proc.stderr
    one = write_table(
        tmp_path / "one.tsv", "sample\tpopulation\n" + "".join(f"{s}\tA\n" for s in SAMPLES)
    )
    proc = run_genshare(
        "stats", str(vcf), "--samples", str(one), "--het", "--out", str(tmp_path / "o2")
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"genshare: note: .*one group", proc.stderr), proc.stderr
    assert (tmp_path / "o2" / "het.tsv").is_file()


def test_real_table_without_population_column_fails_at_once(mirror, tmp_path, isolated_cache):
    """The issue's report: the 1000 Genomes table has `pop`, not `population`; the default
    grouping used to fall back to the id column (one group per sample) and hang."""
    table = mirror / "1kg_phase3_subset" / "samples_pop.tsv"
    vcf = mirror / "1kg_phase3_subset" / "1KG_phase3_subset_chr21.vcf.gz"
    out = tmp_path / "out"
    start = time.monotonic()
    proc = run_genshare("stats", str(vcf), "--samples", str(table), "--out", str(out), timeout=60)
    assert time.monotonic() - start < 30
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(
        r"genshare: error: .*samples_pop\.tsv.*'sample', 'pop', 'super_pop', 'gender'.*--by pop",
        proc.stderr,
    ), proc.stderr
    assert not out.exists()
    assert _leftovers_in_cache(isolated_cache) == []
