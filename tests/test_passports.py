"""GA4GH Passports (issue 17): verification with keys made here, and every door that takes one.

Keys are generated in the test (RSA 2048 and EC P-256 with ``cryptography``); the custodian's
trusted issuers are a JSON file in tmp_path (one JWKS inline, one as a path) named by
``GENSHARE_TRUSTED_ISSUERS``. Each attack is played through the public interfaces
(``verify_passport``, ``open_cohort``, ``genshare stats``, a Beacon and a site over HTTP) and
must release nothing.
"""

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from genshare_widgets import GenShareError
from genshare_widgets.disclosure import AccessDenied
from genshare_widgets.disclosure._passport import (
    REGISTERED_ACCESS,
    PassportError,
    PassportGate,
    load_trusted_issuers,
    looks_like_jwt,
    verify_passport,
)

BROKER = "https://broker.example.org/"
DAC = "https://dac.example.org/"
ROGUE = "https://rogue.example.org/"
HMB = "sim-ooa-hmb-controlled"
HMB_URL = f"urn:genshare:dataset:{HMB}"
HMB_PURPOSE = "HMB;non-commercial;irb=IRB-2026-017;publish"
DAY = 86_400


def _public_jwk(key, kid: str, alg: str) -> dict:
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def keys():
    return {
        "broker": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "dac": ec.generate_private_key(ec.SECP256R1()),
        "rogue": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture()
def trusted(tmp_path, keys, monkeypatch) -> Path:
    """The custodian's file: the broker's JWKS inline, the DAC's as a path beside it."""
    (tmp_path / "dac-jwks.json").write_text(
        json.dumps({"keys": [_public_jwk(keys["dac"], "dac-1", "ES256")]})
    )
    path = tmp_path / "trusted_issuers.json"
    path.write_text(
        json.dumps(
            {
                BROKER: {"keys": [_public_jwk(keys["broker"], "broker-1", "RS256")]},
                DAC: "dac-jwks.json",
            }
        )
    )
    monkeypatch.setenv("GENSHARE_TRUSTED_ISSUERS", str(path))
    return path


def _sign(payload: dict, key, *, alg: str, kid: str | None, headers=None) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, **(headers or {})})


def visa(
    keys,
    *,
    type="ControlledAccessGrants",
    value=HMB_URL,
    by="dac",
    iss=DAC,
    key="dac",
    kid="dac-1",
    alg="ES256",
    sub="researcher-7",
    exp_in=30 * DAY,
    iat_in=-60,
    conditions=None,
) -> str:
    now = int(time.time())
    body = {"type": type, "asserted": now - DAY, "value": value, "source": DAC}
    if by is not None:
        body["by"] = by
    if conditions is not None:
        body["conditions"] = conditions
    payload = {
        "iss": iss,
        "sub": sub,
        "iat": now + iat_in,
        "exp": now + exp_in,
        "jti": "v1",
        "scope": "openid",
        "ga4gh_visa_v1": body,
    }
    return _sign(payload, keys[key], alg=alg, kid=kid)


