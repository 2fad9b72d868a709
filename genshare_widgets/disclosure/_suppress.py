"""Small-count suppression of a counts Dataset: primary, then complementary.

Which numbers are cells
-----------------------
A *cell* is a count of people or of their alleles/genotypes: per variant and group the ALT
allele count (AC), the REF allele count (AN - AC, released implicitly whenever AC and AN are),
the allele number (AN), the genotype counts (homozygous REF, heterozygous, homozygous ALT,
called), and per group the number of samples. Counts of *variants* (SFS bins, shared-variant
combinations, windows) are not cells: they count sites, not people.

The rules (minimum cell count k)
--------------------------------
1. **Groups** with fewer than k samples are withheld from the whole release (every per-group
   number of theirs could bound their size); they are listed in ``attrs["withheld_groups"]``.
2. **Primary suppression**: a cell in 1..k-1 is shown as ``<k`` (status 1). Zero is released:
   "nobody" identifies nobody.
3. **Complementary suppression** (status 2, written ``NA``): parts of a released total must not
   leave exactly one suppressed part recoverable by subtraction. For alleles the parts are
   (REF count, AC) with total AN: a REF count in 1..k-1 withholds AC (otherwise AN - AC gives
   it away); a suppressed AN withholds AC when AC > 0. For genotypes the parts are (hom REF,
   het, hom ALT) with total ``called``: when exactly one part is suppressed, the smallest other
   non-zero part is withheld too; a suppressed ``called`` withholds every non-zero part.
4. Cells that are not released hold **0** in the released Dataset together with their status,
   so a released object never carries a suppressed value. ``allele_usable`` marks the
   (variant, group) pairs whose AC and AN are both released: frequencies, Fst and expected
   heterozygosity use only those (a mean over released cells plus one suppressed cell could be
   solved for it).

Missing-call counts (2n - AN) are not treated as cells: missingness is a property of the assay
at a site, and treating it as one would withhold AN at most sites of most real cohorts.
Differencing *between* releases (e.g. a super-population table minus its populations' table)
is not stopped by suppression within one release; differential privacy is the tool for that.
"""

from collections.abc import Mapping

import numpy as np

from genshare_widgets.stats._diversity import observed_heterozygosity

RELEASED, SUPPRESSED, WITHHELD = 0, 1, 2

GENOTYPE_COUNTS = ("het_count", "hom_alt_count", "called_count")


def primary(values: np.ndarray, k: int) -> np.ndarray:
    """Status 1 where ``1 <= values <= k - 1``, else 0 (int8)."""
    values = np.asarray(values)
    return ((values >= 1) & (values < k)).astype(np.int8)


def complementary_suppression(parts: np.ndarray, total: np.ndarray, k: int) -> np.ndarray:
    """Statuses of ``parts`` (rows × m) that add up to ``total`` (rows) under threshold k.

    Primary suppression of each part; then, in every row where the total is released and
    exactly one part is suppressed, the smallest other non-zero part is withheld (status 2);
    where the total itself is suppressed, every non-zero part is at least withheld. Zero parts
    stay released.

    Examples
    --------
    >>> complementary_suppression(np.array([[3, 40, 57]]), np.array([100]), 20).tolist()
    [[1, 2, 0]]
    """
    parts = np.asarray(parts, dtype=np.int64)
    total = np.asarray(total, dtype=np.int64)
    status = primary(parts, k)
    total_hidden = primary(total, k).astype(bool)
    nonzero = parts > 0
    status = np.where(total_hidden[:, None] & nonzero & (status == 0), WITHHELD, status).astype(
        np.int8
    )
    lonely = (~total_hidden) & ((status > 0).sum(axis=1) == 1)
    if lonely.any():
        rows = np.flatnonzero(lonely)
        candidates = np.where(
            nonzero[rows] & (status[rows] == 0), parts[rows], np.iinfo(np.int64).max
        )
        pick = candidates.argmin(axis=1)
        has = candidates[np.arange(len(rows)), pick] < np.iinfo(np.int64).max
        status[rows[has], pick[has]] = WITHHELD
    return status


def allele_statuses(ac: np.ndarray, an: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Statuses of AC and AN (same shape) under threshold k (see the module rules)."""
    ac = np.asarray(ac, dtype=np.int64)
    an = np.asarray(an, dtype=np.int64)
    an_status = primary(an, k)
    flat = complementary_suppression(
        np.stack([(an - ac).ravel(), ac.ravel()], axis=1), an.ravel(), k
    )
    ac_status = flat[:, 1].reshape(ac.shape)
    return ac_status, an_status


def genotype_statuses(het, hom_alt, called, k: int) -> dict[str, np.ndarray]:
    """Statuses of the genotype counts (het, hom ALT, called) under threshold k."""
    het, hom_alt, called = (np.asarray(x, dtype=np.int64) for x in (het, hom_alt, called))
    hom_ref = called - het - hom_alt
    flat = complementary_suppression(
        np.stack([hom_ref.ravel(), het.ravel(), hom_alt.ravel()], axis=1), called.ravel(), k
    )
    shape = het.shape
    return {
        "het_count": flat[:, 1].reshape(shape),
        "hom_alt_count": flat[:, 2].reshape(shape),
        "called_count": primary(called, k),
    }


def small_groups(group_sizes: Mapping[str, int], k: int) -> dict[str, str]:
    """Groups withheld under threshold k (rule 1): ``{group: reason}`` for 1..k-1 samples."""
    return {g: f"fewer than {k} samples" for g, n in group_sizes.items() if 1 <= n < k}


def suppress_counts(counts, k: int):
    """The released copy of ``counts`` under minimum cell count ``k`` (module rules 1-4).

    Adds ``allele_count_status``, ``allele_number_status``, ``het_count_status``,
    ``hom_alt_count_status``, ``called_count_status`` (int8: 0 released, 1 ``<k``, 2 withheld)
    and ``allele_usable`` (bool), zeroes every cell that is not released, drops groups with
    fewer than k samples, and keeps ``observed_het`` (groups): the group-level observed
    heterozygosity over all variants, computed before suppression — an average over many
    variants and at least k people whose per-variant inputs are never released, so no cell
    can be solved from it.
    """
    names = [str(g) for g in counts["groups"].values]
    sizes = dict(zip(names, (int(n) for n in counts["group_n_samples"].values), strict=True))
    withheld = small_groups(sizes, k)
    kept = counts.isel(groups=[j for j, g in enumerate(names) if g not in withheld])
    out = kept.copy(deep=False)  # variables are replaced, never written in place
    out["observed_het"] = (("groups",), observed_heterozygosity(kept))
    ac = kept["allele_count"].values
    an = kept["allele_number"].values
    ac_status, an_status = allele_statuses(ac, an, k)
    statuses = {"allele_count": ac_status, "allele_number": an_status}
    if all(g in kept for g in GENOTYPE_COUNTS):
        statuses.update(
            genotype_statuses(
                kept["het_count"].values,
                kept["hom_alt_count"].values,
                kept["called_count"].values,
                k,
            )
        )
    for name, status in statuses.items():
        values = kept[name].values
        out[name] = kept[name].copy(
            data=np.where(status == RELEASED, values, 0).astype(values.dtype)
        )
        out[f"{name}_status"] = (("variants", "groups"), status)
    out["allele_usable"] = (("variants", "groups"), (ac_status == 0) & (an_status == 0))
    out.attrs = dict(counts.attrs)
    out.attrs["withheld_groups"] = withheld
    out.attrs["min_count"] = int(k)
    return out
