"""Combine the counts of several sites into one counts Dataset.

Alignment
    Variants are matched on (contig, position, ref, alt) — the same biallelic definition at
    every site (multi-allelic records are split per ALT allele before counting, as
    ``bcftools norm -m-`` does). The combined variant set
    is the union over sites. When every site sent the same variant list (sites cut from one
    source) its order is kept, so the files match ``genshare stats`` on the pooled cohort row
    for row; otherwise variants are ordered by contig (first seen) and position. A variant a
    site did not send contributes nothing from that site: AN = 0 there means "not observed at
    that site", which adds correctly into AC and AN sums (but sites that did not genotype a
    variant lower its allele number; say so when your sites use different panels).
Groups
    Counts ADD over sites for the same group name, and so do the group sizes: a population
    present at three sites is one group in the result, exactly as in the pooled cohort.
Disclosure
    A cell travels as a number only when its site released it. A combined cell is released
    (status 0) only when EVERY contributing site released it; it is ``<k`` (status 1) when
    exactly one site suppressed it and every other site released a 0 (the sum is then that
    site's ``<k``, with k the largest threshold among the sites); otherwise it is withheld
    (status 2, ``NA``). A group that one site withheld (fewer than k samples there) is combined
    from the other sites only; ``attrs["partial_groups"]`` names where it is missing.
"""

from typing import Any

import numpy as np

from genshare_widgets.federation._protocol import COUNT_FIELDS


def _keys(ds) -> list[tuple[str, int, str, str]]:
    return list(
        zip(
            (str(c) for c in ds["variant_contig"].values),
            (int(p) for p in ds["variant_position"].values),
            (str(a) for a in ds["variant_ref"].values),
            (str(a) for a in ds["variant_alt"].values),
            strict=True,
        )
    )


def aligned_variants(site_counts: list) -> tuple[list[tuple[str, int, str, str]], list]:
    """The union variant list and, per site, each of its rows' position in that list."""
    per_site = [_keys(ds) for ds in site_counts]
    if all(keys == per_site[0] for keys in per_site[1:]):
        union = per_site[0]
    else:
        seen: dict[tuple, int] = {}
        for keys in per_site:
            for key in keys:
                seen.setdefault(key, len(seen))
        contig_rank: dict[str, int] = {}
        for key in seen:
            contig_rank.setdefault(key[0], len(contig_rank))
        union = sorted(seen, key=lambda k: (contig_rank[k[0]], k[1], seen[k]))
    where = {key: i for i, key in enumerate(union)}
    if len(where) != len(union):
        from genshare_widgets.federation._protocol import MalformedPayload

        raise MalformedPayload("a site sent the same variant twice")
    rows = [
        np.fromiter((where[k] for k in keys), dtype=np.int64, count=len(keys)) for keys in per_site
    ]
    return union, rows


