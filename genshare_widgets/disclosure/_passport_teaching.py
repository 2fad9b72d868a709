"""A pretend Passport broker and data access committee for teaching (notebook 10) and tests.

It makes its own RSA key, writes the custodian's trusted-issuers file for it, and mints
Passports with a ControlledAccessGrants visa for a dataset URL, valid for as long as asked:
enough to show a Passport granting a controlled entry, then expiring. Nothing here is
trusted by GenShare unless the file it writes is named by ``GENSHARE_TRUSTED_ISSUERS``.

Examples
--------
>>> issuer = TeachingIssuer()
>>> trusted = issuer.write_trusted_issuers(tmp_path / "trusted.json")  # doctest: +SKIP
>>> token = issuer.passport("urn:genshare:dataset:sim-ooa-hmb-controlled", valid_for=60)
>>> token.count(".")
2
"""

import json
import time
from pathlib import Path

TEACHING_ISSUER = "https://teaching-broker.genshare.invalid/"


class TeachingIssuer:
    """A broker that signs Passports and visas with one RSA key of its own (RS256).

    Examples
    --------
    >>> TeachingIssuer().jwks()["keys"][0]["alg"]
    'RS256'
    """

    def __init__(self, issuer: str = TEACHING_ISSUER, *, kid: str = "teaching-1") -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer = issuer
        self.kid = kid
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict:
        """The issuer's public JWKS (what a custodian trusts)."""
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def write_trusted_issuers(self, path: "str | Path") -> Path:
        """Write a ``GENSHARE_TRUSTED_ISSUERS`` file trusting this issuer; its path."""
        path = Path(path)
        path.write_text(json.dumps({self.issuer: self.jwks()}, indent=2))
        return path

    def _sign(self, payload: dict) -> str:
        import jwt

        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": self.kid})

    def visa(
        self,
        visa_type: str,
        value: str,
        *,
        subject: str = "teaching-researcher",
        valid_for: float = 3600,
        by: str = "dac",
    ) -> str:
        """One signed visa (``ga4gh_visa_v1``) of ``visa_type`` with ``value``."""
        now = int(time.time())
        return self._sign(
            {
                "iss": self.issuer,
                "sub": subject,
                "iat": now,
                "exp": now + int(valid_for),
                "scope": "openid",
                "ga4gh_visa_v1": {
                    "type": visa_type,
                    "asserted": now,
                    "value": value,
                    "source": self.issuer,
                    "by": by,
                },
            }
        )

    def passport(
        self, dataset_url: str, *, valid_for: float = 3600, subject: str = "teaching-researcher"
    ) -> str:
        """A Passport whose one ControlledAccessGrants visa grants ``dataset_url`` for
        ``valid_for`` seconds (the Passport and the visa expire together)."""
        now = int(time.time())
        grant = self.visa(
            "ControlledAccessGrants", dataset_url, subject=subject, valid_for=valid_for
        )
        return self._sign(
            {
                "iss": self.issuer,
                "sub": subject,
                "iat": now,
                "exp": now + int(valid_for),
                "ga4gh_passport_v1": [grant],
            }
        )
