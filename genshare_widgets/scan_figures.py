"""Scans as releases: the release log around :func:`genshare_widgets.scans.scan`, a window's
haplotype frequency spectrum through the door, and the two scan figures
(``genshare figure --kind scan`` and ``--kind haplotype-spectrum``).
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError

#: Figure kinds drawn from a scan.
SCAN_KINDS = ("scan", "haplotype-spectrum")
#: Most SNV records a haplotype spectrum window may hold (it is read whole).
MAX_SPECTRUM_VARIANTS = 100_000


def _sample_sets(cohort, by: str, groups: list[str]) -> dict[str, list[str]]:
    from genshare_widgets.disclosure._publishing import with_union
    from genshare_widgets.scans import _group_samples

    sets, _ = _group_samples(cohort, by, groups)
    ids = cohort.samples.index
    return with_union(
        {f"{by}={g}": [str(ids[i]) for i in s] for g, s in zip(groups, sets, strict=True)}
    )


def _logged(cohort, policy, by: str, groups: list[str], region: str | None, command: str, run):
    """``run()`` under the release log (rule 6) when ``policy`` is active: the analysed
    groups are checked before and recorded after."""
    from genshare_widgets.disclosure._publishing import ReleaseLog, min_difference

    if policy is None or not policy.active or policy.epsilon is not None:
        return run()
    sets = _sample_sets(cohort, by, groups)
    log = ReleaseLog.for_cohort(cohort)
    log.check(sets, k=min_difference(policy), region=region)
    result = run()
    log.record(sets, k=min_difference(policy), command=command, region=region)
    return result


def released_scan(cohort, *, command: str, policy=None, **options: Any):
    """:func:`genshare_widgets.scans.scan` for a release (a file, a figure, a view): under
    an active policy the analysed groups go through the cohort's release log (scan rule S2).

    Examples
    --------
    >>> options = {"stat": "h12", "groups": "CEU", "window": 200}
    >>> released_scan(cohort, command="genshare scan ...", **options)  # doctest: +SKIP
    """
    from genshare_widgets.disclosure import NO_POLICY, policy_for
    from genshare_widgets.scans import scan

    if policy is None:
        policy = policy_for(cohort.entry) if getattr(cohort, "entry", None) else NO_POLICY
    groups = options["groups"]
    names = [g.strip() for g in groups.split(",")] if isinstance(groups, str) else list(groups)
    by = options.get("by", "population")
    return _logged(
        cohort,
        policy,
        by,
        [g for g in names if g],
        options.get("region"),
        command,
        lambda: scan(cohort, policy=policy, **options),
    )


def haplotype_spectrum(
    cohort, *, group: str, region: str, by: str = "population", policy=None, command: str = ""
) -> dict[str, Any]:
    """The released haplotype frequency spectrum of ``group`` over the SNVs of ``region``
    (the window): class counts largest first, classes under k pooled as ``other`` (scan rule
    S4, :func:`~genshare_widgets.disclosure._scans.released_spectrum`); the group must have
    k samples (S1) and goes through the release log (S2). Under a policy ``region`` must be
    one window of the cohort's haplotype grid (S7, refused otherwise, naming one).

    Examples
    --------
    >>> window = "2:136545000-136565000"
    >>> haplotype_spectrum(cohort, group="CEU", by="pop", region=window)  # doctest: +SKIP
    {'shown': [...], 'other': ..., 'n_haplotypes': 198, ...}
    """
    from genshare_widgets.disclosure import NO_POLICY, policy_for
    from genshare_widgets.disclosure._scans import (
        HAPLOTYPE_GRID,
        check_scan_consent,
        check_scan_policy,
        on_grid,
        released_spectrum,
    )
    from genshare_widgets.scans import _contig_haplotypes, _group_samples, scan_records
    from genshare_widgets.stats._selection_scans import haplotype_counts

    if not region or ":" not in region:
        raise GenShareError(
            "a haplotype spectrum needs its window as --region CHR:START-END (e.g. one of "
            "the top windows of a scan)"
        )
    if policy is None:
        policy = policy_for(cohort.entry) if getattr(cohort, "entry", None) else NO_POLICY
    check_scan_consent(cohort, "h12", by)
    sets, sizes = _group_samples(cohort, by, [group])
    check_scan_policy(policy, sizes, stat="haplotype spectrum", cohort_id=cohort.id)
    if on_grid(policy):  # rule S7: exactly one window of the cohort's haplotype grid
        from genshare_widgets._hapgrid import grid_window_records

        part = scan_records(cohort, region=region)
        records = grid_window_records(scan_records(cohort), part, HAPLOTYPE_GRID, region)
    else:
        records = scan_records(cohort, region=region)
    if len(records.index) > MAX_SPECTRUM_VARIANTS:
        raise GenShareError(
            f"--region {region} holds {len(records.index):,} SNVs; a haplotype spectrum "
            f"window holds at most {MAX_SPECTRUM_VARIANTS:,}: give a narrower --region"
        )

    def run() -> dict[str, Any]:
        runs = records.contig_runs()
        if not runs:
            raise GenShareError(f"no SNV in --region {region}")
        contig, lo, hi = runs[0]
        (h,) = _contig_haplotypes(cohort, sets, records, lo, hi, "a haplotype spectrum")
        shown, other = released_spectrum(haplotype_counts(h), policy)
        out = {
            "shown": shown,
            "other": other,
            "n_haplotypes": int(h.shape[1]),
            "n_variants": int(h.shape[0]),
            "group": group,
            "by": by,
            "window": f"{contig}:{int(records.position[lo]):,}-{int(records.position[hi - 1]):,}",
            "min_count": int(policy.min_count) if policy.suppresses else None,
        }
        if on_grid(policy):
            out["haplotype_grid"] = HAPLOTYPE_GRID
        return out

    return _logged(cohort, policy, by, [group], region, command, run)


def scan_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`~genshare_widgets.scans.scan` keywords of figure ``options``."""
    if not options.get("stat"):
        raise GenShareError("--kind scan needs --stat pbs|h12|ihs|xpehh and --groups")
    if not options.get("groups"):
        raise GenShareError(
            "--kind scan needs --groups (A for h12/ihs, A,B for xpehh, A,B,C for pbs)"
        )
    return {
        "stat": options["stat"],
        "groups": options["groups"],
        "by": options["by"],
        "window": options.get("window"),
        "step": options.get("step"),
        "window_unit": options.get("window_unit") or "variants",
        "region": options.get("region"),
    }


