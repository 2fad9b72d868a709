"""Selection scans along the genome (``genshare scan``, ``gs.scan``): PBS for a population
trio, Garud's H12 on one group's phased haplotypes, and iHS / XP-EHH standardised by
allele-count bin.

The maths is in :mod:`genshare_widgets.stats._selection_scans` and
:mod:`genshare_widgets.stats._ehh` (equal to scikit-allel 1.3.13 in tests); this module
picks the variants and samples, streams the genotypes and applies the release door
(:mod:`genshare_widgets.disclosure._scans`).

- **Variants**: the biallelic SNV records of the selection (``--snps-only``: a multi-allelic
  site is split per ALT allele, as ``bcftools norm -m-`` does, and each SNV record kept), in
  ``region`` if given. Windows by variant count count these records; a window's ``start``
  is the position of its first variant and ``end`` that of its last; windows do not cross
  contigs and only whole windows are scanned (the last ``< window`` records of a contig
  start none). Windows by bp are ``[s, s + window)`` from 1 every ``step`` bp; ``start`` and
  ``end`` are the window's bounds.
- **PBS**: from the three groups' allele counts (the counting pass of every statistic);
  phase is not needed.
- **H12**: one group's haplotypes, read from the store a chunk at a time and dropped as soon
  as no window needs them (memory: one chunk plus one window). The table also has H1, H123
  and H2/H1 without a policy; under one, H12 is that of the window's released haplotype
  spectrum (rule S3: classes under k pooled and counted as distinct haplotypes), and the
  windows are the cohort's haplotype grid (rule S7, :mod:`genshare_widgets._hapgrid`):
  ``window`` must be the grid's G SNVs (step G) and ``region`` selects the whole grid windows
  it touches.
- **iHS / XP-EHH**: one row per variant (``start = end`` = its position, ``n_variants`` 1);
  ``value`` is the score standardised within bins of ALT allele count (iHS: in the group;
  XP-EHH: over both groups' haplotypes), ``raw`` the unstandardised one. A contig's
  haplotypes of the analysed groups are held whole (the integration runs along all of it).
  Gaps are in cM when a genetic map is given (``genetic_map``: a table with ``position`` and
  ``cM`` columns and optionally ``contig``, linearly interpolated), else in bp.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genshare_widgets._errors import GenShareError

if TYPE_CHECKING:
    import pandas as pd

#: The scans and how many groups each takes.
SCAN_GROUPS = {"pbs": 3, "h12": 1, "ihs": 1, "xpehh": 2}
#: Columns of ``scan.tsv`` in file order.
SCAN_COLUMNS = ("contig", "start", "end", "n_variants", "value")
#: Units of ``--window``.
WINDOW_UNITS = ("variants", "bp")


@dataclass
class ScanRecords:
    """The scanned records: store rows, ALT index, contig name and position of each."""

    index: np.ndarray
    alt_allele: np.ndarray
    contig: np.ndarray
    position: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def contig_runs(self) -> list[tuple[str, int, int]]:
        """``(contig, lo, hi)`` for each run of records on one contig, in order."""
        if not len(self.contig):
            return []
        cuts = np.flatnonzero(self.contig[1:] != self.contig[:-1]) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [len(self.contig)]])
        return [(str(self.contig[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def scan_records(cohort, *, region: str | None = None) -> ScanRecords:
    """The SNV records a scan uses (``snps_only`` selection of every genotype pass)."""
    from genshare_widgets._selection import fixed_strings, variant_selection
    from genshare_widgets.counts import _direct_store, pass_scheduler, table_selection

    direct = _direct_store(cohort) if pass_scheduler(cohort) is None else None
    if direct is not None:
        table = direct.variant_table()
        index, alt, info = table_selection(
            table, region=region, snps_only=True, alleles_of=direct.allele_rows
        )
        contig_ids = np.asarray(table.contig_ids)
        contig, position = table.variant_contig, table.variant_position
    else:
        ds = cohort.genotypes
        index, alt, info, _ = variant_selection(ds, region=region, snps_only=True)
        contig_ids = np.asarray(fixed_strings(ds["contig_id"].values))
        contig, position = ds["variant_contig"].values, ds["variant_position"].values
    index = np.asarray(index, dtype=np.int64)
    return ScanRecords(
        index=index,
        alt_allele=np.asarray(alt, dtype=np.int64),
        contig=contig_ids[np.asarray(contig)[index]],
        position=np.asarray(position, dtype=np.int64)[index],
        info=dict(info),
    )


def windows_of(
    positions: np.ndarray, window: int, step: int | None, unit: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(index windows (lo, hi), bounds (start, end))`` over one contig's positions."""
    from genshare_widgets.stats._selection_scans import bp_windows, variant_windows

    if unit == "bp":
        bounds, index = bp_windows(positions, window, step)
        return index, bounds
    index = variant_windows(len(positions), window, step)
    bounds = np.column_stack(
        [positions[index[:, 0]], positions[np.maximum(index[:, 1] - 1, 0)]]
    ).reshape(-1, 2)
    return index, bounds


