"""HTTP client side of the federation: bounded requests to sites, each failure named.

Every request has a timeout (httpx); a connection that fails (refused, reset, dropped
mid-answer) is retried at most twice with a short pause; a timeout is not retried (a slow site
would only be slower). Any failure becomes a :class:`SiteFailure` with a one-line reason that
the coordinator records against the site's name.
"""

import time
from typing import Any

from genshare_widgets._errors import GenShareError

MAX_RETRIES = 2


class SiteFailure(GenShareError):  # noqa: N818 -- reads as the event it reports
    """A site could not be used: down, timed out, refused, or answered malformed data."""


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
) -> Any:
    """``method url`` → the decoded JSON answer, or :class:`SiteFailure` with the reason.

    Examples
    --------
    >>> import httpx
    >>> with httpx.Client(timeout=5) as client:  # doctest: +SKIP
    ...     info = request_json(client, "GET", "http://127.0.0.1:5060/")
    """
    import httpx

    attempts = 1 + max(0, min(int(retries), MAX_RETRIES))
    last = ""
    for attempt in range(attempts):
        try:
            response = client.request(method, url, json=json)
        except httpx.TimeoutException as exc:
            raise SiteFailure(f"timeout ({type(exc).__name__}) on {method} {url}") from None
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
