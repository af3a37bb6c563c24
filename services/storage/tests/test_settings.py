import pytest
from pydantic import ValidationError

from storage.settings import StorageSettings


def test_public_endpoint_defaults_to_the_internal_one() -> None:
    settings = StorageSettings(s3_endpoint="http://10.0.0.5:9000")

    assert settings.public_endpoint == "http://10.0.0.5:9000"


@pytest.mark.parametrize("endpoint", ["http://gw:8000/s3", "ftp://host", "localhost:9000"])
def test_public_endpoint_must_be_an_origin(endpoint: str) -> None:
    with pytest.raises(ValidationError, match="s3_public_endpoint"):
        StorageSettings(s3_public_endpoint=endpoint)


def test_default_expiry_longer_than_the_maximum_is_refused() -> None:
    with pytest.raises(ValidationError, match="url_expiry_seconds"):
        StorageSettings(url_expiry_seconds=7200, max_url_expiry_seconds=3600)


def test_expiry_over_seven_days_cannot_be_configured() -> None:
    with pytest.raises(ValidationError):
        StorageSettings(max_url_expiry_seconds=7 * 24 * 3600 + 1)


def test_placeholder_s3_secret_is_refused_outside_local() -> None:
    with pytest.raises(ValidationError, match="S3_SECRET_KEY"):
        StorageSettings(environment="production", s3_secret_key="minioadmin")


def test_variables_follow_the_process_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGO_URL", "mongodb://db:27017")
    monkeypatch.setenv("STORAGE_MONGO_DATABASE", "files_db")
    monkeypatch.setenv("S3_PUBLIC_ENDPOINT", "https://s3.example.com")
    monkeypatch.setenv("STORAGE_BUCKET", "uploads")
    monkeypatch.setenv("STORAGE_ALLOWED_CONTENT_TYPES", '["image/*"]')

    settings = StorageSettings()

    assert settings.mongo_url == "mongodb://db:27017"
    assert settings.mongo_database == "files_db"
    assert settings.public_endpoint == "https://s3.example.com"
    assert settings.bucket == "uploads"
    assert settings.allowed_content_types == ["image/*"]
