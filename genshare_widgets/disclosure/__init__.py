"""Disclosure control: every aggregate leaves the counts boundary through this room.

- :class:`DisclosurePolicy` / :func:`policy_for`: minimum cell count k per access tier (open →
  none; registered/controlled → 20) and optional differential privacy;
- :func:`release_counts`: noise (when epsilon is set), then suppression of whole rows of
  linked cells, then the MAF filter on released values; the result never holds a hidden value;
- released tables (:func:`released_tables`, :func:`frequency_table`, ...): the ``genshare stats``
  files and the figure inputs computed only from released cells;
- :class:`PrivacyBudget`: the epsilon a cohort may spend (a ledger keyed by cohort id);
  :func:`custodian_settings`: the custodian's k, min_variants, epsilon cap and budget;
- consent and access: :class:`Purpose` (declared research purpose), :class:`Credential`
  (approvals from a file) or a GA4GH Passport (:func:`verify_passport`, issuers trusted via
  :func:`load_trusted_issuers`), :func:`match_purpose` / :func:`check_access` (DUO matching, access
  tiers), :func:`check_grouping` (ancestry comparisons refused where the codes forbid them),
  :func:`check_pca` (no PCA at all under such codes);
- publishing (:mod:`~genshare_widgets.disclosure._publishing`): no per-person output under a
  policy (:func:`refuse_per_person_output`), and the per-cohort :class:`ReleaseLog` that
  refuses a group differing from an earlier released one by fewer than k samples;
- the re-identification risk lab (:mod:`genshare_widgets.disclosure.risk`).

Heavy modules load on first use.
"""

from typing import TYPE_CHECKING

from genshare_widgets._lazy import lazy_exports
from genshare_widgets.disclosure._policy import (
    NO_POLICY,
    TIER_MIN_COUNT,
    CustodianSettings,
    DisclosurePolicy,
    custodian_settings,
    load_custodian_config,
    policy_for,
)

if TYPE_CHECKING:
    from genshare_widgets.disclosure._budget import PrivacyBudget, PrivacyBudgetExceeded, ledger_for
    from genshare_widgets.disclosure._consent import (
        AccessDecision,
        check_access,
        match_purpose,
        permissions_summary,
    )
    from genshare_widgets.disclosure._credentials import (
        Approval,
        Credential,
        declared_credential,
        load_credential,
    )
    from genshare_widgets.disclosure._dp import (
        COUNT_SENSITIVITY,
        DEFAULT_MECHANISM,
        discrete_gaussian,
        discrete_gaussian_pmf,
        discrete_laplace,
        discrete_laplace_pmf,
        noise_at_least,
        privatize_counts,
        release_sensitivity,
        service_sensitivity,
        zcdp_delta,
        zcdp_rho,
    )
    from genshare_widgets.disclosure._gate import (
        check_grouping,
        check_pca,
        check_projection,
        governing_entry,
        is_ancestry_grouping,
    )
    from genshare_widgets.disclosure._passport import (
        PassportError,
        PassportGrant,
        load_trusted_issuers,
        verify_passport,
    )
    from genshare_widgets.disclosure._publishing import (
        ReleaseLog,
        ReleaseRefused,
        refuse_per_person_output,
    )
    from genshare_widgets.disclosure._purpose import (
        AccessDenied,
        AnalysisRefused,
        Purpose,
        declared_purpose,
        parse_purpose,
    )
    from genshare_widgets.disclosure._release import (
        frequency_table,
        fst_windows,
        heterozygosity,
        hudson_fst,
        is_released,
        joint_sfs,
        release_counts,
        released_maf_filter,
        session_budget,
        sfs,
        shared_private,
        usable_counts,
    )
    from genshare_widgets.disclosure._suppress import hidden_rows, suppress_counts

_LAZY = {
    "COUNT_SENSITIVITY": "_dp",
    "DEFAULT_MECHANISM": "_dp",
    "discrete_gaussian": "_dp",
    "discrete_gaussian_pmf": "_dp",
    "ledger_for": "_budget",
    "noise_at_least": "_dp",
    "service_sensitivity": "_dp",
    "zcdp_delta": "_dp",
    "zcdp_rho": "_dp",
    "PrivacyBudget": "_budget",
    "PrivacyBudgetExceeded": "_budget",
    "discrete_laplace": "_dp",
    "discrete_laplace_pmf": "_dp",
    "privatize_counts": "_dp",
    "release_sensitivity": "_dp",
    "fst_windows": "_release",
    "frequency_table": "_release",
    "heterozygosity": "_release",
    "hudson_fst": "_release",
    "is_released": "_release",
    "joint_sfs": "_release",
    "release_counts": "_release",
    "session_budget": "_release",
    "sfs": "_release",
    "shared_private": "_release",
    "usable_counts": "_release",
    "hidden_rows": "_suppress",
    "released_maf_filter": "_release",
    "suppress_counts": "_suppress",
    "AccessDecision": "_consent",
    "AccessDenied": "_purpose",
    "AnalysisRefused": "_purpose",
    "Approval": "_credentials",
    "Credential": "_credentials",
    "Purpose": "_purpose",
    "check_access": "_consent",
    "declared_credential": "_credentials",
    "declared_purpose": "_purpose",
    "load_credential": "_credentials",
    "match_purpose": "_consent",
    "parse_purpose": "_purpose",
    "permissions_summary": "_consent",
    "check_grouping": "_gate",
    "check_pca": "_gate",
    "check_projection": "_gate",
    "PassportError": "_passport",
    "PassportGrant": "_passport",
    "load_trusted_issuers": "_passport",
    "verify_passport": "_passport",
    "ReleaseLog": "_publishing",
    "ReleaseRefused": "_publishing",
    "refuse_per_person_output": "_publishing",
    "governing_entry": "_gate",
    "is_ancestry_grouping": "_gate",
}

__all__ = [
    "COUNT_SENSITIVITY",
    "DEFAULT_MECHANISM",
    "NO_POLICY",
    "TIER_MIN_COUNT",
    "AccessDecision",
    "AccessDenied",
    "AnalysisRefused",
    "Approval",
    "Credential",
    "CustodianSettings",
    "DisclosurePolicy",
    "PassportError",
    "PassportGrant",
    "PrivacyBudget",
    "PrivacyBudgetExceeded",
    "Purpose",
    "ReleaseLog",
    "ReleaseRefused",
    "check_access",
    "check_grouping",
    "check_pca",
    "check_projection",
    "custodian_settings",
    "declared_credential",
    "declared_purpose",
    "discrete_gaussian",
    "discrete_gaussian_pmf",
    "discrete_laplace",
    "discrete_laplace_pmf",
    "frequency_table",
    "fst_windows",
    "governing_entry",
    "heterozygosity",
    "hidden_rows",
    "hudson_fst",
    "is_ancestry_grouping",
    "is_released",
    "joint_sfs",
    "ledger_for",
    "load_credential",
    "load_custodian_config",
    "load_trusted_issuers",
    "match_purpose",
    "noise_at_least",
    "parse_purpose",
    "permissions_summary",
    "policy_for",
    "privatize_counts",
    "refuse_per_person_output",
    "release_counts",
    "release_sensitivity",
    "released_maf_filter",
    "service_sensitivity",
    "session_budget",
    "sfs",
    "shared_private",
    "suppress_counts",
    "usable_counts",
    "verify_passport",
    "zcdp_delta",
    "zcdp_rho",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
