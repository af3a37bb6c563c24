"""MongoDB through Beanie over pymongo's async client."""

from collections.abc import Sequence

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient


def create_mongo_client(url: str) -> AsyncMongoClient[dict[str, object]]:
    """The client every service uses: aware datetimes, standard UUIDs, a 5 s server timeout."""
    return AsyncMongoClient(
        url, serverSelectionTimeoutMS=5000, tz_aware=True, uuidRepresentation="standard"
    )


async def init_mongo(
    url: str, database: str, documents: Sequence[type[Document]]
) -> AsyncMongoClient[dict[str, object]]:
    """Connect, register the Beanie documents and create their indexes."""
    client = create_mongo_client(url)
    await init_beanie(database=client[database], document_models=list(documents))
    return client


async def ping_mongo(client: AsyncMongoClient[dict[str, object]]) -> None:
    await client.admin.command("ping")
