"""Genome-wide association: each variant's additive ALT dosage against a phenotype, with
covariates (``genshare assoc``, ``gs.association``).

The model and its sufficient statistics are in :mod:`genshare_widgets.stats._association`
(linear regression for a quantitative trait, logistic regression by Newton's method for a
binary one, both equal to ``plink2 --glm`` in tests). This module prepares the inputs and
runs the one genotype pass:

- **Samples**: those with a phenotype and every covariate. Samples without them are left out
  and counted by reason (``excluded``, in provenance).
- **Phenotype**: a numeric column of the sample table. Values ``NA``, ``.`` or empty are
  missing. A phenotype whose values are only 0/1 (0 = control, 1 = case) or 1/2 (PLINK's
  coding: 1 = control, 2 = case) is binary and fitted by logistic regression unless
  ``binary=False``; ``binary=True`` insists on it.
- **Covariates**: numeric columns as they are; a text column (e.g. ``sex``) becomes one 0/1
  indicator per level after the first in sorted order (``sex=male``). ``pcs=N`` adds the
  cohort's first N principal components (:func:`genshare_widgets.samples.principal_components`
  on all its samples, default filters: MAF ≥ 0.05 over the whole cohort). A covariate that is
  constant or a linear combination of others is refused by name.
- **Variants**: the records of the selection (region, ``snps_only``, ``min_maf`` over the
  analysed samples), read block by block from the store's bit planes (:func:`dosage_blocks`),
  so memory does not grow with the number of variants. A missing call drops the sample for
  that variant only. A multi-allelic site is split into one biallelic record per ALT allele,
  as ``bcftools norm -m-`` splits it and as every GenShare count does: the record of ALT i is
  tested on the dosage "copies of ALT i" (every other allele counts as REF), one model per
  ALT. That is ``plink2 --glm`` on the split VCF; ``plink2 --glm`` on the unsplit VCF fits
  the ALTs of a site jointly instead (one line per non-major allele, each adjusted for the
  others), which is not a per-record statistic.
- **Release**: under the cohort's disclosure policy the table goes through the release door
  (:mod:`genshare_widgets.disclosure._association`); the consent gate treats association as
  health research (:func:`genshare_widgets.disclosure._gate.check_association`).

For a binary trait the table also has the allelic chi-square (Pearson 2 × 2, 1 df, computed
from the case and control allele counts) as ``allelic_chisq`` and ``allelic_p``.
"""

import functools
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from genshare_widgets._errors import GenShareError

if TYPE_CHECKING:
    import pandas as pd

    from genshare_widgets.engines._direct import DosageBlock
    from genshare_widgets.stats._association import LinearSums

#: Values read as a missing phenotype or covariate (besides an empty cell / NaN).
MISSING_TEXT = {"", "na", "nan", ".", "none", "null"}

#: Columns of ``assoc.tsv`` in file order (binary traits add ``allelic_chisq``, ``allelic_p``).
ASSOC_COLUMNS = ("contig", "position", "ref", "alt", "n", "beta", "se", "stat", "p", "note")


@dataclass
class AssociationInputs:
    """The analysed samples and their phenotype and covariates (never released)."""

    pheno: str
    y: np.ndarray
    covariates: np.ndarray | None
    covariate_names: list[str]
    sample_index: np.ndarray
    sample_ids: list[str]
    binary: bool
    coding: str
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return len(self.y)

    def group_labels(self) -> dict[str, int]:
        """Analysed samples per group: ``{"all": n}`` or ``{"case": .., "control": ..}``."""
        if not self.binary:
            return {"all": self.n_samples}
        cases = int(self.y.sum())
        return {"case": cases, "control": self.n_samples - cases}


def _missing(values: "pd.Series") -> np.ndarray:
    text = values.astype(str).str.strip().str.lower()
    return (values.isna() | text.isin(MISSING_TEXT)).to_numpy()


