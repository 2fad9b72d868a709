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

import json
import os
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.catalog._duo import duo_term, forbids_ancestry_research
from genshare_widgets.disclosure._labels import (
    approved_communities,
    needs_community_approval,
    review_labels,
)
from genshare_widgets.disclosure._modifiers import modifier_requirements, review_modifiers

if TYPE_CHECKING:
    from genshare_widgets.disclosure._passport import PassportCredential

PURPOSE_ENV = "GENSHARE_PURPOSE"
CREDENTIAL_ENV = "GENSHARE_CREDENTIAL"
PRIMARY_PURPOSES = ("GRU", "HMB", "DS", "POA", "MDS")
_DISEASE = re.compile(r"^(MONDO:\d{7}|DOID:\d+)$")
_PURPOSE_HELP = (
    "write it as 'PRIMARY[;flag...]' with PRIMARY one of GRU, HMB, DS:MONDO:0005148, POA, MDS "
    "and flags commercial | non-commercial | irb=REF | publish | collaboration | project=NAME "
    "| geo=WHERE (country code where you work) "
    "(e.g. 'HMB;non-commercial;irb=IRB-2026-017;publish')"
)
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


class AccessDenied(GenShareError):  # noqa: N818 (reads as the verdict it reports)
    """A catalog cohort may not be opened: missing or non-matching purpose or credential."""


class AnalysisRefused(GenShareError):  # noqa: N818 (reads as the verdict it reports)
    """An analysis is not permitted by the cohort's consent codes or the declared purpose."""


def _code(shorthand: str) -> str:
    """``NPOA (DUO:0000044)``: how reasons quote a code."""
    return f"{shorthand} ({duo_term(shorthand).id})"


@dataclass(frozen=True)
class Purpose:
    """A declared research purpose and the declarations that go with it.

    Attributes
    ----------
    primary
        ``"GRU"``, ``"HMB"``, ``"DS"`` (with ``disease``), ``"POA"`` or ``"MDS"``.
    disease
        The disease studied under ``DS``: a MONDO (or DOID) id, e.g. ``MONDO:0005148``.
    commercial
        True for use by or for a commercial entity.
    irb
        Reference of the ethics (IRB) approval, or None.
    publish
        The user agrees to publish the results (PUB).
    collaboration
        The user collaborates with the cohort's investigators (COL).
    project
        Name of the project.
    geo
        Where the user works (an ISO 3166-1 country code or region name), for entries whose
        use is geographically restricted (GS, DUO:0000022).

    Examples
    --------
    >>> Purpose("DS", disease="MONDO:0005148").to_text()
    'DS:MONDO:0005148;non-commercial'
    """

    primary: str
    disease: str | None = None
    commercial: bool = False
    irb: str | None = None
    publish: bool = False
    collaboration: bool = False
    project: str | None = None
    geo: str | None = None

    def __post_init__(self) -> None:
        if self.primary not in PRIMARY_PURPOSES:
            raise GenShareError(f"unknown research purpose {self.primary!r}; {_PURPOSE_HELP}")
        if self.primary == "DS" and (self.disease is None or not _DISEASE.match(self.disease)):
            raise GenShareError(
                f"purpose DS needs the disease as a MONDO id (DS:MONDO:0005148), not "
                f"{self.disease!r}"
            )
        if self.primary != "DS" and self.disease is not None:
            raise GenShareError(f"only purpose DS names a disease; {self.primary} does not")

    def to_text(self) -> str:
        """The compact text form read by :func:`parse_purpose` (``GENSHARE_PURPOSE``)."""
        parts = [f"DS:{self.disease}" if self.primary == "DS" else self.primary]
        parts.append("commercial" if self.commercial else "non-commercial")
        if self.irb:
            parts.append(f"irb={self.irb}")
        if self.publish:
            parts.append("publish")
        if self.collaboration:
            parts.append("collaboration")
        if self.project:
            parts.append(f"project={self.project}")
        if self.geo:
            parts.append(f"geo={self.geo}")
        return ";".join(parts)


