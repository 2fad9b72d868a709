"""Run an ASGI app (the Beacon, a federation site) with uvicorn: in the foreground for the CLI,
or in a background thread for notebooks and tests.

Both bind exactly the host and port given (default loopback); ``port=0`` picks a free port and
:attr:`RunningServer.url` reports the one chosen. TLS: pass ``ssl_certfile``/``ssl_keyfile``
(uvicorn's own options), or put the service behind a reverse proxy that terminates TLS.

Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are trusted from nobody by
default: the client address a service sees (and rate-limits on) is the TCP peer. uvicorn's own
default trusts them from 127.0.0.1 (and from ``$FORWARDED_ALLOW_IPS``), so a client on the same
host, or any client behind a local proxy that passes the header on, could name itself anything.
Behind a reverse proxy give ``forwarded_allow_ips`` (``--forwarded-allow-ips``): the proxy's
address(es), comma-separated; only then are the headers read, and only from those peers.

Limits (both servers, every request; a refused request never reaches the app):

- **request body** at most :data:`MAX_BODY_BYTES` (1 MiB): a larger ``Content-Length`` is
  answered 413 before a byte of the body is read, and a streamed (chunked) body is counted
  as it arrives and refused at the first byte over (the connection is then closed);
- **JSON depth** at most :data:`MAX_JSON_DEPTH` nested arrays/objects (400): Python's parser
  would otherwise hit its recursion limit (a 500) on ``[[[[...`` ten thousand deep;
- **half-open connections**: the request line and headers must arrive within
  :data:`HEADER_TIMEOUT` s of the connection opening (or of the previous response), at most
  16 KiB of them (h11's incomplete-event limit), and no gap longer than
  :data:`BODY_IDLE_TIMEOUT` s while the body streams in (408); an idle keep-alive connection
  is closed after :data:`KEEP_ALIVE_TIMEOUT` s (uvicorn's ``timeout_keep_alive``).
  uvicorn's own timer starts only after a first response, so a client that opens a
  connection and sends half a request line would otherwise hold it forever;
- **requests in flight** at most :data:`MAX_IN_FLIGHT` per server (answered, queued for a
  worker thread, or reading their body): one more is answered 503 with ``Retry-After: 1`` at
  once, so memory stays bounded under a flood. 1,000 concurrent loopback connections stay
  under it and all get 200 (``tests/test_service_faults.py``: measured about 35 MB over the
  idle server's RSS, no growth from one wave of 1,000 to the next).
"""

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from genshare_widgets._errors import GenShareError

INSTALL_HINT = 'pip install "genshare_widgets[serve]"'
MAX_BODY_BYTES = 1 << 20  # 1 MiB: every request either service takes is a few KiB
MAX_JSON_DEPTH = 32  # the deepest request body either service reads nests 5 levels
HEADER_TIMEOUT = 10.0  # s for the request line and headers to arrive
BODY_IDLE_TIMEOUT = 10.0  # s without a byte while a request body streams in
KEEP_ALIVE_TIMEOUT = 5  # s an idle keep-alive connection stays open (uvicorn's default)
MAX_HEADER_BYTES = 16 * 1024  # request line + headers (h11's incomplete-event limit)
MAX_IN_FLIGHT = 2048  # requests being answered at once; one more gets 503 + Retry-After


def require_serve_extra() -> None:
    """Raise a clear error when FastAPI/uvicorn are missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise GenShareError(
            f"the network services need FastAPI and uvicorn ({exc.name} is missing): {INSTALL_HINT}"
        ) from None


def tls_options(ssl_certfile=None, ssl_keyfile=None) -> dict[str, Any]:
    """uvicorn's TLS options: both PEM files or neither (an error names the missing one)."""
    if not ssl_certfile and not ssl_keyfile:
        return {}
    if not (ssl_certfile and ssl_keyfile):
        missing = "ssl_keyfile (--ssl-keyfile)" if ssl_certfile else "ssl_certfile (--ssl-certfile)"
        raise GenShareError(f"TLS needs both a certificate and its key (PEM files): give {missing}")
    return {"ssl_certfile": str(ssl_certfile), "ssl_keyfile": str(ssl_keyfile)}


