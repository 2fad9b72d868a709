"""The Beacon network client (issue 18): one query, many Beacons, one merged table.

Real GenShare Beacons (sim-ooa, in-process on 127.0.0.1, port 0) beside deliberately bad
servers (a stdlib HTTP server whose path picks the misbehaviour): every bad one must become a
named exclusion with its reason, within bounded time, while the good ones answer exactly what
they answer when asked alone.
"""

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from genshare_widgets import GenShareError  # noqa: E402
from genshare_widgets.beacon import beacon_network, beacon_query  # noqa: E402
from genshare_widgets.beacon._network_answers import read_answer  # noqa: E402

TOKEN = "controlled-token-0123456789abcdef"
TOKENS = [{"name": "alice", "token": TOKEN, "level": "controlled"}]
GOOD_ANSWER = {
    "meta": {"beaconId": "org.example.fake", "returnedGranularity": "count"},
    "responseSummary": {"exists": True, "numTotalResults": 1},
}


# -- servers -------------------------------------------------------------------------------
def _serve(cohort, **options):
    from genshare_widgets._serve import RunningServer
    from genshare_widgets.beacon import beacon_app

    return RunningServer(beacon_app(cohort, **options), host="127.0.0.1", port=0).start()


@pytest.fixture(scope="module")
def beacons(sim_ooa):
    """Two GenShare Beacons of sim-ooa: open at record granularity, and a controlled one
    answering counts only to a token holder."""
    record = _serve(sim_ooa, granularity="record")
    controlled = _serve(sim_ooa, granularity="count", security="CONTROLLED", tokens=TOKENS)
    yield record.url, controlled.url
    record.stop()
    controlled.stop()


@pytest.fixture(scope="module")
def variant(sim_ooa):
    """A common biallelic SNV of sim-ooa as Beacon v2 query arguments (0-based start)."""
    from genshare_widgets import allele_counts_by_group

    counts = allele_counts_by_group(sim_ooa, by="population")
    total = counts["allele_count"].values.sum(axis=1)
    i = int((total >= 100).argmax())
    return {
        "reference_name": str(counts["variant_contig"].values[i]),
        "start": int(counts["variant_position"].values[i]) - 1,
        "reference_bases": str(counts["variant_ref"].values[i]),
        "alternate_bases": str(counts["variant_alt"].values[i]),
    }


class _Bad(BaseHTTPRequestHandler):
    """``/<behaviour>/g_variants``: the first path segment picks the misbehaviour."""

    seen_authorization: ClassVar[list] = []

    def log_message(self, *args):  # quiet
        return

    def _send(self, status, body: bytes, *, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up first (the point of some behaviours)
            return

    def do_POST(self):
        self.do_GET()

    def do_GET(self):
        kind = self.path.strip("/").split("/")[0]
        _Bad.seen_authorization.append((kind, self.headers.get("Authorization")))
        if kind == "hang":
            time.sleep(30)
            return
        if kind == "trickle":  # a byte every 0.2 s, forever (each read is quick)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                for _ in range(300):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                return
            return
        if kind == "error500":
            doc = {"meta": {}, "error": {"errorCode": 500, "errorMessage": "database offline"}}
            return self._send(500, json.dumps(doc).encode())
        if kind == "plain500":
            return self._send(500, b"Internal Server Error", content_type="text/plain")
        if kind == "unauthorized":
            doc = {"meta": {}, "error": {"errorCode": 401, "errorMessage": "token required"}}
            return self._send(401, json.dumps(doc).encode())
        if kind == "error200":
            doc = {"meta": {}, "error": {"errorCode": 400, "errorMessage": "bad start"}}
            return self._send(200, json.dumps(doc).encode())
        if kind == "notjson":
            return self._send(200, b"<html>Beacon of the week!</html>", content_type="text/html")
        if kind == "truncated":
            return self._send(200, b'{"meta": {"beaconId": "x"}, "responseSumm')
        if kind == "jsonlist":
            return self._send(200, b"[1, 2, 3]")
        if kind == "nosummary":
            return self._send(200, json.dumps({"meta": {"beaconId": "x"}}).encode())
        if kind == "existsstring":
            doc = {"meta": {}, "responseSummary": {"exists": "yes", "numTotalResults": 3}}
            return self._send(200, json.dumps(doc).encode())
        if kind == "countbool":
            doc = {"meta": {}, "responseSummary": {"exists": True, "numTotalResults": True}}
            return self._send(200, json.dumps(doc).encode())
        if kind == "badfrequency":
            return self._send(200, json.dumps(_record_answer(1.5)).encode())
        if kind == "nanfrequency":
            return self._send(200, json.dumps(_record_answer(float("nan"))).encode())
        if kind == "huge":  # declared: refused before reading
            return self._send(200, b'{"meta": {}, "pad": "' + b"x" * (9 << 20) + b'"}')
        if kind == "hugechunked":  # no Content-Length: counted as it arrives
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"[" * (1 << 17))
            except OSError:
                return
            return
        if kind == "deep":
            return self._send(200, b"[" * 100_000 + b"]" * 100_000)
        if kind == "gzipbomb":
            body = gzip.compress(b" " * (64 << 20))  # 64 MiB of spaces in ~64 KiB
            return self._send(200, body, headers=[("Content-Encoding", "gzip")])
        if kind == "redirect":
            return self._send(302, b"", headers=[("Location", "http://elsewhere.invalid/")])
        if kind == "ansi":
            doc = _record_answer(0.5)
            doc["response"]["resultSets"][0]["results"][0]["frequencyInPopulations"][0][
                "frequencies"
            ][0]["population"] = "YRI\x1b[2J\x1b[31mPWNED"
            return self._send(200, json.dumps(doc).encode())
        if kind == "good":
            return self._send(200, json.dumps(GOOD_ANSWER).encode())
        if kind == "gzipgood":
            body = gzip.compress(json.dumps(GOOD_ANSWER).encode())
            return self._send(200, body, headers=[("Content-Encoding", "gzip")])
        return self._send(404, b"{}")


