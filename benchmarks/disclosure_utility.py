"""Utility cost of small-count suppression: what a release under k withholds, and how far its
Fst moves from the exact value.

    python benchmarks/disclosure_utility.py [COHORT ...] [--k 20] [--by population]

For each cohort (default: the real 1000 Genomes subset and sim-ooa), counts by group go through
the release door at minimum count k; prints the fraction of (variant, group) allele cells that
are not released (AC or AN shown ``<k``/``NA``), the same for genotype counts (het, hom ALT),
and mean / max |Fst released - Fst exact| over group pairs. Uses only the public API, so the
same script measures any version of the door.
"""

import argparse
import json

import numpy as np


def measure(cohort_id: str, *, k: int, by: str | None) -> dict:
    import genshare_widgets as gs
    from genshare_widgets import disclosure, stats
    from genshare_widgets.counts import allele_counts_by_group

    cohort = gs.open_cohort(cohort_id)
    by = by or "population"
    counts = allele_counts_by_group(cohort, by=by)
    released = disclosure.release_counts(counts, disclosure.DisclosurePolicy(min_count=k))
    exact = stats.hudson_fst(counts).set_index(["pop1", "pop2"])["hudson_fst"]
    shown = disclosure.hudson_fst(released).set_index(["pop1", "pop2"])["hudson_fst"]
    both = exact.index.intersection(shown.index)
    delta = (shown.loc[both] - exact.loc[both]).abs()
    allele_hidden = ~released["allele_usable"].values
    genotype_hidden = (released["het_count_status"].values != 0) | (
        released["hom_alt_count_status"].values != 0
    )
    return {
        "cohort": cohort_id,
        "by": by,
        "k": k,
        "variants": int(counts.sizes["variants"]),
        "groups_released": int(released.sizes["groups"]),
        "allele_cells_hidden": round(float(allele_hidden.mean()), 4),
        "genotype_cells_hidden": round(float(genotype_hidden.mean()), 4),
        "mean_abs_delta_fst": float(np.nanmean(delta.values)),
        "max_abs_delta_fst": float(np.nanmax(delta.values)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohorts", nargs="*", default=["1kg-phase3-subset", "sim-ooa"])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--by", default=None)
    args = parser.parse_args()
    for cohort in args.cohorts:
        print(json.dumps(measure(cohort, k=args.k, by=args.by)))


if __name__ == "__main__":
    main()