def scan_figure(cohort, kind: str, options: Mapping[str, Any], *, command: str = ""):
    """The figure of ``kind`` (``scan`` or ``haplotype-spectrum``) with ``options``."""
    from genshare_widgets import disclosure, plots

    policy = disclosure.policy_for(
        cohort.entry, min_count=options.get("min_count"), epsilon=options.get("epsilon")
    )
    if kind == "scan":
        result = released_scan(cohort, command=command, policy=policy, **scan_options(options))
        prov = plots.figure_provenance(
            cohort,
            by=result.by,
            filters=result.filters,
            disclosure_policy=policy.to_dict(),
            extra={"scan": result.provenance()},
        )
        return plots.scan_track(
            result.table,
            stat=result.stat,
            groups=result.groups,
            top=int(options.get("top") or 5),
            provenance=prov,
        )
    groups = [g.strip() for g in str(options.get("groups") or "").split(",") if g.strip()]
    if len(groups) != 1:
        raise GenShareError("--kind haplotype-spectrum needs --groups A (one group) and --region")
    spectrum = haplotype_spectrum(
        cohort,
        group=groups[0],
        region=options.get("region") or "",
        by=options["by"],
        policy=policy,
        command=command,
    )
    prov = plots.figure_provenance(
        cohort,
        by=options["by"],
        filters={"region": options.get("region"), "snps_only": True},
        disclosure_policy=policy.to_dict(),
        extra={"haplotype_spectrum": {k: v for k, v in spectrum.items() if k != "shown"}},
    )
    return plots.haplotype_spectrum_plot(spectrum, provenance=prov)


def spectrum_counts_shown(spectrum: Mapping[str, Any]) -> np.ndarray:
    """Every count a released spectrum shows (its classes and the pool), for audits."""
    return np.asarray([*spectrum["shown"], spectrum["other"]], dtype=np.int64)
