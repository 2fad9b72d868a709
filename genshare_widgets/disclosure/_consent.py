"""Consent and access: declared purpose, credentials, DUO matching, and the analysis gate.

A catalog entry carries an access tier and GA4GH Data Use Ontology (DUO) codes. This module
decides whether a user's *declared purpose* fits those codes and what obligations come with
the data:

- ``open`` entries open for anyone; ``registered`` entries need a declared purpose that matches
  the codes; ``controlled`` entries need a credential (an approval for that cohort, project and
  purpose) whose purpose matches. Files and stores of the user's own are not gated.
- Entries whose codes forbid population-origins or ancestry research (NPOA; HMB or DS without
  GRU/NRES/POA) refuse ancestry comparisons: per-population frequencies, Fst, and PCA labelled
  by population (:func:`check_grouping`).

Matching follows the DUO term definitions (EBISPOT/DUO, ``duo.owl``) and the purpose-to-dataset
rules of the Broad Institute's Data Use Oversight System (DUOS), which implements DUO:

======================  =====  =====  ===========  =====  =======
entry permission        GRU    HMB    DS (disease)  POA    MDS
======================  =====  =====  ===========  =====  =======
NRES DUO:0000004        yes    yes    yes          yes    yes
GRU DUO:0000042         yes    yes    yes          yes    yes
HMB DUO:0000006         no     yes    yes          no     yes
DS DUO:0000007 (X)      no     no     X only       no     no
POA DUO:0000011         no     no     no           yes    no
======================  =====  =====  ===========  =====  =======

(purposes: GRU general research; HMB health/medical/biomedical; DS research on one disease;
POA population origins/ancestry; MDS methods development, e.g. software or algorithms). GRU
includes the study of population origins or ancestry; HMB "does not include the study of
population origins or ancestry"; DS use "must be related to" the named disease (a MONDO id).
Modifiers: NPOA (DUO:0000044) refuses POA and ancestry analyses; NMDS (DUO:0000015) refuses
MDS; NCU (DUO:0000046), NPUNCU (DUO:0000018) and NPU (DUO:0000045) refuse a commercial
purpose; IRB (DUO:0000021) needs an ethics approval reference. With their parameters in
the catalog (``duo_terms``) GS, TS and MOR are enforced and RTN/COL reported with their
address and investigators (:mod:`~genshare_widgets.disclosure._modifiers`); Local Contexts
labels are applied by :mod:`~genshare_widgets.disclosure._labels`. PUB, COL, RTN, MOR, TS,
GS, US, PS, IS, RS, GSO and CC are otherwise obligations or conditions: reported and
recorded, not refused.

Examples
--------
>>> from genshare_widgets.catalog import get_entry
>>> match_purpose(get_entry("sim-ooa"), parse_purpose("POA")).allowed
True
"""

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genshare_widgets.catalog._duo import duo_term, forbids_ancestry_research
from genshare_widgets.disclosure._credentials import (
    CREDENTIAL_ENV,
    Credential,
    declared_credential,
)
from genshare_widgets.disclosure._labels import (
    approved_communities,
    needs_community_approval,
    review_labels,
)
from genshare_widgets.disclosure._modifiers import modifier_requirements, review_modifiers
from genshare_widgets.disclosure._purpose import (
    PRIMARY_PURPOSES,
    PURPOSE_ENV,
    AccessDenied,
    Purpose,
    declared_purpose,
)

if TYPE_CHECKING:
    from genshare_widgets.disclosure._passport import PassportCredential

# Modifiers that are obligations or conditions: reported to the user, never refused.
_OBLIGATIONS = {
    "PUB": "publish the results (or make them available to the scientific community)",
    "COL": "collaborate with the study's primary investigators",
    "RTN": "return derived or enriched data to the resource",
    "MOR": "respect the publication moratorium before publishing",
    "TS": "use the data only within the approved time limit",
    "GS": "use the data only in the approved geographical area",
    "US": "use is restricted to the approved users",
    "PS": "use is restricted to the approved project",
    "IS": "use is restricted to the approved institution(s)",
    "RS": "respect the research-specific restrictions of the data provider",
    "GSO": "genetic studies only",
    "CC": "clinical care use is also permitted",
}


def _code(shorthand: str) -> str:
    """``NPOA (DUO:0000044)``: how reasons quote a code."""
    return f"{shorthand} ({duo_term(shorthand).id})"


