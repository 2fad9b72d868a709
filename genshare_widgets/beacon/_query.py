"""``/g_variants`` requests: parse (GET query string or POST body), match, answer.

Coordinates follow the Beacon v2 model (genomicVariations ``requestParameters``): ``start`` is
**0-based inclusive** and ``end`` **0-based exclusive**, so a VCF record at 1-based ``POS`` is
found with ``start = POS - 1``. A record covers the 0-based ``[POS - 1, END)``, ``END`` being
its INFO/END for a symbolic allele (``<DEL>``, ``<CN0>``...) and ``POS - 1 + len(REF)``
otherwise. Query forms:

- **sequence query**: ``referenceName``, ``start`` (one value), ``alternateBases`` (or
  ``variantType``), optional ``referenceBases``: the variants at ``start`` whose bases match,
  written either as in the VCF (with the padding base: ``start = POS - 1``) or trimmed as
  VRS writes them (the bases shared by REF and ALT removed from both ends, so a deletion of
  ``T`` after ``C`` is ``start = POS``, ``referenceBases=T``, ``alternateBases=`` empty).
  Bases are IUPAC codes (``N`` any base, ``R`` A or G...; ``U`` is read as ``T``; ``-`` and
  ``.`` as the empty allele);
- **range query**: ``referenceName``, ``start`` and ``end`` (one value each), optional
  ``variantType``/``alternateBases``/``referenceBases``: every variant overlapping the 0-based
  half-open ``[start, end)``;
- **bracket query** (the specification's form for structural variants): two values of
  ``start`` and of ``end``: the variants starting in ``[start[0], start[1])`` and ending in
  ``[end[0], end[1])`` (so ``start[1] = start[0] + 1`` asks for an exact start);
- **no parameters** (``GET /g_variants``, a verifier's first probe): every variant.

``variantMinLength``/``variantMaxLength`` keep variants whose length is within them: END −
POS bases for a symbolic allele (the span after the padding base, as VCF's SVLEN), else the
longer of REF and ALT once trimmed (1 for a SNV). ``referenceName`` and ``assemblyId`` may be
any alias :mod:`genshare_widgets._assemblies` knows (``chr1``, ``NC_000001.10``,
``refseq:NC_000001.10``, ``CM000663.1``; ``hg19``, ``GCF_000001405.25``...); an accession of
another build, an unknown ``referenceName`` or another ``assemblyId`` is a valid empty answer
with a note. ``geneId``, ``aminoacidChange``, ``genomicAlleleShortForm`` and ``mateName`` are
not supported (400); a ``variantType`` outside :data:`VARIANT_TYPES` is a 400 naming them.
"""

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GRANULARITIES = ("boolean", "count", "record")
# the specification's AlternateBases/ReferenceBases pattern (IUPAC codes, '-' and '.')
_BASES = re.compile(r"^[ACGTUNRYSWKMBDHV.\-]*$")
_IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T", "N": "[ACGTN]", "R": "[AG]", "Y": "[CT]",
    "S": "[CG]", "W": "[AT]", "K": "[GT]", "M": "[AC]", "B": "[CGT]", "D": "[AGT]",
    "H": "[ACT]", "V": "[ACG]",
}  # fmt: skip
INT64_MAX = 2**63 - 1
MAX_LIMIT = 100
# variantType values matched (see variant_types); SNV and EFO:0001059 mean SNP, INDEL means
# DEL or INS
_TYPE_ALIASES = {"SNV": "SNP", "INDEL": "INDEL", "EFO:0001059": "SNP"}
VARIANT_TYPES = ("SNP", "MNP", "DEL", "INS", "DUP", "INV", "SV", *_TYPE_ALIASES)


class BeaconRequestError(ValueError):
    """A malformed Beacon request (answered with a 400 Beacon error response)."""


@dataclass
class VariantQuery:
    """One parsed ``/g_variants`` request (``start``/``end``: one value, or two for a
    bracket query; None when not given)."""

    reference_name: str | None = None
    start: list[int] | None = None
    end: list[int] | None = None
    min_length: int | None = None
    max_length: int | None = None
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
    if number > INT64_MAX:
        raise BeaconRequestError(f"{name} {number} is beyond a 64-bit integer (int64)")
    return number


def _coordinate(name: str, value: Any, *, minimum: int) -> list[int] | None:
    """``start``/``end``: one integer, or two for a bracket query (a list, or ``"1,2"``)."""
    if value is None or value == "":
        return None
    values = value if isinstance(value, list) else str(value).split(",")
    if len(values) not in (1, 2):
        raise BeaconRequestError(
            f"{name} has {len(values)} values: give one (a position or range) or two (a "
            "bracket query)"
        )
    return [_integer(name, v, minimum=minimum) for v in values]


