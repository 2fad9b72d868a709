"""The re-identification risk lab's measured numbers: attack power and utility cost.

For each cohort (the simulated ``sim-ooa`` and the real ``1kg-phase3-subset``, autosomes):

- attack power: one population split ``--splits`` times (seeds 1..n) into 20 pool members,
  30 non-members and the rest as the attacker's reference panel; Homer, Sankararaman LRT and
  Beacon LRT against the release as is, under minimum count k = 20, and with DP at each
  epsilon (one noise draw per split); TPR at 5 % FPR and AUC, averaged over the splits;
- utility: mean |AF error| and mean |Hudson Fst error| over all population pairs under DP
  (3 draws per epsilon) and under suppression at k = 20.

Usage::

    python benchmarks/risk_lab.py                    # both cohorts, prints markdown tables
    python benchmarks/risk_lab.py --out DIR          # also writes power.tsv / utility.tsv
    python benchmarks/risk_lab.py --cohort sim-ooa   # one cohort

The real cohort needs the mirror (``GENSHARE_MIRROR``, default ``../shared/data``).
"""

import argparse
import os
import time
from pathlib import Path

EPSILONS = (1e2, 1e3, 1e4, 1e5, 1e6)
COHORTS = {"sim-ooa": "CEU", "1kg-phase3-subset": "CEU"}
AUTOSOMES = [str(c) for c in range(1, 23)]


def measure(cohort_id: str, population: str, *, splits: int, min_count: int):
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
            cohort, population=population, n_members=20, n_nonmembers=30, seed=seed
        )
        data = risk.split_genotypes(cohort, split, region=regions)
        n_variants.append(data.n_variants)
        power = risk.attack_power(data, min_count=min_count, epsilons=EPSILONS, seed=seed)
        tables.append(power.assign(split_seed=seed))
    power = pd.concat(tables, ignore_index=True)
    summary = (
        power.groupby(["attack", "protection", "label"], sort=False, dropna=False)
        .agg(
            epsilon=("epsilon", "first"),
            tpr_at_5pct_fpr=("tpr_at_fpr", "mean"),
            tpr_min=("tpr_at_fpr", "min"),
            tpr_max=("tpr_at_fpr", "max"),
            auc=("auc", "mean"),
            n_snps_released=("n_snps_released", "mean"),
        )
        .reset_index()
        .assign(cohort=cohort_id, population=population, n_snps=float(np.mean(n_variants)))
    )
    attack_seconds = time.perf_counter() - start
    start = time.perf_counter()
    counts = allele_counts_by_group(cohort, by="population")
    if regions:
        counts = counts.isel(
            variants=np.flatnonzero(np.isin(counts["variant_contig"].values, regions))
        )
    utility = risk.utility_vs_epsilon(counts, EPSILONS, seed=0, n_repeats=3, min_count=min_count)
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
    wide = summary.pivot_table(
        index="label", columns="attack", values=["tpr_at_5pct_fpr", "auc"], sort=False
    )
    order = list(dict.fromkeys(summary["label"]))
    lines = [
        "| protection | "
        + " | ".join(f"{a} TPR@5% | {a} AUC" for a in ("homer", "lrt", "beacon"))
        + " |",
        "|---|" + "---|" * 6,
    ]
    for label in order:
        cells = []
        for attack in ("homer", "lrt", "beacon"):
            cells.append(f"{wide.loc[label, ('tpr_at_5pct_fpr', attack)]:.2f}")
            cells.append(f"{wide.loc[label, ('auc', attack)]:.2f}")
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
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("GENSHARE_PROGRESS", "0")
    if "GENSHARE_MIRROR" not in os.environ:
        default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
        if default.is_dir():
            os.environ["GENSHARE_MIRROR"] = str(default)
    import pandas as pd

    powers, utils = [], []
    for cohort_id in args.cohort or list(COHORTS):
        population = COHORTS[cohort_id]
        summary, util, t_attack, t_util = measure(
            cohort_id, population, splits=args.splits, min_count=args.min_count
        )
        powers.append(summary)
        utils.append(util)
        print(
            f"\n## {cohort_id}: {population}, 20 members / 30 non-members / "
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