def over_windows(
    blocks: Iterator[np.ndarray], windows: np.ndarray, statistic: Callable[[np.ndarray], Any]
) -> Iterator[Any]:
    """``statistic(rows lo..hi)`` for each index window ``(lo, hi)`` (sorted by lo, hi not
    decreasing) over consecutive row ``blocks``, keeping only the rows still needed."""
    held: np.ndarray | None = None
    first = 0
    w = 0
    n = len(windows)
    for block in blocks:
        held = block if held is None else np.concatenate([held, block])
        end = first + len(held)
        while w < n and windows[w, 1] <= end:
            lo, hi = int(windows[w, 0]), int(windows[w, 1])
            yield statistic(held[lo - first : hi - first])
            w += 1
        keep_from = int(windows[w, 0]) if w < n else end
        drop = min(max(keep_from - first, 0), len(held))
        if drop:
            held = held[drop:]
            first += drop
    while w < n:  # windows past the last block (none in practice): empty
        yield statistic(np.zeros((0, 0 if held is None else held.shape[1]), dtype=np.int8))
        w += 1


def read_genetic_map(genetic_map) -> "pd.DataFrame":
    """A genetic map table (``contig`` optional, ``position``, ``cM``) from a path or frame."""
    import pandas as pd

    if isinstance(genetic_map, (str, Path)):
        try:
            table = pd.read_csv(genetic_map, sep=None, engine="python")
        except (OSError, ValueError) as exc:
            raise GenShareError(f"cannot read the genetic map {genetic_map}: {exc}") from None
    else:
        table = pd.DataFrame(genetic_map)
    lower = {str(c).lower(): c for c in table.columns}
    pos = next((lower[c] for c in ("position", "pos", "bp", "position(bp)") if c in lower), None)
    cm = next((lower[c] for c in ("cm", "map(cm)", "genetic_position", "map") if c in lower), None)
    if pos is None or cm is None:
        raise GenShareError(
            f"the genetic map {genetic_map if isinstance(genetic_map, (str, Path)) else ''} "
            f"needs a position column and a cM column (found {list(table.columns)})"
        )
    chrom = next((lower[c] for c in ("contig", "chrom", "chromosome", "chr") if c in lower), None)
    out = pd.DataFrame({"position": table[pos].astype(np.int64), "cM": table[cm].astype(float)})
    out["contig"] = table[chrom].astype(str) if chrom is not None else None
    return out.sort_values(["position"], kind="stable")


def map_positions(genetic_map, contig: str, positions: np.ndarray) -> np.ndarray:
    """cM of ``positions`` on ``contig``, linearly interpolated (flat beyond the map's ends)."""
    table = read_genetic_map(genetic_map)
    if table["contig"].notna().any():
        table = table[table["contig"].str.removeprefix("chr") == str(contig).removeprefix("chr")]
    if len(table) < 2:
        raise GenShareError(f"the genetic map has fewer than 2 points on contig {contig!r}")
    return np.interp(positions, table["position"].to_numpy(), table["cM"].to_numpy())


