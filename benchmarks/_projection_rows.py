"""Bench rows ``project/genshare`` and ``project/plink2`` (issue 19): project every sample of
the bench cohort onto a 10-PC reference, as whole processes.

Set up untimed: ``genshare reference`` fits the reference on the store (its first 500
samples: the weights cover every variant with MAF >= 0.05 all the same), and the PLINK 2
twin files are written from it (weights × sqrt 2, ``variance-standardize`` with the
reference's frequencies through ``--read-freq``, ``no-mean-imputation``: a missing call
counts 0, as in GenShare). Timed: ``genshare project STORE --reference REF --out DIR`` and
``plink2 --pfile PG --score ... cols=+scoresums`` (2 threads each).

Run with the other rows by ``make bench`` (``benchmarks/run.py``; ``--skip project`` leaves
them out).
"""

import time
from collections.abc import Callable
from pathlib import Path

K = 10


def prepare_reference(genshare: list[str], store: Path, pops: Path, work: Path, env, run):
    """Fit the reference (untimed) and write the PLINK 2 score and frequency files."""
    import numpy as np
    import pandas as pd

    from genshare_widgets._pca_reference import PCAReference

    ref_file = work / "projection_ref.json"
    if not ref_file.exists():
        table = pd.read_csv(pops, sep="\t")
        subset = work / "projection_ref_samples.tsv"
        table.iloc[:500, :2].to_csv(subset, sep="\t", index=False)
        run(
            [*genshare, "reference", str(store), "--samples", str(subset), "--pca", str(K),
             "--out", str(ref_file)],
            env=env,
        )  # fmt: skip
    ref = PCAReference.load(ref_file)
    ids = [
        f"{c}:{p}:{r}:{a}"
        for c, p, r, a in ref.variants[["contig", "position", "ref", "alt"]].itertuples(index=False)
    ]
    score = pd.DataFrame({"ID": ids, "A1": ref.variants["alt"].to_numpy()})
    for j in range(ref.k):
        score[f"W{j + 1}"] = ref.weights[:, j] * np.sqrt(2)
    score.to_csv(work / "projection_w.tsv", sep="\t", index=False, float_format="%.17g")
    freq = pd.DataFrame(
        {
            "#CHROM": ref.variants["contig"].to_numpy(),
            "ID": ids,
            "REF": ref.variants["ref"].to_numpy(),
            "ALT": ref.variants["alt"].to_numpy(),
            "ALT_FREQS": ref.p,
            "OBS_CT": 2,
        }
    )
    freq.to_csv(work / "projection.afreq", sep="\t", index=False, float_format="%.17g")
    return ref_file


def add_projection_rows(
    timed: dict[str, Callable[[], dict]], genshare, plink2, store, pops, work, env, run
) -> None:
    """Add the two rows to ``timed`` (the reference is fitted when the first row runs)."""
    state: dict[str, Path] = {}

    def reference() -> Path:
        if "ref" not in state:
            state["ref"] = prepare_reference(
                genshare, Path(store), Path(pops), Path(work), env, run
            )
        return state["ref"]

    def ours() -> dict:
        ref = reference()
        out = Path(work) / f"gs_project_{time.monotonic_ns()}"
        return run(
            [*genshare, "project", str(store), "--reference", str(ref), "--out", str(out)], env=env
        )

    timed["project/genshare"] = ours
    if plink2:

        def theirs() -> dict:
            reference()
            # the pgen's own IDs are msprime's; the score file names CHR:POS:REF:ALT
            pgen = Path(work) / "pg"
            renamed = Path(work) / "pg_ids"
            if not renamed.with_suffix(".pvar").exists():
                run([plink2, "--pfile", str(pgen), "--set-all-var-ids", "@:#:$r:$a",
                     "--new-id-max-allele-len", "1000", "--make-just-pvar", "--out",
                     str(renamed)])  # fmt: skip
            return run(
                [plink2, "--pgen", f"{pgen}.pgen", "--pvar", f"{renamed}.pvar", "--psam",
                 f"{pgen}.psam", "--score", str(Path(work) / "projection_w.tsv"), "1", "2",
                 "header-read", "variance-standardize", "no-mean-imputation",
                 "cols=+scoresums", "--score-col-nums", f"3-{2 + K}", "--read-freq",
                 str(Path(work) / "projection.afreq"), "--threads", "2", "--out",
                 str(Path(work) / "p2score")]
            )  # fmt: skip

        timed["project/plink2"] = theirs
