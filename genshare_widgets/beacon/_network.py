"""A Beacon network client: one ``/g_variants`` question to many Beacons, one table back.

:func:`beacon_network` sends the same Beacon v2 query (sequence or range form) to every Beacon
at once (one thread each, at most :data:`MAX_WORKERS` at a time), reads each answer under
bounds, and merges what came back into one long table, as a network aggregator (the ELIXIR
Beacon Network, whose aggregator keys answers on the ``meta.beaconId`` each Beacon returns)
shows it: per Beacon, who answered (URL and ``beaconId``), ``exists``, the count
(``responseSummary.numTotalResults``), the granularity it returned, and, at record
granularity, one row per variant and population of its ``frequencyInPopulations``
(population, alleleFrequency, alleleCount and alleleNumber where given).

Every Beacon given has at least one row: a Beacon that is down, slow, refuses (HTTP 4xx/5xx,
a ``beaconErrorResponse``, a redirect), or answers malformed data (not JSON, JSON that is not
a Beacon v2 response, a field of the wrong type, a frequency outside [0, 1]) is a NAMED
exclusion, with ``status="excluded"`` and the reason in the table and in
:attr:`NetworkResult.excluded`, as the federation coordinator excludes a site. Nothing is
silently dropped and no Beacon can make the call fail or hang.

Answers are untrusted input:

- each answer must arrive, to its last byte, within ``timeout`` seconds (connect, wait and
  body; a Beacon trickling its answer a byte at a time is cut off too), and the whole call
  ends within ``deadline`` seconds, whatever the Beacons do;
- a body is read at most :data:`MAX_ANSWER_BYTES` bytes (a larger one is an exclusion, read
  no further), nests arrays/objects at most :data:`MAX_JSON_DEPTH` deep (measured before
  parsing, so a ``[[[[...`` body never reaches the parser), and becomes at most
  :data:`MAX_ROWS` table rows;
- parsed with :func:`json.loads` (no eval), each field used is type-checked (a boolean is not
  a count), and every string shown is cut to :data:`MAX_TEXT` characters with control
  characters replaced, so a Beacon cannot write terminal escape codes into the CLI's output;
- no redirect is followed, and a bearer token goes only to the Beacon it was given for
  (``tokens={url: token}``), never to the others.

Coordinates are Beacon v2's: ``start`` 0-based (the VCF record at POS is ``start=POS - 1``),
``end`` 0-based exclusive.
"""

import math
import re
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.beacon._network_answers import (
    GRANULARITIES,
    MalformedAnswer,
    clean_text,
    decode_answer,
    decompress,
    read_answer,
)

MAX_ANSWER_BYTES = 8 << 20  # 8 MiB: a page of 100 records with 30 populations is ~100 KiB
MAX_WORKERS = 64  # Beacons asked at once (one thread each; a hanging one holds its thread)
COLUMNS = [
    "beacon",
    "beacon_id",
    "status",
    "exists",
    "count",
    "granularity",
    "dataset",
    "variant",
    "start",
    "reference_bases",
    "alternate_bases",
    "variant_type",
    "population",
    "allele_frequency",
    "allele_count",
    "allele_number",
    "reason",
]
_BASES = re.compile(r"^[ACGTUNRYSWKMBDHV.\-]*$")


