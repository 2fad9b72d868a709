"""Declared research purposes (:class:`Purpose`, ``--purpose``/``GENSHARE_PURPOSE``) and the
two verdicts of the consent rooms (:class:`AccessDenied`, :class:`AnalysisRefused`).

The vocabulary :mod:`genshare_widgets.disclosure._consent` matches against an entry's DUO
codes, and :mod:`genshare_widgets.disclosure._credentials` reads from approval files.
"""

import os
import re
from dataclasses import dataclass
from typing import Any

from genshare_widgets._errors import GenShareError

PURPOSE_ENV = "GENSHARE_PURPOSE"
PRIMARY_PURPOSES = ("GRU", "HMB", "DS", "POA", "MDS")
_DISEASE = re.compile(r"^(MONDO:\d{7}|DOID:\d+)$")
_PURPOSE_HELP = (
    "write it as 'PRIMARY[;flag...]' with PRIMARY one of GRU, HMB, DS:MONDO:0005148, POA, MDS "
    "and flags commercial | non-commercial | irb=REF | publish | collaboration | project=NAME "
    "| geo=WHERE (country code where you work) "
    "(e.g. 'HMB;non-commercial;irb=IRB-2026-017;publish')"
)


class AccessDenied(GenShareError):  # noqa: N818 (reads as the verdict it reports)
    """A catalog cohort may not be opened: missing or non-matching purpose or credential."""


class AnalysisRefused(GenShareError):  # noqa: N818 (reads as the verdict it reports)
    """An analysis is not permitted by the cohort's consent codes or the declared purpose."""


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
