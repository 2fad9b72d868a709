"""Engine-free statistics on a counts Dataset (see :mod:`genshare_widgets.counts`).

Definitions (DESIGN.md "Statistics"; tests pin them):

- allele frequency: ALT count / called alleles of the group (NaN when none is called);
- Hudson Fst: Bhatia et al. 2013 eq. 10 per variant, genome-wide ratio of averages over
  variants whose denominator is > 0 (and with at least 2 called alleles in both groups);
- heterozygosity: observed = mean over variants of het / called genotypes; expected = mean over
  variants of 2p(1-p)·n/(n-1), n = allele number (variants with n >= 2);
- SFS: histogram of ALT allele counts per group (folded: minor allele counts); joint SFS per pair;
- shared/private: a variant is present in a group when its ALT count there is > 0;
- selection scans (PBS, Garud's H, iHS, XP-EHH): :mod:`._selection_scans` and :mod:`._ehh`.
"""

from typing import TYPE_CHECKING

from genshare_widgets._lazy import lazy_exports

if TYPE_CHECKING:
    from genshare_widgets.stats._diversity import heterozygosity
    from genshare_widgets.stats._ehh import ihs, xpehh
    from genshare_widgets.stats._frequency import allele_frequency, frequency_table
    from genshare_widgets.stats._fst import (
        hudson_fst,
        hudson_fst_matrix,
        hudson_fst_per_variant,
        hudson_fst_windows,
    )
    from genshare_widgets.stats._selection_scans import (
        garud_h,
        moving_garud_h,
        pbs,
        standardize_by_allele_count,
    )
    from genshare_widgets.stats._sfs import joint_sfs, sfs
    from genshare_widgets.stats._sharing import shared_private

# Loaded on first use (pandas is heavy; the CLI's hot path uses only the numpy cores in
# stats._hudson).
_LAZY = {
    "heterozygosity": "_diversity",
    "allele_frequency": "_frequency",
    "frequency_table": "_frequency",
    "hudson_fst": "_fst",
    "hudson_fst_matrix": "_fst",
    "hudson_fst_per_variant": "_fst",
    "hudson_fst_windows": "_fst",
    "joint_sfs": "_sfs",
    "sfs": "_sfs",
    "shared_private": "_sharing",
    "garud_h": "_selection_scans",
    "moving_garud_h": "_selection_scans",
    "pbs": "_selection_scans",
    "standardize_by_allele_count": "_selection_scans",
    "ihs": "_ehh",
    "xpehh": "_ehh",
}


__all__ = [
    "allele_frequency",
    "frequency_table",
    "garud_h",
    "heterozygosity",
    "hudson_fst",
    "hudson_fst_matrix",
    "hudson_fst_per_variant",
    "hudson_fst_windows",
    "ihs",
    "joint_sfs",
    "moving_garud_h",
    "pbs",
    "sfs",
    "shared_private",
    "standardize_by_allele_count",
    "xpehh",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
