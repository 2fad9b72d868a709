"""``/g_variants`` requests: parse (GET query string or POST body), match, answer.

Coordinates follow the Beacon v2 model (genomicVariations ``requestParameters``): ``start`` is
**0-based inclusive** and ``end`` **0-based exclusive**, so a VCF record at 1-based ``POS`` is
found with ``start = POS - 1`` (and ``end = POS - 1 + len(REF)``). Two query forms:

- **sequence query**: ``referenceName``, ``start`` (one value), ``alternateBases`` (or
  ``variantType``), optional ``referenceBases``: the variants at ``POS = start + 1`` whose
  bases match (``N`` matches any base);
- **range query**: ``referenceName``, ``start`` and ``end`` (one value each), optional
  ``variantType``/``alternateBases``/``referenceBases``: every variant overlapping the 0-based
  half-open ``[start, end)``.

Bracket queries (two values of ``start`` and ``end``), ``geneId`` and ``aminoacidChange`` are
not supported (400); a ``variantType`` outside :data:`VARIANT_TYPES` is a 400 naming them.
An unknown ``referenceName`` or an ``assemblyId`` other than the cohort's build is a valid
empty answer.
"""

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GRANULARITIES = ("boolean", "count", "record")
_BASES = re.compile(r"^[ACGTN]*$")
_ASSEMBLY_ALIASES = {
    "grch37": "grch37",
    "hg19": "grch37",
    "grch37.p13": "grch37",
    "grch38": "grch38",
    "hg38": "grch38",
    "grch38.p13": "grch38",
}
MAX_LIMIT = 100
# variantType values matched (see variant_types); SNV and EFO:0001059 mean SNP, INDEL means
# DEL or INS
_TYPE_ALIASES = {"SNV": "SNP", "INDEL": "INDEL", "EFO:0001059": "SNP"}
VARIANT_TYPES = ("SNP", "MNP", "DEL", "INS", "DUP", "INV", "SV", *_TYPE_ALIASES)


class BeaconRequestError(ValueError):
    """A malformed Beacon request (answered with a 400 Beacon error response)."""


@dataclass
class VariantQuery:
    """One parsed ``/g_variants`` request."""

    reference_name: str | None = None
    start: int | None = None
    end: int | None = None
    reference_bases: str | None = None
    alternate_bases: str | None = None
    variant_type: str | None = None
    assembly_id: str | None = None
    granularity: str = "boolean"
    skip: int = 0
    limit: int = 10
    include: str = "HIT"
    filters: list[Any] = field(default_factory=list)
    received: dict[str, Any] = field(default_factory=dict)


def normalize_granularity(value: Any, *, where: str = "requestedGranularity") -> str:
    """``boolean``/``count``/``record``; ``aggregated`` means record-level aggregated variant
    records (frequencyInPopulations), i.e. ``record``."""
    text = str(value).strip().lower()
    if text == "aggregated":
        return "record"
    if text not in GRANULARITIES:
        raise BeaconRequestError(
            f"{where} {value!r} is not one of boolean, count, aggregated, record"
        )
    return text


