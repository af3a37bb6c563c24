import pytest

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