def passport(
    keys, visas, *, iss=BROKER, key="broker", kid="broker-1", exp_in=3600, iat_in=-60, **extra
):
    now = int(time.time())
    payload = {
        "iss": iss,
        "sub": "researcher-7",
        "iat": now + iat_in,
        "exp": now + exp_in,
        "ga4gh_passport_v1": list(visas),
        **extra,
    }
    return _sign(payload, keys[key], alg="RS256", kid=kid)


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _tamper(token: str, **changes) -> str:
    """Change payload claims and keep the original signature."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    return f"{head}.{_b64(payload)}.{sig}"


def _verify(token: str):
    return verify_passport(token, load_trusted_issuers())


def _grant(token: str, url: str = HMB_URL):
    return _verify(token).grant_for(url)


# --- verification -------------------------------------------------------------------------


def test_good_passport_grants_the_dataset_and_records_no_token(trusted, keys):
    token = passport(keys, [visa(keys)])
    grant = _grant(token)
    record = grant.record()
    assert record["level"] == "controlled" and record["dataset_url"] == HMB_URL
    assert record["passport_issuer"] == BROKER
    assert record["visas"][0] | {"asserted": None, "expires": None} == {
        "type": "ControlledAccessGrants",
        "value": HMB_URL,
        "issuer": DAC,
        "source": DAC,
        "by": "dac",
        "asserted": None,
        "expires": None,
    }
    text = json.dumps(record)
    for part in token.split("."):
        assert part not in text
    # the visa's expiry is bounded by the passport's (1 h, not the visa's 30 days)
    assert grant.expires == grant.passport.expires < time.time() + 2 * 3600


def test_wrong_dataset_url_is_refused_naming_what_it_grants(trusted, keys):
    token = passport(keys, [visa(keys, value="urn:genshare:dataset:sim-ooa-ds-controlled")])
    with pytest.raises(PassportError, match="no ControlledAccessGrants visa for dataset") as exc:
        _grant(token)
    assert exc.value.status == 403 and "sim-ooa-ds-controlled" in str(exc.value)
    # case-sensitive full-string match: a prefix or another case grants nothing
    for near in (HMB_URL.upper(), HMB_URL + "x", HMB_URL[:-1]):
        with pytest.raises(PassportError):
            _grant(passport(keys, [visa(keys, value=near)]))


def _refused(token: str, pattern: str, *, status: int = 401):
    with pytest.raises(PassportError, match=pattern) as exc:
        _grant(token)
    assert exc.value.status == status
    for part in token.split(".")[:2]:
        assert part not in str(exc.value)  # never the token echoed
    return exc.value


def test_passport_from_an_untrusted_issuer_is_refused(trusted, keys):
    token = passport(keys, [visa(keys)], iss=ROGUE, key="rogue", kid="rogue-1")
    _refused(token, "issuer 'https://rogue.example.org/' is not trusted")


def test_passport_signed_by_an_unknown_key_of_a_trusted_issuer(trusted, keys):
    token = passport(keys, [visa(keys)], key="rogue", kid="broker-1")  # right kid, wrong key
    _refused(token, "signature does not verify")
    _refused(passport(keys, [visa(keys)], kid="nope"), "key id 'nope' is not in the JWKS")


def test_expired_passport_and_expired_visa(trusted, keys):
    _refused(passport(keys, [visa(keys)], exp_in=-3600), "expired on")
    error = _refused(
        passport(keys, [visa(keys, exp_in=-3600)]), "no ControlledAccessGrants", status=403
    )
    assert "visa 1 (issuer 'https://dac.example.org/'): expired" in str(error)


def test_leeway_is_sixty_seconds(trusted, keys):
    assert _grant(passport(keys, [visa(keys)], exp_in=-30))  # within the stated leeway
    _refused(passport(keys, [visa(keys)], exp_in=-120), "expired")


def test_not_yet_valid_passport_and_visa(trusted, keys):
    _refused(passport(keys, [visa(keys)], iat_in=3600), "not valid yet")
    _refused(passport(keys, [visa(keys)], nbf=int(time.time()) + 3600), "not valid yet")
    error = _refused(passport(keys, [visa(keys, iat_in=3600)]), "no Controlled", status=403)
    assert "visa 1" in str(error) and "not valid yet" in str(error)


def test_tampered_payload_keeps_no_grant(trusted, keys):
    good = passport(keys, [visa(keys, value="urn:genshare:dataset:sim-ooa-ds-controlled")])
    # the attacker rewrites the passport's visas (signature kept): refused as a whole
    _refused(_tamper(good, ga4gh_passport_v1=[visa(keys)]), "signature does not verify")
    _refused(_tamper(good, exp=int(time.time()) + 10 * 365 * DAY), "signature does not verify")
    # ... or a visa inside a validly re-signed passport: that visa is ignored
    tampered_visa = _tamper(visa(keys, value="urn:genshare:dataset:x"), ga4gh_visa_v1={
        "type": "ControlledAccessGrants", "asserted": 1, "value": HMB_URL, "source": DAC,
        "by": "dac"})  # fmt: skip
    error = _refused(passport(keys, [tampered_visa]), "no Controlled", status=403)
    assert "visa 1" in str(error) and "signature does not verify" in str(error)


def test_alg_none_and_unsigned_tokens_are_refused(trusted, keys):
    now = int(time.time())
    claims = {"iss": BROKER, "sub": "x", "iat": now, "exp": now + 3600,
              "ga4gh_passport_v1": [visa(keys)]}  # fmt: skip
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert unsigned.endswith(".")
    _refused(unsigned, "unsigned")
    # 'none' with a signature part pasted from a real token
    head = _b64({"alg": "none", "typ": "JWT"})
    forged = f"{head}.{_b64(claims)}.{passport(keys, [visa(keys)]).split('.')[2]}"
    _refused(forged, "unsigned")
    # a visa with alg none inside a good passport is ignored
    none_visa = jwt.encode(jwt.decode(visa(keys), options={"verify_signature": False}), None,
                           algorithm="none")  # fmt: skip
    error = _refused(passport(keys, [none_visa]), "no Controlled", status=403)
    assert "unsigned" in str(error)


def test_hs256_signed_with_the_public_key_is_refused(trusted, keys):
    """The classic key-confusion attack: HMAC keyed with the issuer's public key bytes."""
    pem = (
        keys["broker"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    claims = {"iss": BROKER, "sub": "x", "iat": now, "exp": now + 3600,
              "ga4gh_passport_v1": [visa(keys)]}  # fmt: skip
    header = {"alg": "HS256", "kid": "broker-1", "typ": "JWT"}
    signing_input = f"{_b64(header)}.{_b64(claims)}".encode()
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(pem, signing_input, hashlib.sha256).digest())
    forged = f"{signing_input.decode()}.{sig.rstrip(b'=').decode()}"
    _refused(forged, "algorithm 'HS256' is not accepted")
    # an RS256 token presented as ES256 for the RSA key: the key's declared alg rules
    token = passport(keys, [visa(keys)])
    head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    swapped = f"{_b64({**head, 'alg': 'ES256'})}.{token.split('.', 1)[1]}"
    _refused(swapped, "is an RS256 key")


def test_untrusted_visa_inside_a_trusted_passport_is_ignored(trusted, keys):
    rogue = visa(keys, iss=ROGUE, key="rogue", kid="rogue-1", alg="RS256")
    error = _refused(passport(keys, [rogue]), "no ControlledAccessGrants", status=403)
    assert "ignored visas" in str(error) and "is not trusted" in str(error)
    # a visa claiming the trusted DAC as issuer but signed with another key
    forged = visa(keys, key="rogue", kid="dac-1", alg="RS256")
    error = _refused(passport(keys, [forged]), "no ControlledAccessGrants", status=403)
    assert "is an ES256 key" in str(error)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b", "a.b.c.d", "eyJ.eyJ.", "%%%.%%%.%%%", "x" * 70_000],
    ids=["empty", "word", "two-parts", "four-parts", "bad-base64", "bad-chars", "huge"],
)
def test_malformed_tokens_are_refused(trusted, token):
    with pytest.raises(PassportError, match=r"not a well-formed JWT|unsigned"):
        _verify(token)


