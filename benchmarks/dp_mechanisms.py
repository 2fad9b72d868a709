"""Discrete Laplace vs discrete Gaussian (zCDP) at equal epsilon: the error each puts into
allele frequencies and Hudson Fst.

Both mechanisms noise what ``genshare stats`` and a federation site release (AC, AN, het,
hom-alt and called counts per group, plus the group sizes), under add/remove-one-participant
neighbours (``genshare_widgets/disclosure/_dp.py``):

- ``laplace``: two-sided geometric noise with L1 sensitivity ``6 V + 1``: pure epsilon-DP;
- ``gaussian``: discrete Gaussian with L2 sensitivity ``sqrt(10 V + 1)`` and
  ``sigma² = L2² / (2 rho)``, where rho is the largest rho-zCDP that is (epsilon, delta)-DP at
  ``delta = 1e-6`` (Canonne, Kamath & Steinke 2020 conversion, as OpenDP's
  ``make_zCDP_to_approxDP``).

For each cohort (the real ``1kg-phase3-subset`` autosomes by population, and the simulated
``sim-ooa``), each epsilon in 1e2..1e6 and each mechanism: ``--repeats`` noise draws, mean
|AF error| over released cells and mean |Fst error| over all population pairs
(:func:`genshare_widgets.disclosure.risk.utility_vs_epsilon`).

Usage::

    python benchmarks/dp_mechanisms.py                 # both cohorts, prints a markdown table
    python benchmarks/dp_mechanisms.py --out DIR       # also writes dp_mechanisms.tsv

Measured on this machine (2026-11-26, 3 draws, seed 0; 1kg-phase3-subset: 24,144 autosomal
variants × 12 populations, 66 pairs; sim-ooa: 47,364 variants × 3 populations)::

    cohort             ε      AF err Laplace  AF err Gaussian  Fst err Laplace  Fst err Gaussian
    1kg-phase3-subset  1e2    0.355           0.13             0.745            0.255
    1kg-phase3-subset  1e3    0.281           0.0328           0.634            0.0222
    1kg-phase3-subset  1e4    0.0479          0.01             0.0618           0.0102
    1kg-phase3-subset  1e5    0.00487         0.00306          0.00553          0.0039
    1kg-phase3-subset  1e6    8.15e-06        0.000125         9.76e-06         0.000158
    sim-ooa            1e2    0.361           0.172            0.702            0.315
    sim-ooa            1e3    0.327           0.0439           0.648            0.00441
    sim-ooa            1e4    0.0885          0.0137           0.136            0.0132
    sim-ooa            1e5    0.00971         0.00442          0.00955          0.00515
    sim-ooa            1e6    0.000242        0.000792         0.00025          0.000852

The Gaussian has less error from 1e2 to 1e5 (its noise grows with sqrt(V) instead of V); the
Laplace only at 1e6, where both errors are below 1e-3. So ``DEFAULT_MECHANISM = "gaussian"``;
the Laplace stays selectable (catalog/config ``dp_mechanism: laplace``), it costs one branch.
The Gaussian's guarantee is (epsilon, 1e-6)-DP, the Laplace's pure epsilon-DP.
"""

import argparse
import os
import time
from pathlib import Path

EPSILONS = (1e2, 1e3, 1e4, 1e5, 1e6)
COHORTS = ("1kg-phase3-subset", "sim-ooa")
AUTOSOMES = [str(c) for c in range(1, 23)]


def measure(cohort_id: str, *, repeats: int, seed: int):
    import numpy as np
    import pandas as pd

    from genshare_widgets import open_cohort
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.disclosure import risk

    cohort = open_cohort(cohort_id)
    counts = allele_counts_by_group(cohort, by="population")
    autosomal = np.isin(counts["variant_contig"].values.astype(str), AUTOSOMES)
    if autosomal.any():
        counts = counts.isel(variants=np.flatnonzero(autosomal))
    frames = []
    for mechanism in ("laplace", "gaussian"):
        start = time.perf_counter()
        table = risk.utility_vs_epsilon(
            counts, EPSILONS, seed=seed, n_repeats=repeats, min_count=None, mechanism=mechanism
        )
        table = table[table["protection"] == "dp"]
        summary = (
            table.groupby("epsilon", sort=True)
            .agg(
                af_abs_error=("af_abs_error", "mean"),
                fst_abs_error=("fst_abs_error", "mean"),
                fraction_withheld=("fraction_withheld", "mean"),
            )
            .reset_index()
            .assign(
                cohort=cohort_id,
                mechanism=mechanism,
                n_variants=int(counts.sizes["variants"]),
                n_groups=int(counts.sizes["groups"]),
                seconds=time.perf_counter() - start,
            )
        )
        frames.append(summary)
    return pd.concat(frames, ignore_index=True)


def markdown(table) -> str:
    lines = [
        "| cohort | ε | AF error Laplace | AF error Gaussian | Fst error Laplace | "
        "Fst error Gaussian | less error |",
        "|---|---|---|---|---|---|---|",
    ]
    for (cohort, eps), part in table.groupby(["cohort", "epsilon"], sort=False):
        row = part.set_index("mechanism")
        lap, gau = row.loc["laplace"], row.loc["gaussian"]
        better = "Gaussian" if gau["af_abs_error"] < lap["af_abs_error"] else "Laplace"
        if (gau["fst_abs_error"] < lap["fst_abs_error"]) != (better == "Gaussian"):
            better += " (AF); other on Fst"
        lines.append(
            f"| {cohort} | {eps:g} | {lap['af_abs_error']:.3g} | {gau['af_abs_error']:.3g} | "
            f"{lap['fst_abs_error']:.3g} | {gau['fst_abs_error']:.3g} | {better} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", choices=COHORTS, action="append")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("GENSHARE_PROGRESS", "0")
    if "GENSHARE_MIRROR" not in os.environ:
        default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
        if default.is_dir():
            os.environ["GENSHARE_MIRROR"] = str(default)
    import pandas as pd

    tables = [measure(c, repeats=args.repeats, seed=args.seed) for c in (args.cohort or COHORTS)]
    table = pd.concat(tables, ignore_index=True)
    for cohort, part in table.groupby("cohort", sort=False):
        print(
            f"\n{cohort}: {part['n_variants'].iloc[0]:,} variants, "
            f"{part['n_groups'].iloc[0]} groups, {args.repeats} draws per epsilon"
        )
    print()
    print(markdown(table))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "dp_mechanisms.tsv", sep="\t", index=False)
        print(f"\nwrote {args.out}/dp_mechanisms.tsv")


if __name__ == "__main__":
    main()
