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
"""

import socket
import threading
import time
from typing import Any

from genshare_widgets._errors import GenShareError

INSTALL_HINT = 'pip install "genshare_widgets[serve]"'


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


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RunningServer:
    """A uvicorn server running ``app`` in a daemon thread.

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
            **uvicorn_options,
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
    uvicorn.run(app, host=host, port=port, log_level="info", **tls, **proxy, **uvicorn_options)