def test_a_visa_is_not_a_passport_and_a_passport_needs_its_claims(trusted, keys):
    with pytest.raises(PassportError, match=r"not a GA4GH Passport .* a single visa"):
        _verify(visa(keys, iss=BROKER, key="broker", kid="broker-1", alg="RS256"))
    now = int(time.time())
    no_sub = jwt.encode({"iss": BROKER, "iat": now, "exp": now + 60, "ga4gh_passport_v1": []},
                        keys["broker"], algorithm="RS256", headers={"kid": "broker-1"})  # fmt: skip
    with pytest.raises(PassportError, match="required claim 'sub' is missing"):
        _verify(no_sub)
    with_aud = passport(keys, [visa(keys)], aud="some-other-service")
    with pytest.raises(PassportError, match="audience"):
        _verify(with_aud)


def test_grant_without_by_and_custom_types_are_ignored(trusted, keys):
    error = _refused(passport(keys, [visa(keys, by=None)]), "no Controlled", status=403)
    assert "must say who asserted it (by)" in str(error)
    custom = visa(keys, type="https://example.org/visas/custom")
    with pytest.raises(PassportError, match="no ControlledAccessGrants"):
        _grant(passport(keys, [custom]))


def test_conditions_must_hold(trusted, keys):
    condition = [[{"type": "AffiliationAndRole", "value": "pattern:faculty@*.example.org"}]]
    conditional = visa(keys, conditions=condition)
    with pytest.raises(PassportError, match="no ControlledAccessGrants"):
        _grant(passport(keys, [conditional]))
    role = visa(keys, type="AffiliationAndRole", value="faculty@med.example.org", by="so")
    assert _grant(passport(keys, [conditional, role]))
    other = visa(keys, type="AffiliationAndRole", value="student@med.example.org", by="so")
    with pytest.raises(PassportError):
        _grant(passport(keys, [conditional, other]))
    unknown_prefix = [[{"type": "AffiliationAndRole", "value": "regex:.*"}]]
    with pytest.raises(PassportError):
        _grant(passport(keys, [visa(keys, conditions=unknown_prefix), role]))


