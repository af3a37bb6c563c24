"""The client's IP: `X-Forwarded-For` counts only when the direct peer is a trusted proxy."""

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.requests import Request

Network = IPv4Network | IPv6Network


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_ip(request: Request, trusted_proxies: Sequence[Network]) -> str:
    peer = request.client.host if request.client else ""
    current = _parse(peer)
    if current is None or not _trusted(current, trusted_proxies):
        return peer
    hops = request.headers.get("x-forwarded-for", "").split(",")
    # Walk back from the nearest hop; the first address not vouched for by a trusted proxy is
    # the client. Anything a client wrote further left is not believed.
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted_proxies):
            break
    return str(current)


# One host (or household) is routinely given a whole /64 and can rotate through it at will.
IPV6_SUBJECT_PREFIX = 64


def rate_limit_subject(ip: str) -> str:
    """What the per-address limits count: an IPv4 address as is, an IPv6 address as its /64.

    An IPv4-mapped IPv6 address counts as the IPv4 address it carries; anything that is not an
    address (a test client's name) is counted as written.
    """
    address = _parse(ip)
    if address is None:
        return ip
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(IPv6Network((address, IPV6_SUBJECT_PREFIX), strict=False))
    return str(address)