@dataclass
class ScanResult:
    """A released scan: ``table`` (``contig, start, end, n_variants, value`` and the
    statistic's extra columns) and what it was computed from."""

    table: "pd.DataFrame"
    stat: str
    groups: list[str]
    by: str
    group_sizes: dict[str, int]
    window: int | None
    step: int | None
    window_unit: str
    parameters: dict[str, Any]
    filters: dict[str, Any]
    policy: Any = None
    n_withheld: int = 0
    cohort_id: str = ""
    entry: Any = field(default=None, repr=False, compare=False)

    def provenance(self) -> dict[str, Any]:
        """The scan's part of ``provenance.json``."""
        return {
            "stat": self.stat,
            "groups": self.groups,
            "by": self.by,
            "group_sizes": self.group_sizes,
            "window": self.window,
            "step": self.step,
            "window_unit": self.window_unit,
            "parameters": self.parameters,
            "filters": self.filters,
            "n_rows": len(self.table),
            "n_withheld": self.n_withheld,
        }

    def top(self, n: int = 10) -> "pd.DataFrame":
        """The ``n`` rows with the largest ``value`` (iHS: the largest |value|)."""
        key = self.table["value"].abs() if self.stat == "ihs" else self.table["value"]
        return self.table.loc[key.nlargest(n).index]

    def write_tsv(self, path) -> None:
        """Write ``scan.tsv`` (the contract's columns; NA where withheld or undefined)."""
        from types import SimpleNamespace

        from genshare_widgets._outputs import write_tsv
        from genshare_widgets.disclosure._modifiers import check_export

        check_export(SimpleNamespace(entry=self.entry), what=f"a scan into {path}")
        write_tsv(self.table[list(SCAN_COLUMNS)], Path(path))


def _group_samples(cohort, by: str, groups: list[str]) -> tuple[list[np.ndarray], dict[str, int]]:
    """Sample positions of each named group of ``by`` (withdrawn samples left out)."""
    from genshare_widgets._selection import resolve_groups

    codes, names, _ = resolve_groups(cohort.samples, by, kept=getattr(cohort, "kept", None))
    missing = [g for g in groups if g not in names]
    if missing:
        raise GenShareError(
            f"no group {', '.join(repr(g) for g in missing)} in column {by!r}; its groups are "
            f"{names[:30]}{' ...' if len(names) > 30 else ''}. Name groups with --groups."
        )
    if len(set(groups)) != len(groups):
        raise GenShareError(f"--groups names a group twice ({groups}); give distinct groups")
    sets = [np.flatnonzero(codes == names.index(g)) for g in groups]
    return sets, {g: len(s) for g, s in zip(groups, sets, strict=True)}


def _pbs_rows(cohort, by, groups, records, window, step, unit, region, normed, policy):
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.disclosure._scans import pbs_usable_variants
    from genshare_widgets.stats._selection_scans import (
        hudson_window_terms,
        pbs_from_fst,
        window_sums,
    )

    counts = allele_counts_by_group(cohort, by=by, region=region, snps_only=True)
    names = [str(g) for g in counts["groups"].values]
    ac = counts["allele_count"].values
    an = counts["allele_number"].values
    cols = [names.index(g) for g in groups]
    acs = [ac[:, c].astype(np.int64) for c in cols]
    ans = [an[:, c].astype(np.int64) for c in cols]
    usable = pbs_usable_variants(acs, ans, policy)
    terms = []
    for i, j in ((0, 1), (0, 2), (1, 2)):
        num, den = hudson_window_terms(acs[i], ans[i], acs[j], ans[j])
        terms.append((np.where(usable, num, 0.0), np.where(usable, den, 0.0)))
    contigs = np.asarray(counts["variant_contig"].values).astype(str)
    positions = np.asarray(counts["variant_position"].values, dtype=np.int64)
    rows, withheld = [], 0
    for contig, lo, hi in ScanRecords(
        records.index, records.alt_allele, contigs, positions
    ).contig_runs():
        index, bounds = windows_of(positions[lo:hi], window, step, unit)
        fst = []
        for num, den in terms:
            n_sum = window_sums(num[lo:hi], index)
            d_sum = window_sums(den[lo:hi], index)
            with np.errstate(invalid="ignore", divide="ignore"):
                fst.append(np.where(d_sum > 0, n_sum / np.where(d_sum > 0, d_sum, 1), np.nan))
        value = pbs_from_fst(*fst, normed=normed)
        n_usable = window_sums(usable[lo:hi].astype(np.float64), index)
        hidden = (n_usable == 0) & (index[:, 1] > index[:, 0]) if policy.suppresses else None
        if hidden is not None:
            value = np.where(hidden, np.nan, value)
            withheld += int(hidden.sum())
        for (a, b), (s, e), v in zip(index, bounds, value, strict=True):
            rows.append((contig, int(s), int(e), int(b - a), float(v)))
    return rows, {}, withheld, counts.attrs.get("filters", {})


