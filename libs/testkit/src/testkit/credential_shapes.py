"""Shapes of `Authorization` headers, and what the platform answers to each.

One table for every layer that reads credentials - a service's `CurrentUserDep`, rbac's decision,
the gateway end to end - so each is tested against the same shapes:

    @pytest.mark.parametrize("shape", HEADER_SHAPES, ids=str)
    async def test_...(shape: HeaderShape) -> None:
        headers = shape.headers(own_token, other_token)   # a list of (name, value) pairs
"""

from collections.abc import Callable
from dataclasses import dataclass

BASIC = "Basic dXNlcjpwYXNz"

Build = Callable[[str, str], list[str]]


@dataclass(frozen=True)
class HeaderShape:
    """`build(own, other)` gives the `Authorization` values to send, from the caller's token and
    another user's valid one. `refused_with` is the 401's code, or None when the request is
    accepted as the caller (`own`)."""

    name: str
    build: Build
    refused_with: str | None

    def headers(self, own: str, other: str) -> list[tuple[str, str]]:
        """Headers for httpx, one pair per value (a list keeps repeated names apart)."""
        return [("Authorization", value) for value in self.build(own, other)]

    def __str__(self) -> str:
        return self.name


def _shape(name: str, refused_with: str | None, build: Build) -> HeaderShape:
    return HeaderShape(name, build, refused_with)


MISSING = "missing_token"
MULTIPLE = "multiple_credentials"

HEADER_SHAPES: tuple[HeaderShape, ...] = (
    _shape("one bearer token", None, lambda own, _: [f"Bearer {own}"]),
    _shape("scheme in lower case", None, lambda own, _: [f"bearer {own}"]),
    _shape("no header", MISSING, lambda _own, _other: []),
    _shape("empty value", MISSING, lambda _own, _other: [""]),
    _shape("scheme without a token", MISSING, lambda _own, _other: ["Bearer"]),
    _shape("token without a scheme", MISSING, lambda own, _: [own]),
    _shape("basic credentials", MISSING, lambda _own, _other: [BASIC]),
    _shape(
        "two headers, caller first",
        MULTIPLE,
        lambda own, other: [f"Bearer {own}", f"Bearer {other}"],
    ),
    _shape(
        "two headers, caller last",
        MULTIPLE,
        lambda own, other: [f"Bearer {other}", f"Bearer {own}"],
    ),
    _shape("two headers, same token", MULTIPLE, lambda own, _: [f"Bearer {own}"] * 2),
    _shape("bearer and basic headers", MULTIPLE, lambda own, _: [f"Bearer {own}", BASIC]),
    _shape("basic and bearer headers", MULTIPLE, lambda own, _: [BASIC, f"Bearer {own}"]),
    _shape("folded by a proxy", MULTIPLE, lambda own, other: [f"Bearer {own}, Bearer {other}"]),
    _shape("folded without a space", MULTIPLE, lambda own, other: [f"Bearer {own},Bearer {other}"]),
    _shape("folded, caller last", MULTIPLE, lambda own, other: [f"Bearer {other}, Bearer {own}"]),
    _shape("basic folded before bearer", MULTIPLE, lambda own, _: [f"{BASIC}, Bearer {own}"]),
    _shape("two tokens after one scheme", MULTIPLE, lambda own, other: [f"Bearer {own} {other}"]),
    _shape(
        "a token list after one scheme", MULTIPLE, lambda own, other: [f"Bearer {own}, {other}"]
    ),
    _shape("trailing comma", MULTIPLE, lambda own, _: [f"Bearer {own},"]),
    _shape("token with a foreign character", "invalid_token", lambda own, _: [f"Bearer {own}!"]),
)
"""Every shape the platform refuses or accepts, in one place."""
