"""Reading one Beacon's ``/g_variants`` answer as untrusted input (the network client's half
that never touches the network).

:func:`decode_answer` turns an HTTP status and body into a JSON object, or a
:class:`MalformedAnswer` naming what is wrong: an HTTP error (with the ``beaconErrorResponse``
message when there is one), a ``beaconErrorResponse`` under a 200, JSON nested deeper than
:data:`MAX_JSON_DEPTH` (measured before parsing), not JSON, not an object.
:func:`read_answer` checks the type of every field it uses (``responseSummary.exists`` a
boolean, counts non-negative integers and not booleans, ``alleleFrequency`` a number in
[0, 1], ``alleleCount`` at most ``alleleNumber``) and turns the answer into table rows; every
string it keeps passes :func:`clean_text` (control and bidi characters replaced, cut to
:data:`MAX_TEXT` characters) so an answer cannot write terminal escapes into a console.
Only :func:`json.loads` parses; nothing is evaluated.

What is read follows the Beacon v2 framework responses (``beaconBooleanResponse``,
``beaconCountResponse``, ``beaconResultsetsResponse``: ``meta.returnedGranularity``,
``meta.beaconId``, ``responseSummary {exists, numTotalResults}``,
``response.resultSets[].results[]``) and the genomicVariations default schema
(``variation`` as a LegacyVariation, ``frequencyInPopulations[].frequencies[]`` with
``population``, ``alleleFrequency``, ``alleleCount``, ``alleleNumber``). Fields a Beacon may
omit are read as missing (NA), never guessed.
"""

import json
import re
from typing import Any

from genshare_widgets._errors import GenShareError

MAX_JSON_DEPTH = 64  # a Beacon v2 record nests about 8 deep
MAX_ROWS = 100_000  # table rows from one Beacon
MAX_TEXT = 200  # characters of any string shown (population names, ids, messages)
GRANULARITIES = ("boolean", "count", "record", "aggregated")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class MalformedAnswer(GenShareError):  # noqa: N818 -- reads as the event it reports
    """A Beacon's answer is not a Beacon v2 ``/g_variants`` response (the reason says where)."""


def decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """A gzip/deflate body inflated to at most ``max_bytes`` (a zip bomb stops there)."""
    import zlib

    if encoding not in ("gzip", "deflate", "x-gzip"):
        raise MalformedAnswer(f"answer in an encoding this client does not read ({encoding!r})")
    wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
    try:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise MalformedAnswer(f"answer not valid {encoding} ({exc})") from None
    if len(out) > max_bytes:
        raise MalformedAnswer(f"answer too large: over {max_bytes:,} bytes once decompressed")
    return out


def decode_answer(status: int, body: bytes) -> dict[str, Any]:
    """The JSON object of an answer, or :class:`MalformedAnswer`/refusal reasons: an HTTP
    error (with the ``beaconErrorResponse`` message when there is one), not JSON, too deep,
    not an object."""
    from genshare_widgets._serve import json_depth

    document: Any = None
    problem = None
    if json_depth(body) > MAX_JSON_DEPTH:
        problem = f"JSON nested deeper than {MAX_JSON_DEPTH} levels (not parsed)"
    else:
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            problem = "not JSON"
    error = _beacon_error(document)
    if status >= 400:
        hint = ""
        if status in (401, 403):
            hint = " (token required or refused: give this Beacon's token)"
        said = error or (clean_text(body[:200].decode("utf-8", "replace")) if body else "")
        raise MalformedAnswer(f"HTTP {status}{hint}" + (f": {said}" if said else ""))
    if error is not None:
        raise MalformedAnswer(f"beaconErrorResponse: {error}")
    if problem:
        raise MalformedAnswer(f"malformed answer: {problem} (HTTP {status}, {len(body):,} bytes)")
    if not isinstance(document, dict):
        raise MalformedAnswer(
            f"malformed answer: a JSON {type(document).__name__}, not a Beacon response object"
        )
    return document


