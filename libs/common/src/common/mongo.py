"""MongoDB through Beanie over pymongo's async client."""

from collections.abc import Sequence

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient


async def init_mongo(
    url: str, database: str, documents: Sequence[type[Document]]
) -> AsyncMongoClient[dict[str, object]]:
    """Connect, register the Beanie documents and create their indexes."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=5000, tz_aware=True, uuidRepresentation="standard"
    )
    await init_beanie(database=client[database], document_models=list(documents))
    return client


async def ping_mongo(client: AsyncMongoClient[dict[str, object]]) -> None:
    await client.admin.command("ping")
