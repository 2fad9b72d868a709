"""The haplotype grid of a cohort (scan rule S7): under a disclosure policy every haplotype
release (H12 scans, haplotype spectra) is computed on non-overlapping windows of exactly
:data:`~genshare_widgets.disclosure._scans.HAPLOTYPE_GRID` biallelic SNV records, aligned
from the first such record of each contig in the whole store, so that two releases of one
group share a window entirely or not at all (no differencing of overlapping windows).

- :func:`grid_records`: the records of the whole grid windows a ``--region`` touches (an
  H12 scan's windows are then every ``G`` of them);
- :func:`grid_window_records`: the records of the one grid window a spectrum's ``--region``
  names, or a refusal naming the grid window to ask for.
"""

from typing import Any

import numpy as np

#: :class:`genshare_widgets.scans.ScanRecords` (not imported: scans imports this module).
ScanRecords = Any


def _keys(records: ScanRecords, width: int) -> np.ndarray:
    """One integer per record (store row and ALT allele)."""
    return records.index.astype(np.int64) * width + records.alt_allele.astype(np.int64)


def _subset(records: ScanRecords, take: np.ndarray, **info) -> ScanRecords:
    return type(records)(
        index=records.index[take],
        alt_allele=records.alt_allele[take],
        contig=records.contig[take],
        position=records.position[take],
        info={**records.info, **info},
    )


def _inside(whole: ScanRecords, part: ScanRecords) -> np.ndarray:
    """Mask over ``whole``'s records: those also in ``part``."""
    width = int(max(whole.alt_allele.max(initial=0), part.alt_allele.max(initial=0))) + 1
    return np.isin(_keys(whole, width), _keys(part, width))


def _label(records: ScanRecords, lo: int, hi: int) -> str:
    return f"{records.contig[lo]}:{int(records.position[lo]):,}-{int(records.position[hi - 1]):,}"


def grid_records(whole: ScanRecords, part: ScanRecords | None, size: int) -> ScanRecords:
    """The SNV records of the grid windows (``size`` records each) of ``whole`` (the store's
    SNV records, :func:`~genshare_widgets.scans.scan_records` without a region) holding a
    record of ``part`` (a region's records; ``None``: every grid window), whole windows
    concatenated in order: cut every ``size`` records per contig, they are the grid's windows.

    Examples
    --------
    >>> part = scan_records(cohort, region="1:1-50000")  # doctest: +SKIP
    >>> whole = scan_records(cohort)  # doctest: +SKIP
    >>> grid_records(whole, part, 100).info["grid_windows_scanned"]  # doctest: +SKIP
    3
    """
    from genshare_widgets.disclosure._scans import grid_windows

    windows = grid_windows(whole.contig, size)
    if part is not None:
        inside = _inside(whole, part)
        seen = np.concatenate([[0], np.cumsum(inside)])
        windows = windows[seen[windows[:, 1]] > seen[windows[:, 0]]]
    take = (windows[:, :1] + np.arange(size)).ravel() if len(windows) else np.zeros(0, int)
    return _subset(whole, take, haplotype_grid=size, grid_windows_scanned=len(windows))


def grid_window_records(
    whole: ScanRecords, part: ScanRecords, size: int, region: str
) -> ScanRecords:
    """The records of the one grid window of ``whole`` (the store's SNV records) that
    ``part`` (the records of ``region``) names: the region covers that window's
    records whole and no record of another window except at the window's first or last
    position; else :class:`~genshare_widgets.disclosure.ReleaseRefused` naming the grid
    window to ask for.

    Examples
    --------
    >>> region = "1:1-48211"
    >>> part = scan_records(cohort, region=region)  # doctest: +SKIP
    >>> grid_window_records(scan_records(cohort), part, 100, region)  # doctest: +SKIP
    """
    from genshare_widgets._errors import GenShareError
    from genshare_widgets.disclosure import ReleaseRefused
    from genshare_widgets.disclosure._scans import grid_windows

    windows = grid_windows(whole.contig, size)
    inside = _inside(whole, part)
    if not inside.any():
        raise GenShareError(f"no SNV in --region {region}")
    seen = np.concatenate([[0], np.cumsum(inside)])
    full = windows[seen[windows[:, 1]] - seen[windows[:, 0]] == size]
    if len(full) == 1:
        lo, hi = (int(x) for x in full[0])
        ends = {int(whole.position[lo]), int(whole.position[hi - 1])}
        extra = np.flatnonzero(inside)
        extra = extra[(extra < lo) | (extra >= hi)]
        if all(int(whole.position[i]) in ends for i in extra):
            return _subset(whole, np.arange(lo, hi), haplotype_grid=size)
    first = int(np.flatnonzero(inside)[0])
    near = windows[windows[:, 1] > first]
    near = near[whole.contig[near[:, 0]] == whole.contig[first]] if len(near) else near
    if len(near):
        lo, hi = (int(x) for x in near[0])
        number = int(
            ((windows[:, 0] <= lo) & (whole.contig[windows[:, 0]] == whole.contig[lo])).sum()
        )
        example = f"e.g. {_label(whole, lo, hi)} (window {number} of contig {whole.contig[lo]})"
    else:
        example = "this region's SNVs are past the contig's last whole grid window"
    raise ReleaseRefused(
        f"refused (scan rule S7): under this cohort's disclosure policy a haplotype spectrum "
        f"is of one window of the fixed grid of {size} SNVs from the contig's first SNV; "
        f"--region {region} ({len(part.index)} SNVs) is not one grid window. --region must "
        f"be exactly one grid window: {example}; a --window {size} H12 scan lists them."
    )
