"""Access-token verification accepts exactly the tokens auth issues and nothing else."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

from common.ids import uuid7
from common.tokens import (
    CLOCK_SKEW_SECONDS,
    DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
    InvalidTokenError,
    JwksClient,
    TokenVerifier,
    parse_jwks,
)
from testkit.tokens import TokenSigner


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}."


async def test_a_well_formed_token_is_accepted(
    verifier: TokenVerifier, signer: TokenSigner
) -> None:
    token = signer.token(name="alice", adm=True)
    claims = await verifier.verify(token)
    assert claims.name == "alice"
    assert claims.adm is True


async def test_alg_none_is_rejected(verifier: TokenVerifier, signer: TokenSigner) -> None:
    token = _unsigned({"alg": "none", "typ": "at+jwt", "kid": signer.kid}, signer.claims())
    with pytest.raises(InvalidTokenError, match="algorithm"):
        await verifier.verify(token)


async def test_hs256_signed_with_the_public_key_is_rejected(
    verifier: TokenVerifier, signer: TokenSigner
) -> None:
    public_pem = signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": signer.kid}).encode())
    payload = _b64(json.dumps(signer.claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{_b64(signature)}"
    with pytest.raises(InvalidTokenError, match="algorithm"):
        await verifier.verify(token)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-else"}, "invalid token"),
        ({"iss": "https://evil.example"}, "invalid token"),
        ({"exp": int(time.time()) - 10}, "token expired"),
        ({"exp": None}, "invalid token"),
        ({"sid": None}, "invalid token"),
        ({"sub": None}, "invalid token"),
        ({"iat": None}, "invalid token"),
        ({"aud": ["someone-else", "another"]}, "invalid token"),
        ({"adm": "true"}, "invalid claims"),
        ({"adm": 1}, "invalid claims"),
        ({"name": ["alice"]}, "invalid claims"),
    ],
    ids=[
        "wrong-aud",
        "wrong-iss",
        "expired",
        "no-exp",
        "no-sid",
        "no-sub",
        "no-iat",
        "aud-list-without-ours",
        "adm-a-string",
        "adm-a-number",
        "name-not-a-string",
    ],
)
async def test_tokens_with_wrong_claims_are_rejected(
    verifier: TokenVerifier, signer: TokenSigner, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidTokenError, match=reason):
        await verifier.verify(signer.token(**overrides))


async def test_an_audience_list_holding_ours_is_accepted(
    verifier: TokenVerifier, signer: TokenSigner
) -> None:
    claims = await verifier.verify(signer.token(aud=["another-api", signer.audience]))
    assert signer.audience in claims.aud


@pytest.mark.parametrize(
    "sub",
    [
        "admin",
        "",
        "42",
        "0190a4b2-7c1d-7e3f-8a2b-3c4d5e6f7a8",  # one digit short
        "0190A4B2-7C1D-7E3F-8A2B-3C4D5E6F7A80",  # another spelling of an id
        "0190a4b27c1d7e3f8a2b3c4d5e6f7a80",
        "{0190a4b2-7c1d-7e3f-8a2b-3c4d5e6f7a80}",
        "urn:uuid:0190a4b2-7c1d-7e3f-8a2b-3c4d5e6f7a80",
        "0190a4b2-7c1d-7e3f-8a2b-3c4d5e6f7a80\n",
    ],
    ids=repr,
)
async def test_a_subject_that_is_not_a_user_id_is_rejected(
    verifier: TokenVerifier, signer: TokenSigner, sub: str
) -> None:
    with pytest.raises(InvalidTokenError, match="subject is not a user id"):
        await verifier.verify(signer.token(sub=sub))


async def test_a_user_id_subject_is_accepted(verifier: TokenVerifier, signer: TokenSigner) -> None:
    user_id = str(uuid7())
    assert (await verifier.verify(signer.token(sub=user_id))).sub == user_id


async def test_a_token_may_live_the_configured_lifetime_plus_the_clock_skew_and_no_longer(
    signer: TokenSigner,
) -> None:
    verifier = TokenVerifier(
        signer.keys(), issuer=signer.issuer, audience=signer.audience, max_lifetime_seconds=300
    )
    now = int(time.time())
    longest = 300 + CLOCK_SKEW_SECONDS
    assert await verifier.verify(signer.token(iat=now, exp=now + longest))
    with pytest.raises(InvalidTokenError, match="token lifetime too long"):
        await verifier.verify(signer.token(iat=now, exp=now + longest + 1))


async def test_a_ten_year_token_is_rejected_by_default(
    verifier: TokenVerifier, signer: TokenSigner
) -> None:
    now = int(time.time())
    assert verifier.max_lifetime_seconds == DEFAULT_ACCESS_TOKEN_TTL_SECONDS == 900
    with pytest.raises(InvalidTokenError, match="token lifetime too long"):
        await verifier.verify(signer.token(iat=now, exp=now + 10 * 365 * 24 * 3600))


async def test_a_token_issued_in_the_future_is_rejected(
    verifier: TokenVerifier, signer: TokenSigner
) -> None:
    now = int(time.time())
    with pytest.raises(InvalidTokenError, match="invalid token"):
        await verifier.verify(signer.token(iat=now + 3600, exp=now + 3600 + 900))


async def test_a_token_of_another_type_is_rejected(
    verifier: TokenVerifier, signer: TokenSigner
) -> None:
    with pytest.raises(InvalidTokenError, match="not an access token"):
        await verifier.verify(signer.token(headers={"typ": "JWT"}))


@pytest.mark.parametrize(
    "kid", ["unknown-key", "../../etc/passwd", "x" * 500, "' OR 1=1 --", ""], ids=repr
)
async def test_unknown_or_malicious_kids_are_rejected(
    verifier: TokenVerifier, signer: TokenSigner, kid: str
) -> None:
    with pytest.raises(InvalidTokenError, match="unknown key"):
        await verifier.verify(signer.token(headers={"kid": kid}))


async def test_a_token_signed_by_another_key_is_rejected(
    verifier: TokenVerifier, signer: TokenSigner, other_signer: TokenSigner
) -> None:
    with pytest.raises(InvalidTokenError, match="invalid token"):
        await verifier.verify(signer.token(key=other_signer.private_key))


async def test_jku_and_x5u_headers_cannot_bring_their_own_key(
    verifier: TokenVerifier, signer: TokenSigner, other_signer: TokenSigner
) -> None:
    attacker_jwk = json.loads(RSAAlgorithm.to_jwk(other_signer.private_key.public_key()))
    token = signer.token(
        key=other_signer.private_key,
        headers={
            "jku": "http://127.0.0.1:1/jwks.json",
            "x5u": "http://127.0.0.1:1/cert",
            "jwk": attacker_jwk,
        },
    )
    with pytest.raises(InvalidTokenError):
        await verifier.verify(token)


async def test_garbage_is_rejected_without_crashing(verifier: TokenVerifier) -> None:
    for garbage in ["", "a.b", "not-a-token", "a.b.c", "x" * 10_000]:
        with pytest.raises(InvalidTokenError):
            await verifier.verify(garbage)


async def test_a_cached_verification_does_not_outlive_the_token(
    verifier: TokenVerifier, signer: TokenSigner
) -> None:
    expires = int(time.time()) + 1
    token = signer.token(exp=expires)
    await verifier.verify(token)
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(InvalidTokenError, match="expired"):
        await verifier.verify(token)


def _jwks_transport(private_key: RSAPrivateKey, kid: str, calls: list[str]) -> httpx.MockTransport:
    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update(kid=kid, use="sig", alg="RS256")

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json={"keys": [jwk]})

    return httpx.MockTransport(handler)


async def test_the_jwks_client_fetches_keys_and_refreshes_on_an_unknown_kid_at_most_once(
    signer: TokenSigner,
) -> None:
    calls: list[str] = []
    client = JwksClient(
        "http://auth.internal/.well-known/jwks.json",
        http=httpx.AsyncClient(transport=_jwks_transport(signer.private_key, signer.kid, calls)),
        min_refresh_seconds=60,
    )
    assert await client.get(signer.kid) is not None
    assert await client.get(signer.kid) is not None
    assert len(calls) == 1
    for _ in range(5):
        assert await client.get("random-kid") is None
    assert len(calls) == 1, "unknown kids must not make the client hammer the JWKS endpoint"
    await client.aclose()


async def test_the_jwks_client_keeps_failing_closed_when_auth_is_unreachable(
    signer: TokenSigner,
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = JwksClient(
        "http://auth.internal/.well-known/jwks.json",
        http=httpx.AsyncClient(transport=httpx.MockTransport(down)),
    )
    assert await client.get(signer.kid) is None
    await client.aclose()


async def test_jwks_entries_for_other_algorithms_are_ignored(signer: TokenSigner) -> None:
    private_key = signer.private_key

    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    document = {
        "keys": [
            {**jwk, "kid": "enc", "use": "enc"},
            {**jwk, "kid": "hs", "alg": "HS256"},
            {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
            {**jwk, "kid": "good"},
        ]
    }
    assert list(parse_jwks(document)) == ["good"]
    assert (
        jwt.get_unverified_header(
            jwt.encode({"a": 1}, private_key, algorithm="RS256", headers={"kid": "good"})
        )["kid"]
        == "good"
    )
