"""Limits of both network services (issue 15), each played through a real server on 127.0.0.1:
a body over 1 MiB is 413, JSON nested 10,000 deep is 400 (not a 500 RecursionError), an
unknown variantType is 400, a connection that never finishes its request line is closed, and a
body that stalls is 408. Every Beacon refusal is a valid beaconErrorResponse.
"""

import socket
import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
jsonschema = pytest.importorskip("jsonschema")

DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.fixture(scope="module")
def error_schema():
    """The official beaconErrorResponse schema (tests/schemas/beacon-v2, refs resolved)."""
    import beacon_schemas

    return beacon_schemas.validator(beacon_schemas.DOCUMENTS["error"])


@pytest.fixture(scope="module")
def beacon(sim_ooa):
    from genshare_widgets._serve import RunningServer
    from genshare_widgets.beacon import beacon_app

    server = RunningServer(beacon_app(sim_ooa, granularity="record"), header_timeout=1.0).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(sim_ooa):
    from genshare_widgets._serve import RunningServer
    from genshare_widgets.federation import site_app

    server = RunningServer(site_app(sim_ooa, name="limits", by="population")).start()
    yield server
    server.stop()


def _beacon_error(response, status: int, error_schema) -> str:
    assert response.status_code == status, response.text
    document = response.json()
    assert not list(error_schema.iter_errors(document)), document
    assert document["error"]["errorCode"] == status
    return document["error"]["errorMessage"]


def _raw_exchange(url: str, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``request`` on a fresh socket and read until the server closes it."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_2_mib_body_is_413_before_it_is_read(beacon, error_schema):
    body = b'{"query": {"requestParameters": {"referenceName": "1"}}}'.ljust(2 << 20)
    response = httpx.post(f"{beacon.url}/g_variants", content=body, timeout=10.0)
    message = _beacon_error(response, 413, error_schema)
    assert "2,097,152 bytes" in message and "1,048,576" in message
    # the refusal comes from the declared length alone: no byte of the body is sent here
    head = (
        b"POST /g_variants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 209715200\r\n\r\n"
    )
    answer = _raw_exchange(beacon.url, head)
    assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer.lower()


def test_a_streamed_body_is_counted_and_refused_at_the_limit(beacon, error_schema):
    def chunks():
        for _ in range(40):  # 2.5 MiB, no Content-Length (chunked)
            yield b" " * 65536

    response = httpx.post(f"{beacon.url}/g_variants", content=chunks(), timeout=10.0)
    assert "over at most 1,048,576 bytes" in _beacon_error(response, 413, error_schema)


def test_json_nested_10000_deep_is_400_not_500(beacon, site, error_schema):
    response = httpx.post(f"{beacon.url}/g_variants", content=DEEP, timeout=10.0)
    assert "10,000 levels deep" in _beacon_error(response, 400, error_schema)
    nested = b'{"query": ' + DEEP + b"}"
    response = httpx.post(f"{beacon.url}/g_variants", content=nested, timeout=10.0)
    assert "10,001 levels deep" in _beacon_error(response, 400, error_schema)
    for path in ("/counts", "/pca/project"):
        response = httpx.post(f"{site.url}{path}", content=DEEP, timeout=10.0)
        assert response.status_code == 400, response.text
        assert response.json()["rule"] == "request-limits"
    # the services still answer ordinary requests afterwards
    assert httpx.get(f"{site.url}/", timeout=10.0).status_code == 200
    ok = httpx.post(
        f"{beacon.url}/g_variants",
        json={"query": {"requestParameters": {"referenceName": "1", "start": [10], "end": [20]}}},
        timeout=10.0,
    )
    assert ok.status_code == 200, ok.text


def test_site_refuses_a_large_body(site):
    response = httpx.post(
        f"{site.url}/counts", json={"variants": [["1", i, "A", "T"] for i in range(100_000)]}
    )
    assert response.status_code == 413 and response.json()["rule"] == "request-limits"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_variant_type_is_400_naming_the_accepted_values(beacon, error_schema, method):
    params = {"referenceName": "1", "start": 10, "end": 5000, "variantType": "BANANA"}
    if method == "GET":
        response = httpx.get(f"{beacon.url}/g_variants", params=params, timeout=10.0)
    else:
        body = {"query": {"requestParameters": {**params, "start": [10], "end": [5000]}}}
        response = httpx.post(f"{beacon.url}/g_variants", json=body, timeout=10.0)
    message = _beacon_error(response, 400, error_schema)
    assert "'BANANA'" in message
    for accepted in ("SNP", "DEL", "INS", "INDEL", "SNV"):
        assert accepted in message
    known = httpx.get(
        f"{beacon.url}/g_variants", params={**params, "variantType": "snp"}, timeout=10.0
    )
    assert known.status_code == 200, known.text


def test_a_half_open_connection_is_closed_by_the_header_timeout(beacon):
    host, port = beacon.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10.0) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /info HT")  # half a request line, then nothing
        assert sock.recv(1024) == b""  # the server closed it
        waited = time.monotonic() - started
    assert 0.9 <= waited < 5.0, waited
    # a silent connection too, and a complete request is still answered
    with socket.create_connection((host, int(port)), timeout=10.0) as sock:
        assert sock.recv(1024) == b""
    assert httpx.get(f"{beacon.url}/info", timeout=10.0).status_code == 200


def test_the_header_timeout_restarts_after_a_response(beacon):
    """A kept-alive connection that starts a second request and stops is closed too (uvicorn's
    keep-alive timer alone is cancelled by the first byte)."""
    host, port = beacon.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10.0) as sock:
        sock.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"G")
        started = time.monotonic()
        while sock.recv(65536):  # the rest of the first answer, then the close
            pass
        assert time.monotonic() - started < 5.0


def test_a_stalled_body_is_408(error_schema):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from genshare_widgets._serve import RequestLimits, RunningServer

    async def echo(request):
        return JSONResponse({"n": len(await request.body())})

    app = RequestLimits(
        Starlette(routes=[Route("/", echo, methods=["POST"])]),
        error_document=lambda status, message: {"status": status, "message": message},
        body_idle_timeout=0.5,
    )
    with RunningServer(app) as server:
        assert httpx.post(server.url, content=b"x" * 1000).json() == {"n": 1000}
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
        started = time.monotonic()
        answer = _raw_exchange(server.url, head)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"for 0.5 s" in answer and time.monotonic() - started < 5.0


def test_uvicorn_gets_the_connection_limits():
    from genshare_widgets._serve import MAX_HEADER_BYTES, RunningServer

    server = RunningServer(lambda *_: None)
    config = server._server.config
    assert config.timeout_keep_alive == 5
    assert config.h11_max_incomplete_event_size == MAX_HEADER_BYTES == 16 * 1024
    assert config.http.__name__ == "HeaderTimeoutH11Protocol"
