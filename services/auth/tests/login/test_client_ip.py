from ipaddress import ip_network

import pytest
from starlette.requests import Request

from auth.login.client_ip import client_ip, rate_limit_subject

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


@pytest.mark.parametrize(
    ("ip", "subject"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),  # IPv4 reached over an IPv6 socket
        ("testclient", "testclient"),
        ("", ""),
    ],
)
def test_rate_limits_count_an_ipv4_address_or_an_ipv6_64(ip: str, subject: str) -> None:
    assert rate_limit_subject(ip) == subject
