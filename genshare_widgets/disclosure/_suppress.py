"""Small-count suppression of a counts Dataset: linked cells are hidden together.

Which numbers are cells
-----------------------
A *cell* is a count of people or of their alleles/genotypes. Per variant and group the cells
are **linked** by identities (AC = het + 2 hom ALT + haploid ALT; AN = 2 called + haploid
calls; REF = AN - AC; hom REF = called - het - hom ALT), so releasing some of them and hiding
others lets the hidden ones be solved for (an issue-13 attack recovered 323 hidden hom-ALT
cells from one answer). Two nested rows of linked cells are released or hidden as wholes:

- the **allele row**: AC, REF count (AN - AC), AN, and what AN gives away on its own: the
  called genotypes and the haploid calls (AN - 2 called; 0 on autosomes);
- the **genotype row**: the allele row plus het, hom ALT, hom REF and the haploid ALT/REF
  parts.

Per group the number of samples is a cell too. Counts of *variants* (SFS bins, shared-variant
combinations, windows) are not cells: they count sites, not people.

The rules (minimum cell count k)
--------------------------------
1. **Groups** with fewer than k samples are withheld from the whole release; they are listed in
   ``attrs["withheld_groups"]``.
2. **Allele row**: hidden when any of its cells is in 1..k-1. Then AC is written ``<k`` when
   it is in 1..k-1, else ``NA``, and AN and every genotype count ``NA``.
3. **Genotype row**: its counts (het, hom ALT, called) are released only when every cell of
   the genotype row is 0 or >= k; otherwise they are ``NA``, and the allele row stays shown
   only where the shown AC and AN leave every hidden genotype count free to be 0 or >= k
   (:func:`genotypes_stay_free`; e.g. AC 5 of 6 called genotypes at k = 5 would pin hom REF
   to 1..3, so that allele row is hidden too).
4. Cells that are not released hold **0** in the released Dataset together with their status,
   so a released object never carries a hidden value. ``allele_usable`` marks released allele
   rows (frequencies, Fst, expected heterozygosity, the MAF filter use only those);
   ``genotype_usable`` marks released genotype rows (observed heterozygosity uses only those).
5. **Split multi-allelic rows** (issue 18): the records of one row (``variant_index``), one
   per ALT allele, share its AN, and their ACs add up to AN minus the REF allele's own count.
   In each group the allele rows of a row's records are released or hidden together, and
   hidden together where AN - Σ AC (the REF allele count, derivable from what they show) is
   in 1..k-1; their genotype rows then follow (:func:`split_rows_hidden`).
6. **No totals over groups** are computed here; a service that shows one (a Beacon's ``ALL``)
   shows it only where every row under it is released (then it is a sum of released numbers).

What this guarantees (checked by an exact solver in ``tests/attacks``): given everything a
release shows, a cell shown ``<k`` can still take every value in 1..k-1, and any other hidden
cell whose value is in 1..k-1 can still be 0 or at least k.

Missing-call counts (n - called) are not treated as cells: missingness is a property of the
assay at a site; they are shown only through a released AN.
"""

from collections.abc import Mapping

import numpy as np

RELEASED, SUPPRESSED, WITHHELD = 0, 1, 2

GENOTYPE_COUNTS = ("het_count", "hom_alt_count", "called_count")
ROW_CELLS = ("allele_count", "allele_number", *GENOTYPE_COUNTS)


def primary(values: np.ndarray, k: int) -> np.ndarray:
    """True where ``1 <= values <= k - 1`` (a small count)."""
    values = np.asarray(values)
    return (values >= 1) & (values < k)


def allele_cells(ac, an, called=None) -> list[np.ndarray]:
    """The cells of the allele row: AC, REF, AN and, given the called genotypes, called and
    haploid calls (what a released AN tells about them)."""
    ac = np.asarray(ac, dtype=np.int64)
    an = np.asarray(an, dtype=np.int64)
    cells = [ac, an - ac, an]
    if called is not None:
        called = np.asarray(called, dtype=np.int64)
        cells += [called, an - 2 * called]
    return cells


def genotype_cells(ac, an, het, hom_alt, called) -> list[np.ndarray]:
    """The cells of the genotype row beyond the allele row: het, hom ALT, hom REF and the
    haploid ALT and REF calls."""
    ac, an, het, hom_alt, called = (
        np.asarray(x, dtype=np.int64) for x in (ac, an, het, hom_alt, called)
    )
    haploid = an - 2 * called
    haploid_alt = ac - het - 2 * hom_alt
    return [het, hom_alt, called - het - hom_alt, haploid_alt, haploid - haploid_alt]