@dataclass(frozen=True)
class NetworkQuery:
    """One ``/g_variants`` question (Beacon v2 ``requestParameters``), checked before sending.

    A sequence query gives ``alternate_bases`` (or ``variant_type``) at one ``start``; a range
    query gives ``start`` and ``end``. ``granularity`` is the one requested (each Beacon may
    answer less; ``aggregated`` is sent as is, for Beacons that distinguish it).

    Examples
    --------
    >>> q = NetworkQuery(reference_name="1", start=16, alternate_bases="T")
    >>> q.get_parameters()["start"], q.post_body()["query"]["requestParameters"]["start"]
    (16, [16])
    """

    reference_name: str
    start: int
    end: int | None = None
    reference_bases: str | None = None
    alternate_bases: str | None = None
    variant_type: str | None = None
    assembly_id: str | None = None
    granularity: str = "record"
    limit: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.reference_name, str) or not self.reference_name.strip():
            raise GenShareError("reference_name (--reference-name) is required, e.g. '1'")
        for name in ("start", "end", "limit"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise GenShareError(f"{name} must be an integer (got {value!r})")
        if self.start < 0:
            raise GenShareError(f"start must be >= 0 (0-based: VCF POS - 1), got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise GenShareError(f"end {self.end} must be greater than start {self.start}")
        for name in ("reference_bases", "alternate_bases"):
            value = getattr(self, name)
            if value is not None and not _BASES.match(value.upper()):
                raise GenShareError(f"{name} {value!r} must be IUPAC bases (A, C, G, T, N...)")
        if self.end is None and self.alternate_bases is None and self.variant_type is None:
            raise GenShareError(
                "a sequence query needs alternate_bases (or variant_type); a range query "
                "needs end (--end)"
            )
        if self.granularity not in GRANULARITIES:
            raise GenShareError(
                f"granularity {self.granularity!r} is not one of {', '.join(GRANULARITIES)}"
            )
        if self.limit < 1:
            raise GenShareError(f"limit must be >= 1 (got {self.limit})")

    def request_parameters(self) -> dict[str, Any]:
        values = {
            "referenceName": self.reference_name.strip(),
            "start": self.start,
            "end": self.end,
            "referenceBases": self.reference_bases.upper() if self.reference_bases else None,
            "alternateBases": self.alternate_bases.upper() if self.alternate_bases else None,
            "variantType": self.variant_type,
            "assemblyId": self.assembly_id,
        }
        return {k: v for k, v in values.items() if v is not None}

    def get_parameters(self) -> dict[str, Any]:
        """The query string of ``GET /g_variants``."""
        return {
            **self.request_parameters(),
            "requestedGranularity": self.granularity,
            "limit": self.limit,
        }

    def post_body(self) -> dict[str, Any]:
        """The ``POST /g_variants`` body (beaconRequestBody: ``start``/``end`` as arrays)."""
        params = self.request_parameters()
        for key in ("start", "end"):
            if key in params:
                params[key] = [params[key]]
        return {
            "meta": {"apiVersion": "v2.0.0"},
            "query": {
                "requestParameters": params,
                "requestedGranularity": self.granularity,
                "pagination": {"skip": 0, "limit": self.limit},
            },
        }

    def describe(self) -> str:
        """``1:16 A>T``, ``1:16 *>T`` (any reference), ``1:100-5000 DEL`` (0-based, as sent).

        Examples
        --------
        >>> NetworkQuery(reference_name="1", start=16, alternate_bases="T").describe()
        '1:16 *>T'
        """
        span = f"{self.start}-{self.end}" if self.end is not None else str(self.start)
        words = [f"{self.reference_name}:{span}"]
        if self.alternate_bases is not None or self.reference_bases is not None:
            words.append(f"{self.reference_bases or '*'}>{self.alternate_bases or '*'}")
        if self.variant_type:
            words.append(self.variant_type)
        return " ".join(words)


@dataclass
class NetworkResult:
    """What :func:`beacon_network` returns.

    Attributes
    ----------
    table
        The merged long table (pandas), columns :data:`COLUMNS`: ``beacon`` (its URL),
        ``beacon_id`` (``meta.beaconId``), ``status`` (``answered`` | ``excluded``),
        ``exists`` (bool), ``count`` (``numTotalResults``, Int64), ``granularity`` (returned),
        ``dataset`` (result set id), ``variant`` (``variantInternalId``), ``start`` (0-based,
        Int64), ``reference_bases``, ``alternate_bases``, ``variant_type``, ``population``,
        ``allele_frequency`` (float), ``allele_count``, ``allele_number`` (Int64), ``reason``
        (an excluded Beacon's). One row per (Beacon, variant, population) at record
        granularity; one row per Beacon otherwise; NA where a Beacon did not say.
    beacons
        One row per Beacon: ``beacon, beacon_id, status, exists, count, granularity,
        n_variants, seconds, reason``.
    excluded
        ``[{"beacon", "url", "reason"}]``, in the order the Beacons were given.
    query
        The :class:`NetworkQuery` sent.
    """

    table: Any
    beacons: Any
    excluded: list[dict[str, str]]
    query: NetworkQuery
    answers: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def frequencies(self):
        """allele_frequency per (variant, population) × Beacon (a wide pandas table)."""
        rows = self.table.dropna(subset=["population"])
        return rows.pivot_table(
            index=["variant", "population"],
            columns="beacon",
            values="allele_frequency",
            aggfunc="first",
        )

    def __repr__(self) -> str:
        answered = int((self.beacons["status"] == "answered").sum())
        gone = "; ".join(f"{e['beacon']}: {e['reason']}" for e in self.excluded) or "none"
        return (
            f"<NetworkResult {self.query.describe()}: {answered} of {len(self.beacons)} "
            f"Beacons answered, {len(self.table)} rows; excluded: {gone}>"
        )


def beacon_network(
    beacons: Iterable[str],
    *,
    reference_name: str,
    start: int,
    end: int | None = None,
    reference_bases: str | None = None,
    alternate_bases: str | None = None,
    variant_type: str | None = None,
    assembly_id: str | None = None,
    granularity: str = "record",
    limit: int = 100,
    method: str = "GET",
    timeout: float = 10.0,
    deadline: float | None = None,
    tokens: Mapping[str, str] | None = None,
    verify: "bool | str" = True,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> NetworkResult:
    """Ask many Beacon v2 ``/g_variants`` one question in parallel; merge the answers.

    Parameters
    ----------
    beacons
        Beacon base URLs (``http://host:5050``; ``/g_variants`` is appended). A URL given
        twice is asked once.
    reference_name, start, end, reference_bases, alternate_bases, variant_type, assembly_id
        The Beacon v2 request parameters (0-based ``start``; see :class:`NetworkQuery`).
    granularity
        Requested granularity (``boolean``, ``count``, ``record``, ``aggregated``); frequencies
        come only from Beacons answering at record level.
    limit
        Records asked per Beacon (pagination ``limit``); ``count`` still says how many matched.
    method
        ``GET`` (query string) or ``POST`` (a beaconRequestBody).
    timeout
        Seconds each Beacon has for its whole answer (to the last byte).
    deadline
        Seconds the whole call may take (default ``2 * timeout + 1``); a Beacon not done by
        then is excluded.
    tokens
        ``{url: bearer token}``; each token goes only to its Beacon.
    verify
        TLS verification: True, False, or a CA bundle path.
    max_bytes
        Largest answer read from one Beacon.

    Returns
    -------
    NetworkResult
        ``.table`` (merged, one row at least per Beacon), ``.beacons``, ``.excluded``.

    Examples
    --------
    >>> result = beacon_network(
    ...     ["http://127.0.0.1:5050", "http://127.0.0.1:5051"],
    ...     reference_name="1", start=16, alternate_bases="T", granularity="record",
    ... )  # doctest: +SKIP
    >>> columns = ["beacon", "exists", "count", "population", "allele_frequency"]
    >>> result.table[columns]  # doctest: +SKIP
    """
    query = NetworkQuery(
        reference_name=reference_name,
        start=start,
        end=end,
        reference_bases=reference_bases,
        alternate_bases=alternate_bases,
        variant_type=variant_type,
        assembly_id=assembly_id,
        granularity=str(granularity).strip().lower(),
        limit=limit,
    )
    return ask_beacons(
        beacons,
        query,
        method=method,
        timeout=timeout,
        deadline=deadline,
        tokens=tokens,
        verify=verify,
        max_bytes=max_bytes,
    )


def ask_beacons(
    beacons: Iterable[str],
    query: NetworkQuery,
    *,
    method: str = "GET",
    timeout: float = 10.0,
    deadline: float | None = None,
    tokens: Mapping[str, str] | None = None,
    verify: "bool | str" = True,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> NetworkResult:
    """:func:`beacon_network` for a built :class:`NetworkQuery`."""
    import pandas as pd

    urls = list(dict.fromkeys(_base_url(u) for u in beacons))
    if not urls:
        raise GenShareError("no Beacon given: pass at least one URL (--beacon URL)")
    method = str(method).upper()
    if method not in ("GET", "POST"):
        raise GenShareError(f"method must be GET or POST (got {method!r})")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise GenShareError(f"timeout must be a positive number of seconds (got {timeout!r})")
    total = float(deadline) if deadline is not None else 2 * float(timeout) + 1
    if not (total > 0 and math.isfinite(total)):
        raise GenShareError(f"deadline must be a positive number of seconds (got {deadline!r})")
    own_tokens = {_base_url(k): v for k, v in (tokens or {}).items()}
    unknown = sorted(set(own_tokens) - set(urls))
    if unknown:
        raise GenShareError(f"tokens given for Beacons not asked: {', '.join(unknown)}")

    import httpx

    ends_at = time.monotonic() + total
    outcomes: dict[str, dict[str, Any]] = {}
    workers = min(MAX_WORKERS, len(urls))
    # one client for every Beacon (thread-safe; its TLS context is built once, ~70 ms of CPU
    # that one client per Beacon would spend each); no redirect followed, no token of its own
    client = httpx.Client(
        verify=verify,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=workers, max_keepalive_connections=0),
    )
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {
            url: pool.submit(
                _ask_one,
                client,
                url,
                query,
                method=method,
                timeout=float(timeout),
                ends_at=ends_at,
                token=own_tokens.get(url),
                max_bytes=int(max_bytes),
            )
            for url in urls
        }
        wait(list(futures.values()), timeout=max(0.0, ends_at - time.monotonic()))
        for url, future in futures.items():
            if future.done():
                outcomes[url] = future.result()  # _ask_one never raises
            elif future.cancel():  # still queued behind MAX_WORKERS others
                outcomes[url] = _excluded(
                    f"not asked: the overall deadline of {total:g} s passed while "
                    f"{MAX_WORKERS} other Beacons were being asked"
                )
            else:
                outcomes[url] = _excluded(
                    f"no complete answer within the overall deadline of {total:g} s"
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        # a straggler (past the deadline) is bounded by its own request limit, which was
        # capped at the time left before the deadline; closing the client frees the pool
        client.close()

    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    excluded: list[dict[str, str]] = []
    answers: dict[str, dict[str, Any]] = {}
    for url in urls:
        outcome = outcomes[url]
        summary.append({"beacon": url, **outcome["summary"]})
        if outcome["summary"]["status"] == "excluded":
            reason = outcome["summary"]["reason"]
            excluded.append({"beacon": url, "url": url, "reason": reason})
            rows.append({"beacon": url, "status": "excluded", "reason": reason})
        else:
            answers[url] = outcome["answer"]
            rows.extend({"beacon": url, **row} for row in outcome["rows"])
    table = pd.DataFrame(rows, columns=COLUMNS)
    for name in ("count", "start", "allele_count", "allele_number"):
        table[name] = table[name].astype("Int64")
    table["allele_frequency"] = table["allele_frequency"].astype("float64")
    table["exists"] = table["exists"].astype("boolean")
    beacons_table = pd.DataFrame(
        summary,
        columns=[
            "beacon", "beacon_id", "status", "exists", "count", "granularity", "n_variants",
            "seconds", "reason",
        ],
    )  # fmt: skip
    beacons_table["count"] = beacons_table["count"].astype("Int64")
    beacons_table["n_variants"] = beacons_table["n_variants"].astype("Int64")
    beacons_table["exists"] = beacons_table["exists"].astype("boolean")
    return NetworkResult(
        table=table, beacons=beacons_table, excluded=excluded, query=query, answers=answers
    )


def _base_url(url: str) -> str:
    text = str(url).strip().rstrip("/")
    if text.endswith("/g_variants"):
        text = text[: -len("/g_variants")]
    if not re.match(r"^https?://[^/\s]+", text):
        raise GenShareError(f"Beacon URL {url!r} must start with http:// or https://")
    return text


def _excluded(reason: str, seconds: float | None = None) -> dict[str, Any]:
    return {
        "summary": {
            "status": "excluded",
            "reason": clean_text(reason, limit=400),
            "seconds": None if seconds is None else round(seconds, 3),
        }
    }


def _ask_one(client, url, query, *, method, timeout, ends_at, token, max_bytes) -> dict:
    """One Beacon's outcome: ``{"summary", "rows", "answer"}``, or an exclusion. Never raises
    for anything the Beacon does."""
    started = time.monotonic()
    try:
        status, body = fetch_answer(
            client,
            url + "/g_variants",
            query,
            method=method,
            limit=min(timeout, max(0.05, ends_at - started)),
            token=token,
            max_bytes=max_bytes,
        )
        answer = decode_answer(status, body)
        summary, rows = read_answer(answer)
    except MalformedAnswer as exc:
        return _excluded(str(exc), time.monotonic() - started)
    except Exception as exc:  # anything else one Beacon provokes (a bad TLS certificate, a
        # header httpx refuses) is that Beacon's exclusion, named, never the network's crash
        why = f"client error ({type(exc).__name__}: {exc})"
        return _excluded(why, time.monotonic() - started)
    summary.update(status="answered", reason=None, seconds=round(time.monotonic() - started, 3))
    return {"summary": summary, "rows": rows, "answer": answer}


def fetch_answer(
    client,
    url: str,
    query: NetworkQuery,
    *,
    method: str,
    limit: float,
    token: str | None,
    max_bytes: int,
) -> tuple[int, bytes]:
    """``(HTTP status, body)`` of one request sent with the ``httpx.Client`` ``client``, whose
    every byte must arrive within ``limit`` seconds and that is read at most ``max_bytes``;
    failures are :class:`MalformedAnswer` with the reason (timeout, refused, too large)."""
    import httpx

    # only the encodings decoded here (bounded) are offered
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    timeout = {"timeout": httpx.Timeout(limit).as_dict()}
    try:
        if method == "POST":
            request = client.build_request(
                "POST", url, json=query.post_body(), headers=headers, extensions=timeout
            )
        else:
            request = client.build_request(
                "GET", url, params=query.get_parameters(), headers=headers, extensions=timeout
            )
        response = client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise MalformedAnswer(
                    f"answer too large: Content-Length {int(declared):,} bytes, over the "
                    f"{max_bytes:,}-byte limit (not read)"
                )
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > max_bytes:
                    raise MalformedAnswer(
                        f"answer too large: over {max_bytes:,} bytes (reading stopped)"
                    )
                if time.monotonic() - started > limit:
                    raise MalformedAnswer(
                        f"timeout: answer not complete after {limit:g} s "
                        f"({len(body):,} bytes so far)"
                    )
            status = response.status_code
            location = response.headers.get("location")
            encoding = response.headers.get("content-encoding", "").lower()
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        what = type(exc).__name__
        raise MalformedAnswer(
            f"timeout ({what}) after {limit:g} s: slow or not answering"
        ) from None
    except (httpx.TransportError, OSError) as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise MalformedAnswer(f"down or unreachable ({why})") from None
    if encoding and encoding != "identity":
        body = bytearray(decompress(bytes(body), encoding, max_bytes))
    if 300 <= status < 400:
        raise MalformedAnswer(
            f"HTTP {status}: redirected to {clean_text(location or '?')} (not followed: "
            "give the Beacon's own URL)"
        )
    return status, bytes(body)


def parse_tokens(items: Iterable[str]) -> dict[str, str]:
    """``URL=TOKEN`` items (or lines of a token file, ``URL TOKEN``) → ``{url: token}``.

    Examples
    --------
    >>> parse_tokens(["http://a:5050=secret", "# comment", "http://b:5050 other"])
    {'http://a:5050': 'secret', 'http://b:5050': 'other'}
    """
    tokens: dict[str, str] = {}
    for raw in items:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        url, sep, token = line.partition(" ")
        if not sep:  # URL=TOKEN: the first '=' (a token may end in base64 '=' padding)
            url, sep, token = line.partition("=")
        if not sep or not url.strip() or not token.strip():
            raise GenShareError(
                "a token is given as URL=TOKEN (or 'URL TOKEN' in a token file); got "
                f"{clean_text(line.split('=')[0].split()[0])}... without its token"
            )
        tokens[_base_url(url.strip())] = token.strip()
    return tokens