def combine_counts(site_counts: list, *, names: list[str], by: str):
    """One counts Dataset from the decoded counts of several sites (module rules).

    Returns a plain counts Dataset (as :func:`~genshare_widgets.counts.allele_counts_by_group`
    gives) when no site applied a policy, else a released Dataset (``*_status``,
    ``allele_usable``, ``observed_het``) that the disclosure room's table functions read.

    Examples
    --------
    >>> combined = combine_counts([a, b], names=["a", "b"], by="population")  # doctest: +SKIP
    """
    import xarray as xr

    union, rows = aligned_variants(site_counts)
    groups = sorted({str(g) for ds in site_counts for g in ds["groups"].values})
    gindex = {g: j for j, g in enumerate(groups)}
    n_var, n_grp = len(union), len(groups)
    released = any(
        (ds.attrs.get("policy") or {}).get("min_count") is not None
        or (ds.attrs.get("policy") or {}).get("epsilon") is not None
        or any(f"{f}_status" in ds for f in COUNT_FIELDS)
        for ds in site_counts
    )
    totals = {f: np.zeros((n_var, n_grp), dtype=np.int64) for f in COUNT_FIELDS}
    hidden = {f: np.zeros((n_var, n_grp), dtype=np.int64) for f in COUNT_FIELDS}
    suppressed = {f: np.zeros((n_var, n_grp), dtype=np.int64) for f in COUNT_FIELDS}
    sizes = np.zeros(n_grp, dtype=np.int64)
    for ds, row in zip(site_counts, rows, strict=True):
        cols = np.array([gindex[str(g)] for g in ds["groups"].values], dtype=np.int64)
        sizes[cols] += ds["group_n_samples"].values
        if not len(row) or not len(cols):
            continue
        ix = np.ix_(row, cols)
        for f in COUNT_FIELDS:
            values = np.asarray(ds[f].values, dtype=np.int64)
            status = ds[f"{f}_status"].values if f"{f}_status" in ds else None
            if status is None:
                totals[f][ix] += values
            else:
                totals[f][ix] += np.where(status == 0, values, 0)
                hidden[f][ix] += status != 0
                suppressed[f][ix] += status == 1
    data: dict[str, Any] = {}
    for f in COUNT_FIELDS:
        if released:
            status = np.where(
                hidden[f] == 0,
                0,
                np.where((hidden[f] == 1) & (suppressed[f] == 1) & (totals[f] == 0), 1, 2),
            ).astype(np.int8)
            data[f"{f}_status"] = (("variants", "groups"), status)
            totals[f] = np.where(status == 0, totals[f], 0)
        data[f] = (("variants", "groups"), totals[f].astype(np.int32))
    contigs = np.asarray([k[0] for k in union], dtype=str)
    out = xr.Dataset(
        {
            **data,
            "group_n_samples": (("groups",), sizes),
            "variant_contig": (("variants",), contigs),
            "variant_position": (("variants",), np.asarray([k[1] for k in union], dtype=np.int64)),
            "variant_ref": (("variants",), np.asarray([k[2] for k in union], dtype=str)),
            "variant_alt": (("variants",), np.asarray([k[3] for k in union], dtype=str)),
            # the row in the combined list (sites' store rows are theirs, not comparable)
            "variant_index": (("variants",), np.arange(n_var, dtype=np.int64)),
        },
        coords={"groups": groups},
        attrs={
            "by": by,
            "cohort": "federated:" + "+".join(names),
            "filters": {"n_variants_analysed": n_var, "alignment": "contig, position, ref, alt"},
        },
    )
    partial = _partial_groups(site_counts, names, groups)
    out.attrs["partial_groups"] = partial
    if released:
        out["allele_usable"] = (
            ("variants", "groups"),
            (data["allele_count_status"][1] == 0) & (data["allele_number_status"][1] == 0),
        )
        out["observed_het"] = (("groups",), _observed_het(out))
        ks = [ds.attrs.get("min_count") for ds in site_counts if ds.attrs.get("min_count")]
        if ks:
            out.attrs["min_count"] = int(max(ks))
        out.attrs["withheld_groups"] = {
            g: "withheld at every site that has it"
            for ds in site_counts
            for g in ds.attrs.get("withheld_groups", {})
            if g not in gindex
        }
    return out


def _observed_het(released) -> np.ndarray:
    """Observed heterozygosity per group over the variants whose het and called counts were
    released at every site (exact when nothing is suppressed)."""
    het = released["het_count"].values.astype(np.float64)
    called = released["called_count"].values.astype(np.float64)
    ok = (
        (released["het_count_status"].values == 0)
        & (released["called_count_status"].values == 0)
        & (called > 0)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(ok, het / np.where(ok, called, 1.0), 0.0)
        n = ok.sum(axis=0)
        return np.where(n > 0, ratio.sum(axis=0) / np.maximum(n, 1), np.nan)


def _partial_groups(site_counts: list, names: list[str], groups: list[str]) -> dict[str, list]:
    """{group: [sites that withheld it]} for groups combined from only some of their sites."""
    out: dict[str, list] = {}
    for ds, name in zip(site_counts, names, strict=True):
        for g in ds.attrs.get("withheld_groups", {}):
            if g in groups:
                out.setdefault(g, []).append(name)
    return out
