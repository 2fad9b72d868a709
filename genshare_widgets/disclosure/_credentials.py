"""Credentials for controlled entries: the teaching YAML/JSON approval file
(:class:`Credential`, :func:`load_credential`) or a GA4GH Passport
(:class:`~genshare_widgets.disclosure._passport.PassportCredential`), given as
``--credential``/``GENSHARE_CREDENTIAL`` (:func:`declared_credential`)."""

import json
import os
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from genshare_widgets._errors import GenShareError
from genshare_widgets.disclosure._purpose import AccessDenied, Purpose, _purpose_from

if TYPE_CHECKING:
    from genshare_widgets.disclosure._passport import PassportCredential

CREDENTIAL_ENV = "GENSHARE_CREDENTIAL"


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