@dataclass(frozen=True)
class AccessDecision:
    """What an entry's codes say about a purpose: allowed or not, why, and what is owed.

    ``reasons`` quote the codes (``NPOA (DUO:0000044)``); ``obligations`` are conditions the
    user accepts by using the data (PUB, COL, ...). :meth:`record` is what provenance keeps
    (no secrets: the credential holder and project, never the file's content).
    """

    cohort: str
    tier: str
    allowed: bool
    reasons: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    purpose: str | None = None
    project: str | None = None
    holder: str | None = None
    ancestry: str | None = field(default=None, compare=False)
    passport: dict[str, Any] | None = field(default=None, compare=False)
    warnings: tuple[str, ...] = ()
    terms: dict[str, Any] = field(default_factory=dict, compare=False)
    labels: tuple[dict[str, Any], ...] = ()

    def record(self) -> dict[str, Any]:
        """A JSON-ready record for ``cohort.provenance["access"]``."""
        return {
            "tier": self.tier,
            "allowed": self.allowed,
            "purpose": self.purpose,
            "project": self.project,
            "credential_holder": self.holder,
            "reasons": list(self.reasons),
            "obligations": list(self.obligations),
            "ancestry_research": "forbidden" if self.ancestry else "permitted",
            **({"passport": self.passport} if self.passport else {}),
            "duo_terms": dict(self.terms),
            "local_contexts": [dict(label) for label in self.labels],
            "warnings": list(self.warnings),
        }

    def explain(self) -> str:
        """One paragraph for a person."""
        head = "allowed" if self.allowed else "refused"
        text = f"{self.cohort} ({self.tier}): {head}"
        if self.purpose:
            text += f" for purpose {self.purpose}"
        if self.reasons:
            text += " — " + "; ".join(self.reasons)
        if self.obligations:
            text += ". Obligations: " + "; ".join(self.obligations)
        if self.warnings:
            text += ". Warning: " + "; ".join(self.warnings)
        return text


def _codes(entry) -> set[str]:
    return {duo_term(c).shorthand for c in entry.duo}


def match_purpose(
    entry,
    purpose: Purpose | None,
    *,
    today: date | None = None,
    communities: "set[str] | None" = None,
    credential_path: str | None = None,
    terms: bool = True,
) -> AccessDecision:
    """Match a declared purpose against an entry's DUO codes (table in the module docstring),
    the parameters of its modifiers on ``today`` (GS, TS, MOR, RTN, COL:
    :func:`~genshare_widgets.disclosure._modifiers.review_modifiers`) and its Local Contexts
    labels (:func:`~genshare_widgets.disclosure._labels.review_labels`; ``communities``: the
    communities whose approval the session's credential records). ``terms=False`` matches
    the codes alone (what a purpose may be, whatever the date or approvals).

    ``purpose=None`` (nothing declared) is allowed by the codes; whether a tier needs a
    purpose is :func:`check_access`'s business. Modifiers and labels apply with or without a
    declared purpose (an expired time limit refuses everyone).

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> match_purpose(get_entry("sim-ooa-npoa"), parse_purpose("POA")).reasons[0]
    'NPOA (DUO:0000044): population origins or ancestry research is prohibited'
    """
    codes = _codes(entry)
    reasons: list[str] = []
    review = review_modifiers(entry, purpose, today=today) if terms else ([], {}, {})
    said = review[1]
    obligations = [
        said.get(c, f"{_code(c)}: {text}") for c, text in _OBLIGATIONS.items() if c in codes
    ]
    ancestry = forbids_ancestry_research(list(entry.duo))
    if purpose is not None:
        p = purpose.primary
        if codes & {"NRES", "GRU"}:
            pass
        elif "HMB" in codes:
            if p == "GRU":
                reasons.append(
                    f"{_code('HMB')}: use is limited to health/medical/biomedical research; "
                    "general research use is not covered"
                )
            elif p == "POA":
                reasons.append(
                    f"{_code('HMB')}: health/medical/biomedical use does not include the "
                    "study of population origins or ancestry"
                )
        elif "DS" in codes:
            if p != "DS" or purpose.disease != entry.duo_disease:
                reasons.append(
                    f"{_code('DS')}: use must be related to {entry.duo_disease}; the purpose is "
                    + (f"DS for {purpose.disease}" if p == "DS" else p)
                )
        elif "POA" in codes and p != "POA":
            reasons.append(
                f"{_code('POA')}: use is limited to the study of population origins or ancestry"
            )
        if "NPOA" in codes and p == "POA":
            reasons.append(
                f"{_code('NPOA')}: population origins or ancestry research is prohibited"
            )
        if "NMDS" in codes and p == "MDS":
            reasons.append(f"{_code('NMDS')}: no general methods research")
        for c in ("NCU", "NPUNCU", "NPU"):
            if c in codes and purpose.commercial:
                reasons.append(f"{_code(c)}: {duo_term(c).label}; the purpose is commercial")
        if "IRB" in codes and not purpose.irb:
            reasons.append(
                f"{_code('IRB')}: ethics approval required; declare its reference (irb=REF)"
            )
        if "PUB" in codes and not purpose.publish:
            obligations.append(f"{_code('PUB')}: declare 'publish' to acknowledge it")
    labels = (
        review_labels(entry, purpose, communities=communities, credential_path=credential_path)
        if terms
        else ([], [], [], [])
    )
    reasons += review[0] + labels[0]
    return AccessDecision(
        cohort=entry.id,
        tier=entry.access,
        allowed=not reasons,
        reasons=tuple(reasons),
        obligations=tuple(obligations + labels[1]),
        purpose=purpose.to_text() if purpose else None,
        project=purpose.project if purpose else None,
        ancestry=ancestry,
        warnings=tuple(labels[2]),
        terms=review[2],
        labels=tuple(labels[3]),
    )


