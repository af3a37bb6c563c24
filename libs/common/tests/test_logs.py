"""JSON logs: one object per line, carrying the service and the request id."""

import json
import logging

import pytest

from common.logs import JsonFormatter, TextFormatter, request_id_var


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("svc.module", logging.INFO, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_a_json_line_carries_service_request_id_and_extra_fields() -> None:
    token = request_id_var.set("req-9")
    try:
        line = JsonFormatter("auth").format(record("login ok", user_id="u1"))
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["service"] == "auth"
    assert entry["request_id"] == "req-9"
    assert entry["msg"] == "login ok"
    assert entry["user_id"] == "u1"
    assert entry["level"] == "info"


def test_exceptions_are_kept_in_the_log_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        rec.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter("svc").format(rec))
    assert "ValueError: boom" in entry["exc"]


def test_text_format_is_for_people_and_still_names_the_request() -> None:
    token = request_id_var.set("req-1")
    try:
        line = TextFormatter("rbac").format(record("hello"))
    finally:
        request_id_var.reset(token)
    assert "rbac" in line
    assert line.endswith("[request_id=req-1]")


def test_s3_endpoints_must_be_http_urls() -> None:
    from common.s3 import create_s3

    client = create_s3("http://127.0.0.1:8333", "key", "secret-value", "us-east-1")
    assert client._base_url.host == "127.0.0.1:8333"
    for bad in ("127.0.0.1:8333", "ftp://host", "http://"):
        with pytest.raises(ValueError, match="S3 endpoint"):
            create_s3(bad, "key", "secret-value", "us-east-1")
