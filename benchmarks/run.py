"""Side-by-side benchmarks: GenShare vs PLINK 2, vcf2zarr, scikit-allel, and Hail when installed.

Every row is a whole process (imports included) timed from the outside, with its peak resident
memory: the sum over the process and all its descendants (a JVM that pyspark starts, local
workers), sampled every 20 ms (``TreePeak``) and never below the kernel's ``wait4`` peak of the
largest one. Ratios compare GenShare with each peer *in the same run*. The
``freq+fst/dask-distributed`` row is GenShare itself with ``--scheduler``: a local Dask scheduler
and two single-threaded workers, started and warmed up before the timing (they are not the
timed process's descendants, so their memory is not in the row's peak). The query rows run in
``--repeats`` interleaved rounds (every row once per round) and report their median time and
largest peak; the ingest and Hail rows run once. Usage::

    python benchmarks/run.py                 # 3 × 500 over 30 Mb and 3 × 835 over 60 Mb
    python benchmarks/run.py --smoke         # tiny, for the test suite (checks the script works)

The simulated cohort is stdpopsim's OutOfAfrica_3G09 (YRI, CEU, CHB), built once per size and
kept in ``$GENSHARE_CACHE/bench/``.

Hail rows (when ``hail`` imports and Java is found): ``ingest/hail`` is ``genshare prepare VCF
--engine hail`` (Hail's ``import_vcf`` into the cached MatrixTable); ``freq+fst/hail`` is a
plain Hail script: import hail, ``hl.init`` on local[2], read that MatrixTable, per-population
``hl.agg.call_stats`` (written out as a TSV) and Hudson Fst for every pair.
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cache_root() -> Path:
    base = os.environ.get("GENSHARE_CACHE") or str(Path.home() / ".cache" / "genshare")
    return Path(base) / "bench"


def build_cohort(n_per_pop: int, length: int, seed: int = 42) -> tuple[Path, Path]:
    """Simulate, write a bgzipped VCF and a population table (cached)."""
    folder = cache_root() / f"ooa_{n_per_pop}x3_{length // 1_000_000}Mb_s{seed}"
    vcf, pops = folder / "cohort.vcf.gz", folder / "populations.tsv"
    if (folder / ".done").exists():
        return vcf, pops
    import numpy as np
    import stdpopsim

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    warnings.simplefilter("ignore")
    species = stdpopsim.get_species("HomSap")
    model = species.get_demographic_model("OutOfAfrica_3G09")
    contig = species.get_contig(length=length, mutation_rate=model.mutation_rate)
    samples = {"YRI": n_per_pop, "CEU": n_per_pop, "CHB": n_per_pop}
    t0 = time.perf_counter()
    ts = stdpopsim.get_engine("msprime").simulate(model, contig, samples=samples, seed=seed)
    names, labels = [], []
    for ind in ts.individuals():
        pop = ts.population(ts.node(ind.nodes[0]).population).metadata["name"]
        labels.append(pop)
        names.append(f"{pop}_{len(labels):05d}")
    with open(vcf, "wb") as out:
        bgzip = subprocess.Popen(["bgzip", "-@", "2", "-c"], stdin=subprocess.PIPE, stdout=out)
        import io

        text = io.TextIOWrapper(bgzip.stdin, encoding="ascii")
        ts.write_vcf(
            text,
            contig_id="1",
            individual_names=names,
            position_transform=lambda x: np.asarray(x) + 1,
        )
        text.close()
        bgzip.wait()
    with open(pops, "w") as fh:
        fh.write("sample\tpopulation\n")
        for n, p in zip(names, labels, strict=True):
            fh.write(f"{n}\t{p}\n")
    (folder / ".done").write_text(
        json.dumps({"variants": ts.num_sites, "seconds": time.perf_counter() - t0})
    )
    return vcf, pops


class TreePeak:
    """Peak resident memory of a process *and all its descendants together*, sampled every
    ``interval`` seconds from a thread (``wait4``'s ``ru_maxrss`` is the largest single process
    only and misses a JVM or Dask workers that their parent never waits for)."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        import threading

        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        known: dict[int, psutil.Process] = {}
        while not self._stop.is_set():
            try:
                for child in root.children(recursive=True):
                    known.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                pass
            total = 0
            for proc in [root, *known.values()]:  # orphans stay counted while they live
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


