from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from common.tokens import TokenVerifier
from testkit.tokens import TokenSigner


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture(scope="session")
def other_signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
def verifier(signer: TokenSigner) -> TokenVerifier:
    return TokenVerifier(signer.keys(), issuer=signer.issuer, audience=signer.audience)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the session's private Valkey (`redis_url`), answering `str`."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()
