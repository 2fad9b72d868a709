"""GA4GH Passports: access granted as signed visas, verified against the custodian's keys.

A *Passport* is a JWT whose ``ga4gh_passport_v1`` claim lists *visas*: JWTs of their own, each
with a ``ga4gh_visa_v1`` object ``{type, asserted, value, source, by, conditions}`` (GA4GH
Passport v1.2, AAI OIDC profile 1.2). GenShare is a *Passport Clearinghouse*: it reads
Passports given as ``--credential FILE`` / ``GENSHARE_CREDENTIAL`` (``open_cohort``, the CLI)
or as ``Authorization: Bearer <passport>`` (the Beacon and federation sites), and decides.

Trust
-----
The custodian names the issuers it trusts in a JSON file, ``GENSHARE_TRUSTED_ISSUERS``,
mapping each issuer (the JWT ``iss``) to its JWKS, inline or as a path (relative paths are
read beside the JSON file)::

    {
      "https://broker.example.org/": {"keys": [{"kty": "RSA", "kid": "b1", "n": "...",
                                                "e": "AQAB"}]},
      "https://dac.example.org/": "dac-jwks.json"
    }

Keys are public, asymmetric (RSA, EC, OKP) JWKs; a JWKS holding a private (``d``) or a
symmetric (``oct``) key is refused at load. Keys are never fetched: a token's ``jku`` header
is ignored, as the AAI profile allows when keys come by a trusted out-of-band process.

Verification (PyJWT; no hand-rolled cryptography)
-------------------------------------------------
The Passport and every visa are verified the same way: the header's ``alg`` must be an
asymmetric algorithm (RS/PS/ES 256-512, EdDSA) and the one the chosen key declares (its JWK
``alg``, else the algorithm its key type implies: RSA → RS256, EC P-256 → ES256...), so
``alg: none`` and HS256 signed with a public key's bytes (key confusion) are refused; the key
is the issuer's key named by ``kid`` (or its only key); ``iss``, ``sub``, ``iat`` and ``exp``
are required, and ``exp``, ``iat`` and ``nbf`` are checked with a leeway of
:data:`LEEWAY_SECONDS` (60 s) for clock skew. A token naming an audience (``aud``) is
accepted only by a service configured with that audience (``GENSHARE_PASSPORT_AUDIENCE``).

A Passport that fails any check is refused as a whole. A visa that fails is *ignored* (as the
Passport specification requires), and the refusal says which visa and why. A visa counts
until ``min(visa exp, passport exp)``. Visas with ``conditions`` count only when their
conditions hold (``const``, ``pattern`` and ``split_pattern`` clauses matched against other
accepted, condition-free visas of the same person); unknown visa types are ignored. Visas of
different identities (``{sub, iss}``) are combined only when ``LinkedIdentities`` visas from
trusted issuers link them.

What a Passport grants
----------------------
- **controlled** (GenShare's ``controlled`` tier): a ``ControlledAccessGrants`` visa whose
  ``value`` is exactly the catalog entry's ``dataset_url`` (case-sensitive, full string) and
  which names who granted it (``by``, required by the specification).
- **registered**: the GA4GH *Registered Access* pair, ``ResearcherStatus`` (bona fide
  researcher) and ``AcceptedTermsAndPolicies`` (ethics terms accepted), both with the value
  :data:`REGISTERED_ACCESS` (Dyke et al. 2018, doi:10.1038/s41431-018-0219-y). Services (a
  REGISTERED Beacon, a registered-tier site) accept it in place of a registered token; a
  grant for the dataset also satisfies it. Opening a ``registered`` entry locally still
  needs only a declared purpose (GenShare's honour-system tier for data the user holds).

A Passport grants access to a dataset, never a research purpose: the declared purpose
(``--purpose``) is still matched against the entry's DUO codes. What is recorded
(:meth:`PassportGrant.record`) names the issuers, visa types, source, ``by``, dataset and
expiry, and never a token.

Examples
--------
>>> issuers = load_trusted_issuers("trusted_issuers.json")  # doctest: +SKIP
>>> passport = verify_passport(token, issuers)  # doctest: +SKIP
>>> passport.grant_for("urn:genshare:dataset:sim-ooa-hmb-controlled").record()  # doctest: +SKIP
"""

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from genshare_widgets._errors import GenShareError
from genshare_widgets.disclosure._trusted_issuers import (
    ALGORITHMS,
    AUDIENCE_ENV,
    TRUSTED_ISSUERS_ENV,
    PassportError,
    TrustedIssuers,
    as_trusted_issuers,
    load_trusted_issuers,
    short,
)