def _bases(name: str, value: Any) -> str | None:
    """Upper-cased bases (``U`` read as ``T``; ``-`` and ``.`` the empty allele)."""
    if value is None:
        return None
    text = str(value).strip().upper()
    if text == "*":
        raise BeaconRequestError(
            f"{name} '*' is VCF's spanning-deletion allele, not a sequence (Beacon v2 bases "
            "have no '*'): this Beacon serves the deletion through its own record; find it "
            "with a range query (start and end) over the site, or by its bases"
        )
    if not _BASES.match(text):
        raise BeaconRequestError(
            f"{name} {value!r} must be bases (A, C, G, T, IUPAC codes such as N or R; '' or "
            "'-' for an empty allele)"
        )
    return "" if text in ("-", ".") else text.replace("U", "T").replace("-", "").replace(".", "")


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
        p
        for p in ("geneId", "aminoacidChange", "genomicAlleleShortForm", "mateName")
        if params.get(p) not in (None, "")
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
    for key, attr, minimum in (
        ("variantMinLength", "min_length", 0),
        ("variantMaxLength", "max_length", 1),
    ):
        if params.get(key) not in (None, ""):
            setattr(q, attr, _integer(key, params[key], minimum=minimum))
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
    _check_form(q)
    q.received = {
        key: value
        for key, value in {
            "referenceName": q.reference_name,
            "start": q.start,
            "end": q.end,
            "referenceBases": q.reference_bases,
            "alternateBases": q.alternate_bases,
            "variantType": q.variant_type,
            "assemblyId": q.assembly_id,
            "variantMinLength": q.min_length,
            "variantMaxLength": q.max_length,
        }.items()
        if value is not None
    }
    return q


def _check_form(q: VariantQuery) -> None:
    """The query is one of the forms of the module docstring (or asks for everything)."""
    located = q.reference_name is not None or q.start is not None or q.end is not None
    if not located:
        if q.reference_bases is not None or q.alternate_bases is not None:
            raise BeaconRequestError(
                "bases need a place: give referenceName and start (0-based), e.g. "
                "?referenceName=1&start=985899&referenceBases=C&alternateBases=T"
            )
        return  # no place at all: every variant (narrowed by variantType or lengths)
    if q.reference_name is None or q.start is None:
        raise BeaconRequestError(
            "a g_variants query needs referenceName and start (0-based), e.g. "
            "?referenceName=1&start=985899&referenceBases=C&alternateBases=T"
        )
    if q.end is None:
        if len(q.start) != 1:
            raise BeaconRequestError("a bracket query needs two values of start and of end")
        if q.alternate_bases is None and q.variant_type is None:
            raise BeaconRequestError(
                "a sequence query needs alternateBases (or variantType); a range query needs end"
            )
        return
    if len(q.start) != len(q.end):
        raise BeaconRequestError(
            "give one start and one end (a range query) or two of each (a bracket query), "
            f"not {len(q.start)} and {len(q.end)}"
        )
    if len(q.start) == 1 and q.end[0] <= q.start[0]:
        raise BeaconRequestError(
            f"end {q.end[0]} must be greater than start {q.start[0]} (0-based, half-open)"
        )
    if len(q.start) == 2 and (q.start[1] < q.start[0] or q.end[1] < q.end[0]):
        raise BeaconRequestError(
            "a bracket query's start and end are each [lowest, highest]: "
            f"got start {q.start} and end {q.end}"
        )


def _match_bases(pattern: str | None, values: np.ndarray) -> np.ndarray:
    if pattern is None:
        return np.ones(len(values), dtype=bool)
    if all(c in "ACGT" for c in pattern):
        return values == pattern
    regex = re.compile("^" + "".join(_IUPAC[c] for c in pattern) + "$")
    return np.array([bool(regex.match(v)) for v in values], dtype=bool)


def trimmed(position: np.ndarray, ref: np.ndarray, alt: np.ndarray):
    """The VRS-style trimmed form of VCF records: ``(start0, ref, alt)`` with the bases REF and
    ALT share removed from the start, then from the end (``C``/``CT`` at POS 10 → 10, ``""``,
    ``T``). Symbolic ALTs are left as they are (start ``POS - 1``). Not left-shuffled through
    repeats: that needs the reference sequence, which a Beacon does not hold."""
    starts = np.asarray(position, dtype=np.int64) - 1
    refs, alts = [], []
    out_start = starts.copy()
    for i, (r, a) in enumerate(zip(ref.tolist(), alt.tolist(), strict=True)):
        r, a = str(r), str(a)
        if a.startswith("<"):
            refs.append(r)
            alts.append(a)
            continue
        p = 0
        while p < min(len(r), len(a)) and r[p] == a[p]:
            p += 1
        r, a = r[p:], a[p:]
        e = 0
        while e < min(len(r), len(a)) and r[-1 - e] == a[-1 - e]:
            e += 1
        refs.append(r[: len(r) - e])
        alts.append(a[: len(a) - e])
        out_start[i] += p
    return out_start, np.array(refs, dtype=object), np.array(alts, dtype=object)