def test_registered_access_needs_both_visas_of_one_person(trusted, keys):
    status = visa(keys, type="ResearcherStatus", value=REGISTERED_ACCESS, by="so")
    terms = visa(keys, type="AcceptedTermsAndPolicies", value=REGISTERED_ACCESS, by="self")
    gate = PassportGate(load_trusted_issuers(), level="registered", dataset_url=None)
    assert gate.authorize(passport(keys, [status, terms])).level == "registered"
    with pytest.raises(PassportError, match="no AcceptedTermsAndPolicies"):
        gate.authorize(passport(keys, [status]))
    stranger = visa(keys, type="AcceptedTermsAndPolicies", value=REGISTERED_ACCESS, by="self",
                    sub="someone-else")  # fmt: skip
    with pytest.raises(PassportError, match="different identities"):
        gate.authorize(passport(keys, [status, stranger]))
    link = visa(keys, type="LinkedIdentities", value=f"someone-else,{DAC.replace(':', '%3A')}",
                by="system")  # fmt: skip
    assert gate.authorize(passport(keys, [status, stranger, link])).level == "registered"


def test_trusted_issuers_file_is_checked(tmp_path, keys, monkeypatch):
    monkeypatch.delenv("GENSHARE_TRUSTED_ISSUERS", raising=False)
    assert load_trusted_issuers() is None
    with pytest.raises(PassportError, match="trusts no Passport issuer"):
        verify_passport(passport(keys, [visa(keys)]), None)
    path = tmp_path / "t.json"
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys["broker"]))
    cases = {
        "[]": "must map each issuer",
        json.dumps({BROKER: {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}): "symmetric",
        json.dumps({BROKER: {"keys": [private]}}): "PRIVATE key",
        json.dumps({BROKER: "missing.json"}): "missing.json does not exist",
        json.dumps({BROKER: {"keys": []}}): "non-empty 'keys'",
    }
    for content, message in cases.items():
        path.write_text(content)
        with pytest.raises(GenShareError, match=message):
            load_trusted_issuers(path)


def test_looks_like_jwt():
    assert looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln")
    assert not looks_like_jwt("holder: A. Researcher\napprovals: []")


# --- open_cohort and the CLI --------------------------------------------------------------


def test_open_cohort_with_a_passport_file(trusted, keys, tmp_path, monkeypatch):
    from genshare_widgets import open_cohort

    monkeypatch.delenv("GENSHARE_PURPOSE", raising=False)
    token = passport(keys, [visa(keys)])
    path = tmp_path / "passport.jwt"
    path.write_text(token + "\n")
    cohort = open_cohort(HMB, credential=path, purpose=HMB_PURPOSE)
    access = cohort.provenance["access"]
    assert access["allowed"] and access["passport"]["dataset_url"] == HMB_URL
    assert access["passport"]["visas"][0]["type"] == "ControlledAccessGrants"
    assert "GA4GH Passport from https://broker.example.org/" in access["credential_holder"]
    assert token.split(".")[1] not in json.dumps(cohort.provenance, default=str)
    # the declared purpose still applies: a Passport grants a dataset, not a purpose
    with pytest.raises(AccessDenied, match="names no research purpose"):
        open_cohort(HMB, credential=path)
    with pytest.raises(AccessDenied, match=r"HMB \(DUO:0000006\)"):
        open_cohort(HMB, credential=path, purpose="POA")
    # the token itself in GENSHARE_CREDENTIAL works too
    monkeypatch.setenv("GENSHARE_CREDENTIAL", token)
    assert open_cohort(HMB, purpose=HMB_PURPOSE).provenance["access"]["passport"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda k: passport(k, [visa(k)], exp_in=-3600), "expired"),
        (lambda k: passport(k, [visa(k, value="urn:genshare:dataset:sim-ooa")]), "no Controlled"),
        (lambda k: passport(k, [visa(k)], iss=ROGUE, key="rogue", kid="r"), "not trusted"),
        (lambda k: _tamper(passport(k, [visa(k)]), sub="mallory"), "signature does not verify"),
    ],
    ids=["expired", "wrong-dataset", "wrong-issuer", "tampered"],
)
def test_open_cohort_refuses_a_bad_passport(trusted, keys, tmp_path, make, message):
    from genshare_widgets import open_cohort

    token = make(keys)
    path = tmp_path / "passport.jwt"
    path.write_text(token)
    with pytest.raises(AccessDenied, match=message) as exc:
        open_cohort(HMB, credential=path, purpose=HMB_PURPOSE)
    assert str(path) in str(exc.value) and token.split(".")[1] not in str(exc.value)