def _h12_rows(cohort, samples, records, window, step, unit, policy):
    from genshare_widgets.disclosure._scans import released_h12
    from genshare_widgets.engines._haplotypes import haplotype_blocks
    from genshare_widgets.stats._selection_scans import garud_h, haplotype_counts

    def statistic(h: np.ndarray) -> tuple[float, float, float, float]:
        if not policy.suppresses:
            return garud_h(h)
        return np.nan, released_h12(haplotype_counts(h), policy), np.nan, np.nan  # rule S3

    source = _haplotype_source(cohort)
    rows: list[tuple] = []
    extra: dict[str, list[float]] = {"h1": [], "h123": [], "h2_h1": []}
    for contig, lo, hi in records.contig_runs():
        positions = records.position[lo:hi]
        index, bounds = windows_of(positions, window, step, unit)
        blocks = (
            b[0]
            for _, b in haplotype_blocks(
                source,
                records.index[lo:hi],
                records.alt_allele[lo:hi],
                [samples],
                what="H12 (Garud's haplotype homozygosity)",
                sample_ids=cohort.samples.index,
            )
        )
        values = over_windows(blocks, index, statistic)
        for (a, b), (s, e), (h1, h12, h123, h2h1) in zip(index, bounds, values, strict=True):
            rows.append((contig, int(s), int(e), int(b - a), h12 if b > a else np.nan))
            for key, v in (("h1", h1), ("h123", h123), ("h2_h1", h2h1)):
                extra[key].append(v if b > a else np.nan)
    if policy.suppresses:  # rule S3: H12 alone under a policy
        extra = {}
    return rows, extra, 0


def _haplotype_source(cohort):
    from genshare_widgets.counts import _direct_store, pass_scheduler

    direct = _direct_store(cohort) if pass_scheduler(cohort) is None else None
    return direct if direct is not None else cohort.genotypes


def _contig_haplotypes(cohort, sample_sets, records, lo, hi, what):
    from genshare_widgets.engines._haplotypes import haplotype_blocks

    parts: list[list[np.ndarray]] = [[] for _ in sample_sets]
    for _, blocks in haplotype_blocks(
        _haplotype_source(cohort),
        records.index[lo:hi],
        records.alt_allele[lo:hi],
        sample_sets,
        what=what,
        sample_ids=cohort.samples.index,
    ):
        for part, block in zip(parts, blocks, strict=True):
            part.append(block)
    return [
        np.concatenate(p) if p else np.zeros((0, 2 * len(s)), dtype=np.int8)
        for p, s in zip(parts, sample_sets, strict=True)
    ]