def _integer(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise BeaconRequestError(f"{name} must be an integer (got {value!r})")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BeaconRequestError(f"{name} must be an integer (got {value!r})") from None
    if number < minimum:
        raise BeaconRequestError(f"{name} must be >= {minimum} (got {number})")
    return number


def _coordinate(name: str, value: Any, *, minimum: int) -> int | None:
    """``start``/``end``: one integer (a list of one, or ``"123"``); two values is a bracket
    query (not supported)."""
    if value is None or value == "":
        return None
    values = value if isinstance(value, list) else str(value).split(",")
    if len(values) != 1:
        raise BeaconRequestError(
            f"{name} has {len(values)} values: bracket queries are not supported by this "
            "Beacon; give one start (and one end for a range query)"
        )
    return _integer(name, values[0], minimum=minimum)


def _bases(name: str, value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    if not _BASES.match(text):
        raise BeaconRequestError(f"{name} {value!r} must be bases A, C, G, T or N")
    return text


def _variant_type(value: Any) -> str | None:
    """An upper-cased ``variantType`` this Beacon can match; another value is a 400 naming
    the accepted ones (it would otherwise answer ``exists: false`` for a question it cannot
    answer)."""
    if value is None or value == "":
        return None
    text = str(value).strip().upper()
    if text not in VARIANT_TYPES:
        raise BeaconRequestError(
            f"variantType {value!r} is not one this Beacon matches: give one of "
            f"{', '.join(VARIANT_TYPES)}"
        )
    return text


def parse_query(params: dict[str, Any], *, default_granularity: str = "boolean") -> VariantQuery:
    """A :class:`VariantQuery` from GET parameters or a POST body's ``query`` fields.

    ``params`` holds the request parameters (``referenceName``, ``start``, ``end``,
    ``referenceBases``, ``alternateBases``, ``variantType``, ``assemblyId``) and the query
    options (``requestedGranularity``, ``skip``, ``limit``, ``includeResultsetResponses``,
    ``filters``). Raises :class:`BeaconRequestError` for a malformed request.

    Examples
    --------
    >>> q = parse_query({"referenceName": "1", "start": "17", "alternateBases": "T"})
    >>> (q.start, q.alternate_bases, q.granularity)
    (17, 'T', 'boolean')
    """
    unsupported = [
        p for p in ("geneId", "aminoacidChange", "genomicAlleleShortForm") if p in params
    ]
    if unsupported:
        raise BeaconRequestError(f"parameters {unsupported} are not supported by this Beacon")
    q = VariantQuery()
    q.reference_name = (
        (str(params["referenceName"]).strip() or None)
        if params.get("referenceName") is not None
        else None
    )
    q.start = _coordinate("start", params.get("start"), minimum=0)
    q.end = _coordinate("end", params.get("end"), minimum=1)
    q.reference_bases = _bases("referenceBases", params.get("referenceBases"))
    q.alternate_bases = _bases("alternateBases", params.get("alternateBases"))
    q.variant_type = _variant_type(params.get("variantType"))
    assembly = params.get("assemblyId")
    q.assembly_id = str(assembly).strip() if assembly not in (None, "") else None
    q.granularity = normalize_granularity(params.get("requestedGranularity") or default_granularity)
    q.skip = _integer("skip", params.get("skip", 0), minimum=0)
    q.limit = _integer("limit", params.get("limit", 10), minimum=0)
    include = str(params.get("includeResultsetResponses") or "HIT").upper()
    if include not in ("ALL", "HIT", "MISS", "NONE"):
        raise BeaconRequestError(
            f"includeResultsetResponses {include!r} is not ALL, HIT, MISS or NONE"
        )
    q.include = include
    filters = params.get("filters") or []
    q.filters = filters if isinstance(filters, list) else [f for f in str(filters).split(",") if f]
    if q.reference_name is None or q.start is None:
        raise BeaconRequestError(
            "a g_variants query needs referenceName and start (0-based), e.g. "
            "?referenceName=1&start=985899&referenceBases=C&alternateBases=T"
        )
    if q.end is None and q.alternate_bases is None and q.variant_type is None:
        raise BeaconRequestError(
            "a sequence query needs alternateBases (or variantType); a range query needs end"
        )
    if q.end is not None and q.end <= q.start:
        raise BeaconRequestError(
            f"end {q.end} must be greater than start {q.start} (0-based, half-open)"
        )
    q.received = {
        key: value
        for key, value in {
            "referenceName": q.reference_name,
            "start": [q.start],
            "end": [q.end] if q.end is not None else None,
            "referenceBases": q.reference_bases,
            "alternateBases": q.alternate_bases,
            "variantType": q.variant_type,
            "assemblyId": q.assembly_id,
        }.items()
        if value is not None
    }
    return q


def _match_bases(pattern: str | None, values: np.ndarray) -> np.ndarray:
    if pattern is None:
        return np.ones(len(values), dtype=bool)
    if "N" not in pattern:
        return values == pattern
    regex = re.compile("^" + pattern.replace("N", "[ACGTN]") + "$")
    return np.array([bool(regex.match(v)) for v in values], dtype=bool)


def variant_types(ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """``SNP`` (one base each), ``MNP`` (same length > 1), ``DEL``/``INS`` (shorter/longer
    ALT); a symbolic ALT is ``DEL`` (``<DEL>``, ``<CN0>``), ``DUP`` (``<DUP>``, ``<CN2>``...),
    ``INS`` (``<INS...>``), ``INV`` or else ``SV``."""
    ref_len = np.char.str_len(ref.astype(str))
    alt_len = np.char.str_len(alt.astype(str))
    out = np.where(ref_len == alt_len, np.where(ref_len == 1, "SNP", "MNP"), "")
    out = np.where(alt_len < ref_len, "DEL", out)
    out = np.where(alt_len > ref_len, "INS", out)
    symbolic = np.char.startswith(alt.astype(str), "<")
    if symbolic.any():
        out = out.astype("<U3")
        for i in np.flatnonzero(symbolic):
            out[i] = _symbolic_type(str(alt[i]))
    return out


def _symbolic_type(alt: str) -> str:
    tag = alt.strip("<>").upper()
    if tag.startswith("DEL") or tag == "CN0":
        return "DEL"
    if tag.startswith("DUP") or (tag.startswith("CN") and tag[2:].isdigit()):
        return "DUP"
    return next((t for t in ("INS", "INV") if tag.startswith(t)), "SV")


def match_rows(release, q: VariantQuery, *, genome_build: str | None) -> tuple[np.ndarray, list]:
    """Rows of ``release`` matching ``q`` (presence not applied), and notes for the answer."""
    notes: list[str] = []
    empty = np.zeros(0, dtype=np.int64)
    if q.assembly_id is not None and genome_build is not None:
        want = _ASSEMBLY_ALIASES.get(q.assembly_id.lower(), q.assembly_id.lower())
        have = _ASSEMBLY_ALIASES.get(genome_build.lower(), genome_build.lower())
        if want != have:
            notes.append(f"assemblyId {q.assembly_id!r} is not this dataset's ({genome_build})")
            return empty, notes
    contig = release.contig_index(q.reference_name or "")
    if contig is None:
        return empty, notes
    start = int(q.start or 0)
    if q.end is None:
        rows = release.rows_at(contig, start + 1)  # 0-based start -> 1-based VCF POS
    else:
        rows = release.rows_overlapping(contig, start, q.end)
    if not len(rows):
        return rows, notes
    keep = _match_bases(q.reference_bases, release.ref[rows])
    keep &= _match_bases(q.alternate_bases, release.alt[rows])
    if q.variant_type is not None:
        want_type = _TYPE_ALIASES.get(q.variant_type, q.variant_type)
        types = variant_types(release.ref[rows], release.alt[rows])
        keep &= np.isin(types, ["DEL", "INS"]) if want_type == "INDEL" else types == want_type
    return rows[keep], notes