GNU_TIME = Path("/usr/bin/time")  # Debian package "time"


def run(
    cmd: list[str], *, env: dict | None = None, cwd: Path | None = None, stdout: bool = False
) -> dict:
    """Run a whole process; wall seconds and peak RSS (MiB) of its whole process tree: the
    sampled sum over the process and every descendant (:class:`TreePeak`), and never below
    the kernel's exact peak of the process itself.

    That exact peak comes from GNU ``time`` (``%M``), which forks the command from its own
    few-megabyte image. ``wait4`` on a child of this script would not do: Linux carries the
    peak of the forked image over ``exec``, so every command would report at least this
    Python process's own RSS (PLINK 2 at 180 MiB, where it peaks near 10).
    """
    with (
        tempfile.TemporaryFile() as log,  # a file, not a pipe: a full pipe would block wait4
        tempfile.NamedTemporaryFile("r", suffix=".maxrss") as maxrss,
    ):
        timed = GNU_TIME.exists()
        full = [str(GNU_TIME), "-f", "%M", "-o", maxrss.name, *cmd] if timed else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            full, env={**os.environ, **(env or {})}, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
        tree = TreePeak(proc.pid)
        _, status, _usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        tree_peak = tree.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{log.read().decode()[-3000:]}")
        log.seek(0)
        text = log.read().decode(errors="replace") if stdout else None
        lines = maxrss.read().split() if timed else []
    exact = int(lines[-1]) * 1024 if lines and lines[-1].isdigit() else 0
    peak = max(tree_peak, exact)
    row = {"seconds": wall, "peak_mib": peak / 2**20}
    return {**row, "stdout": text} if stdout else row


ALLEL_SCRIPT = r"""
import sys, numpy as np, pandas as pd, zarr, allel
store, pops = sys.argv[1], sys.argv[2]
root = zarr.open_group(store, mode="r")
ids = [str(s) for s in root["sample_id"][:]]
table = pd.read_csv(pops, sep="\t").set_index("sample").loc[ids, "population"].to_numpy()
subpops = {p: np.flatnonzero(table == p) for p in sorted(set(table))}
alleles = root["variant_allele"][:]
bi = np.flatnonzero((np.asarray(alleles, dtype=object) != "").sum(axis=1) == 2)
gt = root["call_genotype"]
acs = {p: [] for p in subpops}
step = gt.chunks[0]
for start in range(0, gt.shape[0], step):
    block = allel.GenotypeArray(gt[start:start + step])
    sel = bi[(bi >= start) & (bi < start + step)] - start
    counts = block.subset(sel).count_alleles_subpops(subpops, max_allele=1)
    for p in subpops:
        acs[p].append(np.asarray(counts[p]))
acs = {p: np.concatenate(v) for p, v in acs.items()}
names = sorted(acs)
for i, a in enumerate(names):
    for b in names[i + 1:]:
        num, den = allel.hudson_fst(acs[a], acs[b])
        ok = np.isfinite(num) & np.isfinite(den)
        print(a, b, num[ok].sum() / den[ok].sum())
"""


