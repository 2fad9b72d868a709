"""The ``ld-prune`` rows of ``make bench``: ``genshare ld-prune`` on the store against
``plink2 --indep-pairwise`` on its pgen of the same cohort.

Like for like: PLINK 2 gets ``--max-alleles 2`` (GenShare prunes sites biallelic in the
store; PLINK 2 would otherwise also prune multi-allelic sites, major allele vs the rest), so
both prune the same variants and keep the same set (``tests/test_ld.py`` holds them equal on
real data). Both run on 2 threads, whole processes (imports, reading, writing the list).
"""

import time
from pathlib import Path

#: ``--indep-pairwise`` parameters of the rows: a common choice before a PCA.
WINDOW, STEP, R2 = "50", "5", "0.2"


def add_ld_rows(timed, run, genshare, plink2, store, pops, work: Path, env) -> None:
    """Add ``ld-prune/genshare`` (and ``ld-prune/plink2`` when PLINK 2 is installed)."""
    timed["ld-prune/genshare"] = lambda: run(
        [
            *genshare,
            "ld-prune",
            str(store),
            "--samples",
            str(pops),
            "--window",
            WINDOW,
            "--step",
            STEP,
            "--r2",
            R2,
            "--out",
            str(work / f"gs_ld_{time.monotonic_ns()}"),
        ],
        env=env,
    )
    if plink2:
        timed["ld-prune/plink2"] = lambda: run(
            [
                plink2,
                "--pfile",
                str(work / "pg"),
                "--max-alleles",
                "2",
                "--indep-pairwise",
                WINDOW,
                STEP,
                R2,
                "--threads",
                "2",
                "--out",
                str(work / "p2ld"),
            ]
        )
