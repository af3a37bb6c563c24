import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from auth.keys import KeyConfigurationError, KeyRing, key_id, load_key_ring, public_pem
from auth.settings import AuthSettings


def _settings(**values: Any) -> AuthSettings:
    return AuthSettings.model_validate({"log_json": False, **values})


def test_local_key_is_generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    settings = _settings(environment="local", state_dir=tmp_path / "state", rsa_key_bits=2048)

    first = load_key_ring(settings)
    second = load_key_ring(settings)

    key_file = tmp_path / "state" / "auth-private-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert list((tmp_path / "state").iterdir()) == [key_file]
    assert first.kid == second.kid


def test_outside_local_a_missing_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="AUTH_PRIVATE_KEY must be set"):
        _settings(environment="production", state_dir=tmp_path)


def test_outside_local_an_unusable_key_refuses_to_start(tmp_path: Path) -> None:
    settings = _settings(environment="production", private_key="-----BEGIN NONSENSE-----")

    with pytest.raises(KeyConfigurationError):
        load_key_ring(settings)


def test_private_key_file_is_read_into_the_setting(
    tmp_path: Path, private_key_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(private_key_pem)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AUTH_PRIVATE_KEY_FILE", str(key_file))

    ring = load_key_ring(AuthSettings())

    assert ring.public_pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_an_unreadable_key_file_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AUTH_PRIVATE_KEY_FILE", str(tmp_path / "missing.pem"))

    with pytest.raises(ValueError, match="AUTH_PRIVATE_KEY_FILE"):
        AuthSettings()


def test_the_jwks_publishes_the_previous_key_during_rotation(private_key_pem: str) -> None:
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    settings = _settings(
        environment="production", private_key=private_key_pem, previous_public_key=public_pem(old)
    )

    ring = load_key_ring(settings)
    published = {k["kid"]: k for k in ring.jwks()["keys"]}

    assert set(published) == {ring.kid, key_id(old)}
    assert all(k["alg"] == "RS256" and k["use"] == "sig" for k in published.values())
    assert all("d" not in k for k in published.values())


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 7638 section 3.1's example key and thumbprint.
    n = int.from_bytes(
        __import__("base64").urlsafe_b64decode(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
            "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
            "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
            "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw=="
        ),
        "big",
    )
    key = rsa.RSAPublicNumbers(e=65537, n=n).public_key()

    assert key_id(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


async def test_decrypt_refuses_pkcs1_v15_ciphertexts(private_key_pem: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    private = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    ring = KeyRing(private_key=private)
    legacy = ring.public_key.encrypt(b'{"password": "x", "nonce": "y"}', padding.PKCS1v15())

    with pytest.raises(ValueError):  # noqa: PT011 - cryptography's only signal
        await ring.decrypt(legacy)