HAIL_SCRIPT = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import hail as hl
mt_path, pops, out, tmp = sys.argv[1:5]
warnings.simplefilter("ignore")
hl.init(master="local[2]", quiet=True, tmp_dir=tmp, local_tmpdir=tmp, log=f"{tmp}/hail.log",
        spark_conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"})
startup = time.perf_counter() - t0


def query(i):
    mt = hl.read_matrix_table(mt_path)
    table = hl.import_table(pops, key="sample")
    mt = mt.annotate_cols(pop=table[mt.s].population)
    mt = mt.filter_rows(hl.len(mt.alleles) == 2)
    names = sorted(mt.aggregate_cols(hl.agg.collect_as_set(mt.pop)))
    mt = mt.annotate_rows(cs=hl.agg.group_by(mt.pop, hl.agg.call_stats(mt.GT, mt.alleles)))
    rows = mt.rows().checkpoint(f"{tmp}/call_stats_{i}.ht")
    freq = {f"{p}_{k}": v for p in names
            for k, v in (("ac", rows.cs[p].AC[1]), ("an", rows.cs[p].AN),
                         ("af", rows.cs[p].AF[1]))}
    rows.select(**freq).export(f"{out}.{i}.tsv")
    sums = {}
    for j, a in enumerate(names):
        for b in names[j + 1:]:
            n1, n2 = hl.float64(rows.cs[a].AN), hl.float64(rows.cs[b].AN)
            p1, p2 = rows.cs[a].AC[1] / n1, rows.cs[b].AC[1] / n2
            num = (p1 - p2) ** 2 - p1 * (1 - p1) / (n1 - 1) - p2 * (1 - p2) / (n2 - 1)
            den = p1 * (1 - p2) + p2 * (1 - p1)
            ok = (n1 >= 2) & (n2 >= 2) & (den > 0)
            sums[f"{a}|{b}"] = hl.struct(num=hl.agg.filter(ok, hl.agg.sum(num)),
                                         den=hl.agg.filter(ok, hl.agg.sum(den)))
    return {pair: r.num / r.den for pair, r in rows.aggregate(hl.struct(**sums)).items()}


times = []
for i in range(2):  # the second query runs in the warm session: Hail's cost without start-up
    t0 = time.perf_counter()
    fst = query(i)
    times.append(time.perf_counter() - t0)
print(json.dumps({"startup": startup, "first": times[0], "second": times[1], "fst": fst}))
"""


WARM_SCRIPT = r"""
import json, statistics, sys, time
import genshare_widgets as gs
from genshare_widgets.counts import allele_counts_by_group
from genshare_widgets.stats import hudson_fst
source, pops, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
cohort = gs.open_cohort(source, samples=pops)
opened = time.perf_counter() - t0
times = []
for _ in range(repeats + 1):  # the first call warms caches and compiled kernels
    t0 = time.perf_counter()
    counts = allele_counts_by_group(cohort, by="population")
    hudson_fst(counts)
    times.append(time.perf_counter() - t0)
print(json.dumps({"open": opened, "first": times[0], "calls": times[1:],
                  "median": statistics.median(times[1:])}))
"""


def bench_catalog(vcf: Path, pops: Path, n_per_pop: int, length: int, folder: Path) -> str:
    """A catalog of one entry for the bench cohort (``GENSHARE_CATALOG``), its files found
    through ``GENSHARE_MIRROR`` like a real cohort's: the catalog-id path users take."""
    import yaml

    from genshare_widgets.catalog import default_catalog_path
    from genshare_widgets.fetch import sha256_file

    base = yaml.safe_load(default_catalog_path().read_text())
    entry = dict(next(c for c in base["cohorts"] if c["id"] == "1kg-phase3-subset"))
    cohort_id = f"bench-ooa-{n_per_pop}x3-{length // 1_000_000}mb"
    entry.update(
        id=cohort_id,
        title=f"Benchmark cohort: stdpopsim OutOfAfrica_3G09, 3 x {n_per_pop}",
        description="Simulated for the benchmarks (benchmarks/run.py); not real data.",
        genome_build="GRCh37",
        files=[
            {
                "name": f.name,
                "url": f"https://example.org/genshare-bench/{f.name}",
                "sha256": sha256_file(f),
                "size": f.stat().st_size,
                "role": role,
            }
            for f, role in ((vcf, "genotypes"), (pops, "samples"))
        ],
        samples={"file": pops.name, "id_column": "sample", "population_column": "population"},
        populations=[{"code": c, "name": c, "n_samples": n_per_pop} for c in ("YRI", "CEU", "CHB")],
        n_samples=3 * n_per_pop,
        n_variants=json.loads((vcf.parent / ".done").read_text())["variants"],
    )
    entry.update(
        citation="Simulated with stdpopsim (HomSap OutOfAfrica_3G09) by benchmarks/run.py.",
        version=f"seed 42, {length // 1_000_000} Mb",
    )
    for key in ("homepage", "notes"):
        entry.pop(key, None)
    catalog = {k: v for k, v in base.items() if k != "cohorts"}
    catalog["cohorts"] = [entry]
    path = folder / "bench_catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return cohort_id


def hail_available() -> bool:
    """Hail importable (without importing it) and a Java for it."""
    import importlib.util

    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home, "bin", "java").is_file() if java_home else shutil.which("java")
    return importlib.util.find_spec("hail") is not None and bool(java)