def _how_to_declare(entry) -> str:
    if entry.access == "controlled":
        return (
            f"Give a credential approving {entry.id!r}: --credential FILE or {CREDENTIAL_ENV}="
            f"FILE, a GA4GH Passport (JWT) with a ControlledAccessGrants visa for "
            f"{entry.dataset_url} plus --purpose, or the teaching YAML/JSON file (holder and "
            "approvals: cohorts, project, purpose, expires)."
        )
    return (
        f"Declare a purpose: --purpose TEXT, {PURPOSE_ENV}=TEXT or open_cohort(..., "
        "purpose=...), e.g. 'HMB;non-commercial;irb=IRB-2026-017;publish'."
    )


def check_access(
    entry,
    *,
    purpose: "Purpose | str | None" = None,
    credential: "Credential | PassportCredential | str | Path | None" = None,
    today: date | None = None,
) -> AccessDecision:
    """Decide whether ``entry`` may be opened; raise :class:`AccessDenied` if not.

    ``purpose`` and ``credential`` default to ``$GENSHARE_PURPOSE`` and
    ``$GENSHARE_CREDENTIAL``. Open entries always open (a declared purpose that does not
    match is recorded and refuses analyses later); registered entries need a matching
    purpose; controlled entries need a credential approving this cohort whose purpose
    matches (a declared purpose, if any, must be the approved one).

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> check_access(get_entry("sim-ooa-gru-registered"), purpose="GRU;publish").allowed
    True
    """
    declared = declared_purpose(purpose)
    holder = None
    communities: set[str] = set()
    cred_path = None
    if entry.access != "controlled" and needs_community_approval(entry):
        cred = declared_credential(credential)  # community approvals live in the credential
        if cred is not None:
            communities, cred_path = approved_communities(cred, entry.id, today=today), cred.path
    if entry.access == "controlled":
        cred = declared_credential(credential)
        if cred is None:
            raise AccessDenied(
                f"cohort {entry.id!r} is controlled: its individual-level data open only with "
                f"a declared credential, and none was given. {_how_to_declare(entry)}"
            )
        from genshare_widgets.disclosure._passport import PassportCredential

        if isinstance(cred, PassportCredential):
            decision = _passport_decision(entry, cred, declared, today=today)
            if not decision.allowed:
                raise AccessDenied(
                    f"cohort {entry.id!r} (controlled) does not permit the purpose "
                    f"{decision.purpose!r}: " + "; ".join(decision.reasons)
                )
            return decision
        approval = cred.approval_for(entry.id, today=today)
        approved = approval.purpose
        if declared is not None and (declared.primary, declared.disease) != (
            approved.primary,
            approved.disease,
        ):
            raise AccessDenied(
                f"cohort {entry.id!r}: the declared purpose {declared.to_text()!r} is not the "
                f"approved purpose {approved.to_text()!r} of credential {cred.path}"
            )
        declared = declared or approved
        communities, cred_path = set(approval.communities), cred.path
        if declared.project is None:
            declared = replace(declared, project=approval.project)
        holder = cred.holder
    elif entry.access == "registered" and declared is None:
        raise AccessDenied(
            f"cohort {entry.id!r} is registered: it opens for a declared research purpose "
            f"that its consent codes permit, and none was declared. {_how_to_declare(entry)}"
        )
    decision = match_purpose(
        entry, declared, today=today, communities=communities, credential_path=cred_path
    )
    decision = replace(decision, holder=holder)
    if not decision.allowed and entry.access != "open":
        raise AccessDenied(
            f"cohort {entry.id!r} ({entry.access}) does not permit the purpose "
            f"{decision.purpose!r}: " + "; ".join(decision.reasons)
        )
    return decision


