"""Local Contexts Labels and Notices: what each one makes GenShare do.

Local Contexts (https://localcontexts.org/) gives Indigenous communities Traditional Knowledge
(TK) and Biocultural (BC) Labels to state how data from their lands, waters, people and
knowledge may be used and credited; researchers and institutions place Notices (TK Notice,
BC Notice, Attribution Incomplete, Open to Collaborate) to flag Indigenous rights and
interests until a community adds Labels. The types, their published short codes and meanings
are in :data:`genshare_widgets.catalog.LABEL_TYPES` (sources cited there). A label's
``rule`` decides what happens:

=====================  ====================================================  ===========
rule                   label types                                           effect
=====================  ====================================================  ===========
non_commercial         TK Non-Commercial, BC Non-Commercial, BC Research     enforced:
                       Use (no permission for commercialization)             commercial
                                                                             purpose
                                                                             refused
community_approval     TK Community Use Only, TK Secret / Sacred, TK Women   enforced:
                       / Men Restricted, TK / BC Multiple Communities        refused
                                                                             without the
                                                                             community's
                                                                             approval
consent_non_verified   BC Consent Non-Verified, TK Non-Verified              warning
                                                                             banner on
                                                                             every output
attribution            TK Attribution, BC Provenance, TK Creative, TK        reported:
                       Community Voice, TK / BC Clan, TK Family,             footer and
                       Attribution Incomplete Notice                         provenance
notice, informational  the other Notices and Labels                          reported
=====================  ====================================================  ===========

A community's approval is part of the session's credential (``--credential`` or
``GENSHARE_CREDENTIAL``): an approval for the cohort lists the communities that approved the
project::

    approvals:
      - cohorts: [sim-ooa-tk-community]
        project: Teaching Indigenous data governance
        purpose: GRU;non-commercial
        communities: [Example Community (fictional)]

CARE Principles for Indigenous Data Governance (Carroll et al. 2020, Data Science Journal
19:43, https://www.gida-global.org/care):

- *Collective benefit*: attribution labels travel into every figure footer and provenance,
  and RTN returns derived data with a manifest (RETURN.md), so results flow back and are
  credited;
- *Authority to control*: community-approval labels refuse use until the named community has
  approved the project; non-commercial labels refuse commercial purposes;
- *Responsibility*: every output records the labels, the community, their text and URL, and
  the decision taken (provenance ``access.local_contexts``);
- *Ethics*: BC Consent Non-Verified raises a warning on every output, and nothing is released
  when a check fails.

Labels are not a licence and GenShare does not replace the conversation with the community:
it makes the community's stated conditions impossible to miss and the machine-checkable ones
impossible to skip.
"""

from datetime import date
from typing import Any


def _commercial_words(purpose) -> str:
    return "the declared purpose is commercial" + (
        f" ({purpose.to_text()})" if hasattr(purpose, "to_text") else ""
    )


def review_labels(
    entry, purpose, *, communities: "set[str] | None" = None, credential_path: str | None = None
) -> tuple[list[str], list[str], list[str], list[dict[str, Any]]]:
    """Apply the Local Contexts labels of ``entry`` to a purpose (None: nothing declared).

    ``communities``: the communities that approved this project for this cohort (from the
    session's credential; None or empty: none). ``credential_path`` names the credential in
    refusals.

    Returns
    -------
    reasons
        Refusals, each quoting the label and its community.
    obligations
        Attribution and approval notes (reported).
    warnings
        Banners (BC Consent Non-Verified, TK Non-Verified).
    records
        The labels as JSON-ready records (provenance ``access.local_contexts``).

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> review_labels(get_entry("sim-ooa"), None)
    ([], [], [], [])
    """
    approved = {c.strip().casefold() for c in communities or ()}
    reasons: list[str] = []
    obligations: list[str] = []
    warnings: list[str] = []
    records = []
    for label in entry.local_contexts:
        kind = label.kind
        said = label.describe()
        records.append(label.record())
        if kind.rule == "non_commercial":
            if getattr(purpose, "commercial", False):
                reasons.append(f"{said}: {kind.meaning}; {_commercial_words(purpose)}")
        elif kind.rule == "community_approval":
            community = (label.community or "").strip()
            if community.casefold() in approved:
                obligations.append(f"{said}: use approved by {community} (credential)")
            else:
                where = f"credential {credential_path}" if credential_path else "no credential"
                reasons.append(
                    f"{said}: {kind.meaning}; use needs the approval of {community}, and "
                    f"{where} records none. Give a credential (--credential or "
                    f"GENSHARE_CREDENTIAL) whose approval for cohort {entry.id!r} lists "
                    f"communities: [{community}]"
                )
        elif kind.rule == "consent_non_verified":
            warnings.append(f"{said}: {kind.meaning}")
        elif kind.rule == "attribution":
            credit = label.text or kind.meaning
            obligations.append(f"{said}: attribute: {credit}")
    return reasons, obligations, warnings, records


def approved_communities(credential, cohort_id: str, *, today: "date | None" = None) -> set[str]:
    """The communities whose approval ``credential`` records for ``cohort_id`` (its current,
    unexpired approvals of that cohort; an approval without ``communities`` records none)."""
    today = today or date.today()
    return {
        community
        for approval in credential.approvals
        if cohort_id in approval.cohorts and (approval.expires is None or approval.expires >= today)
        for community in getattr(approval, "communities", ())  # other credential kinds: none
    }


def needs_community_approval(entry) -> bool:
    """True when one of the entry's labels asks for a community's approval."""
    return any(label.kind.rule == "community_approval" for label in entry.local_contexts)


def labels_summary(entry) -> list[str]:
    """Lines for ``genshare catalog show``: each label, its rule, text and URL."""
    effect = {
        "non_commercial": "refuses a commercial purpose",
        "community_approval": "refused without the community's approval (credential)",
        "consent_non_verified": "warning on every output",
        "attribution": "attribution carried into footers and provenance",
        "notice": "notice, shown and recorded",
        "informational": "shown and recorded",
    }
    lines = []
    for label in entry.local_contexts:
        record = label.record()
        lines.append(f"{label.kind.kind}: {label.describe()} — {effect[label.kind.rule]}")
        if label.text:
            lines.append(f"    “{label.text.strip()}”")
        lines.append(
            f"    {record['url']}" + (f" (project {label.project_id})" if label.project_id else "")
        )
    return lines