def bench_size(
    n_per_pop: int,
    length: int,
    work: Path,
    pca_k: int,
    skip: frozenset[str] = frozenset(),
    repeats: int = 3,
) -> dict:
    vcf, pops = build_cohort(n_per_pop, length)
    n_variants = json.loads((vcf.parent / ".done").read_text())["variants"]
    genshare = [sys.executable, "-m", "genshare_widgets"]
    cache = work / "cache"
    env = {"GENSHARE_CACHE": str(cache), "GENSHARE_PROGRESS": "0", "GENSHARE_OFFLINE": "1"}
    plink2 = shutil.which("plink2")
    rows: dict[str, dict] = {}
    # --- ingest ---
    rows["ingest/genshare"] = run([*genshare, "prepare", str(vcf)], env=env)
    store = next((cache / "stores").glob("*.vcz"))
    if plink2:
        rows["ingest/plink2"] = run(
            [plink2, "--vcf", str(vcf), "--make-pgen", "--threads", "2", "--out", str(work / "pg")]
        )
    vcf2zarr = shutil.which("vcf2zarr", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if vcf2zarr and "vcf2zarr" not in skip:
        rows["ingest/vcf2zarr"] = run(
            [vcf2zarr, "convert", "-p", "2", str(vcf), str(work / "b2z.vcz")]
        )
    if hail_available() and "hail" not in skip:
        hail_env = {**env, "GENSHARE_SPARK_MASTER": "local[2]"}
        rows["ingest/hail"] = run(
            [*genshare, "prepare", str(vcf), "--engine", "hail"], env=hail_env
        )

    # --- freq + Fst, from each source a user has: the store, the VCF (already converted by
    # the ingest row above), a catalog id (fetched and converted once, untimed) ---
    cohort_id = bench_catalog(vcf, pops, n_per_pop, length, work)
    catalog_env = {
        "GENSHARE_CATALOG": str(work / "bench_catalog.yaml"),
        "GENSHARE_MIRROR": str(vcf.parent),
    }
    run([*genshare, "prepare", cohort_id], env={**env, **catalog_env})
    pheno = work / "pheno.tsv"
    pheno.write_text(
        "#IID\tPOP\n"
        + "".join(
            f"{line.split()[0]}\t{line.split()[1]}\n" for line in pops.read_text().splitlines()[1:]
        )
    )
    (work / "warm.py").write_text(WARM_SCRIPT)
    (work / "allel_fst.py").write_text(ALLEL_SCRIPT)

    def freq_fst(source: str, out: str, extra_env: dict | None = None, extra=()) -> dict:
        cmd = [*genshare, "stats", source, "--samples", str(pops), "--freq", "--fst", *extra]
        shutil.rmtree(work / out, ignore_errors=True)
        return run([*cmd, "--out", str(work / out)], env={**env, **(extra_env or {})})

    def warm_call() -> dict:
        # In a warm Python process (a notebook): repeated allele_counts_by_group + hudson_fst
        # on the VCF the user has; the row's time is the median call, its memory the peak.
        warm = run(
            [sys.executable, str(work / "warm.py"), str(vcf), str(pops), "5"], env=env, stdout=True
        )
        timings = json.loads(warm.pop("stdout").strip().splitlines()[-1])
        return {**warm, "seconds": timings["median"]}

    def plink_freq_fst() -> dict:
        common = [plink2, "--pfile", str(work / "pg"), "--pheno", str(pheno)]
        fst = run(
            [
                *common,
                "--fst",
                "POP",
                "method=hudson",
                "--threads",
                "2",
                "--out",
                str(work / "p2fst"),
            ]
        )
        freq = run(
            [
                *common,
                "--freq",
                "--loop-cats",
                "POP",
                "--threads",
                "2",
                "--out",
                str(work / "p2freq"),
            ]
        )
        return {
            "seconds": fst["seconds"] + freq["seconds"],
            "peak_mib": max(fst["peak_mib"], freq["peak_mib"]),
        }

    timed: dict[str, Callable[[], dict]] = {
        "freq+fst/genshare": lambda: freq_fst(str(store), "gs_stats"),
        "freq+fst/genshare-vcf": lambda: freq_fst(str(vcf), "gs_stats_vcf"),
        "freq+fst/genshare-catalog": lambda: freq_fst(cohort_id, "gs_catalog", catalog_env),
        "freq+fst/genshare-warm-call": warm_call,
    }
    if plink2:
        timed["freq+fst/plink2"] = plink_freq_fst
    try:
        import allel  # noqa: F401

        timed["freq+fst/scikit-allel"] = lambda: run(
            [sys.executable, str(work / "allel_fst.py"), str(store), str(pops)]
        )
    except ImportError:
        pass
    if "pca" not in skip:
        add_pca_rows(timed, genshare, plink2, store, pops, work, pca_k, env)
    if "assoc" not in skip:
        add_assoc_rows(timed, genshare, plink2, store, pops, work, env)
    if "ld" not in skip:  # the ld-prune rows (issue 19)
        from _ld_rows import add_ld_rows

        add_ld_rows(timed, run, genshare, plink2, store, pops, work, env)
    if "scan" not in skip:  # selection scans vs scikit-allel (benchmarks/_scan_rows.py)
        from _scan_rows import add_scan_rows

        add_scan_rows(timed, run, genshare, store, pops, work, env)
    if "project" not in skip:  # issue 19: benchmarks/_projection_rows.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _projection_rows import add_projection_rows  # type: ignore[import-not-found]

        add_projection_rows(timed, genshare, plink2, store, pops, work, env, run)
    with contextlib.ExitStack() as stack:
        # The same command on a Dask cluster: a scheduler + 2 single-threaded workers started
        # (and warmed up: imports, compiled kernel) outside the timed region, on this machine.
        if "dask-distributed" not in skip:
            from genshare_widgets.engines._cluster_processes import LocalDaskProcesses

            cluster = stack.enter_context(
                LocalDaskProcesses(work / "dask-cluster", n_workers=2, nthreads=1)
            )
            on_cluster = ["--scheduler", cluster.address]
            freq_fst(str(store), "gs_warmup", extra=[*on_cluster, "--region", "1:1-200000"])
            timed["freq+fst/dask-distributed"] = lambda: freq_fst(
                str(store), "gs_stats_distributed", extra=on_cluster
            )
        # Interleaved rounds (each round runs every row once): the median wall time of each
        # row, and its largest peak, so a noisy moment hits every tool alike.
        samples: dict[str, list[dict]] = {name: [] for name in timed}
        for _ in range(repeats):
            for name, thunk in timed.items():
                samples[name].append(thunk())
    for name, runs in samples.items():
        rows[name] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "peak_mib": max(r["peak_mib"] for r in runs),
            "runs": len(runs),
        }
    if "ingest/hail" in rows:  # once: start-up and a first and second query in one session
        matrix_table = next((cache / "hail").glob("*.mt"))
        script = work / "hail_fst.py"
        script.write_text(HAIL_SCRIPT)
        (work / "hail_tmp").mkdir()
        hail = run(
            [
                sys.executable,
                str(script),
                str(matrix_table),
                str(pops),
                str(work / "hail_freq"),
                str(work / "hail_tmp"),
            ],
            stdout=True,
        )
        timings = json.loads(hail.pop("stdout").strip().splitlines()[-1])
        # whole process: start-up + the first query + a second one (reported apart below)
        rows["freq+fst/hail"] = {**hail, "seconds": hail["seconds"] - timings["second"]}
        rows["freq+fst/hail-startup"] = {**hail, "seconds": timings["startup"]}
        rows["freq+fst/hail-2nd-query"] = {**hail, "seconds": timings["second"]}
    return {"n_samples": 3 * n_per_pop, "length": length, "n_variants": n_variants, "rows": rows}