def linked_cells(ac, an, het=None, hom_alt=None, called=None) -> list[np.ndarray]:
    """Every linked cell of the rows (the allele row, then the genotype row's own cells)."""
    cells = allele_cells(ac, an, called)
    if het is not None and hom_alt is not None and called is not None:
        cells += genotype_cells(ac, an, het, hom_alt, called)
    return cells


def genotypes_stay_free(ac, an, called, k: int) -> np.ndarray:
    """True where a shown AC and AN leave every hidden genotype count free to be 0 or >= k.

    On a diploid site (AN = 2 called) the genotypes consistent with AC = a and called = c
    are hom ALT x in [max(0, a - c), floor(a / 2)], het a - 2x and hom REF c - a + x; each
    range must reach 0 or k. Decided from the shown a and c only (not from the hidden
    values), so the decision itself tells nothing more. Sites with haploid calls never
    qualify (their genotypes are hidden with their alleles).
    """
    a = np.asarray(ac, dtype=np.int64)
    c = np.asarray(called, dtype=np.int64)
    diploid = np.asarray(an, dtype=np.int64) == 2 * c
    hom_alt_free = (a <= c) | (a // 2 >= k)
    het_free = (a % 2 == 0) | (a - 2 * np.maximum(a - c, 0) >= k)
    hom_ref_free = (a >= c) | (c - (a + 1) // 2 >= k)
    return diploid & hom_alt_free & het_free & hom_ref_free


def _any_small(cells, k: int) -> np.ndarray:
    hidden = np.zeros(np.shape(cells[0]), dtype=bool)
    for cell in cells:
        hidden |= primary(cell, k)
    return hidden


def hidden_rows(ac, an, *, called=None, k: int) -> np.ndarray:
    """True for every (variant, group) whose allele row has a cell in 1..k-1 (rule 2)."""
    return _any_small(allele_cells(ac, an, called), k)


def hidden_genotype_rows(ac, an, het, hom_alt, called, *, k: int) -> np.ndarray:
    """True for every (variant, group) whose genotype row has a cell in 1..k-1 (rule 3)."""
    return _any_small(linked_cells(ac, an, het, hom_alt, called), k)


def small_groups(group_sizes: Mapping[str, int], k: int) -> dict[str, str]:
    """Groups withheld under threshold k (rule 1): ``{group: reason}`` for 1..k-1 samples."""
    return {g: f"fewer than {k} samples" for g, n in group_sizes.items() if 1 <= n < k}


def split_rows_hidden(
    row: np.ndarray, ac: np.ndarray, an: np.ndarray, hidden: np.ndarray, k: int
) -> np.ndarray:
    """Rule 5: ``hidden`` (records, groups) widened so that the records of one store row
    (``row``: each record's ``variant_index``, sorted; a multi-allelic row split per ALT
    appears once per ALT) are hidden together in a group where any of them is, or where
    AN - Σ AC over them (the REF allele's own count) is in 1..k-1.

    Examples
    --------
    >>> split_rows_hidden(np.array([0, 1, 1]), np.array([[30], [25], [30]]),
    ...                   np.array([[60], [60], [60]]), np.zeros((3, 1), bool), 20)[:, 0]
    array([False,  True,  True])
    """
    row = np.asarray(row)
    if len(row) < 2:
        return hidden
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    sizes = np.diff(np.r_[starts, len(row)])
    if (sizes == 1).all():  # no split row: nothing shared between records
        return hidden
    ac = np.asarray(ac, dtype=np.int64)
    ref = np.asarray(an, dtype=np.int64)[starts] - np.add.reduceat(ac, starts, axis=0)
    together = np.logical_or.reduceat(hidden, starts, axis=0) | primary(ref, k)
    together &= (sizes > 1)[:, None]
    return hidden | np.repeat(together, sizes, axis=0)


def check_rows(released) -> None:
    """The runtime audit of a release: the allele cells (AC, AN) and the genotype counts are
    each released or hidden as a whole, genotype counts only beside released alleles, and no
    hidden cell holds a number. Raises :class:`GenShareError` otherwise (a bug, never a user
    mistake: nothing is written)."""
    from genshare_widgets._errors import GenShareError

    def hidden_of(names):
        names = [n for n in names if f"{n}_status" in released]
        if not names:
            return None, False
        statuses = np.stack([released[f"{n}_status"].values for n in names])
        values = np.stack([released[n].values for n in names])
        hidden = statuses != RELEASED
        partial = (hidden.any(axis=0) & ~hidden.all(axis=0)).any()
        return hidden.any(axis=0), bool(partial or (hidden & (values != 0)).any())

    allele_hidden, bad = hidden_of(("allele_count", "allele_number"))
    genotype_hidden, bad_g = hidden_of(GENOTYPE_COUNTS)
    bad = bad or bad_g
    if allele_hidden is not None:
        bad = bad or bool((released["allele_usable"].values != ~allele_hidden).any())
        if genotype_hidden is not None:
            bad = bad or bool((allele_hidden & ~genotype_hidden).any())
    if bad:
        raise GenShareError(
            "internal error: a release holds a partly hidden row or a hidden value; nothing "
            "was written. Please report this with the command you ran."
        )


def observed_het_released(het, called, usable, *, min_variants: int) -> np.ndarray:
    """Per group: mean over released rows with a called genotype of het / called; NaN where
    fewer than ``min_variants`` such rows exist (a mean over few variants is close to one
    person's data, and over a chosen region it could be differenced)."""
    het = np.asarray(het, dtype=np.float64)
    called = np.asarray(called, dtype=np.float64)
    out = np.full(called.shape[1], np.nan)
    for j in range(called.shape[1]):
        ok = usable[:, j] & (called[:, j] > 0)
        if int(ok.sum()) >= max(1, int(min_variants)):
            out[j] = (het[ok, j] / called[ok, j]).mean()
    return out


def suppress_counts(counts, k: int, *, min_variants: int = 1000):
    """The released copy of ``counts`` under minimum cell count ``k`` (module rules 1-4).

    Adds ``allele_count_status``, ``allele_number_status``, ``het_count_status``,
    ``hom_alt_count_status``, ``called_count_status`` (int8: 0 released, 1 ``<k``, 2 ``NA``),
    ``allele_usable`` and ``genotype_usable`` (bool: the allele / genotype row is released),
    zeroes every hidden cell, drops groups with fewer than k samples, and sets
    ``observed_het`` (groups) from released genotype rows only, over at least
    ``min_variants`` of them (else NaN).

    Examples
    --------
    >>> released = suppress_counts(counts, 20)  # doctest: +SKIP
    """
    names = [str(g) for g in counts["groups"].values]
    sizes = dict(zip(names, (int(n) for n in counts["group_n_samples"].values), strict=True))
    withheld = small_groups(sizes, k)
    kept = counts.isel(groups=[j for j, g in enumerate(names) if g not in withheld])
    out = kept.copy(deep=False)  # variables are replaced, never written in place
    ac = kept["allele_count"].values
    an = kept["allele_number"].values
    has_genotypes = all(g in kept for g in GENOTYPE_COUNTS)
    called = kept["called_count"].values if "called_count" in kept else None
    allele_hidden = hidden_rows(ac, an, called=called, k=k)
    genotype_hidden = (
        allele_hidden
        | hidden_genotype_rows(
            ac, an, kept["het_count"].values, kept["hom_alt_count"].values, called, k=k
        )
        if has_genotypes
        else allele_hidden
    )
    if has_genotypes:  # rule 3: alleles shown beside hidden genotypes only where that is safe
        allele_hidden = allele_hidden | (genotype_hidden & ~genotypes_stay_free(ac, an, called, k))
    if "variant_index" in kept:  # rule 5: the records of a split row, together
        allele_hidden = split_rows_hidden(kept["variant_index"].values, ac, an, allele_hidden, k)
        genotype_hidden = genotype_hidden | allele_hidden
    for name in [n for n in ROW_CELLS if n in kept]:
        hidden = allele_hidden if name in ("allele_count", "allele_number") else genotype_hidden
        status = np.where(hidden, WITHHELD, RELEASED).astype(np.int8)
        if name == "allele_count":
            status[hidden & primary(ac, k)] = SUPPRESSED
        values = kept[name].values
        out[name] = kept[name].copy(data=np.where(hidden, 0, values).astype(values.dtype))
        out[f"{name}_status"] = (("variants", "groups"), status)
    out["allele_usable"] = (("variants", "groups"), ~allele_hidden)
    out["genotype_usable"] = (("variants", "groups"), ~genotype_hidden)
    if has_genotypes:
        out["observed_het"] = (
            ("groups",),
            observed_het_released(
                out["het_count"].values,
                out["called_count"].values,
                ~genotype_hidden,
                min_variants=min_variants,
            ),
        )
    out.attrs = dict(counts.attrs)
    out.attrs["withheld_groups"] = withheld
    out.attrs["min_count"] = int(k)
    out.attrs["min_variants"] = int(min_variants)
    return out
