"""GA4GH Data Use Ontology (DUO) terms that catalog entries may carry.

The table is the DUO term list (id, shorthand, label) as published by the ontology's maintainers
(EBISPOT/DUO, ``duo.csv``); only the terms that tag datasets are kept (not the abstract parents
DUO:0000001 and DUO:0000017).
"""

from typing import NamedTuple


class DuoTerm(NamedTuple):
    """One DUO data-use term."""

    id: str
    shorthand: str
    label: str
    kind: str  # "permission" (primary use category) or "modifier" (extra condition)


_TERMS = [
    ("DUO:0000004", "NRES", "no restriction", "permission"),
    ("DUO:0000042", "GRU", "general research use", "permission"),
    ("DUO:0000006", "HMB", "health or medical or biomedical research", "permission"),
    ("DUO:0000007", "DS", "disease specific research", "permission"),
    ("DUO:0000011", "POA", "population origins or ancestry research only", "permission"),
    ("DUO:0000012", "RS", "research specific restrictions", "modifier"),
    ("DUO:0000015", "NMDS", "no general methods research", "modifier"),
    ("DUO:0000016", "GSO", "genetic studies only", "modifier"),
    ("DUO:0000018", "NPUNCU", "not for profit, non commercial use only", "modifier"),
    ("DUO:0000019", "PUB", "publication required", "modifier"),
    ("DUO:0000020", "COL", "collaboration required", "modifier"),
    ("DUO:0000021", "IRB", "ethics approval required", "modifier"),
    ("DUO:0000022", "GS", "geographical restriction", "modifier"),
    ("DUO:0000024", "MOR", "publication moratorium", "modifier"),
    ("DUO:0000025", "TS", "time limit on use", "modifier"),
    ("DUO:0000026", "US", "user specific restriction", "modifier"),
    ("DUO:0000027", "PS", "project specific restriction", "modifier"),
    ("DUO:0000028", "IS", "institution specific restriction", "modifier"),
    ("DUO:0000029", "RTN", "return to database or resource", "modifier"),
    ("DUO:0000043", "CC", "clinical care use", "modifier"),
    ("DUO:0000044", "NPOA", "population origins or ancestry research prohibited", "modifier"),
    ("DUO:0000045", "NPU", "not for profit organisation use only", "modifier"),
    ("DUO:0000046", "NCU", "non-commercial use only", "modifier"),
]

DUO_TERMS: dict[str, DuoTerm] = {t[0]: DuoTerm(*t) for t in _TERMS}
_BY_SHORTHAND = {t.shorthand: t for t in DUO_TERMS.values()}


def duo_term(code: str) -> DuoTerm:
    """Look up a DUO term by id (``DUO:0000004``) or shorthand (``NRES``).

    Examples
    --------
    >>> duo_term("NPOA").id
    'DUO:0000044'
    """
    key = code.strip()
    if key in DUO_TERMS:
        return DUO_TERMS[key]
    if key.upper() in _BY_SHORTHAND:
        return _BY_SHORTHAND[key.upper()]
    known = ", ".join(f"{t.id} ({t.shorthand})" for t in DUO_TERMS.values())
    raise KeyError(f"unknown DUO code {code!r}; known codes: {known}")


def forbids_ancestry_research(codes: list[str]) -> str | None:
    """Explain why these DUO codes forbid population-origins/ancestry comparisons, or None.

    NPOA (DUO:0000044) forbids it outright; HMB (DUO:0000006) and DS (DUO:0000007) cover
    health research only and, by their definitions, do not include the study of population
    origins or ancestry unless POA (DUO:0000011) or GRU/NRES is also granted.

    Examples
    --------
    >>> forbids_ancestry_research(["DUO:0000004"]) is None
    True
    """
    terms = {duo_term(c).shorthand for c in codes}
    if "NPOA" in terms:
        return (
            "its consent carries NPOA (DUO:0000044): population origins or ancestry research "
            "is prohibited"
        )
    health_only = terms & {"HMB", "DS"}
    if health_only and not terms & {"POA", "GRU", "NRES"}:
        which = ", ".join(
            f"{duo_term(t).shorthand} ({duo_term(t).id})" for t in sorted(health_only)
        )
        return (
            f"its consent is limited to {which}, which does not include the study of population "
            "origins or ancestry"
        )
    return None