def add_pca_rows(timed, genshare, plink2, store, pops, work, pca_k, env) -> None:
    """The ``pca/genshare`` and ``pca/plink2`` rows (PLINK 2 on its own pgen of the cohort)."""
    timed["pca/genshare"] = lambda: run(
        [
            *genshare,
            "stats",
            str(store),
            "--samples",
            str(pops),
            "--pca",
            str(pca_k),
            "--out",
            str(work / f"gs_pca_{time.monotonic_ns()}"),
        ],
        env=env,
    )
    if plink2:
        timed["pca/plink2"] = lambda: run(
            [
                plink2,
                "--pfile",
                str(work / "pg"),
                "--maf",
                "0.05",
                "--pca",
                str(pca_k),
                "--threads",
                "2",
                "--out",
                str(work / "p2pca"),
            ]
        )


ASSOC_COVARIATES = ("age", "male", "c1", "c2")


def write_assoc_tables(pops: Path, work: Path) -> tuple[Path, Path]:
    """The association rows' sample table (GenShare) and its PLINK 2 twin: the populations
    plus 4 covariates (age, male, c1, c2) and two traits, simulated with a seeded generator:
    ``trait`` = 0.02 age + 0.3 male + 0.2 c1 + a population shift (0, 0.3, 0.6 SD) + N(0, 1)
    noise, and ``case`` = ``trait`` above its 70th percentile (30 % cases). No variant has an
    effect: the times do not depend on effect sizes, only on the numbers of samples,
    variants and covariates."""
    import numpy as np

    lines = pops.read_text().splitlines()[1:]
    ids = [line.split("\t")[0] for line in lines]
    groups = [line.split("\t")[1] for line in lines]
    rng = np.random.default_rng(16)
    n = len(ids)
    age = rng.integers(20, 80, n)
    male = rng.integers(0, 2, n)
    c1, c2 = rng.normal(size=n), rng.normal(size=n)
    shift = {g: 0.3 * i for i, g in enumerate(sorted(set(groups)))}
    trait = 0.02 * age + 0.3 * male + 0.2 * c1 + np.array([shift[g] for g in groups])
    trait = trait + rng.normal(size=n)
    case = (trait > np.quantile(trait, 0.7)).astype(int)
    rows = list(zip(ids, groups, age, male, c1, c2, trait, case, strict=True))
    ours, theirs = work / "assoc_samples.tsv", work / "assoc_plink.tsv"
    ours.write_text(
        "sample\tpopulation\tage\tmale\tc1\tc2\ttrait\tcase\n"
        + "".join("\t".join(str(v) for v in row) + "\n" for row in rows)
    )
    theirs.write_text(  # PLINK codes controls 1 and cases 2
        "#IID\tage\tmale\tc1\tc2\ttrait\tcase\n"
        + "".join(
            "\t".join(str(v) for v in (i, a, m, x, z, t, c + 1)) + "\n"
            for i, _g, a, m, x, z, t, c in rows
        )
    )
    return ours, theirs