def _ehh_rows(cohort, stat, sample_sets, records, policy, genetic_map, options):
    from genshare_widgets.disclosure._scans import withheld_rare_variants
    from genshare_widgets.stats._ehh import ihs, xpehh
    from genshare_widgets.stats._selection_scans import standardize_by_allele_count

    what = "iHS" if stat == "ihs" else "XP-EHH"
    raws, acs, macs, where = [], [], [], []
    for contig, lo, hi in records.contig_runs():
        hs = _contig_haplotypes(cohort, sample_sets, records, lo, hi, what)
        positions = records.position[lo:hi]
        maps = None if genetic_map is None else map_positions(genetic_map, contig, positions)
        ehh = {k: options[k] for k in ("min_ehh", "include_edges", "gap_scale", "max_gap")}
        if stat == "ihs":
            raw = ihs(hs[0], positions, map_positions=maps, min_maf=options["min_maf"], **ehh)
        else:
            raw = xpehh(hs[0], hs[1], positions, map_positions=maps, **ehh)
        pooled = np.concatenate(hs, axis=1)
        alt = (pooled == 1).sum(axis=1)
        called = (pooled >= 0).sum(axis=1)
        raws.append(raw)
        acs.append(alt)
        macs.append(np.minimum(alt, called - alt))
        where.append(np.arange(lo, hi))
    raw = np.concatenate(raws) if raws else np.zeros(0)
    aac = np.concatenate(acs) if acs else np.zeros(0, dtype=np.int64)
    hidden = withheld_rare_variants(np.concatenate(macs) if macs else aac, policy)
    raw = np.where(hidden, np.nan, raw)  # rule S5: out of the bins too
    if np.isfinite(raw).any():
        value, _ = standardize_by_allele_count(raw, aac, n_bins=options["n_bins"])
    else:
        value = np.full(len(raw), np.nan)
    rows = [
        (str(records.contig[i]), int(records.position[i]), int(records.position[i]), 1, float(v))
        for i, v in zip(np.concatenate(where) if where else [], value, strict=True)
    ]
    return rows, {"raw": raw.tolist()}, int(hidden.sum())