def variant_lengths(release, rows: np.ndarray) -> np.ndarray:
    """Length in bases of each row's variant (see the module docstring)."""
    ref, alt = release.ref[rows], release.alt[rows]
    _, tref, talt = trimmed(release.position[rows], ref, alt)
    out = np.array([max(len(r), len(a)) for r, a in zip(tref, talt, strict=True)], np.int64)
    symbolic = np.char.startswith(alt.astype(str), "<")
    out[symbolic] = release.end[rows][symbolic] - release.position[rows][symbolic]
    return out


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


def _contigs(release, q: VariantQuery, genome_build: str | None, notes: list[str]) -> list[int]:
    """Codes of the release's contigs that ``q.reference_name`` names (aliases allowed)."""
    from genshare_widgets._assemblies import accession_build, canonical_build, same_sequence

    name = q.reference_name or ""
    codes = [
        c
        for c, contig in enumerate(release.contigs)
        if same_sequence(name, contig, build=genome_build)
    ]
    if not codes:
        other = accession_build(name)
        have = canonical_build(genome_build)
        if other is not None and have is not None and other != have:
            notes.append(f"referenceName {name!r} is a {other} accession; this dataset is {have}")
    return codes


def match_rows(release, q: VariantQuery, *, genome_build: str | None) -> tuple[np.ndarray, list]:
    """Rows of ``release`` matching ``q`` (presence not applied), and notes for the answer."""
    from genshare_widgets._assemblies import canonical_build

    notes: list[str] = []
    empty = np.zeros(0, dtype=np.int64)
    if q.assembly_id is not None and genome_build is not None:
        want = canonical_build(q.assembly_id) or q.assembly_id.lower()
        have = canonical_build(genome_build) or genome_build.lower()
        if want != have:
            notes.append(f"assemblyId {q.assembly_id!r} is not this dataset's ({genome_build})")
            return empty, notes
    if q.reference_name is None:  # no place: every variant
        rows = np.arange(len(release.position), dtype=np.int64)
    else:
        assert q.start is not None
        parts = []
        for contig in _contigs(release, q, genome_build, notes):
            if q.end is None:
                parts.append(_sequence_rows(release, contig, q))
            elif len(q.start) == 1:
                parts.append(release.rows_overlapping(contig, q.start[0], q.end[0]))
            else:
                parts.append(_bracket_rows(release, contig, q.start, q.end))
        rows = np.sort(np.concatenate(parts)) if parts else empty
        if q.end is None:  # the bases were matched with the position
            return _narrow(release, rows, q, bases=False), notes
    return _narrow(release, rows, q, bases=True), notes


def _sequence_rows(release, contig: int, q: VariantQuery) -> np.ndarray:
    """Rows at ``start`` written as in the VCF (``POS - 1``) or trimmed (VRS), bases matched."""
    assert q.start is not None
    start = q.start[0]
    lo, hi = release.rows_overlapping_starts(contig, start - release.max_ref_len + 1, start + 1)
    rows = np.arange(lo, hi)
    if not len(rows):
        return rows
    ref, alt = release.ref[rows], release.alt[rows]
    vcf = (release.position[rows] - 1 == start) & _match_bases(q.reference_bases, ref)
    vcf &= _match_bases(q.alternate_bases, alt)
    t_start, t_ref, t_alt = trimmed(release.position[rows], ref, alt)
    vrs = (t_start == start) & _match_bases(q.reference_bases, t_ref.astype(str))
    vrs &= _match_bases(q.alternate_bases, t_alt.astype(str))
    return rows[vcf | vrs]


def _bracket_rows(release, contig: int, start: list[int], end: list[int]) -> np.ndarray:
    """Rows starting (0-based ``POS - 1``) in ``[start[0], start[1])`` and ending (0-based
    exclusive END) in ``[end[0], end[1])``; equal bounds mean that exact value."""
    lo, hi = release.rows_overlapping_starts(contig, start[0], max(start[1], start[0] + 1))
    rows = np.arange(lo, hi)
    ends = release.end[rows]
    return rows[(ends >= end[0]) & (ends < max(end[1], end[0] + 1))]


def _narrow(release, rows: np.ndarray, q: VariantQuery, *, bases: bool) -> np.ndarray:
    """``rows`` kept by the bases (range queries), variantType and the length bounds."""
    if not len(rows):
        return rows
    keep = np.ones(len(rows), dtype=bool)
    if bases:
        keep &= _match_bases(q.reference_bases, release.ref[rows])
        keep &= _match_bases(q.alternate_bases, release.alt[rows])
    if q.variant_type is not None:
        want_type = _TYPE_ALIASES.get(q.variant_type, q.variant_type)
        types = variant_types(release.ref[rows], release.alt[rows])
        keep &= np.isin(types, ["DEL", "INS"]) if want_type == "INDEL" else types == want_type
    if q.min_length is not None or q.max_length is not None:
        lengths = variant_lengths(release, rows)
        if q.min_length is not None:
            keep &= lengths >= q.min_length
        if q.max_length is not None:
            keep &= lengths <= q.max_length
    return rows[keep]