def add_assoc_rows(timed, genshare, plink2, store, pops, work, env) -> None:
    """``assoc-linear`` and ``assoc-logistic`` rows: ``genshare assoc`` on the store against
    ``plink2 --glm`` on its own pgen (no Firth fallback, so both fit plain logistic
    regression), 4 covariates, every biallelic variant."""
    ours, theirs = write_assoc_tables(pops, work)
    covar = ",".join(ASSOC_COVARIATES)
    for model, pheno in (("linear", "trait"), ("logistic", "case")):
        timed[f"assoc-{model}/genshare"] = lambda pheno=pheno: run(
            [
                *genshare,
                "assoc",
                str(store),
                "--samples",
                str(ours),
                "--pheno",
                pheno,
                "--covar",
                covar,
                "--out",
                str(work / f"gs_assoc_{time.monotonic_ns()}"),
            ],
            env=env,
        )
        if plink2:
            timed[f"assoc-{model}/plink2"] = lambda pheno=pheno, model=model: run(
                [
                    plink2,
                    "--pfile",
                    str(work / "pg"),
                    "--pheno",
                    str(theirs),
                    "--pheno-name",
                    pheno,
                    "--covar",
                    str(theirs),
                    "--covar-name",
                    *ASSOC_COVARIATES,
                    "--glm",
                    "hide-covar",
                    "cols=+beta",
                    *(["no-firth"] if model == "logistic" else []),
                    "--covar-variance-standardize",
                    "--threads",
                    "2",
                    "--out",
                    str(work / f"p2assoc_{model}"),
                ]
            )


