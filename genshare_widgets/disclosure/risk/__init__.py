"""The re-identification risk lab: how well membership attacks work on what GenShare releases.

Given a population split into pool members (the released cohort), non-members and an
attacker's reference panel (:func:`membership_split`, :func:`split_genotypes`), the lab runs

- Homer et al. (2008)'s distance test and Sankararaman et al. (2009)'s likelihood ratio on the
  pool's released allele frequencies (:func:`homer_statistic`,
  :func:`likelihood_ratio_statistic`);
- Shringarpure & Bustamante (2015)'s likelihood-ratio test on a Beacon over the pool
  (:func:`beacon_likelihood_ratio`);

against the release as is, under minimum cell count k, and with differential privacy at
several epsilons, and reports power (TPR at 5 % FPR, AUC; :func:`attack_power`) and the
utility the protection costs (:func:`utility_vs_epsilon`).

Examples
--------
>>> from genshare_widgets.disclosure import risk
>>> split = risk.membership_split(cohort, population="CEU", n_members=30,
...                               n_nonmembers=30, seed=1)  # doctest: +SKIP
>>> risk.attack_power(risk.split_genotypes(cohort, split), min_count=20)  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from genshare_widgets._lazy import lazy_exports

if TYPE_CHECKING:
    from genshare_widgets.disclosure.risk._attacks import (
        beacon_answers,
        beacon_likelihood_ratio,
        beacon_yes_probabilities,
        homer_statistic,
        likelihood_ratio_statistic,
        shrunk_frequency,
    )
    from genshare_widgets.disclosure.risk._genotypes import (
        MembershipSplit,
        SplitGenotypes,
        dosage_matrix,
        membership_split,
        split_genotypes,
    )
    from genshare_widgets.disclosure.risk._lab import (
        ATTACKS,
        attack_power,
        attack_scores,
        roc_table,
        utility_vs_epsilon,
    )
    from genshare_widgets.disclosure.risk._release import (
        PoolRelease,
        dp_release,
        exact_release,
        pool_counts,
        released_under_min_count,
        suppressed_release,
    )
    from genshare_widgets.disclosure.risk._roc import power_at_fpr, roc_auc, roc_curve

_LAZY = {
    "ATTACKS": "_lab",
    "MembershipSplit": "_genotypes",
    "PoolRelease": "_release",
    "SplitGenotypes": "_genotypes",
    "attack_power": "_lab",
    "attack_scores": "_lab",
    "beacon_answers": "_attacks",
    "beacon_likelihood_ratio": "_attacks",
    "beacon_yes_probabilities": "_attacks",
    "dosage_matrix": "_genotypes",
    "dp_release": "_release",
    "exact_release": "_release",
    "homer_statistic": "_attacks",
    "likelihood_ratio_statistic": "_attacks",
    "membership_split": "_genotypes",
    "pool_counts": "_release",
    "power_at_fpr": "_roc",
    "released_under_min_count": "_release",
    "roc_auc": "_roc",
    "roc_curve": "_roc",
    "roc_table": "_lab",
    "shrunk_frequency": "_attacks",
    "split_genotypes": "_genotypes",
    "suppressed_release": "_release",
    "utility_vs_epsilon": "_lab",
}

__all__ = [
    "ATTACKS",
    "MembershipSplit",
    "PoolRelease",
    "SplitGenotypes",
    "attack_power",
    "attack_scores",
    "beacon_answers",
    "beacon_likelihood_ratio",
    "beacon_yes_probabilities",
    "dosage_matrix",
    "dp_release",
    "exact_release",
    "homer_statistic",
    "likelihood_ratio_statistic",
    "membership_split",
    "pool_counts",
    "power_at_fpr",
    "released_under_min_count",
    "roc_auc",
    "roc_curve",
    "roc_table",
    "shrunk_frequency",
    "split_genotypes",
    "suppressed_release",
    "utility_vs_epsilon",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