__all__ = [
    "ALGORITHMS",
    "LEEWAY_SECONDS",
    "REGISTERED_ACCESS",
    "TRUSTED_ISSUERS_ENV",
    "Passport",
    "PassportCredential",
    "PassportError",
    "PassportGate",
    "PassportGrant",
    "TrustedIssuers",
    "Visa",
    "as_trusted_issuers",
    "bearer_token",
    "grant_from_header",
    "load_trusted_issuers",
    "looks_like_jwt",
    "verify_passport",
]

log = logging.getLogger("genshare_widgets.passports")
#: The GA4GH Registered Access version GenShare accepts (value of both visas).
REGISTERED_ACCESS = "https://doi.org/10.1038/s41431-018-0219-y"
#: Clock skew allowed on exp, iat and nbf, in seconds.
LEEWAY_SECONDS = 60
MAX_TOKEN_BYTES = 64 * 1024  # a Passport larger than this is refused before any crypto
MAX_VISAS = 64
VISA_TYPES = (
    "AffiliationAndRole",
    "AcceptedTermsAndPolicies",
    "ResearcherStatus",
    "ControlledAccessGrants",
    "LinkedIdentities",
)
_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def looks_like_jwt(text: str) -> bool:
    """True when ``text`` has the shape of a JWS compact serialization (``a.b.c``).

    Examples
    --------
    >>> looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"), looks_like_jwt("holder: A")
    (True, False)
    """
    return len(text) <= MAX_TOKEN_BYTES and bool(_JWS.match(text.strip()))


@dataclass(frozen=True)
class PassportCredential:
    """A Passport JWT given as a credential: the token (never shown) and where it came from."""

    token: str = field(repr=False)
    path: str = ""


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Visa:
    """One accepted visa (its signature, times and issuer checked)."""

    issuer: str
    subject: str
    type: str
    value: str
    source: str
    asserted: int
    expires: int  # min(visa exp, passport exp)
    by: str | None = None
    conditions: tuple = ()

    @property
    def identity(self) -> tuple[str, str]:
        return (self.subject, self.issuer)

    def record(self) -> dict[str, Any]:
        """What provenance keeps of a visa (no token, no signature)."""
        return {
            "type": self.type,
            "value": self.value,
            "issuer": self.issuer,
            "source": self.source,
            "by": self.by,
            "asserted": _iso(self.asserted),
            "expires": _iso(self.expires),
        }