def test_open_cohort_without_trusted_issuers_says_what_to_set(keys, tmp_path, monkeypatch):
    from genshare_widgets import open_cohort

    monkeypatch.delenv("GENSHARE_TRUSTED_ISSUERS", raising=False)
    path = tmp_path / "passport.jwt"
    path.write_text(passport(keys, [visa(keys)]))
    with pytest.raises(AccessDenied, match="GENSHARE_TRUSTED_ISSUERS=FILE"):
        open_cohort(HMB, credential=path, purpose=HMB_PURPOSE)


def test_cli_stats_with_a_passport_credential(trusted, keys, tmp_path, monkeypatch):
    from tests.cli_runner import run_genshare

    monkeypatch.delenv("GENSHARE_PURPOSE", raising=False)
    monkeypatch.delenv("GENSHARE_CREDENTIAL", raising=False)
    good = tmp_path / "good.jwt"
    good.write_text(passport(keys, [visa(keys)]))
    out = tmp_path / "out"
    args = ["stats", HMB, "--het", "--by", "sex", "--purpose", HMB_PURPOSE, "--out", str(out)]
    done = run_genshare(*args, "--credential", str(good))
    assert done.returncode == 0, done.stderr
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["access"]["passport"]["visas"][0]["by"] == "dac"
    assert good.read_text().split(".")[1] not in (out / "provenance.json").read_text()
    expired = tmp_path / "expired.jwt"
    expired.write_text(passport(keys, [visa(keys)], exp_in=-3600))
    out2 = tmp_path / "out2"
    args[-1] = str(out2)
    done = run_genshare(*args, "--credential", str(expired))
    assert done.returncode != 0 and "expired" in done.stderr
    assert "Traceback" not in done.stderr and not out2.exists()


# --- services -----------------------------------------------------------------------------


@pytest.fixture()
def hmb_cohort(trusted, keys, tmp_path):
    from genshare_widgets import open_cohort

    path = tmp_path / "custodian.jwt"
    path.write_text(passport(keys, [visa(keys)]))
    return open_cohort(HMB, credential=path, purpose=HMB_PURPOSE)


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_beacon_accepts_a_bearer_passport_beside_tokens(hmb_cohort, keys):
    import httpx

    from genshare_widgets._serve import RunningServer
    from genshare_widgets.beacon import beacon_app

    static = "static-token-of-the-operator-0123456789"
    app = beacon_app(hmb_cohort, by="sex", tokens=[{"name": "op", "token": static}])
    server = RunningServer(app).start()
    try:
        url = f"{server.url}/g_variants"
        params = {"referenceName": "1", "start": 0, "end": 10_000_000}
        assert httpx.get(url, params=params, headers=_bearer(static)).status_code == 200
        good = httpx.get(url, params=params, headers=_bearer(passport(keys, [visa(keys)])))
        assert good.status_code == 200, good.text
        attacks = {
            "none": (httpx.get(url, params=params), 401, "Bearer"),
            "expired": (passport(keys, [visa(keys)], exp_in=-3600), 401, "expired"),
            "wrong-dataset": (passport(keys, [visa(keys, value="urn:x:y")]), 403, "no Controlled"),
            "registered-only": (
                passport(keys, [visa(keys, type="ResearcherStatus", value=REGISTERED_ACCESS)]),
                403,
                "no ControlledAccessGrants",
            ),
            "tampered": (_tamper(passport(keys, [visa(keys)]), sub="m"), 401, "does not verify"),
            "rogue": (passport(keys, [visa(keys)], iss=ROGUE, key="rogue"), 401, "not trusted"),
        }
        for name, (token, status, text) in attacks.items():
            answer = token if isinstance(token, httpx.Response) else httpx.get(
                url, params=params, headers=_bearer(token))  # fmt: skip
            assert answer.status_code == status, (name, answer.text)
            assert text in answer.text, (name, answer.text)
            assert "responseSummary" not in answer.json() and "response" not in answer.json()
            if not isinstance(token, httpx.Response):
                assert token.split(".")[1] not in answer.text
    finally:
        server.stop()


