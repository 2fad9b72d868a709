"""Catalog fields that go with the DUO codes: modifier parameters and Local Contexts labels.

Two blocks of a catalog entry (both optional; an entry without them behaves as before):

``duo_terms``
    The parameters of DUO modifiers that a code alone cannot say: where (GS), until when
    (TS), from when results may be published (MOR), to whom derived data go back (RTN),
    with whom to collaborate (COL). The field names follow the data-use schema of the Broad
    Institute's DUOS / consent-ontology (``DataUseV4``: ``geographicalRestrictions``,
    ``publicationMoratorium``, ``collaboratorRequired``), source
    https://github.com/DataBiosphere/consent-ontology (``model/DataUseV4.java``); DUO's own
    term text says what each code means (https://github.com/EBISPOT/DUO, ``duo.csv``).

``local_contexts``
    Traditional Knowledge (TK) and Biocultural (BC) Labels and the Notices of Local Contexts
    (https://localcontexts.org/labels/traditional-knowledge-labels/,
    https://localcontexts.org/labels/biocultural-labels/, https://localcontexts.org/notices/
    aboutnotices/; the four Notices as listed by DataCite,
    https://support.datacite.org/docs/local-contexts-notices-and-labels). Labels are applied
    by Indigenous communities (each names its community); Notices are placed by researchers
    and institutions to flag Indigenous rights and interests until a community adds Labels.
    Each label record holds its type, the community, the community's (customised) text, a
    URL (the Local Contexts Hub project or the label's page) and the Hub project id.

What GenShare does with each label type is its ``rule`` (see :data:`LABEL_TYPES`):
``non_commercial`` refuses a commercial purpose; ``community_approval`` refuses use
without an approval from the named community; ``consent_non_verified`` puts a warning on
every output; ``attribution`` is carried into figure footers and provenance; ``notice`` and
``informational`` are shown and recorded. The enforcement lives in
:mod:`genshare_widgets.disclosure._labels` and :mod:`genshare_widgets.disclosure._modifiers`.
"""

import re
from datetime import date
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LabelRule = Literal[
    "non_commercial", "community_approval", "consent_non_verified", "attribution", "notice",
    "informational",
]  # fmt: skip


class LabelType(NamedTuple):
    """One Local Contexts Label or Notice type."""

    name: str  # the published name, e.g. "TK Non-Commercial"
    code: str  # the published short code, e.g. "TK NC" ("" for Notices)
    kind: str  # "TK Label", "BC Label" or "Notice"
    rule: str  # what GenShare does with it (a LabelRule)
    meaning: str  # a one-line paraphrase of the published "why use this label"

    @property
    def page(self) -> str:
        """The label's page on localcontexts.org (notices: the notices overview)."""
        if self.kind == "Notice":
            return "https://localcontexts.org/notices/aboutnotices/"
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        return f"https://localcontexts.org/label/{slug}/"