def _beacon_error(document: Any) -> str | None:
    """``errorCode: errorMessage`` of a beaconErrorResponse, else None."""
    if not isinstance(document, dict) or not isinstance(document.get("error"), dict):
        return None
    error = document["error"]
    code = error.get("errorCode")
    message = error.get("errorMessage")
    text = clean_text(message) if isinstance(message, str) else ""
    code_text = str(code) if isinstance(code, int) and not isinstance(code, bool) else "?"
    return f"errorCode {code_text}" + (f": {text}" if text else "")


def read_answer(answer: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A Beacon v2 ``/g_variants`` response → (summary, table rows), every field used
    type-checked; :class:`MalformedAnswer` names the first field at fault.

    Examples
    --------
    >>> summary, rows = read_answer({
    ...     "meta": {"beaconId": "org.example", "returnedGranularity": "count"},
    ...     "responseSummary": {"exists": True, "numTotalResults": 2}})
    >>> summary["count"], rows[0]["exists"]
    (2, True)
    """
    meta = _field(answer, "meta", dict, where="")
    beacon_id = _optional(meta, "beaconId", str, where="meta")
    granularity = _optional(meta, "returnedGranularity", str, where="meta")
    if granularity is not None and granularity not in GRANULARITIES:
        raise MalformedAnswer(
            f"malformed answer: meta.returnedGranularity {clean_text(granularity)!r} is not "
            f"one of {', '.join(GRANULARITIES)}"
        )
    summary_doc = _field(answer, "responseSummary", dict, where="")
    exists = _field(summary_doc, "exists", bool, where="responseSummary")
    count = _count(summary_doc, "numTotalResults", where="responseSummary")
    base = {
        "beacon_id": clean_text(beacon_id) if beacon_id else None,
        "status": "answered",
        "exists": exists,
        "count": count,
        "granularity": granularity,
    }
    rows: list[dict[str, Any]] = []
    response = _optional(answer, "response", dict, where="")
    result_sets = (
        _optional(response, "resultSets", list, where="response") if response is not None else None
    )
    n_variants = 0
    for i, result_set in enumerate(result_sets or []):
        where = f"response.resultSets[{i}]"
        if not isinstance(result_set, dict):
            raise MalformedAnswer(f"malformed answer: {where} is not an object")
        dataset = _optional(result_set, "id", str, where=where)
        results = _optional(result_set, "results", list, where=where) or []
        for j, record in enumerate(results):
            n_variants += 1
            rows.extend(
                _record_rows(record, where=f"{where}.results[{j}]", base=base, dataset=dataset)
            )
            if len(rows) > MAX_ROWS:
                raise MalformedAnswer(f"answer too large: over {MAX_ROWS:,} table rows")
    if not rows:
        rows.append(dict(base))
    summary = {k: base[k] for k in ("beacon_id", "exists", "count", "granularity")}
    summary["n_variants"] = n_variants
    return summary, rows


def _record_rows(record: Any, *, where: str, base: dict, dataset: str | None) -> list[dict]:
    """Rows of one genomicVariation record: one per population frequency (or one bare)."""
    if not isinstance(record, dict):
        raise MalformedAnswer(f"malformed answer: {where} is not an object")
    variation = _optional(record, "variation", dict, where=where) or {}
    start = _location_start(variation.get("location"))
    vid = _optional(record, "variantInternalId", str, where=where)
    variant = {
        "dataset": clean_text(dataset) if dataset else None,
        "variant": clean_text(vid) if vid else None,
        "start": start,
        "reference_bases": _text_or_none(variation, "referenceBases", f"{where}.variation"),
        "alternate_bases": _text_or_none(variation, "alternateBases", f"{where}.variation"),
        "variant_type": _text_or_none(variation, "variantType", f"{where}.variation"),
    }
    blocks = _optional(record, "frequencyInPopulations", list, where=where) or []
    rows = []
    for b, block in enumerate(blocks):
        here = f"{where}.frequencyInPopulations[{b}]"
        if not isinstance(block, dict):
            raise MalformedAnswer(f"malformed answer: {here} is not an object")
        for f, item in enumerate(_optional(block, "frequencies", list, where=here) or []):
            spot = f"{here}.frequencies[{f}]"
            if not isinstance(item, dict):
                raise MalformedAnswer(f"malformed answer: {spot} is not an object")
            population = _field(item, "population", str, where=spot)
            frequency = item.get("alleleFrequency")
            if frequency is not None:
                if isinstance(frequency, bool) or not isinstance(frequency, (int, float)):
                    raise MalformedAnswer(
                        f"malformed answer: {spot}.alleleFrequency is not a number"
                    )
                if not (0.0 <= float(frequency) <= 1.0):  # NaN fails too
                    raise MalformedAnswer(
                        f"malformed answer: {spot}.alleleFrequency {frequency!r} is not in [0, 1]"
                    )
            ac = _count(item, "alleleCount", where=spot)
            an = _count(item, "alleleNumber", where=spot)
            if ac is not None and an is not None and ac > an:
                raise MalformedAnswer(
                    f"malformed answer: {spot}.alleleCount {ac} exceeds alleleNumber {an}"
                )
            rows.append(
                {
                    **base,
                    **variant,
                    "population": clean_text(population),
                    "allele_frequency": None if frequency is None else float(frequency),
                    "allele_count": ac,
                    "allele_number": an,
                }
            )
    return rows or [{**base, **variant}]


def _location_start(location: Any) -> int | None:
    """The 0-based start of a VRS SequenceLocation: VRS 1.x ``interval.start.value`` (a
    Number), ``interval.start`` as an integer, or VRS 2 ``start``; else None (a range, a
    ChromosomeLocation or an unknown form is not guessed)."""
    if not isinstance(location, dict):
        return None
    interval = location.get("interval")
    candidates = [location.get("start")]
    if isinstance(interval, dict):
        first = interval.get("start")
        candidates.insert(0, first.get("value") if isinstance(first, dict) else first)
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _field(doc: dict, key: str, kind: type, *, where: str) -> Any:
    path = f"{where}.{key}" if where else key
    if key not in doc:
        raise MalformedAnswer(f"not a Beacon v2 response: no {path}")
    return _typed(doc[key], kind, path)


def _optional(doc: dict, key: str, kind: type, *, where: str) -> Any:
    if doc.get(key) is None:
        return None
    return _typed(doc[key], kind, f"{where}.{key}" if where else key)


def _typed(value: Any, kind: type, path: str) -> Any:
    if (kind is not bool and isinstance(value, bool)) or not isinstance(value, kind):
        names = {dict: "an object", list: "an array", str: "a string", bool: "true or false"}
        raise MalformedAnswer(
            f"malformed answer: {path} is {type(value).__name__} {_short(value)}, not "
            f"{names.get(kind, kind.__name__)}"
        )
    return value


def _count(doc: dict, key: str, *, where: str) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedAnswer(
            f"malformed answer: {where}.{key} is {_short(value)}, not a non-negative integer"
        )
    return value


def _text_or_none(doc: dict, key: str, where: str) -> str | None:
    value = _optional(doc, key, str, where=where)
    return clean_text(value) if value is not None else None


def _short(value: Any) -> str:
    return clean_text(
        json.dumps(value)[:60] if not isinstance(value, str) else repr(value), limit=60
    )


def clean_text(text: str, *, limit: int = MAX_TEXT) -> str:
    """``text`` safe to print: control and bidi characters replaced by '?', cut to ``limit``.

    Examples
    --------
    >>> clean_text("YRI\\x1b[2J")
    'YRI?[2J'
    """
    text = _CONTROL.sub("?", str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"
