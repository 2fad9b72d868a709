"""The custodian's trusted GA4GH Passport issuers (``GENSHARE_TRUSTED_ISSUERS``) and their keys.

A JSON file maps each issuer (the JWT ``iss``) to its JWKS, inline or as a path (relative
paths are read beside the JSON file); see :mod:`genshare_widgets.disclosure._passport`. Only
public asymmetric keys are accepted: a symmetric (``oct``) or private (``d``) key is an error
naming the file and the key.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError

TRUSTED_ISSUERS_ENV = "GENSHARE_TRUSTED_ISSUERS"
AUDIENCE_ENV = "GENSHARE_PASSPORT_AUDIENCE"
#: The signature algorithms a Passport or visa may use (asymmetric only: never none or HS*).
ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class PassportError(GenShareError):
    """A Passport is refused, or grants nothing here; the message says why (never the token).

    ``status`` is the HTTP status a service answers: 401 for a token that does not verify,
    403 for a valid Passport without the grant needed.
    """

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TrustedIssuers:
    """Issuer (``iss``) → its public keys (``kid`` → :class:`jwt.PyJWK`), read from a file."""

    keys: dict[str, tuple[Any, ...]] = field(repr=False)
    path: str = ""

    @property
    def issuers(self) -> list[str]:
        """The trusted issuers, sorted."""
        return sorted(self.keys)

    def key_for(self, issuer: str, header: dict[str, Any], *, what: str):
        """The issuer's key named by the header's ``kid`` (or its only key), whose declared
        algorithm is the header's ``alg``; :class:`PassportError` otherwise."""
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            shown = alg if isinstance(alg, str) and len(alg) < 20 else type(alg).__name__
            raise PassportError(
                f"{what}: algorithm {shown!r} is not accepted; only asymmetric signatures "
                f"({', '.join(ALGORITHMS)}) with a key of the issuer's JWKS verify ('none' and "
                "HS* are always refused)"
            )
        if issuer not in self.keys:
            raise PassportError(
                f"{what}: issuer {short(issuer)!r} is not trusted by this custodian (trusted: "
                f"{', '.join(self.issuers)}; see {TRUSTED_ISSUERS_ENV})"
            )
        candidates = self.keys[issuer]
        kid = header.get("kid")
        if kid is not None:
            candidates = tuple(k for k in candidates if k.key_id == kid)
            if not candidates:
                raise PassportError(
                    f"{what}: key id {short(str(kid))!r} is not in the JWKS of issuer "
                    f"{short(issuer)!r}"
                )
        elif len(candidates) != 1:
            raise PassportError(
                f"{what}: the token names no key id (kid) and issuer {short(issuer)!r} has "
                f"{len(candidates)} keys"
            )
        key = candidates[0]
        if key.algorithm_name != alg:
            raise PassportError(
                f"{what}: signed with {alg} but the issuer's key {key.key_id or ''} is an "
                f"{key.algorithm_name} key; the token is refused"
            )
        return key


def short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenShareError(f"{what}: file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise GenShareError(f"{what}: {path} is not readable JSON ({exc})") from None


def _jwks_keys(jwks: Any, where: str) -> tuple[Any, ...]:
    import jwt

    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise GenShareError(f"{where}: a JWKS is an object with a non-empty 'keys' list")
    keys = []
    for i, jwk in enumerate(jwks["keys"]):
        at = f"{where}: keys[{i}]"
        if not isinstance(jwk, dict):
            raise GenShareError(f"{at} is not a JWK object")
        if jwk.get("kty") == "oct":
            raise GenShareError(
                f"{at} is a symmetric (oct) key; passports are verified only with public "
                "asymmetric keys (RSA, EC, OKP)"
            )
        if "d" in jwk:
            raise GenShareError(
                f"{at} holds a PRIVATE key (field 'd'); give only the issuer's public JWKS and "
                "keep the private key with the issuer"
            )
        try:
            key = jwt.PyJWK(jwk)
        except jwt.PyJWTError as exc:
            raise GenShareError(f"{at} is not a usable JWK ({type(exc).__name__}: {exc})") from None
        if key.algorithm_name not in ALGORITHMS:
            raise GenShareError(
                f"{at} declares algorithm {key.algorithm_name!r}; use one of "
                f"{', '.join(ALGORITHMS)}"
            )
        keys.append(key)
    kids = [k.key_id for k in keys if k.key_id is not None]
    dupes = sorted({k for k in kids if kids.count(k) > 1})
    if dupes:
        raise GenShareError(f"{where}: key ids listed twice: {dupes}")
    return tuple(keys)


def load_trusted_issuers(path: "str | Path | None" = None) -> TrustedIssuers | None:
    """The custodian's trusted issuers from ``path`` or ``$GENSHARE_TRUSTED_ISSUERS`` (None
    when neither is set); see the module docstring for the file format.

    Examples
    --------
    >>> load_trusted_issuers("trusted_issuers.json").issuers  # doctest: +SKIP
    ['https://broker.example.org/']
    """
    if path is None:
        env = os.environ.get(TRUSTED_ISSUERS_ENV, "").strip()
        if not env:
            return None
        path = env
    file = Path(path).expanduser()
    what = f"trusted issuers ({TRUSTED_ISSUERS_ENV})"
    raw = _read_json(file, what)
    if not isinstance(raw, dict) or not raw:
        raise GenShareError(
            f"{what}: {file} must map each issuer (iss) to its JWKS (an object or a path)"
        )
    keys: dict[str, tuple[Any, ...]] = {}
    for issuer, jwks in raw.items():
        where = f"{file}: issuer {issuer!r}"
        if isinstance(jwks, str):
            jwks_path = Path(jwks).expanduser()
            if not jwks_path.is_absolute():
                jwks_path = file.parent / jwks_path
            jwks = _read_json(jwks_path, where)
            where = f"{where} (JWKS file {jwks_path})"
        keys[issuer] = _jwks_keys(jwks, where)
    return TrustedIssuers(keys, str(file))


def as_trusted_issuers(issuers: "TrustedIssuers | str | Path | None") -> TrustedIssuers | None:
    """Accept a :class:`TrustedIssuers`, a path, or None (``$GENSHARE_TRUSTED_ISSUERS``)."""
    if isinstance(issuers, TrustedIssuers):
        return issuers
    return load_trusted_issuers(issuers)