def parse_purpose(text: str, *, where: str = "purpose") -> Purpose:
    """Read a purpose from its compact text form.

    ``PRIMARY[;flag...]``: PRIMARY is GRU, HMB, POA, MDS or ``DS:<MONDO id>``; flags are
    ``commercial``, ``non-commercial``, ``irb=REF``, ``publish``, ``collaboration`` and
    ``project=NAME`` (case-insensitive keys). ``where`` names the source in errors.

    Examples
    --------
    >>> parse_purpose("HMB;non-commercial;irb=IRB-2026-017;publish").irb
    'IRB-2026-017'
    """
    tokens = [t.strip() for t in str(text).split(";") if t.strip()]
    if not tokens:
        raise GenShareError(f"{where}: empty research purpose; {_PURPOSE_HELP}")
    head = tokens[0]
    disease = None
    primary = head.upper()
    if primary.startswith(("DS:", "DS=")):
        primary, disease = "DS", head[3:].strip().upper()
    values: dict[str, Any] = {}
    for token in tokens[1:]:
        key, _, value = token.partition("=")
        key = key.strip().lower()
        if key in ("commercial", "non-commercial", "noncommercial") and not value:
            values["commercial"] = key == "commercial"
        elif key in ("publish", "pub") and not value:
            values["publish"] = True
        elif key in ("collaboration", "col") and not value:
            values["collaboration"] = True
        elif key in ("irb", "project", "geo") and value.strip():
            values[key] = value.strip()
        else:
            raise GenShareError(f"{where}: cannot read {token!r} in {text!r}; {_PURPOSE_HELP}")
    try:
        return Purpose(primary, disease=disease, **values)
    except GenShareError as exc:
        raise GenShareError(f"{where}: {exc}") from None


def _purpose_from(value: Any, *, where: str) -> Purpose:
    if isinstance(value, Purpose):
        return value
    if isinstance(value, str):
        return parse_purpose(value, where=where)
    if isinstance(value, dict):
        known = {"primary", "disease", "commercial", "irb", "publish", "collaboration"}
        known |= {"project", "geo"}
        unknown = sorted(set(value) - known)
        if unknown or "primary" not in value:
            raise GenShareError(
                f"{where}: a purpose mapping needs 'primary' and may hold {sorted(known)}; "
                f"got {sorted(value)}"
            )
        try:
            return Purpose(**{k: value[k] for k in value})
        except (GenShareError, TypeError) as exc:
            raise GenShareError(f"{where}: {exc}") from None
    raise GenShareError(f"{where}: a purpose is text or a mapping, not {type(value).__name__}")


@dataclass(frozen=True)
class Approval:
    """One approval of a credential: which cohorts, for which project and purpose, until when;
    ``communities``: the communities whose approval of the project it records (Local Contexts
    community-approval labels, :mod:`~genshare_widgets.disclosure._labels`)."""

    cohorts: tuple[str, ...]
    project: str
    purpose: Purpose
    expires: date | None = None
    communities: tuple[str, ...] = ()


@dataclass(frozen=True)
class Credential:
    """A declared credential: the approvals a data access committee granted to a holder.

    Read from a YAML or JSON file (``--credential FILE`` or ``GENSHARE_CREDENTIAL``)::

        holder: A. Researcher, Example University
        approvals:
          - cohorts: [sim-ooa-hmb-controlled]
            project: Height genetics teaching
            purpose: HMB;non-commercial;irb=IRB-2026-017
            expires: 2027-12-31
            communities: [Example Community]   # optional: community approvals of the project

    Examples
    --------
    >>> load_credential("approval.yaml").approval_for("sim-ooa-ds")  # doctest: +SKIP
    """

    holder: str
    approvals: tuple[Approval, ...]
    path: str = ""

    def approval_for(self, cohort_id: str, *, today: date | None = None) -> Approval:
        """The approval covering ``cohort_id``; :class:`AccessDenied` when none does or it
        has expired."""
        today = today or date.today()
        matching = [a for a in self.approvals if cohort_id in a.cohorts]
        if not matching:
            covered = sorted({c for a in self.approvals for c in a.cohorts})
            raise AccessDenied(
                f"credential {self.path}: no approval for cohort {cohort_id!r} (it approves "
                f"{covered}). Ask the cohort's data access committee for an approval and add "
                "it to the file."
            )
        current = [a for a in matching if a.expires is None or a.expires >= today]
        if not current:
            last = max(a.expires for a in matching if a.expires is not None)
            raise AccessDenied(
                f"credential {self.path}: the approval for cohort {cohort_id!r} expired on "
                f"{last.isoformat()}. Renew it with the data access committee."
            )
        return current[0]