def test_site_accepts_a_bearer_passport_beside_its_token(hmb_cohort, keys):
    import httpx

    from genshare_widgets._serve import RunningServer
    from genshare_widgets.federation import site_app

    app = site_app(hmb_cohort, name="hmb-site", by="sex", token="site-token-0123456789abcdef")
    server = RunningServer(app).start()
    try:
        body = {"by": "sex", "region": "1:1-200000"}
        counts = f"{server.url}/counts"
        ok = httpx.post(counts, json=body, headers=_bearer("site-token-0123456789abcdef"))
        assert ok.status_code == 200, ok.text
        good = httpx.post(counts, json=body, headers=_bearer(passport(keys, [visa(keys)])))
        assert good.status_code == 200, good.text
        assert good.json() == ok.json()
        for token, status, text in [
            (passport(keys, [visa(keys)], exp_in=-3600), 401, "expired"),
            (passport(keys, [visa(keys, value=f"{HMB_URL}-other")]), 403, "no Controlled"),
            (_tamper(passport(keys, [visa(keys)]), exp=2**40), 401, "does not verify"),
            ("eyJhbGciOiJub25lIn0.e30.", 401, "unsigned"),
        ]:
            answer = httpx.post(counts, json=body, headers=_bearer(token))
            assert answer.status_code == status, answer.text
            assert text in answer.json()["detail"] and "variants" not in answer.json()
        assert httpx.get(f"{server.url}/").status_code == 401
    finally:
        server.stop()


def test_registered_beacon_with_passports_only(trusted, keys):
    """No token table: a REGISTERED Beacon that trusts issuers starts, and admits the GA4GH
    Registered Access pair but not half of it."""
    import httpx

    from genshare_widgets import open_cohort
    from genshare_widgets._serve import RunningServer
    from genshare_widgets.beacon import beacon_app

    registered = open_cohort("sim-ooa-gru-registered", purpose="GRU")
    server = RunningServer(beacon_app(registered, tokens=[])).start()
    try:
        url = f"{server.url}/g_variants"
        params = {"referenceName": "1", "start": 0, "end": 10_000_000}
        status = visa(keys, type="ResearcherStatus", value=REGISTERED_ACCESS, by="so")
        terms = visa(keys, type="AcceptedTermsAndPolicies", value=REGISTERED_ACCESS, by="self")
        both = httpx.get(url, params=params, headers=_bearer(passport(keys, [status, terms])))
        assert both.status_code == 200, both.text
        half = httpx.get(url, params=params, headers=_bearer(passport(keys, [status])))
        assert half.status_code == 403 and "no AcceptedTermsAndPolicies" in half.text
        assert httpx.get(f"{server.url}/info").status_code == 200  # public paths stay public
    finally:
        server.stop()


def test_teaching_issuer_grants_then_expires(tmp_path, monkeypatch):
    from genshare_widgets.disclosure._passport_teaching import TeachingIssuer

    issuer = TeachingIssuer()
    monkeypatch.setenv(
        "GENSHARE_TRUSTED_ISSUERS", str(issuer.write_trusted_issuers(tmp_path / "t.json"))
    )
    assert _grant(issuer.passport(HMB_URL, valid_for=600)).level == "controlled"
    with pytest.raises(PassportError, match="expired"):
        _grant(issuer.passport(HMB_URL, valid_for=-3600))