def proxy_options(forwarded_allow_ips=None) -> dict[str, Any]:
    """uvicorn's forwarded-header options: off unless ``forwarded_allow_ips`` names the
    trusted proxies (a comma-separated string or a list of addresses/networks).

    Examples
    --------
    >>> proxy_options()
    {'proxy_headers': False, 'forwarded_allow_ips': ''}
    >>> proxy_options("10.0.0.5, 10.0.0.6")
    {'proxy_headers': True, 'forwarded_allow_ips': '10.0.0.5,10.0.0.6'}
    """
    if forwarded_allow_ips is None:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    items = (
        forwarded_allow_ips.split(",")
        if isinstance(forwarded_allow_ips, str)
        else [str(x) for x in forwarded_allow_ips]
    )
    items = [x.strip() for x in items if x.strip()]
    if not items:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    if "*" in items:
        raise GenShareError(
            "--forwarded-allow-ips '*' would trust X-Forwarded-For from every client (anyone "
            "could pick the address they are rate-limited on): name the proxy's address(es)"
        )
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(items)}


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in the JSON text ``body``, without parsing it
    (brackets inside strings do not count; no recursion, so any depth is measured).

    Examples
    --------
    >>> json_depth(b'{"query": {"requestParameters": {"start": [1]}}}')
    4
    >>> json_depth(b'["[[[", {}]')
    2
    """
    import numpy as np

    codes = np.frombuffer(_JSON_STRING.sub(b'""', body), dtype=np.uint8)
    step = np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
    step -= np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


class RequestLimits:
    """ASGI middleware enforcing the in-flight, body-size, JSON-depth and body-idle limits
    (module doc).

    ``error_document(status, message)`` gives the JSON body of a refusal in the service's own
    error format (a beaconErrorResponse, a site's ``{"detail", "rule"}``). A request with a
    body is read here in full (at most ``max_body_bytes``) and handed to the app from memory.
    """

    def __init__(
        self,
        app,
        *,
        error_document: Callable[[int, str], dict[str, Any]],
        max_body_bytes: int = MAX_BODY_BYTES,
        max_json_depth: int = MAX_JSON_DEPTH,
        body_idle_timeout: float = BODY_IDLE_TIMEOUT,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0  # one event loop: no lock needed
        self.error_document = error_document
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.body_idle_timeout = body_idle_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await self._refuse(
                send,
                503,
                f"this service is answering {self.in_flight:,} requests at once, its limit; "
                "retry in 1 s",
                retry_after=1,
            )
            return
        self.in_flight += 1
        try:
            await self._limited(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _limited(self, scope, receive, send) -> None:
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (a GET)
            return
        limit = f"at most {self.max_body_bytes:,} bytes"
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await self._refuse(send, 400, f"Content-Length {length!r} is not a number")
                return
            if declared > self.max_body_bytes:
                refusal = f"the request body has {declared:,} bytes; this service takes {limit}"
                await self._refuse(send, 413, refusal)
                return
        body = bytearray()
        more = True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.body_idle_timeout)
            except TimeoutError:
                await self._refuse(
                    send,
                    408,
                    f"no byte of the request body arrived for {self.body_idle_timeout:g} s",
                )
                return
            if message["type"] == "http.disconnect":
                return  # the client went away: nothing to answer
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_body_bytes:
                await self._refuse(
                    send, 413, f"the request body is over {limit}; this service takes {limit}"
                )
                return
        depth = json_depth(bytes(body)) if body else 0
        if depth > self.max_json_depth:
            await self._refuse(
                send,
                400,
                f"the request body nests JSON {depth:,} levels deep; this service reads at "
                f"most {self.max_json_depth}",
            )
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _refuse(
        self, send, status: int, message: str, *, retry_after: int | None = None
    ) -> None:
        import json

        payload = json.dumps(self.error_document(status, message)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            # an unread body may follow: close rather than read it to find the next request
            (b"connection", b"close"),
        ]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class WithdrawalReload:
    """ASGI app serving ``build(cohort)``, rebuilt when the cohort's withdrawal lists change.

    Before each HTTP request, ``refresh(cohort)`` (:func:`genshare_widgets.cohort.
    refresh_withdrawals`: each list file hashed again, a few microseconds) says whether a
    list changed; if so the cohort is re-masked and the app rebuilt from it (the Beacon's or
    site's release is computed again without the newly withdrawn samples; the store is not
    touched), and the request is answered by the new app. So a service picks up a new list
    without restart. A new list that fails its checks (catalog hash, unknown ids, unreadable)
    makes every request a 503 naming the file until the list is fixed: nothing is answered
    from the old mask once the list has changed. Under a suppressing policy without DP, a
    rebuilt release whose groups differ from an earlier release by fewer than k samples is
    refused by the release log (rule 6: the answers before and after would give the
    withdrawn people's genotype counts by subtraction): every request is then a 503 naming
    the rule, until the lists change again to a release the log allows (a restart is
    checked against the same log).
    """

    def __init__(
        self,
        cohort,
        build: Callable[[Any], Any],
        *,
        refresh: Callable[[Any], Any],
        error_document: Callable[[int, str], dict[str, Any]] | None = None,
    ) -> None:
        self.cohort, self.build, self.refresh = cohort, build, refresh
        self.app = build(cohort)
        self.error_document = error_document or (
            lambda _status, message: {"detail": message, "rule": "withdrawals"}
        )
        self.reloads = 0
        self.problem: str | None = None
        self.problem_rule = "withdrawals"
        self._lock = threading.Lock()

    def _check(self) -> str | None:
        """Reload when a list changed; → the refusal message while the new lists cannot be
        served (a list fails its checks, or the release log refuses the rebuilt release)."""
        with self._lock:
            try:
                fresh = self.refresh(self.cohort)
            except GenShareError as exc:
                return (
                    f"the withdrawal list changed and cannot be applied, so this service "
                    f"answers nothing until it is fixed: {exc}"
                )
            if fresh is not None:
                # the old app holds withdrawn people: never answer from it again
                self.cohort, self.app, self.problem = fresh, None, None
                self.problem_rule = "withdrawals"
                try:
                    self.app = self.build(fresh)
                    self.reloads += 1
                except GenShareError as exc:
                    # kept until a list changes again (no rebuild per request)
                    self.problem_rule = getattr(exc, "rule", None) or "withdrawals"
                    self.problem = (
                        "the withdrawal list changed and the release without those samples "
                        f"cannot be served, so this service answers nothing: {exc}"
                    )
            return self.problem

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            problem = await asyncio.get_running_loop().run_in_executor(None, self._check)
            if problem is not None:
                import json

                document = self.error_document(503, problem)
                if "rule" in document:  # a site's {"detail", "rule"}: name the rule refusing
                    document["rule"] = self.problem_rule
                payload = json.dumps(document).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
                return
        await self.app(scope, receive, send)


def withdrawal_aware_app(cohort, build: Callable[[Any], Any], *, error_document=None):
    """``build(cohort)``, wrapped in :class:`WithdrawalReload` when the cohort has
    withdrawal lists (the one place both services get their app from)."""
    if getattr(cohort, "withdrawals", None) is None:
        return build(cohort)
    from genshare_widgets.cohort import refresh_withdrawals

    return WithdrawalReload(
        cohort, build, refresh=refresh_withdrawals, error_document=error_document
    )


def beacon_error_document(status: int, message: str) -> dict[str, Any]:
    """A minimal beaconErrorResponse (for answers given outside the Beacon app)."""
    return {
        "meta": {"apiVersion": "v2.0.0"},
        "error": {"errorCode": status, "errorMessage": message},
    }


_PROTOCOLS: dict[float, type] = {}


def header_timeout_protocol(header_timeout: float = HEADER_TIMEOUT) -> type:
    """uvicorn's h11 protocol with a header timeout: a connection whose request line and
    headers are not all in within ``header_timeout`` s of its opening (or of the previous
    response) is closed. Made on first use (uvicorn is an optional dependency)."""
    if header_timeout in _PROTOCOLS:
        return _PROTOCOLS[header_timeout]
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm_header_timer(self) -> None:
            self._disarm_header_timer()
            self._header_timer = self.loop.call_later(header_timeout, self._headers_late)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()  # no complete request line and headers in time

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._disarm_header_timer()  # the request's headers are in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_timer()  # the next request's headers, if any, start now

    _PROTOCOLS[header_timeout] = HeaderTimeoutH11Protocol
    return HeaderTimeoutH11Protocol


def connection_limits(*, header_timeout: float = HEADER_TIMEOUT) -> dict[str, Any]:
    """uvicorn options for the header, keep-alive and header-size limits (module doc)."""
    return {
        "http": header_timeout_protocol(header_timeout),
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RunningServer:
    """A uvicorn server running ``app`` in a daemon thread, with the connection limits of
    the module doc (``header_timeout`` s for a request's line and headers).

    Examples
    --------
    >>> server = RunningServer(app).start()  # doctest: +SKIP
    >>> server.url  # doctest: +SKIP
    'http://127.0.0.1:54321'
    >>> server.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        app,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        ssl_certfile=None,
        ssl_keyfile=None,
        forwarded_allow_ips=None,
        header_timeout: float = HEADER_TIMEOUT,
        **uvicorn_options: Any,
    ) -> None:
        require_serve_extra()
        import uvicorn

        tls = tls_options(ssl_certfile, ssl_keyfile)
        proxy = proxy_options(forwarded_allow_ips)
        self.host = host
        self.port = port or _free_port(host)
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_level=log_level,
            lifespan="off",
            **tls,
            **proxy,
            **{**connection_limits(header_timeout=header_timeout), **uvicorn_options},
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="genshare-serve", daemon=True)
        self.scheme = "https" if tls else "http"

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def start(self, *, timeout: float = 20.0) -> "RunningServer":
        """Start serving; returns once the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise GenShareError(f"the server on {self.url} stopped while starting")
            if time.monotonic() > deadline:
                self.stop()
                raise GenShareError(f"the server on {self.url} did not start in {timeout:g} s")
            time.sleep(0.02)
        return self

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> "RunningServer":
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"<RunningServer {self.url} {state}>"


def serve_forever(
    app,
    *,
    host: str,
    port: int,
    ssl_certfile=None,
    ssl_keyfile=None,
    forwarded_allow_ips=None,
    **uvicorn_options: Any,
) -> None:
    """Serve ``app`` in the foreground until interrupted (the CLI commands); forwarded
    headers are trusted only from ``forwarded_allow_ips`` (see the module doc)."""
    require_serve_extra()
    import uvicorn

    tls = tls_options(ssl_certfile, ssl_keyfile)
    proxy = proxy_options(forwarded_allow_ips)
    options = {**connection_limits(), **uvicorn_options}
    uvicorn.run(app, host=host, port=port, log_level="info", **tls, **proxy, **options)