def _passport_decision(
    entry, cred, declared: Purpose | None, *, today: date | None = None
) -> AccessDecision:
    """A controlled entry opened with a GA4GH Passport: a ControlledAccessGrants visa for the
    entry's ``dataset_url`` from a trusted issuer, and a declared purpose its codes permit
    (a Passport grants a dataset, not a purpose); see
    :mod:`genshare_widgets.disclosure._passport`."""
    from genshare_widgets.disclosure._passport import (
        PassportError,
        load_trusted_issuers,
        verify_passport,
    )

    where = f"Passport {cred.path}" if cred.path else "the Passport"
    try:
        passport = verify_passport(cred.token, load_trusted_issuers(), where=where)
        grant = passport.grant_for(entry.dataset_url)
    except PassportError as exc:
        raise AccessDenied(f"cohort {entry.id!r} is controlled: {exc}") from None
    if declared is None:
        raise AccessDenied(
            f"cohort {entry.id!r}: {where} grants access to {entry.dataset_url}, but a "
            "Passport names no research purpose; declare the one the data access committee "
            "approved (--purpose TEXT or GENSHARE_PURPOSE), e.g. 'HMB;non-commercial;irb=REF'"
        )
    # the entry's modifiers and labels apply as for any credential (a Passport carries no
    # community approval: a label that needs one refuses)
    decision = match_purpose(entry, declared, today=today, credential_path=cred.path)
    return replace(decision, holder=grant.holder, passport=grant.record())


def permissions_summary(entry) -> list[str]:
    """Lines saying what an entry's codes permit and require (``genshare catalog show``).

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> permissions_summary(get_entry("sim-ooa"))[0]
    'access: open — anyone may open it; no purpose needs declaring'
    """
    tier = {
        "open": "anyone may open it; no purpose needs declaring",
        "registered": "open with a declared purpose that the codes permit (--purpose)",
        "controlled": "individual-level data open only with a credential approving this "
        f"cohort (--credential: a GA4GH Passport granting {entry.dataset_url}, or the "
        "teaching YAML file)",
    }[entry.access]
    lines = [f"access: {entry.access} — {tier}"]
    allowed = [
        p
        for p in PRIMARY_PURPOSES
        if match_purpose(entry, _example_purpose(entry, p), terms=False).allowed
    ]
    lines.append("purposes permitted: " + (", ".join(allowed) or "none"))
    codes = _codes(entry)
    if "IRB" in codes:
        lines.append(f"requires: ethics approval reference ({_code('IRB')})")
    for c in ("NCU", "NPUNCU", "NPU"):
        if c in codes:
            lines.append(f"requires: non-commercial use ({_code(c)})")
    ancestry = forbids_ancestry_research(list(entry.duo))
    lines.append(
        "ancestry comparisons (per-population frequencies, Fst, groups made mostly of one "
        "population, any PCA): " + (f"refused — {ancestry}" if ancestry else "permitted")
    )
    lines += modifier_requirements(entry)
    said = review_modifiers(entry, None)[1]
    for c, text in _OBLIGATIONS.items():
        if c in codes:
            lines.append("obligation: " + said.get(c, f"{_code(c)}: {text}"))
    return lines


def _example_purpose(entry, primary: str) -> Purpose:
    disease = (entry.duo_disease or "MONDO:0000001") if primary == "DS" else None
    return Purpose(primary, disease=disease, irb="IRB", publish=True)
