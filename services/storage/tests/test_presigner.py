from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from minio import Minio

from storage.presigner import Credentials, Presigner

# The worked example of a presigned GET in the AWS Signature V4 documentation.
AWS_EXAMPLE = Credentials(
    access_key="AKIAIOSFODNN7EXAMPLE",
    secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    region="us-east-1",
)
AWS_EXAMPLE_SIGNATURE = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
MOMENT = datetime(2013, 5, 24, tzinfo=UTC)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_signature_matches_the_aws_documented_example() -> None:
    presigner = Presigner("https://examplebucket.s3.amazonaws.com", AWS_EXAMPLE)

    url = presigner.url("GET", "/test.txt", expires_seconds=86400, now=MOMENT)

    assert url.startswith("https://examplebucket.s3.amazonaws.com/test.txt?")
    assert _query(url)["X-Amz-Signature"] == AWS_EXAMPLE_SIGNATURE


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"partNumber": "7", "uploadId": "2~abc/def+=="},
        {"response-content-disposition": 'attachment; filename="a b.txt"'},
    ],
)
def test_host_only_signature_equals_the_minio_sdk_signature(query: dict[str, str]) -> None:
    credentials = Credentials("access", "secret-key", "eu-west-3")
    ours = Presigner("http://127.0.0.1:8333", credentials)
    sdk = Minio("127.0.0.1:8333", "access", "secret-key", secure=False, region="eu-west-3")

    url = ours.object_url(
        "PUT", "files", "objects/x y", expires_seconds=900, query=query, now=MOMENT
    )
    expected = sdk.get_presigned_url(
        "PUT",
        "files",
        "objects/x y",
        expires=timedelta(seconds=900),
        request_date=MOMENT,
        extra_query_params=dict(query),
    )

    assert _query(url) == _query(expected)
    assert urlsplit(url).path == urlsplit(expected).path


def test_signed_headers_are_listed_and_change_the_signature() -> None:
    presigner = Presigner("http://127.0.0.1:8333", Credentials("a", "b", "us-east-1"))

    plain = presigner.object_url("PUT", "files", "k", expires_seconds=60, now=MOMENT)
    pinned = presigner.object_url(
        "PUT", "files", "k", expires_seconds=60, headers={"Content-Type": "text/plain"}, now=MOMENT
    )

    assert _query(pinned)["X-Amz-SignedHeaders"] == "content-type;host"
    assert _query(plain)["X-Amz-Signature"] != _query(pinned)["X-Amz-Signature"]


def test_default_port_is_left_out_of_the_signed_host() -> None:
    credentials = Credentials("a", "b", "us-east-1")

    explicit = Presigner("https://s3.example.com:443", credentials)
    implicit = Presigner("https://s3.example.com", credentials)

    assert explicit.host == implicit.host == "s3.example.com"
    assert explicit.url("GET", "/b/k", expires_seconds=5, now=MOMENT) == implicit.url(
        "GET", "/b/k", expires_seconds=5, now=MOMENT
    )


@pytest.mark.parametrize("seconds", [0, 7 * 24 * 3600 + 1])
def test_expiry_outside_one_second_to_seven_days_is_refused(seconds: int) -> None:
    presigner = Presigner("http://127.0.0.1:8333", Credentials("a", "b", "us-east-1"))

    with pytest.raises(ValueError, match="7 days"):
        presigner.url("GET", "/b/k", expires_seconds=seconds)
