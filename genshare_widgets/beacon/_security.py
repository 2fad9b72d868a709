"""Bearer tokens and per-client rate limiting of the Beacon.

Tokens
------
A REGISTERED or CONTROLLED Beacon answers ``/g_variants``, ``/datasets`` and
``/filtering_terms`` only to requests carrying ``Authorization: Bearer <token>`` (401 with a
Beacon error response otherwise). Tokens come from a file (``--token-file``) or from
``GENSHARE_BEACON_TOKENS`` (tokens separated by commas or white space). The file is either one
token per line (``#`` comments allowed), or a YAML list whose items are a token string or a
mapping ``{name: ..., token: ..., level: registered|controlled}``:

.. code-block:: yaml

    - name: alice (approved by the data access committee)
      token: 3f0c9a...e1
      level: controlled
    - name: bob (registered user)
      token: 9b77d1...04
      level: registered

A CONTROLLED Beacon accepts only tokens of level ``controlled`` (a valid ``registered`` token
gets 403); a REGISTERED Beacon accepts both. Plain tokens (lines, env) are ``controlled``.
Only SHA-256 digests of the tokens are kept in memory; a token is never logged or echoed.
Make tokens long and random (``python -c "import secrets; print(secrets.token_urlsafe(32))"``)
and serve over TLS (``--ssl-certfile/--ssl-keyfile``) so they do not travel in clear text.

GA4GH Passports
---------------
Beside these tokens, when the custodian trusts Passport issuers (``GENSHARE_TRUSTED_ISSUERS``,
see :mod:`genshare_widgets.disclosure._passport`), the bearer may be a GA4GH Passport (the
AAI flow): a CONTROLLED Beacon accepts one holding a ControlledAccessGrants visa for the
cohort's ``dataset_url``; a REGISTERED Beacon one holding the Registered Access pair
(ResearcherStatus + AcceptedTermsAndPolicies) or that grant. Everything is verified here on
every request (signatures, issuers, expiry); a refused Passport gets 401 (does not verify) or
403 (no grant here) with the reason, never the token. Grants are logged (issuer, visa types,
dataset, expiry) on the ``genshare_widgets.passports`` logger.

Rate limiting
-------------
A sliding window of 60 s per client: the token's name when one was presented, else the client
address. The request beyond ``rate_limit`` in the window gets 429 with ``Retry-After`` (seconds).
"""

import hashlib
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError

TOKENS_ENV = "GENSHARE_BEACON_TOKENS"
LEVELS = ("registered", "controlled")


@dataclass(frozen=True)
class TokenHolder:
    """Who a token belongs to (never the token itself)."""

    name: str
    level: str = "controlled"
    passport: dict[str, Any] | None = field(default=None, compare=False)  # what granted it


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _entry(item, where: str, index: int) -> tuple[str, TokenHolder]:
    if isinstance(item, str):
        return item.strip(), TokenHolder(name=f"token {index + 1}")
    if isinstance(item, dict) and isinstance(item.get("token"), str):
        level = str(item.get("level", "controlled")).lower()
        if level not in LEVELS:
            raise GenShareError(
                f"{where}: item {index + 1} has level {level!r}; use registered or controlled"
            )
        return item["token"].strip(), TokenHolder(
            name=str(item.get("name") or f"token {index + 1}"), level=level
        )
    raise GenShareError(
        f"{where}: item {index + 1} is neither a token string nor a mapping with a 'token' key"
    )


def load_tokens(path: "str | Path | None" = None) -> dict[str, TokenHolder]:
    """Token digests → holders, from ``path`` or ``$GENSHARE_BEACON_TOKENS`` (see module doc).

    Examples
    --------
    >>> tokens = load_tokens("tokens.yaml")  # doctest: +SKIP
    """
    items: list = []
    where = "GENSHARE_BEACON_TOKENS"
    if path is not None:
        where = str(path)
        file = Path(path)
        if not file.is_file():
            raise GenShareError(f"token file {file} does not exist (--token-file FILE)")
        text = file.read_text()
        stripped = [
            ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
        ]
        if stripped and stripped[0].lstrip().startswith("-"):
            import yaml

            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise GenShareError(f"{file}: not valid YAML ({exc})") from None
            if not isinstance(loaded, list):
                raise GenShareError(f"{file}: expected a YAML list of tokens")
            items = loaded
        else:
            items = [ln.strip() for ln in stripped]
    elif os.environ.get(TOKENS_ENV):
        items = [t for t in os.environ[TOKENS_ENV].replace(",", " ").split() if t]
    out: dict[str, TokenHolder] = {}
    for i, item in enumerate(items):
        token, holder = _entry(item, where, i)
        if len(token) < 16:
            raise GenShareError(
                f"{where}: token {i + 1} ({holder.name}) is shorter than 16 characters; use "
                "long random tokens (secrets.token_urlsafe(32))"
            )
        out[_digest(token)] = holder
    return out


def as_token_table(tokens) -> dict[str, TokenHolder]:
    """Accept a table from :func:`load_tokens`, a path, or plain token strings."""
    if tokens is None:
        return load_tokens() if os.environ.get(TOKENS_ENV) else {}
    if isinstance(tokens, (str, Path)):
        return load_tokens(tokens)
    if isinstance(tokens, dict) and all(isinstance(v, TokenHolder) for v in tokens.values()):
        return dict(tokens)
    table = {}
    for i, item in enumerate(tokens):
        token, holder = _entry(item, "tokens", i)
        table[_digest(token)] = holder
    return table


def authenticate(header: str | None, table: dict[str, TokenHolder]) -> TokenHolder | None:
    """The holder of the bearer token in an ``Authorization`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return table.get(_digest(token.strip()))


def authenticate_passport(header: str | None, gate) -> tuple[TokenHolder | None, Any]:
    """``(holder, None)`` for a bearer GA4GH Passport that ``gate`` (a
    :class:`~genshare_widgets.disclosure._passport.PassportGate`) grants, ``(None, error)``
    with the :class:`~genshare_widgets.disclosure._passport.PassportError` when it refuses it,
    ``(None, None)`` when there is no gate or the bearer is not a JWT."""
    from genshare_widgets.disclosure._passport import PassportError, grant_from_header

    try:
        grant = grant_from_header(header, gate, service="beacon")
    except PassportError as exc:
        return None, exc
    if grant is None:
        return None, None
    name = f"passport {grant.passport.subject} ({grant.passport.issuer})"
    level = "controlled" if grant.level == "controlled" else "registered"
    return TokenHolder(name=name, level=level, passport=grant.record()), None


class RateLimiter:
    """At most ``per_minute`` requests per client in any 60-second window.

    Examples
    --------
    >>> limiter = RateLimiter(2)
    >>> [limiter.check("c", now=0.0), limiter.check("c", now=1.0), limiter.check("c", now=2.0)]
    [0.0, 0.0, 58.0]
    """

    window = 60.0
    max_clients = 100_000  # memory bound: the table is pruned beyond this many clients

    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise GenShareError(f"rate limit must be >= 1 request per minute (got {per_minute})")
        self.per_minute = int(per_minute)
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def check(self, client: str, *, now: float | None = None) -> float:
        """0 when the request may go ahead (and it is counted), else seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1.0, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            if len(self._hits) > self.max_clients:
                self._prune(now)
            return 0.0

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
