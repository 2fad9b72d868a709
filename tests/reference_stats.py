"""Naive, obviously-correct statistics straight from genotype calls (loops, no vectorisation).

Used only by tests, on small data, as the reference the fast code must equal.
"""

from collections import Counter
from itertools import combinations

import numpy as np


def naive_counts(gt: np.ndarray, groups: list[str | None]) -> dict[str, dict[str, list[int]]]:
    """Per group: lists (one entry per variant) of ac, an, hom_alt, het, called."""
    names = sorted({g for g in groups if g is not None})
    out = {g: {k: [] for k in ("ac", "an", "hom_alt", "het", "called")} for g in names}
    for v in range(gt.shape[0]):
        for g in names:
            ac = an = hom = het = called = 0
            for s, group in enumerate(groups):
                if group != g:
                    continue
                a, b = int(gt[v, s, 0]), int(gt[v, s, 1])
                for allele in (a, b):
                    if allele >= 0:
                        an += 1
                        if allele == 1:
                            ac += 1
                if a >= 0 and b >= 0:
                    called += 1
                    alt = (a == 1) + (b == 1)
                    if alt == 1:
                        het += 1
                    elif alt == 2:
                        hom += 1
            for key, value in zip(
                ("ac", "an", "hom_alt", "het", "called"), (ac, an, hom, het, called), strict=True
            ):
                out[g][key].append(value)
    return out


def naive_hudson(c1: dict, c2: dict) -> tuple[float, int]:
    num_sum = den_sum = 0.0
    n_used = 0
    for ac1, an1, ac2, an2 in zip(c1["ac"], c1["an"], c2["ac"], c2["an"], strict=True):
        if an1 < 2 or an2 < 2:
            continue
        p1, p2 = ac1 / an1, ac2 / an2
        den = p1 * (1 - p2) + p2 * (1 - p1)
        if den <= 0:
            continue
        num_sum += (p1 - p2) ** 2 - p1 * (1 - p1) / (an1 - 1) - p2 * (1 - p2) / (an2 - 1)
        den_sum += den
        n_used += 1
    return (num_sum / den_sum if n_used else float("nan")), n_used


def naive_het(c: dict) -> tuple[float, float]:
    obs = [h / n for h, n in zip(c["het"], c["called"], strict=True) if n > 0]
    exp = [
        2 * (a / n) * (1 - a / n) * n / (n - 1)
        for a, n in zip(c["ac"], c["an"], strict=True)
        if n >= 2
    ]
    return (
        sum(obs) / len(obs) if obs else float("nan"),
        sum(exp) / len(exp) if exp else float("nan"),
    )


def naive_sfs(c: dict) -> Counter:
    return Counter(c["ac"])


def naive_shared(counts: dict) -> Counter:
    names = sorted(counts)
    n_var = len(next(iter(counts.values()))["ac"])
    out: Counter = Counter()
    for v in range(n_var):
        present = [g for g in names if counts[g]["ac"][v] > 0]
        if present:
            out["+".join(present)] += 1
    return out


def all_pairs(names):
    return list(combinations(sorted(names), 2))


def counts_from_fields(values: dict, **layout):
    """A counts Dataset (as ``allele_count_by_group`` returns) from per-field (variants,
    groups) arrays — ``values`` keyed by field name — and ``counts_dataset``'s other keywords
    (names, label, group_n, contig_ids, variant_contig, variant_position, alleles, cohort_id)."""
    from genshare_widgets.counts import counts_dataset
    from genshare_widgets.engines._group_counts import FIELDS

    v, g = np.shape(values["allele_count"])
    raw = np.zeros((v, g, len(FIELDS)), dtype=np.int32)
    for i, name in enumerate(FIELDS):
        raw[:, :, i] = values[name]
    return counts_dataset(raw, index=np.arange(v), info={}, **layout)
