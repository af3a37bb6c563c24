from ipaddress import ip_network

import pytest
from starlette.requests import Request

from auth.login.client_ip import client_ip

TRUSTED = [ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8")]


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # an untrusted peer cannot claim an IP
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the spoofed left part is ignored
        ("127.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"),  # through two trusted proxies
        ("127.0.0.1", "garbage, 198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "198.51.100.1, garbage", "127.0.0.1"),
        ("127.0.0.1", "10.0.0.5", "10.0.0.5"),  # only trusted hops: the farthest one
        ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str, forwarded: str | None, expected: str
) -> None:
    assert client_ip(_request(peer, forwarded), TRUSTED) == expected