_TK = "TK Label"
_BC = "BC Label"
_NOTICE = "Notice"
_TYPES = [
    # --- Traditional Knowledge Labels (https://localcontexts.org/labels/traditional-knowledge-labels/)
    ("TK Attribution", "TK A", _TK, "attribution",
     "names the correct sources, custodians or owners; future users apply that attribution"),
    ("TK Clan", "TK CL", _TK, "attribution",
     "the material is connected to a clan with its own conditions of use"),
    ("TK Family", "TK F", _TK, "attribution",
     "the material is connected to a family with its own conditions of use"),
    ("TK Multiple Communities", "TK MC", _TK, "community_approval",
     "responsibility is shared by several communities; clear intended use with them"),
    ("TK Community Voice", "TK CV", _TK, "attribution",
     "the community wants its voice and perspective included in future uses"),
    ("TK Creative", "TK CR", _TK, "attribution",
     "acknowledges the community's creative contribution to the material"),
    ("TK Verified", "TK V", _TK, "informational",
     "the community is satisfied with how the material is represented"),
    ("TK Non-Verified", "TK NV", _TK, "consent_non_verified",
     "the community has concerns about how the material is represented or used"),
    ("TK Seasonal", "TK S", _TK, "informational",
     "the material has seasonal conditions of access and use"),
    ("TK Women General", "TK WG", _TK, "informational",
     "the material is usually shared among women"),
    ("TK Men General", "TK MG", _TK, "informational", "the material is usually shared among men"),
    ("TK Women Restricted", "TK WR", _TK, "community_approval",
     "the material has restricted circulation among women; ask the community first"),
    ("TK Men Restricted", "TK MR", _TK, "community_approval",
     "the material has restricted circulation among men; ask the community first"),
    ("TK Culturally Sensitive", "TK CS", _TK, "informational",
     "the material is culturally sensitive; use it with care and respect"),
    ("TK Secret / Sacred", "TK SS", _TK, "community_approval",
     "the material has secret or sacred significance; not for use without permission"),
    ("TK Open to Commercialization", "TK OC", _TK, "informational",
     "the community is open to commercialization on terms negotiated with it"),
    ("TK Non-Commercial", "TK NC", _TK, "non_commercial",
     "the material is available for non-commercial use only"),
    ("TK Community Use Only", "TK CO", _TK, "community_approval",
     "the material is not publicly available; it circulates within the community"),
    ("TK Outreach", "TK O", _TK, "informational",
     "the material may be used for educational outreach"),
    ("TK Open to Collaboration", "TK CB", _TK, "informational",
     "the community is open to research collaboration and partnership"),
    # --- Biocultural Labels (https://localcontexts.org/labels/biocultural-labels/)
    ("BC Provenance", "BC P", _BC, "attribution",
     "names the community with rights and responsibilities over the material and its data"),
    ("BC Multiple Communities", "BC MC", _BC, "community_approval",
     "several communities hold rights; uses are decided with all of them"),
    ("BC Clan", "BC CL", _BC, "attribution",
     "the material is connected to a clan with its own conditions of use"),
    ("BC Consent Verified", "BC CV", _BC, "informational",
     "the community has consent conditions in place for the use of the data"),
    ("BC Consent Non-Verified", "BC CNV", _BC, "consent_non_verified",
     "the community has not verified consent for the use of the data"),
    ("BC Research Use", "BC R", _BC, "non_commercial",
     "use for research is allowed; it gives no permission for commercialization"),
    ("BC Open to Collaboration", "BC CB", _BC, "informational",
     "the community is open to research collaboration and partnership"),
    ("BC Open to Commercialization", "BC OC", _BC, "informational",
     "the community is open to commercialization on terms negotiated with it"),
    ("BC Outreach", "BC O", _BC, "informational",
     "the data may be used for educational outreach"),
    ("BC Non-Commercial", "BC NC", _BC, "non_commercial",
     "the data are available for non-commercial use only"),
    # --- Notices (placed by researchers/institutions; https://localcontexts.org/notices/aboutnotices/)
    ("TK Notice", "", _NOTICE, "notice",
     "there may be cultural rights, protocols and responsibilities attached to this material"),
    ("BC Notice", "", _NOTICE, "notice",
     "Indigenous peoples have rights to define the use of data from their lands and waters"),
    ("Attribution Incomplete Notice", "", _NOTICE, "attribution",
     "the attribution of this material is incomplete, inaccurate or missing"),
    ("Open to Collaborate Notice", "", _NOTICE, "notice",
     "the institution is committed to collaboration with Indigenous communities"),
]  # fmt: skip

#: Every Label and Notice type, by its published name.
LABEL_TYPES: dict[str, LabelType] = {t[0]: LabelType(*t) for t in _TYPES}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


_ALIASES: dict[str, str] = {}
for _t in LABEL_TYPES.values():
    _ALIASES[_key(_t.name)] = _t.name
    if _t.code:
        _ALIASES[_key(_t.code)] = _t.name
    if _t.kind == _NOTICE:
        _ALIASES[_key(_t.name.removesuffix(" Notice"))] = _t.name
_ALIASES[_key("Open to Collaboration Notice")] = "Open to Collaborate Notice"  # DataCite's name