def _iso(seconds: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _decode(token: str, issuers: TrustedIssuers, *, what: str, audience: str | None) -> dict:
    """Verify one JWT (Passport or visa) against the trusted keys; its payload."""
    import jwt

    if not isinstance(token, str) or not looks_like_jwt(token):
        raise PassportError(
            f"{what}: not a well-formed JWT (three base64url parts separated by dots, at most "
            f"{MAX_TOKEN_BYTES} bytes)"
        )
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise PassportError(
            f"{what}: not a well-formed JWT (its header or payload is not base64url JSON)"
        ) from None
    if header.get("alg") in (None, "none", "None", "NONE") or not token.split(".")[2]:
        raise PassportError(f"{what}: unsigned (alg 'none' or no signature); refused")
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise PassportError(f"{what}: no issuer (iss) claim")
    key = issuers.key_for(issuer, header, what=what)
    try:
        return jwt.decode(
            token,
            key=key,
            algorithms=[key.algorithm_name],
            issuer=issuer,
            audience=audience,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        exp = unverified.get("exp")
        when = f" on {_iso(int(exp))}" if isinstance(exp, int) else ""
        raise PassportError(f"{what} (issuer {short(issuer)!r}): expired{when}") from None
    except jwt.ImmatureSignatureError:
        raise PassportError(
            f"{what} (issuer {short(issuer)!r}): not valid yet (iat or nbf in the future, "
            f"beyond {LEEWAY_SECONDS} s of clock skew)"
        ) from None
    except jwt.InvalidSignatureError:
        raise PassportError(
            f"{what} (issuer {short(issuer)!r}): the signature does not verify with the "
            "issuer's key: the token was altered or signed by another key"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise PassportError(f"{what}: the required claim {exc.claim!r} is missing") from None
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
        raise PassportError(
            f"{what} (issuer {short(issuer)!r}): its audience (aud) is not this service"
            + (f" ({AUDIENCE_ENV} is not set)" if audience is None else "")
        ) from None
    except jwt.PyJWTError as exc:
        raise PassportError(
            f"{what} (issuer {short(issuer)!r}): invalid ({type(exc).__name__})"
        ) from None


@dataclass(frozen=True)
class Passport:
    """A verified Passport: its issuer, subject, expiry, accepted and ignored visas."""

    issuer: str
    subject: str
    expires: int
    visas: tuple[Visa, ...]
    ignored: tuple[str, ...] = ()
    where: str = "passport"

    def _usable(self) -> list[Visa]:
        """Accepted visas whose conditions hold (condition-free ones always do)."""
        plain = [v for v in self.visas if not v.conditions]
        return plain + [v for v in self.visas if v.conditions and _conditions_hold(v, plain)]

    def _linked(self) -> dict[tuple[str, str], tuple[str, str]]:
        """Identity → a representative of its LinkedIdentities group (union-find)."""
        parent: dict[tuple[str, str], tuple[str, str]] = {}

        def find(x):
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for visa in self.visas:
            find(visa.identity)
            if visa.type != "LinkedIdentities" or visa.conditions:
                continue
            for item in visa.value.split(";"):
                sub, sep, iss = item.partition(",")
                if sep and sub and iss:
                    parent[find((unquote(sub), unquote(iss)))] = find(visa.identity)
        return {x: find(x) for x in list(parent)}

    def _why_not(self) -> str:
        if not self.ignored:
            return ""
        return "; ignored visas: " + "; ".join(self.ignored)

    def grant_for(self, dataset_url: str) -> "PassportGrant":
        """The ``ControlledAccessGrants`` visa for ``dataset_url``; :class:`PassportError`
        (403) when none grants it."""
        grants = [
            v
            for v in self._usable()
            if v.type == "ControlledAccessGrants" and v.value == dataset_url
        ]
        if not grants:
            held = sorted({v.value for v in self.visas if v.type == "ControlledAccessGrants"})
            raise PassportError(
                f"{self.where}: no ControlledAccessGrants visa for dataset {dataset_url!r}"
                + (f" (it grants {held})" if held else "")
                + self._why_not()
                + ". Ask the dataset's data access committee for a grant of that dataset URL",
                status=403,
            )
        best = max(grants, key=lambda v: v.expires)
        return PassportGrant("controlled", dataset_url, self, (best,))

    def registered_access(self) -> "PassportGrant":
        """The GA4GH Registered Access pair (bona fide researcher + accepted terms) of one
        person; :class:`PassportError` (403) when incomplete."""
        groups = self._linked()
        usable = [v for v in self._usable() if v.value == REGISTERED_ACCESS]
        status = [v for v in usable if v.type == "ResearcherStatus"]
        terms = [v for v in usable if v.type == "AcceptedTermsAndPolicies"]
        for s in status:
            for t in terms:
                if groups[s.identity] == groups[t.identity]:
                    return PassportGrant("registered", None, self, (s, t))
        missing = [
            name
            for name, found in (("ResearcherStatus", status), ("AcceptedTermsAndPolicies", terms))
            if not found
        ]
        what = (
            f"no {' and no '.join(missing)} visa with value {REGISTERED_ACCESS}"
            if missing
            else "its ResearcherStatus and AcceptedTermsAndPolicies visas belong to "
            "different identities not linked by a LinkedIdentities visa"
        )
        raise PassportError(
            f"{self.where}: no GA4GH Registered Access: {what}{self._why_not()}", status=403
        )

    def authorize(self, *, level: str, dataset_url: str | None) -> "PassportGrant":
        """The grant for a service of ``level`` (``controlled``, ``registered`` or
        ``authenticated``) over the dataset ``dataset_url``."""
        if level == "controlled":
            if dataset_url is None:
                raise PassportError(
                    f"{self.where}: this service's data has no dataset URL (not a catalog "
                    "entry): a Passport cannot grant it; use a token from its operator",
                    status=403,
                )
            return self.grant_for(dataset_url)
        if level == "registered":
            if dataset_url is not None:
                try:
                    return self.grant_for(dataset_url)
                except PassportError:
                    pass  # a grant also satisfies registered access; else the pair is needed
            return self.registered_access()
        return PassportGrant("authenticated", dataset_url, self, ())


def _pattern(pattern: str) -> "re.Pattern[str]":
    """GA4GH Pattern Matching: ``?`` one character, ``*`` any run; no escapes; full string."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S
    )


def _clause_matches(clause: dict[str, Any], visa: Visa) -> bool:
    if clause.get("type") != visa.type:
        return False
    claims = {"value": visa.value, "source": visa.source, "by": visa.by}
    for name, spec in clause.items():
        if name == "type":
            continue
        if name not in claims or not isinstance(spec, str):
            return False
        kind, sep, expected = spec.partition(":")
        actual = claims[name]
        if not sep or actual is None:
            return False
        if kind == "const":
            ok = actual == expected
        elif kind == "pattern":
            ok = _pattern(expected).fullmatch(actual) is not None
        elif kind == "split_pattern":
            ok = any(_pattern(expected).fullmatch(part) for part in actual.split(";"))
        else:
            return False  # unknown prefix: the clause fails (specification)
        if not ok:
            return False
    return True


def _conditions_hold(visa: Visa, plain: list[Visa]) -> bool:
    """DNF: some OR-group whose every clause matches an accepted condition-free visa."""
    for group in visa.conditions:
        if not isinstance(group, list) or not group:
            continue
        if all(
            isinstance(clause, dict)
            and "type" in clause
            and len(clause) > 1
            and any(_clause_matches(clause, other) for other in plain)
            for clause in group
        ):
            return True
    return False


def _visa_from(payload: dict[str, Any], *, passport_expires: int, what: str) -> Visa:
    body = payload.get("ga4gh_visa_v1")
    if not isinstance(body, dict):
        raise PassportError(f"{what}: no ga4gh_visa_v1 object")
    for name in ("type", "value", "source"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise PassportError(f"{what}: ga4gh_visa_v1.{name} is missing or not text")
    if not isinstance(body.get("asserted"), int):
        raise PassportError(f"{what}: ga4gh_visa_v1.asserted is missing or not seconds")
    by = body.get("by")
    if by is not None and not isinstance(by, str):
        raise PassportError(f"{what}: ga4gh_visa_v1.by is not text")
    if body["type"] in ("ControlledAccessGrants", "AcceptedTermsAndPolicies") and not by:
        raise PassportError(f"{what}: a {body['type']} visa must say who asserted it (by)")
    url_types = ("ControlledAccessGrants", "AcceptedTermsAndPolicies", "ResearcherStatus")
    if body["type"] in url_types and (not _URI.match(body["value"]) or len(body["value"]) > 255):
        raise PassportError(f"{what}: ga4gh_visa_v1.value is not a URL claim")
    conditions = body.get("conditions") or []
    if not isinstance(conditions, list):
        raise PassportError(f"{what}: ga4gh_visa_v1.conditions is not a list")
    return Visa(
        issuer=payload["iss"],
        subject=str(payload["sub"]),
        type=body["type"],
        value=body["value"],
        source=body["source"],
        asserted=body["asserted"],
        expires=min(int(payload["exp"]), passport_expires),
        by=by,
        conditions=tuple(conditions),
    )


def verify_passport(
    token: str,
    issuers: TrustedIssuers | None,
    *,
    where: str = "the Passport",
    audience: str | None = None,
) -> Passport:
    """Verify a Passport JWT and its visas against the trusted ``issuers``.

    Raises :class:`PassportError` when the Passport itself does not verify (unknown issuer,
    bad or missing signature, ``alg`` none/HS*, expired, not yet valid, malformed, no
    ``ga4gh_passport_v1`` list); visas that do not verify are ignored and listed in
    :attr:`Passport.ignored`. ``audience`` defaults to ``$GENSHARE_PASSPORT_AUDIENCE``.

    Examples
    --------
    >>> passport = verify_passport(token, load_trusted_issuers())  # doctest: +SKIP
    >>> [v.type for v in passport.visas]  # doctest: +SKIP
    ['ControlledAccessGrants']
    """
    if issuers is None:
        raise PassportError(
            f"{where}: this installation trusts no Passport issuer; the custodian names them in "
            f"a JSON file mapping each issuer to its JWKS, {TRUSTED_ISSUERS_ENV}=FILE"
        )
    if audience is None:
        audience = os.environ.get(AUDIENCE_ENV, "").strip() or None
    payload = _decode(token, issuers, what=where, audience=audience)
    tokens = payload.get("ga4gh_passport_v1")
    if not isinstance(tokens, list):
        raise PassportError(
            f"{where}: not a GA4GH Passport (no ga4gh_passport_v1 list of visas)"
            + (" — it is a single visa" if "ga4gh_visa_v1" in payload else "")
        )
    if len(tokens) > MAX_VISAS:
        raise PassportError(f"{where}: {len(tokens)} visas; at most {MAX_VISAS} are read")
    visas, ignored = [], []
    for i, visa_token in enumerate(tokens):
        what = f"visa {i + 1}"
        try:
            visa_payload = _decode(visa_token, issuers, what=what, audience=None)
            visa = _visa_from(visa_payload, passport_expires=int(payload["exp"]), what=what)
        except PassportError as exc:
            ignored.append(str(exc))
            continue
        if visa.type in VISA_TYPES:  # custom types: ignored, as the specification requires
            visas.append(visa)
    return Passport(
        issuer=payload["iss"],
        subject=str(payload["sub"]),
        expires=int(payload["exp"]),
        visas=tuple(visas),
        ignored=tuple(ignored),
        where=where,
    )


@dataclass(frozen=True)
class PassportGrant:
    """What a Passport granted: the level, the dataset and the visas that granted it."""

    level: str  # "controlled" | "registered" | "authenticated"
    dataset_url: str | None
    passport: Passport = field(repr=False)
    visas: tuple[Visa, ...]

    @property
    def expires(self) -> int:
        """When the grant ends: the earliest expiry of the Passport and the visas used."""
        return min([self.passport.expires, *(v.expires for v in self.visas)])

    @property
    def holder(self) -> str:
        """Who holds it: the Passport's subject at its issuer."""
        return f"{self.passport.subject} (GA4GH Passport from {self.passport.issuer})"

    def record(self) -> dict[str, Any]:
        """A JSON-ready record for provenance: issuers, visa types, dataset, expiry; never a
        token.

        Examples
        --------
        >>> grant.record()["visas"][0]["type"]  # doctest: +SKIP
        'ControlledAccessGrants'
        """
        return {
            "kind": "ga4gh-passport",
            "level": self.level,
            "dataset_url": self.dataset_url,
            "passport_issuer": self.passport.issuer,
            "subject": self.passport.subject,
            "expires": _iso(self.expires),
            "visas": [v.record() for v in self.visas],
        }


class PassportGate:
    """A service's Passport check: trusted issuers, the served dataset and the level needed.

    Examples
    --------
    >>> url = "urn:genshare:dataset:sim-ooa-hmb-controlled"
    >>> issuers = load_trusted_issuers()  # doctest: +SKIP
    >>> gate = PassportGate(issuers, level="controlled", dataset_url=url)  # doctest: +SKIP
    >>> gate.authorize(token).record()["level"]  # doctest: +SKIP
    'controlled'
    """

    def __init__(
        self,
        issuers: TrustedIssuers,
        *,
        level: str,
        dataset_url: str | None,
        audience: str | None = None,
    ) -> None:
        if level not in ("controlled", "registered", "authenticated"):
            raise GenShareError(
                f"Passport level {level!r} is not controlled/registered/authenticated"
            )
        self.issuers = issuers
        self.level = level
        self.dataset_url = dataset_url
        self.audience = audience

    def authorize(self, token: str) -> PassportGrant:
        """The grant the bearer ``token`` carries here; :class:`PassportError` otherwise."""
        passport = verify_passport(
            token, self.issuers, where="the bearer Passport", audience=self.audience
        )
        return passport.authorize(level=self.level, dataset_url=self.dataset_url)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def grant_from_header(header: str | None, gate: "PassportGate | None", *, service: str):
    """The grant of the bearer Passport in an ``Authorization`` header under ``gate``, logged
    (issuer, visa types, dataset, expiry; never the token) on ``genshare_widgets.passports``;
    None when there is no gate or the bearer is not a JWT; :class:`PassportError` when
    refused."""
    token = bearer_token(header)
    if gate is None or token is None or not looks_like_jwt(token):
        return None
    grant = gate.authorize(token)
    record = grant.record()
    log.info(
        "%s: access granted by a GA4GH Passport: level %s, dataset %s, passport issuer %s, "
        "visas %s, until %s",
        service,
        grant.level,
        grant.dataset_url,
        record["passport_issuer"],
        [(v["type"], v["issuer"], v["by"]) for v in record["visas"]],
        record["expires"],
    )
    return grant
