"""HTTP client side of the federation: bounded requests to sites, each failure named.

Every request has a deadline: the whole answer (connect, send, wait, every byte of the body)
must arrive within the client's timeout, so a site that accepts the connection and never
answers, or trickles its answer a byte at a time (httpx's own timeouts are per read and would
restart with each byte), is given up after that many seconds. A connection that fails (refused,
reset, dropped mid-answer, e.g. the site process killed) is retried at most twice with a short
pause; a timeout is not retried (a slow site would only be slower). Any failure becomes a
:class:`SiteFailure` with a one-line reason that the coordinator records against the site.
"""

import time
from typing import Any

from genshare_widgets._errors import GenShareError

MAX_RETRIES = 2


class SiteFailure(GenShareError):  # noqa: N818 -- reads as the event it reports
    """A site could not be used: down, timed out, refused, or answered malformed data.

    ``site_name`` is the name the site gave in ``GET /`` when it failed after that handshake;
    ``site_url`` its URL where the failing request does not say it.
    """

    site_name: str | None = None
    site_url: str | None = None


def site_label(url: str) -> str:
    """The name a site is reported under before it has said its own (its URL)."""
    return url.rstrip("/")


def request_json(
    client,
    method: str,
    url: str,
    *,
    json: dict[str, Any] | None = None,
    retries: int = MAX_RETRIES,
    deadline: float | None = None,
) -> Any:
    """``method url`` → the decoded JSON answer, or :class:`SiteFailure` with the reason.

    ``deadline`` (seconds, default the client's read timeout) bounds each attempt from
    connecting to the last byte of the answer.

    Examples
    --------
    >>> import httpx
    >>> with httpx.Client(timeout=5) as client:  # doctest: +SKIP
    ...     info = request_json(client, "GET", "http://127.0.0.1:5060/")
    """
    import httpx

    attempts = 1 + max(0, min(int(retries), MAX_RETRIES))
    limit = float(deadline if deadline is not None else (client.timeout.read or 30.0))
    last = ""
    for attempt in range(attempts):
        try:
            response = _bounded_request(client, method, url, json=json, limit=limit)
        except httpx.TimeoutException as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise SiteFailure(f"timeout ({why}) after {limit:g} s on {method} {url}") from None
        except (httpx.TransportError, OSError) as exc:  # refused, reset, dropped mid-answer
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt + 1 < attempts:
                time.sleep(0.2 * (attempt + 1))
            continue
        if response.status_code == 401:
            raise SiteFailure(f"HTTP 401 on {method} {url}: token missing or wrong (--token)")
        if response.status_code >= 400:
            raise SiteFailure(f"HTTP {response.status_code} on {method} {url}: {_detail(response)}")
        try:
            return response.json()
        except ValueError:
            raise SiteFailure(f"malformed answer from {method} {url}: not JSON") from None
    raise SiteFailure(f"site down or unreachable ({last}) after {attempts} attempts: {url}")


def _bounded_request(client, method: str, url: str, *, json, limit: float):
    """``client.request`` whose answer must arrive within ``limit`` seconds: the body is
    read chunk by chunk and the clock checked after each, and no connect or read waits longer
    than ``limit`` (so an attempt ends within 2 x ``limit`` even when the last gap is
    silent)."""
    import httpx

    started = time.monotonic()
    request = client.build_request(
        method, url, json=json, extensions={"timeout": _timeouts(client, limit)}
    )
    response = client.send(request, stream=True)
    try:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if time.monotonic() - started > limit:
                raise httpx.ReadTimeout(
                    f"answer not complete after {limit:g} s ({len(body)} bytes so far)",
                    request=request,
                )
    finally:
        response.close()
    # the body as read (already decompressed): .json() and .text read it
    return httpx.Response(response.status_code, content=bytes(body), request=request)


def _timeouts(client, limit: float) -> dict[str, float | None]:
    """The client's per-operation timeouts, none longer than ``limit``."""
    own = client.timeout.as_dict()
    return {k: (min(v, limit) if v is not None else limit) for k, v in own.items()}


def _detail(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:200]


def make_client(*, timeout: float, token: str | None, verify: Any = True):
    """An ``httpx.Client`` with the timeout, bearer token and TLS verification given."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(timeout=httpx.Timeout(timeout), headers=headers, verify=verify)


def describe_exclusion(entry: dict[str, Any]) -> str:
    """``URL (name): reason``, one line, as the console and errors show an excluded site."""
    name = f" ({entry['name']})" if entry.get("name") else ""
    return f"{entry['site']}{name}: {entry['reason']}"