def _record_answer(frequency) -> dict:
    return {
        "meta": {"beaconId": "org.example.fake", "returnedGranularity": "record"},
        "responseSummary": {"exists": True, "numTotalResults": 1},
        "response": {
            "resultSets": [
                {
                    "id": "fake",
                    "setType": "dataset",
                    "exists": True,
                    "results": [
                        {
                            "variantInternalId": "1:17:A:T",
                            "variation": {"referenceBases": "A", "alternateBases": "T"},
                            "frequencyInPopulations": [
                                {
                                    "source": "fake",
                                    "sourceReference": "fake",
                                    "frequencies": [
                                        {
                                            "population": "YRI",
                                            "alleleFrequency": frequency,
                                            "alleleCount": 1,
                                            "alleleNumber": 2,
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        },
    }


@pytest.fixture(scope="module")
def bad():
    """Base URL of the misbehaving server; ``bad + "/hang"`` is a Beacon that hangs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bad)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _down_url() -> str:
    """A loopback port nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _own_rows(answer: dict) -> list[tuple]:
    """(variant, population, AF, AC, AN) from one Beacon's own JSON answer."""
    rows = []
    for result_set in answer.get("response", {}).get("resultSets", []):
        for record in result_set["results"]:
            for block in record.get("frequencyInPopulations", []):
                for f in block["frequencies"]:
                    rows.append(
                        (
                            record["variantInternalId"],
                            f["population"],
                            f["alleleFrequency"],
                            f["alleleCount"],
                            f["alleleNumber"],
                        )
                    )
    return rows


def _table_rows(table, beacon: str) -> list[tuple]:
    mine = table[(table["beacon"] == beacon) & table["population"].notna()]
    return [
        (r.variant, r.population, r.allele_frequency, int(r.allele_count), int(r.allele_number))
        for r in mine.itertuples()
    ]


# -- the merged table equals each Beacon's own answer ----------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_merged_table_equals_each_beacons_own_answer(beacons, variant, method):
    record_url, controlled_url = beacons
    result = beacon_network(
        [record_url, controlled_url],
        **variant,
        granularity="record",
        method=method,
        tokens={controlled_url: TOKEN},
    )
    assert result.excluded == []
    assert list(result.beacons["status"]) == ["answered", "answered"]

    own = beacon_query(record_url, granularity="record", **variant)
    assert own["responseSummary"]["exists"] is True
    assert _table_rows(result.table, record_url) == _own_rows(own)
    mine = result.beacons.set_index("beacon")
    assert mine.loc[record_url, "count"] == own["responseSummary"]["numTotalResults"]
    assert mine.loc[record_url, "granularity"] == own["meta"]["returnedGranularity"] == "record"
    assert mine.loc[record_url, "beacon_id"] == own["meta"]["beaconId"]
    populations = set(result.table.loc[result.table["beacon"] == record_url, "population"])
    assert {"ALL", "YRI", "CEU", "CHB"} <= populations

    counted = beacon_query(controlled_url, granularity="record", token=TOKEN, **variant)
    row = result.table[result.table["beacon"] == controlled_url]
    assert len(row) == 1  # count granularity: one row, no frequencies
    assert row["granularity"].item() == counted["meta"]["returnedGranularity"] == "count"
    assert row["count"].item() == counted["responseSummary"]["numTotalResults"]
    assert bool(row["exists"].item()) is counted["responseSummary"]["exists"]
    assert row["population"].isna().all()


def test_range_query_merges_every_variant_in_the_range(beacons, variant):
    record_url, _ = beacons
    start = variant["start"]
    result = beacon_network(
        [record_url], reference_name=variant["reference_name"], start=start, end=start + 5000
    )
    own = beacon_query(
        record_url,
        reference_name=variant["reference_name"],
        start=start,
        end=start + 5000,
        granularity="record",
        limit=100,
    )
    assert result.beacons["count"].item() == own["responseSummary"]["numTotalResults"] >= 1
    n_records = len(own["response"]["resultSets"][0]["results"])
    assert result.beacons["n_variants"].item() == n_records
    assert _table_rows(result.table, record_url) == _own_rows(own)
    wide = result.frequencies()
    assert wide.shape[1] == 1 and len(wide) == len(_own_rows(own))


def test_a_missing_token_is_a_named_401_exclusion(beacons, variant):
    record_url, controlled_url = beacons
    result = beacon_network([record_url, controlled_url], **variant)
    assert [e["beacon"] for e in result.excluded] == [controlled_url]
    assert "HTTP 401" in result.excluded[0]["reason"]
    assert "token" in result.excluded[0]["reason"]
    row = result.table[result.table["beacon"] == controlled_url]
    assert list(row["status"]) == ["excluded"] and "401" in row["reason"].item()


def test_a_token_goes_only_to_its_own_beacon(bad, beacons, variant):
    record_url, _ = beacons
    _Bad.seen_authorization.clear()
    beacon_network(
        [bad + "/good", bad + "/error200", record_url],
        **variant,
        tokens={bad + "/good": "for-good-only"},
    )
    seen = dict(_Bad.seen_authorization)
    assert seen == {"good": "Bearer for-good-only", "error200": None}


# -- bad Beacons: each a named exclusion, the good one still answers ------------------------
BAD = {
    "error500": ("HTTP 500", "database offline"),
    "plain500": ("HTTP 500", "Internal Server Error"),
    "unauthorized": ("HTTP 401", "token"),
    "error200": ("beaconErrorResponse", "bad start"),
    "notjson": ("not JSON", "HTTP 200"),
    "truncated": ("not JSON", ""),
    "jsonlist": ("JSON list", "not a Beacon response"),
    "nosummary": ("not a Beacon v2 response", "responseSummary"),
    "existsstring": ("responseSummary.exists", "not true or false"),
    "countbool": ("numTotalResults", "non-negative integer"),
    "badfrequency": ("alleleFrequency 1.5", "[0, 1]"),
    "nanfrequency": ("alleleFrequency", "[0, 1]"),
    "huge": ("too large", "Content-Length"),
    "hugechunked": ("too large", "reading stopped"),
    "deep": ("nested deeper than 64", "not parsed"),
    "gzipbomb": ("too large", "decompressed"),
    "redirect": ("HTTP 302", "not followed"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_beacon_is_a_named_exclusion(kind, bad, beacons, variant):
    record_url, _ = beacons
    started = time.monotonic()
    result = beacon_network([bad + f"/{kind}", record_url], **variant, timeout=5)
    assert time.monotonic() - started < 8
    assert [e["beacon"] for e in result.excluded] == [bad + f"/{kind}"]
    reason = result.excluded[0]["reason"]
    for words in BAD[kind]:
        assert words in reason, reason
    table = result.table
    assert list(table.loc[table["beacon"] == bad + f"/{kind}", "status"]) == ["excluded"]
    assert (table.loc[table["beacon"] == record_url, "status"] == "answered").all()


def test_a_down_beacon_is_a_named_exclusion(beacons, variant):
    record_url, _ = beacons
    down = _down_url()
    result = beacon_network([down, record_url], **variant)
    assert result.excluded[0]["beacon"] == down
    assert "down or unreachable" in result.excluded[0]["reason"]


@pytest.mark.parametrize("kind", ["hang", "trickle"])
def test_a_hanging_beacon_is_excluded_by_the_timeout(kind, bad, beacons, variant):
    record_url, _ = beacons
    started = time.monotonic()
    result = beacon_network([bad + f"/{kind}", record_url], **variant, timeout=1.0)
    elapsed = time.monotonic() - started
    assert elapsed < 3.5, elapsed  # 1 s per Beacon, default deadline 2 x 1 + 1
    assert "timeout" in result.excluded[0]["reason"]
    assert (result.table.loc[result.table["beacon"] == record_url, "status"] == "answered").all()


def test_the_overall_deadline_bounds_the_whole_call(bad, beacons, variant):
    record_url, _ = beacons
    hanging = [bad + f"/hang/{i}" for i in range(20)]  # more than the worker pool
    started = time.monotonic()
    result = beacon_network([*hanging, record_url], **variant, timeout=30, deadline=1.5)
    assert time.monotonic() - started < 3.0
    assert len(result.excluded) == 20
    assert all("deadline" in e["reason"] or "timeout" in e["reason"] for e in result.excluded)
    assert result.beacons.set_index("beacon").loc[record_url, "status"] == "answered"


def test_a_beacon_queued_past_the_deadline_is_named_not_asked(bad, monkeypatch):
    from genshare_widgets.beacon import _network

    monkeypatch.setattr(_network, "MAX_WORKERS", 2)
    urls = [bad + "/hang/a", bad + "/hang/b", bad + "/good"]
    result = beacon_network(urls, reference_name="1", start=5, alternate_bases="T", deadline=1)
    reasons = {e["beacon"]: e["reason"] for e in result.excluded}
    assert "overall deadline of 1 s" in reasons[bad + "/hang/a"]
    assert reasons[bad + "/good"].startswith("not asked: the overall deadline of 1 s passed")


def test_untrusted_strings_cannot_write_terminal_escapes(bad, variant):
    result = beacon_network([bad + "/ansi"], **variant)
    population = result.table["population"].item()
    assert "\x1b" not in population and population.startswith("YRI?[2J")


def test_a_query_mistake_is_refused_before_any_request(bad):
    with pytest.raises(GenShareError, match="sequence query needs alternate_bases"):
        beacon_network([bad + "/good"], reference_name="1", start=5)
    with pytest.raises(GenShareError, match="end 5 must be greater"):
        beacon_network([bad + "/good"], reference_name="1", start=5, end=5)
    with pytest.raises(GenShareError, match="http:// or https://"):
        beacon_network(["file:///etc/passwd"], reference_name="1", start=5, alternate_bases="T")
    with pytest.raises(GenShareError, match="tokens given for Beacons not asked"):
        beacon_network(
            [bad + "/good"], reference_name="1", start=5, alternate_bases="T",
            tokens={"http://other:1": "x"},
        )  # fmt: skip


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_compressed_answer_is_read(bad, method):
    result = beacon_network(
        [bad + "/gzipgood"], reference_name="1", start=5, alternate_bases="T", method=method
    )
    assert result.excluded == []
    assert result.beacons[["beacon_id", "exists", "count"]].iloc[0].tolist() == [
        "org.example.fake",
        True,
        1,
    ]


def test_tokens_parse_from_options_and_files():
    from genshare_widgets.beacon._network import parse_tokens

    assert parse_tokens(["http://a:1/=abc==", "http://b:2 x=y"]) == {
        "http://a:1": "abc==",
        "http://b:2": "x=y",
    }
    with pytest.raises(GenShareError, match="URL=TOKEN"):
        parse_tokens(["http://a:1"])


_KEYS = st.sampled_from(
    ["meta", "responseSummary", "exists", "numTotalResults", "response", "resultSets",
     "results", "frequencyInPopulations", "frequencies", "population", "alleleFrequency",
     "alleleCount", "alleleNumber", "variation", "id", "returnedGranularity", "beaconId",
     "error", "errorCode", "errorMessage"]
)  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(document=_JSON)
def test_any_json_answer_is_read_or_named_malformed(document):
    """Whatever JSON a Beacon sends, reading it returns rows or raises MalformedAnswer: no
    other exception, so no Beacon can crash the network query."""
    from genshare_widgets.beacon._network_answers import MalformedAnswer, decode_answer

    body = json.dumps(document).encode()
    try:
        summary, rows = read_answer(decode_answer(200, body))
    except MalformedAnswer:
        return
    assert isinstance(summary["exists"], bool) and rows
    for row in rows:
        frequency = row.get("allele_frequency")
        assert frequency is None or 0.0 <= frequency <= 1.0


@pytest.mark.parametrize(
    "location",
    [
        {"interval": {"start": {"type": "Number", "value": 16}}},  # VRS 1.2 (GenShare today)
        {"interval": {"start": 16}},
        {"type": "SequenceLocation", "start": 16, "end": 17},  # VRS 2
    ],
)
def test_a_variant_start_is_read_from_each_vrs_location_form(location):
    answer = _record_answer(0.5)
    record = answer["response"]["resultSets"][0]["results"][0]
    record["variation"]["location"] = location
    _, rows = read_answer(answer)
    assert rows[0]["start"] == 16 and rows[0]["variant"] == "1:17:A:T"


def test_read_answer_reads_a_boolean_answer_without_a_count():
    summary, rows = read_answer(
        {"meta": {"returnedGranularity": "boolean"}, "responseSummary": {"exists": False}}
    )
    assert summary == {
        "beacon_id": None,
        "exists": False,
        "count": None,
        "granularity": "boolean",
        "n_variants": 0,
    }
    assert len(rows) == 1


# -- CLI and widget -------------------------------------------------------------------------
def test_cli_prints_the_merged_table_and_the_exclusions(beacons, variant, bad, tmp_path):
    from cli_runner import run_genshare

    record_url, _ = beacons
    args = [
        "beacon", "network", "--beacon", record_url, "--beacon", bad + "/notjson",
        "--reference-name", variant["reference_name"], "--start", str(variant["start"]),
        "--reference-bases", variant["reference_bases"],
        "--alternate-bases", variant["alternate_bases"], "--timeout", "5",
    ]  # fmt: skip
    run = run_genshare(*args, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split()[:3] == ["beacon", "beacon_id", "status"]
    assert any(record_url in line and "YRI" in line for line in lines)
    assert any(bad + "/notjson" in line and "excluded" in line for line in lines)
    assert f"excluded {bad}/notjson: malformed answer: not JSON" in run.stderr

    out = tmp_path / "network.tsv"
    run = run_genshare(*args, "--out", str(out), timeout=120)
    assert run.returncode == 0, run.stderr
    import pandas as pd

    table = pd.read_csv(out, sep="\t")
    assert set(table["status"]) == {"answered", "excluded"}
    assert "not JSON" in table.loc[table["status"] == "excluded", "reason"].item()

    run = run_genshare(*args, "--json", timeout=120)
    document = json.loads(run.stdout)
    assert {r["status"] for r in document["rows"]} == {"answered", "excluded"}

    run = run_genshare(
        "beacon", "network", "--beacon", bad + "/hang", "--reference-name", "1",
        "--start", "5", "--alternate-bases", "T", "--timeout", "0.5", timeout=120,
    )  # fmt: skip
    assert run.returncode == 1 and "timeout" in run.stderr


def test_widget_runs_a_query(beacons, variant, bad):
    pytest.importorskip("ipywidgets")
    from genshare_widgets.widgets import BeaconNetworkWidget

    record_url, _ = beacons
    net = BeaconNetworkWidget([record_url, bad + "/error500"])
    net.reference_name.value = variant["reference_name"]
    net.start.value = str(variant["start"])
    net.reference_bases.value = variant["reference_bases"]
    net.alternate_bases.value = variant["alternate_bases"].lower()
    net.granularity.value = "record"
    net.query_button.click()
    assert net.status.value == ""
    assert net.result is not None and len(net.result.excluded) == 1
    html = net.output.value
    assert "1 of 2 Beacons answered" in html and "YRI" in html
    assert "database offline" in html and "Excluded" in html

    net.start.value = "not a number"
    net.query_button.click()
    assert "start must be a whole number" in net.status.value