def label_type(name: str) -> LabelType:
    """Look up a Label or Notice type by name or short code (case and punctuation ignored).

    Examples
    --------
    >>> label_type("tk nc").name
    'TK Non-Commercial'
    """
    found = _ALIASES.get(_key(str(name)))
    if found is None:
        raise KeyError(
            f"unknown Local Contexts label type {name!r}; known types: "
            + ", ".join(LABEL_TYPES)
            + " (or their short codes, e.g. 'TK NC')"
        )
    return LABEL_TYPES[found]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalContextsLabel(_Strict):
    """One Local Contexts Label or Notice attached to a catalog entry."""

    type: str = Field(description="the Label or Notice type, e.g. 'TK Non-Commercial' or 'BC P'")
    community: str | None = Field(
        default=None,
        description="the community that applied the Label (Labels need one; Notices may name "
        "the community whose interests they flag)",
    )
    text: str | None = Field(default=None, description="the community's label text")
    url: str | None = Field(
        default=None, description="the Local Contexts Hub project, or the label's page"
    )
    project_id: str | None = Field(default=None, description="the Local Contexts Hub project id")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        try:
            return label_type(value).name
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError(f"url {value!r} must start with https:// or http://")
        return value

    @model_validator(mode="after")
    def _labels_name_a_community(self) -> "LocalContextsLabel":
        if self.kind.kind != _NOTICE and not (self.community or "").strip():
            raise ValueError(
                f"{self.type} is a Label, applied by a community: name it in 'community'"
            )
        return self

    @property
    def kind(self) -> LabelType:
        """The label's type record (code, kind, rule, meaning)."""
        return label_type(self.type)

    def describe(self) -> str:
        """``TK Non-Commercial (TK NC), Example Community``: how messages quote a label."""
        t = self.kind
        head = f"{t.name} ({t.code})" if t.code else t.name
        return f"{head}, {self.community}" if self.community else head

    def record(self) -> dict[str, str | None]:
        """A JSON-ready record for provenance."""
        t = self.kind
        return {
            "type": t.name,
            "code": t.code or None,
            "kind": t.kind,
            "rule": t.rule,
            "community": self.community,
            "text": self.text,
            "url": self.url or t.page,
            "project_id": self.project_id,
        }


class ReturnAddress(_Strict):
    """Where derived or enriched data go back to (RTN, DUO:0000029)."""

    name: str = Field(description="the resource or data access committee receiving returns")
    contact: str = Field(description="an e-mail address or URL for returns")
    what: str = Field(
        default="derived or enriched data and the provenance of how they were made",
        description="what is to be returned",
    )


class DuoTerms(_Strict):
    """Parameters of an entry's DUO modifiers (the entry's ``duo_terms:`` block)."""

    geographic_restriction: list[str] | None = Field(
        default=None,
        min_length=1,
        description="GS (DUO:0000022): where use is allowed: ISO 3166-1 alpha-2 country codes "
        "or region names (e.g. CA, NZ, EEA); the purpose declares geo=WHERE",
    )
    time_limit: date | None = Field(
        default=None, description="TS (DUO:0000025): the last day the data may be used"
    )
    publication_moratorium: date | None = Field(
        default=None,
        description="MOR (DUO:0000024): results may be published (exported) from this day on",
    )
    return_to: ReturnAddress | None = Field(
        default=None, description="RTN (DUO:0000029): where derived data are returned"
    )
    collaborators: str | None = Field(
        default=None, description="COL (DUO:0000020): the investigators to collaborate with"
    )

    @field_validator("geographic_restriction")
    @classmethod
    def _region_tokens(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = []
        for item in value:
            token = str(item).strip().upper()
            if not re.fullmatch(r"[A-Z][A-Z0-9 _-]*", token):
                raise ValueError(
                    f"region {item!r} must be an ISO 3166-1 country code (CA) or a region name"
                )
            out.append(token)
        return out


#: Which DUO code each ``duo_terms`` field is the parameter of.
TERM_CODES = {
    "geographic_restriction": ("GS", "DUO:0000022"),
    "time_limit": ("TS", "DUO:0000025"),
    "publication_moratorium": ("MOR", "DUO:0000024"),
    "return_to": ("RTN", "DUO:0000029"),
    "collaborators": ("COL", "DUO:0000020"),
}


def check_terms_against_codes(duo_ids: list[str], terms: DuoTerms | None) -> None:
    """Refuse a ``duo_terms`` field whose DUO code the entry does not carry (ValueError)."""
    if terms is None:
        return
    for name, (shorthand, duo_id) in TERM_CODES.items():
        if getattr(terms, name) is not None and duo_id not in duo_ids:
            raise ValueError(
                f"duo_terms.{name} is the parameter of {shorthand} ({duo_id}): add {duo_id} to "
                "duo, or remove the field"
            )