def report(results: list[dict]) -> str:
    """Markdown tables, one per size: each row's time as a ratio to PLINK 2's (same task, same
    run) and, for peers, GenShare's time over theirs."""
    lines = []
    if not hail_available():
        lines.append(
            "Hail: not installed here or no Java (pip install 'genshare_widgets[hail]'; "
            "Java 11), so it has no rows."
        )
    for res in results:
        lines.append(
            f"\n### {res['n_samples']:,} samples × {res['n_variants']:,} variants "
            f"({res['length'] // 1_000_000} Mb)\n"
        )
        lines.append("| task | tool | wall s | peak MiB | ÷ PLINK 2 (time) | GenShare ÷ tool |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: |")
        rows = res["rows"]
        for key, row in rows.items():
            task, tool = key.split("/")
            ours, plink = rows.get(f"{task}/genshare"), rows.get(f"{task}/plink2")
            vs_plink = "" if not plink or tool == "plink2" else row["seconds"] / plink["seconds"]
            vs_peer = (
                "" if tool.startswith("genshare") or not ours else ours["seconds"] / row["seconds"]
            )
            cells = [f"{x:.2f}" if isinstance(x, float) else x for x in (vs_plink, vs_peer)]
            lines.append(
                f"| {task} | {tool} | {row['seconds']:.2f} | {row['peak_mib']:.0f} | "
                f"{cells[0]} | {cells[1]} |"
            )
    lines.append(
        "\nRows: `genshare` = `genshare stats STORE`; `genshare-vcf` = the same on the VCF path "
        "(converted by the ingest row); `genshare-catalog` = on a catalog id (prepared once, "
        "untimed); `genshare-warm-call` = the median repeated `allele_counts_by_group` + "
        "`hudson_fst` in one warm Python process; `hail` = a whole process with one query, "
        "`hail-startup` its `import hail` + `hl.init`, `hail-2nd-query` a second query in that "
        "session. `assoc-linear` / `assoc-logistic`: `genshare assoc STORE` and `plink2 --glm` "
        "(no-firth) on its pgen, 4 covariates, a trait simulated from them (30 % cases). "
        "`ld-prune`: `genshare ld-prune STORE --window 50 --step 5 --r2 0.2` and `plink2 "
        "--max-alleles 2 --indep-pairwise 50 5 0.2` (the same kept set). "
        "`scan-h12` / `scan-pbs`: `genshare scan STORE` (H12 of CEU, 200-SNV windows; PBS of "
        "CEU, CHB, YRI, 100-SNV windows every 50) and a scikit-allel script on the same arrays "
        "read from the store (`allel.moving_garud_h`, `allel.pbs`). "
        "Peak MiB is the whole process tree's."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")
    parser.add_argument(
        "--sizes",
        default="500x30,835x60",
        help="samples per population x Mb, comma-separated (3 populations; 835x60 is the "
        "1000 Genomes size: 2,505 diploids, about 1 M variants)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="interleaved rounds of the query rows; each row reports its median (default 3)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--build-only", action="store_true", help="only simulate the cohorts")
    parser.add_argument(
        "--skip",
        default="",
        help="peers or rows to leave out, comma-separated (vcf2zarr, dask-distributed, hail, pca, "
        "assoc, ld, scan, project)",
    )
    args = parser.parse_args()
    sizes = (
        [(20, 1_000_000)]
        if args.smoke
        else [
            (int(n), int(float(mb) * 1_000_000))
            for n, mb in (size.split("x") for size in args.sizes.split(","))
        ]
    )
    if args.build_only:
        for n_per_pop, length in sizes:
            print(build_cohort(n_per_pop, length))
        return
    results = []
    for n_per_pop, length in sizes:
        with tempfile.TemporaryDirectory(prefix="genshare-bench-") as tmp:
            skip = frozenset(x.strip() for x in args.skip.split(",") if x.strip())
            results.append(
                bench_size(
                    n_per_pop,
                    length,
                    Path(tmp),
                    pca_k=4 if args.smoke else 10,
                    skip=skip,
                    repeats=1 if args.smoke else max(1, args.repeats),
                )
            )
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