def _numeric(values: "pd.Series", *, what: str) -> np.ndarray:
    """Float values of a column (NaN where missing); a clear error on non-numeric text."""
    import pandas as pd

    missing = _missing(values)
    numbers = pd.to_numeric(values.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~missing & ~np.isfinite(numbers)
    if bad.any():
        examples = sorted({str(v) for v in values[bad]})[:3]
        raise GenShareError(
            f"{what} is not numeric: {int(bad.sum())} value(s) such as {examples}. Use numbers "
            "(NA for missing); a binary trait is 0/1 (control/case) or 1/2."
        )
    return numbers


def _covariate_columns(samples: "pd.DataFrame", name: str) -> tuple[list[str], np.ndarray]:
    """One covariate column → (names, float (samples, m)): numeric as is, text as indicators."""
    import pandas as pd

    if name not in samples.columns:
        raise GenShareError(
            f"covariate {name!r} is not a column of the sample table (columns: "
            f"{list(samples.columns)}); give --samples TSV with it or pick another"
        )
    values = samples[name]
    missing = _missing(values)
    numbers = pd.to_numeric(values.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    if np.isfinite(numbers[~missing]).all():
        return [name], numbers[:, None]
    levels = sorted({str(v).strip() for v in values[~missing]})
    text = values.astype(str).str.strip().to_numpy()
    columns = []
    for level in levels[1:]:
        col = (text == level).astype(np.float64)
        col[missing] = np.nan
        columns.append(col)
    if not columns:
        return [f"{name}={levels[0]}"], np.where(missing, np.nan, 1.0)[:, None]
    return [f"{name}={lv}" for lv in levels[1:]], np.column_stack(columns)


def _check_collinear(c: np.ndarray, names: list[str]) -> None:
    """Refuse covariates that are constant or linear combinations of the earlier ones."""
    scale = np.abs(c).max(axis=0)
    scale[scale == 0] = 1
    z = c / scale
    rank = 1
    for j in range(1, z.shape[1]):
        r = np.linalg.matrix_rank(z[:, : j + 1], tol=1e-9 * max(1.0, math.sqrt(len(z))))
        if r == rank:
            name = names[j - 1]
            if np.ptp(c[:, j]) == 0:
                raise GenShareError(
                    f"covariate {name!r} is constant over the analysed samples; drop it"
                )
            others = ", ".join(repr(n) for n in names[: j - 1]) or "the intercept"
            raise GenShareError(
                f"covariate {name!r} is collinear with {others} (a linear combination of "
                "them over the analysed samples); drop one of them"
            )
        rank = r


def association_inputs(
    cohort,
    pheno: str,
    *,
    covar: Sequence[str] | None = None,
    pcs: int = 0,
    binary: bool | None = None,
    samples: "pd.DataFrame | None" = None,
) -> AssociationInputs:
    """The analysed samples, phenotype ``y`` and covariate matrix of an association run.

    ``samples``: the sample table to read, indexed by sample id (default ``cohort.samples``;
    samples missing from it have no phenotype). See the module docstring for the rules;
    every refusal is a :class:`~genshare_widgets._errors.GenShareError` naming the column."""
    table = cohort.samples if samples is None else samples.reindex(cohort.samples.index)
    if pheno not in table.columns:
        raise GenShareError(
            f"phenotype {pheno!r} is not a column of the sample table (columns: "
            f"{list(table.columns)}); give --samples TSV with it or name another with --pheno"
        )
    y = _numeric(table[pheno], what=f"phenotype {pheno!r}")
    withdrawals = getattr(cohort, "withdrawals", None)
    withdrawn = np.zeros(len(y), dtype=bool) if withdrawals is None else ~withdrawals.kept
    listed = getattr(cohort, "listed", None)
    unlisted = np.zeros(len(y), dtype=bool) if listed is None else ~listed & ~withdrawn
    # withdrawn samples (dynamic consent) and samples a --samples table leaves out are never
    # analysed (the cohort's one mask, Cohort.kept)
    kept = ~withdrawn & ~unlisted
    keep = np.isfinite(y) & kept
    excluded: dict[str, int] = {}
    if withdrawn.any():
        excluded["withdrawn"] = int(withdrawn.sum())
    if unlisted.any():
        excluded["not in --samples"] = int(unlisted.sum())
    if (kept & ~np.isfinite(y)).any():
        excluded[f"no {pheno}"] = int((kept & ~np.isfinite(y)).sum())
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for name in covar or []:
        cols, values = _covariate_columns(table, name)
        lost = keep & ~np.isfinite(values).all(axis=1)
        if lost.any():
            excluded[f"no {name}"] = int(lost.sum())
        keep &= ~lost
        names += cols
        blocks.append(values)
    if pcs:
        if pcs < 1:
            raise GenShareError(f"--pcs must be a positive number of components, not {pcs}")
        from genshare_widgets.samples import principal_components

        result = principal_components(cohort, k=pcs, by=None, min_maf=0.05)
        names += [f"PC{i + 1}" for i in range(pcs)]
        coords = result.coordinates[[f"PC{i + 1}" for i in range(pcs)]]
        # withdrawn samples have no coordinates (NaN here; they are not kept anyway)
        blocks.append(coords.reindex(table.index).to_numpy())
    index = np.flatnonzero(keep)
    values = y[index]
    if not len(values):
        raise GenShareError(f"no sample has both the phenotype {pheno!r} and every covariate")
    distinct = np.unique(values)
    coding = "quantitative"
    if binary is not False and len(distinct) == 2 and set(distinct) <= {0.0, 1.0, 2.0}:
        binary = True
    if binary:
        if set(distinct) <= {0.0, 1.0}:
            coding = "binary: 0 = control, 1 = case"
        elif set(distinct) <= {1.0, 2.0}:
            coding = "binary: 1 = control, 2 = case (PLINK)"
            values = values - 1.0
        else:
            raise GenShareError(
                f"phenotype {pheno!r} is not binary: its values include "
                f"{[float(v) for v in distinct[:4]]}; code cases/controls as 1/0 (or 2/1)"
            )
        cases = int(values.sum())
        if cases in (0, len(values)):
            which = "cases" if cases else "controls"
            raise GenShareError(
                f"phenotype {pheno!r}: all {len(values)} analysed samples are {which}; a "
                "binary trait needs both cases and controls"
            )
    elif len(distinct) < 2:
        raise GenShareError(
            f"phenotype {pheno!r} is constant ({float(distinct[0])}) over the "
            f"{len(values)} analysed samples: nothing to associate"
        )
    covariates = np.hstack(blocks)[index] if blocks else None
    if covariates is not None:
        _check_collinear(np.hstack([np.ones((len(index), 1)), covariates]), names)
    if len(index) <= len(names) + 2:
        raise GenShareError(
            f"{len(index)} analysed samples for {len(names) + 2} parameters: too few"
        )
    return AssociationInputs(
        pheno=pheno,
        y=values,
        covariates=covariates,
        covariate_names=names,
        sample_index=index,
        sample_ids=[str(s) for s in table.index[index]],
        binary=bool(binary),
        coding=coding,
        excluded=excluded,
    )


def analysed_sample_sets(inputs: AssociationInputs) -> dict[str, list[str]]:
    """The sample sets an association release describes, for the release log (rule 6): the
    analysed samples of a quantitative trait; the cases, the controls and their union for a
    binary one."""
    from genshare_widgets.disclosure._publishing import with_union

    pheno = inputs.pheno
    if not inputs.binary:
        return {f"analysed for {pheno}": list(inputs.sample_ids)}
    pairs = list(zip(inputs.sample_ids, inputs.y, strict=True))
    return with_union(
        {
            f"{pheno}=case": [s for s, v in pairs if v > 0],
            f"{pheno}=control": [s for s, v in pairs if v == 0],
        }
    )


def _require_local_engine(cohort) -> None:
    """Refuse a cohort opened on the Hail engine: association reads genotypes locally."""
    if getattr(cohort, "engine", "dask") == "hail":
        raise GenShareError(
            "association runs on the local engine: open the cohort with engine='dask' (the "
            "default); the Hail engine has no association pass here"
        )


def dosage_stream(
    cohort,
    index: np.ndarray,
    sample_index: np.ndarray | None = None,
    *,
    rows: int = 2048,
    groups: "np.ndarray | None" = None,
    alt_allele: "np.ndarray | None" = None,
) -> "Iterator[DosageBlock]":
    """:class:`~genshare_widgets.engines._direct.DosageBlock` s over the records ``index``
    (sorted store rows) with ALTs ``alt_allele`` (their ALT index in the row, default all 1:
    a split multi-allelic row appears once per ALT, its dosage the copies of that ALT),
    ≤ ``rows`` variants each, samples of ``sample_index`` (None = all), missing calls
    as 0 with their positions listed. Local stores stream their bit planes
    (:func:`engines._direct.direct_dosage_blocks`); other cohorts read ``call_genotype``. A
    block's ``x`` is valid until the next block is asked for. ``groups``: an int64 group code
    per store sample (-1 = left out): each block then carries its rows' per-group counts."""
    from genshare_widgets.counts import _direct_store, pass_scheduler
    from genshare_widgets.engines._direct import filled_block

    index = np.asarray(index, dtype=np.int64)
    _require_local_engine(cohort)
    direct = _direct_store(cohort) if pass_scheduler(cohort) is None else None
    counter = _counter(cohort, groups)
    if direct is not None:
        from genshare_widgets.engines._direct import direct_dosage_blocks

        yield from direct_dosage_blocks(
            direct,
            index,
            sample_index,
            rows_per_block=rows,
            counter=counter,
            alt_allele=alt_allele,
        )
        return
    from genshare_widgets.engines._direct import dosage_from_calls

    alts = np.ones(len(index), np.int64) if alt_allele is None else np.asarray(alt_allele)
    calls = cohort.genotypes["call_genotype"]
    for start in range(0, len(index), rows):
        part = index[start : start + rows]
        alt = alts[start : start + rows]
        gt = np.asarray(calls[part[0] : part[-1] + 1].values)[part - part[0]]
        x = dosage_from_calls(gt, alt)
        if sample_index is not None:
            x = x[:, sample_index]
        block = filled_block(np.arange(start, start + len(part)), x)
        yield block if counter is None else block._replace(counts=counter.calls(gt, alt))


def _counter(cohort, groups: "np.ndarray | None"):
    """The :class:`engines._direct.GroupCounter` of per-sample group codes (or None)."""
    if groups is None:
        return None
    from genshare_widgets.engines._direct import GroupCounter

    groups = np.asarray(groups, dtype=np.int64)
    return GroupCounter(groups, int(groups.max()) + 1, (len(groups) + 63) // 64)


def dosage_blocks(
    cohort,
    index: np.ndarray,
    sample_index: np.ndarray | None = None,
    *,
    rows: int = 2048,
    alt_allele: "np.ndarray | None" = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(positions, dosage)`` over the records ``index`` (store rows) and ``alt_allele``:
    :func:`dosage_stream` with each block as a fresh float64 matrix (rows, samples), NaN for
    a missing call."""
    for block in dosage_stream(cohort, index, sample_index, rows=rows, alt_allele=alt_allele):
        yield block.positions, block.with_nan()


@dataclass
class AssociationResult:
    """A released association table and what it was computed from.

    ``columns``: the released columns as arrays, in file order: contig, position, ref, alt,
    n, beta, se, stat, p, note (+ ``allelic_chisq``, ``allelic_p`` for a binary trait), one
    row per tested variant; NaN and a ``note`` where a test is undefined or withheld by the
    disclosure policy; ``n_defined`` is False where n is withheld. ``table`` is the same as a
    pandas DataFrame (n as a nullable integer), built on first use; :meth:`write_tsv` streams
    the columns to ``assoc.tsv`` without it. A run written straight to a file
    (``association(..., out=PATH)``) keeps no table: ``columns`` and ``n_defined`` are None
    and ``written`` is the file."""

    columns: dict[str, np.ndarray] | None
    n_defined: np.ndarray | None
    model: str
    pheno: str
    covar: list[str]
    covariate_columns: list[str]
    pcs: int
    coding: str
    n_samples: int
    groups: dict[str, int]
    excluded: dict[str, int]
    lambda_gc: float
    filters: dict[str, Any]
    policy: Any = None
    n_withheld: int = 0
    cohort_id: str = ""
    n_tested: int = 0
    #: The catalog entry analysed (its terms: a publication moratorium refuses write_tsv).
    entry: Any = field(default=None, repr=False, compare=False)
    written: Any = None

    def provenance(self) -> dict[str, Any]:
        """The association's part of ``provenance.json``."""
        return {
            "model": self.model,
            "pheno": self.pheno,
            "phenotype_coding": self.coding,
            "covar": self.covar,
            "covariate_columns": self.covariate_columns,
            "pcs": self.pcs,
            "n_samples": self.n_samples,
            "groups": self.groups,
            "samples_excluded": self.excluded,
            "n_variants_tested": self.n_tested,
            "n_variants_withheld": self.n_withheld,
            "lambda_gc": None if math.isnan(self.lambda_gc) else self.lambda_gc,
            "filters": self.filters,
        }

    def _kept(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        if self.columns is None or self.n_defined is None:
            raise GenShareError(
                f"this association was written straight to {self.written} and keeps no "
                "table: read that file, or run it without out= to keep the table"
            )
        return self.columns, self.n_defined

    @cached_property
    def table(self) -> "pd.DataFrame":
        import pandas as pd

        columns, n_defined = self._kept()
        frame = pd.DataFrame(columns)
        frame["n"] = pd.arrays.IntegerArray(
            np.asarray(columns["n"], dtype=np.int64), ~np.asarray(n_defined)
        )
        return frame

    def write_tsv(self, path, *, block_rows: int = 65536) -> None:
        """Write ``assoc.tsv`` (:func:`write_assoc_tsv`) from the kept table; refused
        (:class:`~genshare_widgets.disclosure.ExportRefused`) during the entry's publication
        moratorium (MOR)."""
        from types import SimpleNamespace

        from genshare_widgets.disclosure._modifiers import check_export

        check_export(SimpleNamespace(entry=self.entry), what=f"an association into {path}")
        columns, n_defined = self._kept()
        n = len(n_defined)
        parts = (
            ({k: v[s : s + block_rows] for k, v in columns.items()}, n_defined[s : s + block_rows])
            for s in range(0, max(n, 1), block_rows)
        )
        write_assoc_tsv(parts, path)


def write_assoc_tsv(blocks: "Iterator[tuple[dict[str, np.ndarray], np.ndarray]]", path) -> None:
    """Write ``assoc.tsv`` from ``(columns, n_defined)`` blocks as they come: tab-separated,
    header row, floats in shortest round-trip form, NA for a missing number. ``blocks`` must
    give at least one (possibly empty) block."""
    from genshare_widgets._outputs import write_blocks

    def batch(columns: dict[str, np.ndarray], n_defined: np.ndarray):
        import pyarrow as pa

        arrays = []
        for name, v in columns.items():
            if name == "n":
                arrays.append(pa.array(v, mask=~n_defined))
            elif v.dtype.kind == "f":
                arrays.append(pa.array(v, from_pandas=True))
            else:
                arrays.append(pa.array(v.tolist() if v.dtype == object else v))
        return pa.record_batch(arrays, names=list(columns))

    def makers():
        for columns, n_defined in blocks:
            yield functools.partial(batch, columns, n_defined)

    write_blocks(makers(), path)


def _full(values: np.ndarray, inputs: AssociationInputs, n_all: int) -> np.ndarray:
    """Per-analysed-sample rows scattered into all the store's samples (zeros elsewhere)."""
    out = np.zeros((n_all, values.shape[1]))
    out[inputs.sample_index] = values
    return out


def linear_sums_stream(
    cohort,
    inputs: AssociationInputs,
    index: np.ndarray,
    *,
    groups: "np.ndarray | None" = None,
    alt_allele: "np.ndarray | None" = None,
) -> "Iterator[tuple[np.ndarray, LinearSums, np.ndarray | None]]":
    """``(positions, sums, counts)``: the linear model's sufficient statistics
    (:class:`~genshare_widgets.stats._association.LinearSums`) of the records ``index``
    (store rows) and ``alt_allele`` (their ALTs, as :func:`dosage_stream`) over the analysed
    samples, a store chunk at a time, ``positions`` consecutive and in
    order. Local stores are summed on their bit planes
    (:func:`engines._direct.direct_regression_products`); other rows and cohorts go through
    :func:`dosage_stream`. ``counts``: the rows' per-group counts when ``groups`` (a code per
    store sample, as :func:`dosage_stream`) is given, else None. This is the one linear pass:
    ``association`` fits its output, and a federation site releases it."""
    from genshare_widgets.counts import _direct_store, pass_scheduler
    from genshare_widgets.engines._direct import direct_regression_products
    from genshare_widgets.stats._association import (
        linear_sums,
        linear_sums_from_products,
        regression_weights,
    )

    _require_local_engine(cohort)
    y, cov = inputs.y, inputs.covariates
    direct = _direct_store(cohort) if pass_scheduler(cohort) is None else None
    if direct is None:
        for block in dosage_stream(
            cohort, index, _subset(cohort, inputs), groups=groups, alt_allele=alt_allele
        ):
            yield block.positions, linear_sums(block, y, cov), block.counts
        return
    weights, moments = regression_weights(y, cov)
    n_all = cohort.n_samples
    for lo, hi, products, block, counts in direct_regression_products(
        direct,
        index,
        _subset(cohort, inputs),
        _full(weights, inputs, n_all),
        _full(moments, inputs, n_all),
        counter=_counter(cohort, groups),
        alt_allele=alt_allele,
    ):
        parts = []
        if products is not None:
            sums = linear_sums_from_products(
                products.xw, products.xx, products.n_missing, products.missing_moments, y, cov
            )
            parts.append((products.positions, sums))
        if block is not None:
            parts.append((block.positions, linear_sums(block, y, cov)))
        merged = parts[0][1] if len(parts) == 1 else _merged(parts, lo, hi)
        yield np.arange(lo, hi), merged, counts


def _merged(parts: "list[tuple[np.ndarray, LinearSums]]", lo: int, hi: int) -> "LinearSums":
    """One :class:`LinearSums` of the rows ``lo .. hi - 1`` from parts covering them."""
    from genshare_widgets.stats._association import LinearSums

    p = parts[0][1].xtx.shape[1]
    n = hi - lo
    out = LinearSums(np.empty((n, p, p)), np.empty((n, p)), np.empty(n), np.empty(n, np.int64))
    for positions, sums in parts:
        rows = positions - lo
        out.xtx[rows], out.xty[rows], out.yty[rows], out.n[rows] = (
            sums.xtx,
            sums.xty,
            sums.yty,
            sums.n,
        )
    return out


def _subset(cohort, inputs: AssociationInputs) -> np.ndarray | None:
    """The analysed sample positions, or None when every sample is analysed."""
    return None if inputs.n_samples == cohort.n_samples else inputs.sample_index


def _fit_stream(
    cohort,
    inputs: AssociationInputs,
    index: np.ndarray,
    groups: np.ndarray,
    alt_allele: np.ndarray,
) -> "Iterator[tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]]":
    """``(positions, fit, counts)`` over the records ``index`` (store rows) and
    ``alt_allele`` (their ALTs): consecutive positions in
    order, a block of variants at a time, with the rows' per-group counts (``groups``: a code
    per store sample), so nothing grows with the number of variants."""
    from genshare_widgets.stats._association import linear_fit, logistic_fit

    if not inputs.binary:
        for positions, sums, counts in linear_sums_stream(
            cohort, inputs, index, groups=groups, alt_allele=alt_allele
        ):
            assert counts is not None
            yield positions, linear_fit(sums), counts
        return
    # Newton rounds are elementwise work on (variants × samples) blocks: two blocks are
    # fitted at once in threads (numpy releases the GIL), each on its own copy of the
    # stream's reused buffer; they are handed back in order.
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for block in dosage_stream(
            cohort, index, _subset(cohort, inputs), groups=groups, alt_allele=alt_allele
        ):
            own = block._replace(x=block.x.copy())
            job = pool.submit(logistic_fit, own, inputs.y, inputs.covariates)
            pending.append((own.positions, job, own.counts))
            if len(pending) >= workers:
                positions, job, counts = pending.popleft()
                yield positions, job.result(), counts
        while pending:
            positions, job, counts = pending.popleft()
            yield positions, job.result(), counts


def _variants_to_test(cohort, *, region: str | None, snps_only: bool):
    """The records an association tests, before the MAF filter (the selection rules of every
    genotype pass: in ``region``, a multi-allelic site split into one record per ALT allele
    as ``bcftools norm -m-`` does, SNVs with ``snps_only`` per record): ``(index,
    alt_allele, info, describe)`` with ``index`` the records' store rows (sorted; repeated
    for a split row), ``alt_allele`` their ALT index in the row, ``info`` what was left out,
    and ``describe(positions)``: the contig, position, REF and ALT of the records at
    ``positions`` of ``index``, decoded only for the records of a block (nothing held per
    variant but the row numbers and ALT indices)."""
    from genshare_widgets._selection import fixed_strings, record_alleles, variant_selection
    from genshare_widgets.counts import _direct_store, pass_scheduler, table_selection

    direct = _direct_store(cohort) if pass_scheduler(cohort) is None else None
    if direct is not None:
        table = direct.variant_table()
        index, alt_allele, info = table_selection(
            table, region=region, snps_only=snps_only, alleles_of=direct.allele_rows
        )
        contig_ids, contig, position = (
            table.contig_ids,
            table.variant_contig,
            table.variant_position,
        )
        width = table.biallelic_width

        def alleles_of(rows: np.ndarray, alt: np.ndarray) -> np.ndarray:
            return record_alleles(table.ref_alt(rows, width=width), rows, alt, direct.allele_rows)
    else:
        ds = cohort.genotypes
        index, alt_allele, info, _ = variant_selection(ds, region=region, snps_only=snps_only)
        all_alleles = fixed_strings(ds["variant_allele"].values)
        contig_ids = fixed_strings(ds["contig_id"].values)
        contig, position = ds["variant_contig"].values, ds["variant_position"].values

        def alleles_of(rows: np.ndarray, alt: np.ndarray) -> np.ndarray:
            ref_alt = all_alleles[rows][:, :2]
            return record_alleles(ref_alt, rows, alt, all_alleles.__getitem__)

    contig_ids = np.asarray(contig_ids)

    def describe(positions: np.ndarray) -> dict[str, np.ndarray]:
        rows, alt = index[positions], alt_allele[positions]
        alleles = alleles_of(rows, alt)
        return {
            "contig": contig_ids[contig[rows]],
            "position": np.asarray(position[rows], dtype=np.int64),
            "ref": alleles[:, 0],
            "alt": alleles[:, 1],
        }

    return index, alt_allele, info, describe


def association(
    cohort,
    pheno: str,
    *,
    covar: Sequence[str] | None = None,
    pcs: int = 0,
    binary: bool | None = None,
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    policy=None,
    samples: "pd.DataFrame | None" = None,
    out=None,
) -> AssociationResult:
    """Test every selected variant for association with ``pheno`` (see the module docstring).

    ``policy``: the disclosure policy (default: the cohort's tier default,
    :func:`genshare_widgets.disclosure.policy_for`); the returned table is the released one.
    ``out``: a path to write ``assoc.tsv`` to as the variants are tested (a block at a time:
    memory does not grow with the number of variants); the result then keeps no table.

    Examples
    --------
    >>> cohort = open_cohort("sim-ooa")  # doctest: +SKIP
    >>> result = association(cohort, "height_like", covar=["sex"], pcs=2)  # doctest: +SKIP
    >>> result.table.nsmallest(3, "p")  # doctest: +SKIP
    """
    from genshare_widgets.disclosure import policy_for
    from genshare_widgets.disclosure._association import (
        check_association_policy,
        coarse_maf_passing,
        missing_calls_withheld,
        release_association,
        withheld_variants,
    )
    from genshare_widgets.disclosure._gate import check_association
    from genshare_widgets.stats._association import (
        allelic_chisq,
        empty_fit,
        genomic_control_lambda,
    )

    check_association(cohort, trait=pheno)
    if out is not None:  # MOR: writing results to disk waits for the moratorium's end
        from genshare_widgets.disclosure._modifiers import check_export

        check_export(cohort, what=f"an association into {out}")
    if policy is None:
        policy = policy_for(cohort.entry) if getattr(cohort, "entry", None) else None
    if policy is None:
        from genshare_widgets.disclosure import NO_POLICY

        policy = NO_POLICY
    if min_maf is not None and not 0 <= min_maf <= 0.5:
        raise GenShareError(f"--min-maf must be between 0 and 0.5, not {min_maf}")
    inputs = association_inputs(cohort, pheno, covar=covar, pcs=pcs, binary=binary, samples=samples)
    check_association_policy(policy, inputs.group_labels(), cohort_id=cohort.id)
    _require_local_engine(cohort)
    # the analysed groups (all samples; or cases and controls) as a code per store sample:
    # the genotype pass counts them chunk by chunk for the MAF filter and the release rules
    from genshare_widgets.engines._group_counts import FIELDS

    names = ["case", "control"] if inputs.binary else ["all"]
    groups = np.full(cohort.n_samples, -1, dtype=np.int64)
    groups[inputs.sample_index] = (inputs.y == 0).astype(np.int64) if inputs.binary else 0
    index, alt_allele, info, describe = _variants_to_test(
        cohort, region=region, snps_only=snps_only
    )
    if inputs.binary:
        case, control = names.index("case"), names.index("control")
        ac, an = FIELDS.index("allele_count"), FIELDS.index("allele_number")
    released_p: list[np.ndarray] = []
    tally = {"withheld": 0, "tested": 0}

    def released(positions: np.ndarray, fit: dict[str, np.ndarray], counts: np.ndarray):
        """The released columns of the rows ``positions`` of ``index`` that pass the MAF
        filter, from their fit and per-group counts."""
        keep = coarse_maf_passing(counts, min_maf, policy)
        if not keep.all():
            positions, counts = positions[keep], counts[keep]
            fit = {key: value[keep] for key, value in fit.items()}
        tally["tested"] += len(positions)
        withheld = withheld_variants(counts, policy) | missing_calls_withheld(
            fit["n"], inputs.n_samples, policy
        )
        out, n_withheld = release_association(fit, withheld)
        tally["withheld"] += n_withheld
        columns: dict[str, Any] = describe(positions)
        columns["n"] = np.asarray(out["n"], dtype=np.int64)
        for key in ("beta", "se", "stat", "p", "note"):
            columns[key] = out[key]
        if inputs.binary:
            chi2, chi_p = allelic_chisq(
                counts[:, case, ac],
                counts[:, case, an],
                counts[:, control, ac],
                counts[:, control, an],
            )
            chi2[withheld] = np.nan
            chi_p[withheld] = np.nan
            columns["allelic_chisq"] = chi2
            columns["allelic_p"] = chi_p
        released_p.append(columns["p"])
        return columns, ~withheld

    def blocks():
        nothing = np.zeros((0, len(names), len(FIELDS)), dtype=np.int32)
        yield released(np.zeros(0, dtype=np.int64), empty_fit(0), nothing)  # the header
        for positions, fit, counts in _fit_stream(cohort, inputs, index, groups, alt_allele):
            yield released(positions, fit, counts)

    columns: dict[str, np.ndarray] | None = None
    n_defined: np.ndarray | None = None
    if out is not None:
        write_assoc_tsv(blocks(), out)
    else:
        parts = list(blocks())
        columns = {k: np.concatenate([c[k] for c, _ in parts]) for k in parts[0][0]}
        n_defined = np.concatenate([d for _, d in parts])
    filters = {
        "multiallelic": "split per ALT allele (bcftools norm -m-); each ALT's own dosage",
        **info,
        "snps_only": snps_only,
        "min_maf": min_maf,
        "region": region,
    }
    filters["n_variants_analysed"] = tally["tested"]
    if min_maf is not None and policy.active and (policy.min_count or 1) > 1:
        filters["min_maf_rule"] = (
            f"minor allele counts rounded down to a multiple of {policy.min_count}"
        )
    return AssociationResult(
        columns=columns,
        n_defined=n_defined,
        model="logistic" if inputs.binary else "linear",
        pheno=pheno,
        covar=list(covar or []),
        covariate_columns=list(inputs.covariate_names),
        pcs=pcs,
        coding=inputs.coding,
        n_samples=inputs.n_samples,
        groups=inputs.group_labels(),
        excluded=inputs.excluded,
        lambda_gc=genomic_control_lambda(np.concatenate(released_p)),
        filters=filters,
        policy=policy,
        n_withheld=tally["withheld"],
        cohort_id=cohort.id,
        n_tested=tally["tested"],
        written=out,
        entry=getattr(cohort, "entry", None),
    )


def released_association(
    cohort,
    pheno: str,
    *,
    command: str,
    covar: Sequence[str] | None = None,
    pcs: int = 0,
    binary: bool | None = None,
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    policy=None,
    out=None,
) -> AssociationResult:
    """:func:`association` for a release (a file, a figure): under an active policy the
    analysed sample set(s) (:func:`analysed_sample_sets`) are checked against the cohort's
    release log before the genotype pass (rule 6: no set differing from an earlier released
    one by fewer than k samples) and recorded with ``command`` after it."""
    from genshare_widgets.disclosure import policy_for
    from genshare_widgets.disclosure._publishing import ReleaseLog, min_difference

    if policy is None:
        policy = policy_for(cohort.entry) if getattr(cohort, "entry", None) else None
    log, sets = None, {}
    if policy is not None and policy.active and policy.epsilon is None:
        inputs = association_inputs(cohort, pheno, covar=covar, pcs=0, binary=binary)
        sets = analysed_sample_sets(inputs)
        log = ReleaseLog.for_cohort(cohort)
        log.check(sets, k=min_difference(policy), region=region)
    result = association(
        cohort,
        pheno,
        covar=covar,
        pcs=pcs,
        binary=binary,
        region=region,
        min_maf=min_maf,
        snps_only=snps_only,
        policy=policy,
        out=out,
    )
    if log is not None:
        log.record(sets, k=min_difference(policy), command=command, region=region)
    return result
