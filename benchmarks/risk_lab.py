"""The re-identification risk lab's measured numbers: attack power and utility cost.

For the real ``1kg-phase3-subset`` (autosomes; and optionally the simulated ``sim-ooa``):

- attack power: one population (default: the AFR super-population, 364 samples) split
  ``--splits`` times (seeds 1..n) into 20 pool members, ``--nonmembers`` (default 200)
  non-members and the rest as the attacker's reference panel; Homer, Sankararaman LRT and
  Beacon LRT against the release as is, under minimum count k = 20, and with DP at each
  epsilon (1..1e6; one noise draw per split) with the sensitivity each service uses (Homer and LRT:
  a federation site's release; Beacon: the Beacon's; both AC/AN/het/hom-alt/called + group
  size since every service releases through ``release_counts``;
  :func:`genshare_widgets.disclosure.service_sensitivity`) and the
  default mechanism (discrete Gaussian, delta 1e-6); TPR at 5 % FPR and AUC, averaged over
  the splits, with 95 % percentile-bootstrap intervals (members and non-members resampled,
  each replicate averaged across splits);
- utility: mean |AF error| and mean |Hudson Fst error| over all population pairs under DP
  (3 draws per epsilon) and under suppression at k = 20.

Usage::

    python benchmarks/risk_lab.py                    # 1kg-phase3-subset, markdown tables
    python benchmarks/risk_lab.py --out DIR          # also writes power.tsv / utility.tsv
    python benchmarks/risk_lab.py --cohort sim-ooa --nonmembers 60   # 100 per population

The real cohort needs the mirror (``GENSHARE_MIRROR``, default ``../shared/data``).
"""

import argparse
import os
import time
from pathlib import Path

EPSILONS = (1.0, 10.0, 1e2, 1e3, 1e4, 1e5, 1e6)  # 1 and 10: the registered tier cap, ceiling
COHORTS = {"1kg-phase3-subset": ("superpopulation", "AFR"), "sim-ooa": ("population", "CEU")}
AUTOSOMES = [str(c) for c in range(1, 23)]


def measure(
    cohort_id: str,
    by: str,
    population: str,
    *,
    splits: int,
    min_count: int,
    nonmembers: int,
    mechanism: str | None = None,
):
    import numpy as np
    import pandas as pd

    from genshare_widgets import open_cohort
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.disclosure import risk

    cohort = open_cohort(cohort_id)
    contigs = {str(c) for c in cohort.genotypes["contig_id"].values}
    regions = [c for c in AUTOSOMES if c in contigs] or None
    start = time.perf_counter()
    tables = []
    n_variants = []
    for seed in range(1, splits + 1):
        split = risk.membership_split(
            cohort, population=population, by=by, n_members=20, n_nonmembers=nonmembers,
            seed=seed,
        )  # fmt: skip
        data = risk.split_genotypes(cohort, split, region=regions)
        n_variants.append(data.n_variants)
        scores = risk.attack_scores(
            data, min_count=min_count, epsilons=EPSILONS, seed=seed, mechanism=mechanism
        )
        tables.append(scores.assign(split=seed))
    summary = risk.attack_power(scores=pd.concat(tables, ignore_index=True), n_boot=1000)
    summary = summary.assign(
        cohort=cohort_id, population=population, n_snps=float(np.mean(n_variants))
    )
    attack_seconds = time.perf_counter() - start
    start = time.perf_counter()
    counts = allele_counts_by_group(cohort, by="population")
    if regions:
        counts = counts.isel(
            variants=np.flatnonzero(np.isin(counts["variant_contig"].values, regions))
        )
    utility = risk.utility_vs_epsilon(
        counts, EPSILONS, seed=0, n_repeats=3, min_count=min_count, mechanism=mechanism
    )
    util = (
        utility.groupby(["protection", "epsilon"], dropna=False, sort=False)
        .agg(
            af_abs_error=("af_abs_error", "mean"),
            fst_abs_error=("fst_abs_error", "mean"),
            fst_abs_error_max=("fst_abs_error", "max"),
            fst_exact_mean=("fst_exact", "mean"),
            fraction_withheld=("fraction_withheld", "mean"),
            n_variants=("n_variants", "mean"),
        )
        .reset_index()
        .assign(
            cohort=cohort_id,
            n_pairs=utility.groupby(["protection", "epsilon"], dropna=False).size().iloc[0],
            n_variants_total=int(counts.sizes["variants"]),
        )
    )
    utility_seconds = time.perf_counter() - start
    return summary, util, attack_seconds, utility_seconds


def power_markdown(summary) -> str:
    order = list(dict.fromkeys(summary["label"]))
    attacks = ("homer", "lrt", "beacon")
    lines = [
        "| protection | "
        + " | ".join(f"{a} TPR@5% [95% CI] | {a} AUC [95% CI]" for a in attacks)
        + " |",
        "|---|" + "---|" * 6,
    ]
    for label in order:
        cells = []
        for attack in attacks:
            row = summary[(summary["label"] == label) & (summary["attack"] == attack)]
            if row.empty:
                cells += ["", ""]
                continue
            r = row.iloc[0]
            cells.append(f"{r.tpr_at_fpr:.2f} [{r.tpr_ci_low:.2f}, {r.tpr_ci_high:.2f}]")
            cells.append(f"{r.auc:.2f} [{r.auc_ci_low:.2f}, {r.auc_ci_high:.2f}]")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def utility_markdown(util) -> str:
    lines = [
        "| protection | mean abs AF error | mean abs Fst error (max) | cells withheld |",
        "|---|---|---|---|",
    ]
    for row in util.itertuples():
        label = {"none": "none", "suppression": "k=20"}.get(row.protection, f"ε={row.epsilon:g}")
        lines.append(
            f"| {label} | {row.af_abs_error:.2g} | {row.fst_abs_error:.2g} "
            f"({row.fst_abs_error_max:.2g}) | {row.fraction_withheld:.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", choices=sorted(COHORTS), action="append")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--min-count", type=int, default=20)
    parser.add_argument("--nonmembers", type=int, default=200)
    parser.add_argument("--mechanism", choices=["gaussian", "laplace"], default=None)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("GENSHARE_PROGRESS", "0")
    if "GENSHARE_MIRROR" not in os.environ:
        default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
        if default.is_dir():
            os.environ["GENSHARE_MIRROR"] = str(default)
    import pandas as pd

    powers, utils = [], []
    for cohort_id in args.cohort or ["1kg-phase3-subset"]:
        by, population = COHORTS[cohort_id]
        summary, util, t_attack, t_util = measure(
            cohort_id, by, population, splits=args.splits, min_count=args.min_count,
            nonmembers=args.nonmembers, mechanism=args.mechanism,
        )  # fmt: skip
        powers.append(summary)
        utils.append(util)
        print(
            f"\n## {cohort_id}: {population}, 20 members / {args.nonmembers} non-members / "
            f"{'rest'} reference, {summary['n_snps'].iloc[0]:,.0f} SNPs, "
            f"{args.splits} splits ({t_attack:.1f} s)\n"
        )
        print(power_markdown(summary))
        print(
            f"\nUtility over {util['n_pairs'].iloc[0]} population pairs, "
            f"{util['n_variants_total'].iloc[0]:,} variants ({t_util:.1f} s)\n"
        )
        print(utility_markdown(util))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        pd.concat(powers).to_csv(args.out / "power.tsv", sep="\t", index=False)
        pd.concat(utils).to_csv(args.out / "utility.tsv", sep="\t", index=False)
        print(f"\nwrote {args.out}/power.tsv and utility.tsv")


if __name__ == "__main__":
    main()