def scan(
    cohort,
    *,
    stat: str,
    groups: "list[str] | str",
    by: str = "population",
    window: int | None = None,
    step: int | None = None,
    window_unit: str = "variants",
    region: str | None = None,
    policy=None,
    genetic_map=None,
    normed: bool = True,
    min_maf: float = 0.05,
    min_ehh: float = 0.05,
    include_edges: bool = False,
    gap_scale: float | None = 20_000,
    max_gap: float | None = 200_000,
    n_bins: int = 50,
) -> ScanResult:
    """Scan ``cohort`` for selection (see the module docstring).

    ``stat``: ``pbs`` (groups A,B,C: the branch of A), ``h12`` (one group), ``ihs`` (one
    group) or ``xpehh`` (A vs B: positive where A has the longer haplotypes). ``window`` and
    ``step`` in ``window_unit`` (``variants`` or ``bp``; PBS and H12 only). ``policy``: the
    disclosure policy (default: the cohort's tier default); the table returned is the
    released one (:mod:`genshare_widgets.disclosure._scans`).

    Examples
    --------
    >>> lct = "1kg_phase3_LCT.vcf.gz"
    >>> cohort = open_cohort(lct, samples="1kg_phase3_samples.tsv")  # doctest: +SKIP
    >>> trio = "CEU,CHB,YRI"
    >>> result = scan(cohort, stat="pbs", by="pop", groups=trio, window=100)  # doctest: +SKIP
    >>> result.top(3)  # doctest: +SKIP
    """
    import pandas as pd

    from genshare_widgets.disclosure import NO_POLICY, policy_for
    from genshare_widgets.disclosure._scans import (
        HAPLOTYPE_GRID,
        check_grid_scan,
        check_scan_consent,
        check_scan_policy,
        on_grid,
    )

    stat = str(stat).lower()
    if stat not in SCAN_GROUPS:
        raise GenShareError(f"--stat must be one of {', '.join(SCAN_GROUPS)}, not {stat!r}")
    group_list = [g.strip() for g in groups.split(",")] if isinstance(groups, str) else list(groups)
    group_list = [g for g in group_list if g]
    if len(group_list) != SCAN_GROUPS[stat]:
        raise GenShareError(
            f"--stat {stat} takes {SCAN_GROUPS[stat]} group(s) in --groups (e.g. "
            f"{','.join(['CEU', 'CHB', 'YRI'][: SCAN_GROUPS[stat]])}), got {len(group_list)}: "
            f"{group_list}"
        )
    if window_unit not in WINDOW_UNITS:
        raise GenShareError(f"--window-unit must be variants or bp, not {window_unit!r}")
    if stat in ("pbs", "h12"):
        if window is None:
            raise GenShareError(
                f"--stat {stat} needs --window N (variants, or bp with --window-unit bp)"
            )
        if int(window) < 1 or (step is not None and int(step) < 1):
            raise GenShareError(f"--window ({window}) and --step ({step}) must be positive")
    if by not in cohort.samples.columns:
        raise GenShareError(
            f"cannot group by {by!r}: the sample table has {list(cohort.samples.columns)}; "
            "give --samples TSV and name a column with --by"
        )
    if getattr(cohort, "engine", "dask") == "hail":
        raise GenShareError("scans run on the local engine: open the cohort with engine='dask'")
    check_scan_consent(cohort, stat, by)
    if policy is None:
        policy = policy_for(cohort.entry) if getattr(cohort, "entry", None) else NO_POLICY
    sample_sets, sizes = _group_samples(cohort, by, group_list)
    check_scan_policy(policy, sizes, stat=stat, cohort_id=cohort.id)
    if stat == "h12" and on_grid(policy):  # rule S7: the cohort's haplotype grid only
        from genshare_widgets._hapgrid import grid_records

        check_grid_scan(
            policy, window=window, step=step, unit=window_unit, size=HAPLOTYPE_GRID,
            cohort_id=cohort.id,
        )  # fmt: skip
        part = scan_records(cohort, region=region) if region else None
        records = grid_records(scan_records(cohort), part, HAPLOTYPE_GRID)
        step = window
    else:
        records = scan_records(cohort, region=region)
    options = {
        "normed": normed,
        "min_maf": min_maf,
        "min_ehh": min_ehh,
        "include_edges": include_edges,
        "gap_scale": gap_scale,
        "max_gap": max_gap,
        "n_bins": n_bins,
    }
    filters: dict[str, Any] = {"region": region, "snps_only": True, **records.info}
    if stat == "pbs":
        rows, extra, withheld, more = _pbs_rows(
            cohort, by, group_list, records, window, step, window_unit, region, normed, policy
        )
        filters.update(more)
        parameters = {
            "normed": normed,
            "fst": "Hudson (Bhatia et al. 2013), ratio of sums per window",
        }
    elif stat == "h12":
        rows, extra, withheld = _h12_rows(
            cohort, sample_sets[0], records, window, step, window_unit, policy
        )
        parameters = {}
    else:
        rows, extra, withheld = _ehh_rows(
            cohort, stat, sample_sets, records, policy, genetic_map, options
        )
        parameters = {k: options[k] for k in options if k != "normed"}
        if stat == "xpehh":
            parameters.pop("min_maf")
        parameters["genetic_map"] = str(genetic_map) if genetic_map is not None else None
        parameters["gap_units"] = "cM" if genetic_map is not None else "bp"
        window = step = None
    table = pd.DataFrame(rows, columns=list(SCAN_COLUMNS))
    table = table.astype({"start": "int64", "end": "int64", "n_variants": "int64"})
    for key, values in extra.items():
        table[key] = np.asarray(values, dtype=np.float64)
    return ScanResult(
        table=table,
        stat=stat,
        groups=group_list,
        by=by,
        group_sizes=sizes,
        window=window,
        step=step,
        window_unit=window_unit,
        parameters=parameters,
        filters=filters,
        policy=policy,
        n_withheld=withheld,
        cohort_id=cohort.id,
        entry=getattr(cohort, "entry", None),
    )