def load_credential(path: str | Path) -> "Credential | PassportCredential":
    """Read and check a credential file (YAML or JSON; see :class:`Credential`).

    A file holding a GA4GH Passport (a JWT) gives a
    :class:`~genshare_widgets.disclosure._passport.PassportCredential` instead, verified when
    a controlled entry is opened (:func:`check_access`).

    Examples
    --------
    >>> credential = load_credential("approval.yaml")  # doctest: +SKIP
    """
    import yaml

    path = Path(path).expanduser()
    if not path.is_file():
        raise GenShareError(
            f"credential file {path} does not exist; give an existing file with --credential "
            f"or {CREDENTIAL_ENV}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GenShareError(f"credential file {path}: not readable text ({exc})") from None
    from genshare_widgets.disclosure._passport import PassportCredential, looks_like_jwt

    if looks_like_jwt(text.strip()):  # a GA4GH Passport (JWT); else the YAML/JSON teaching file
        return PassportCredential(text.strip(), str(path))
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise GenShareError(f"credential file {path}: not valid YAML/JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise GenShareError(f"credential file {path}: must be a mapping with holder, approvals")
    unknown = sorted(set(raw) - {"holder", "approvals"})
    if unknown:
        raise GenShareError(f"credential file {path}: unknown field(s) {unknown}")
    holder = raw.get("holder")
    if not isinstance(holder, str) or not holder.strip():
        raise GenShareError(f"credential file {path}: field 'holder' (who holds it) is missing")
    items = raw.get("approvals")
    if not isinstance(items, list) or not items:
        raise GenShareError(f"credential file {path}: field 'approvals' must be a non-empty list")
    approvals = []
    for i, item in enumerate(items):
        where = f"credential file {path}: approvals[{i}]"
        if not isinstance(item, dict):
            raise GenShareError(f"{where} must be a mapping (cohorts, project, purpose, expires)")
        extra = sorted(set(item) - {"cohorts", "cohort", "project", "purpose", "expires"})
        extra = [k for k in extra if k != "communities"]  # Local Contexts approvals
        if extra:
            raise GenShareError(f"{where}: unknown field(s) {extra}")
        cohorts = item.get("cohorts", item.get("cohort"))
        cohorts = [cohorts] if isinstance(cohorts, str) else cohorts
        if (
            not isinstance(cohorts, list)
            or not cohorts
            or not all(isinstance(c, str) for c in cohorts)
        ):
            raise GenShareError(f"{where}.cohorts: list the approved cohort id(s)")
        project = item.get("project")
        if not isinstance(project, str) or not project.strip():
            raise GenShareError(f"{where}.project: name the approved project")
        if "purpose" not in item:
            raise GenShareError(f"{where}.purpose: give the approved purpose (e.g. 'HMB')")
        purpose = _purpose_from(item["purpose"], where=f"{where}.purpose")
        if purpose.project is None:
            purpose = replace(purpose, project=project)
        expires = item.get("expires")
        if isinstance(expires, str):
            try:
                expires = date.fromisoformat(expires)
            except ValueError:
                raise GenShareError(f"{where}.expires: {expires!r} is not YYYY-MM-DD") from None
        if expires is not None and not isinstance(expires, date):
            raise GenShareError(f"{where}.expires: {expires!r} is not a date (YYYY-MM-DD)")
        communities = item.get("communities", [])
        if not isinstance(communities, list) or not all(
            isinstance(c, str) and c.strip() for c in communities
        ):
            raise GenShareError(f"{where}.communities: list the approving communities' names")
        approval = Approval(tuple(cohorts), project.strip(), purpose, expires)
        approvals.append(replace(approval, communities=tuple(c.strip() for c in communities)))
    return Credential(holder.strip(), tuple(approvals), str(path))


def declared_purpose(purpose: "Purpose | str | None" = None) -> Purpose | None:
    """The session's purpose: ``purpose`` if given, else ``$GENSHARE_PURPOSE``, else None.

    Examples
    --------
    >>> declared_purpose("GRU").primary
    'GRU'
    """
    if purpose is not None:
        return _purpose_from(purpose, where="purpose")
    text = os.environ.get(PURPOSE_ENV, "").strip()
    return parse_purpose(text, where=PURPOSE_ENV) if text else None


def declared_credential(
    credential: "Credential | PassportCredential | str | Path | None" = None,
) -> "Credential | PassportCredential | None":
    """The session's credential: ``credential`` (object or file) if given, else the file
    named by ``$GENSHARE_CREDENTIAL``, else None. A GA4GH Passport may be the file's content
    or the value itself (a JWT)."""
    from genshare_widgets.disclosure._passport import PassportCredential, looks_like_jwt

    if isinstance(credential, (Credential, PassportCredential)):
        return credential
    where = "credential"
    if credential is None:
        credential, where = os.environ.get(CREDENTIAL_ENV, "").strip() or None, CREDENTIAL_ENV
    if credential is None:
        return None
    if isinstance(credential, str) and looks_like_jwt(credential):  # the token itself
        return PassportCredential(credential.strip(), where)
    return load_credential(credential)


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
