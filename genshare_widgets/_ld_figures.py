"""The LD figure kinds of ``genshare figure``: ``ld-decay`` (mean r² by distance, one line
per group of ``--by``; ``--keep-groups`` chooses them, ``--ld-max-kb`` the longest distance)
and ``ld-heatmap`` (r² between the variants of ``--region`` over all samples, or over the
samples of ``--groups A[,B...]`` of ``--by``).

Every r² goes through :mod:`genshare_widgets.ld`'s release rules under the cohort's policy
(minimum group size, minor allele count ≥ k and no genotype count in 1..k−1, pairs with a
co-copy sum in 1..k−1 withheld), and the released sample sets are checked against and
recorded in the cohort's release log (rule 6), as for the other figures.
"""

from collections.abc import Mapping
from typing import Any

from genshare_widgets._errors import GenShareError


def _groups(options: Mapping[str, Any]) -> list[str] | None:
    value = options.get("groups")
    names = [g.strip() for g in str(value).split(",") if g.strip()] if value else []
    return names or None


def ld_figure(
    cohort,
    kind: str,
    options: Mapping[str, Any],
    *,
    policy,
    policy_record,
    keep_groups: list[str] | None,
    command: str,
):
    """Build the ``ld-decay`` or ``ld-heatmap`` figure of ``cohort`` for ``options``
    (``keep_groups``: the parsed ``--keep-groups``; ``command``: the release log's record)."""
    import numpy as np

    from genshare_widgets import plots
    from genshare_widgets.disclosure._publishing import (
        ReleaseLog,
        group_sample_sets,
        min_difference,
        with_union,
    )
    from genshare_widgets.ld import analysed_samples, ld_decay, ld_matrix

    if policy.epsilon is not None:
        raise GenShareError("--epsilon covers counts only: LD figures have no DP release; drop it")
    by = options["by"]
    log, sets = None, {}
    if kind == "ld-heatmap":
        groups = _groups(options)
        if policy.active:
            keep = analysed_samples(
                cohort,
                by=by if groups else None,
                groups=groups,
                policy=policy,
                analysis="an LD heatmap",
            )
            label = ",".join(groups) if groups else "all samples"
            sets = {label: [str(s) for s in np.asarray(cohort.samples.index)[keep]]}
            log = ReleaseLog.for_cohort(cohort)
            log.check(sets, k=min_difference(policy), region=options["region"])
        matrix = ld_matrix(
            cohort,
            region=options["region"],
            by=by if groups else None,
            groups=groups,
            min_maf=options["min_maf"],
            snps_only=options["snps_only"],
            policy=policy,
        )
        group_label = ", ".join(groups) if groups else None
        prov = plots.figure_provenance(
            cohort,
            by=by if groups else None,
            filters=matrix.filters,
            disclosure_policy=policy_record,
            extra={
                "ld": {
                    "statistic": "r² of unphased dosages",
                    "n_samples": matrix.n_samples,
                    "groups": groups,
                }
            },
        )
        fig = plots.ld_heatmap(matrix.variants, matrix.r2, group=group_label, provenance=prov)
    else:
        min_maf = 0.05 if options["min_maf"] is None else options["min_maf"]
        if policy.active:
            from genshare_widgets.disclosure._publishing import min_difference as k_of

            members = cohort.samples
            if keep_groups is not None:
                members = members[members[by].astype(str).isin(keep_groups)]
            sets = {
                g: ids
                for g, ids in group_sample_sets(members, by).items()
                if len(ids) >= k_of(policy)
            }
            log = ReleaseLog.for_cohort(cohort)
            log.check(with_union(sets), k=min_difference(policy), region=options["region"])
        table, withheld = ld_decay(
            cohort,
            by=by,
            groups=keep_groups,
            region=options["region"],
            min_maf=min_maf,
            snps_only=options["snps_only"],
            max_distance=int(options["ld_max_kb"] * 1000),
            policy=policy,
        )
        if table.empty:
            raise GenShareError(f"no group of --by {by!r} can be drawn: {withheld or 'none'}")
        prov = plots.figure_provenance(
            cohort,
            by=by,
            disclosure_policy=policy_record,
            filters={
                "region": options["region"],
                "min_maf": min_maf,
                "snps_only": options["snps_only"],
                "biallelic_only": True,
            },
            extra={
                "ld": {
                    "statistic": "mean r² of unphased dosages by distance",
                    "max_kb": options["ld_max_kb"],
                },
                "withheld_groups": withheld,
            },
        )
        prov["groups"] = {
            str(g): int(n) for g, n in table.groupby("group")["n_samples"].first().items()
        }
        fig = plots.ld_decay_plot(table, colors=plots.cohort_colors(cohort, by=by), provenance=prov)
    if log is not None:
        log.record(
            with_union(sets) if kind == "ld-decay" else sets,
            k=min_difference(policy),
            command=command,
            region=options["region"],
        )
    return fig
