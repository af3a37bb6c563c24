"""Beanie over pymongo's async client, against the embedded MongoDB-wire server."""

from datetime import UTC, datetime

from beanie import Document
from pydantic import Field

from common.mongo import init_mongo, ping_mongo


class Note(Document):
    owner_id: str
    body: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    class Settings:
        name = "common_test_notes"


async def test_documents_round_trip_through_beanie(mongo_url: str) -> None:
    client = await init_mongo(mongo_url, "common_test", [Note])
    try:
        await ping_mongo(client)
        await Note(owner_id="u1", body="hello").insert()
        await Note(owner_id="u2", body="other").insert()
        mine = await Note.find(Note.owner_id == "u1").to_list()
        assert [n.body for n in mine] == ["hello"]
        assert mine[0].created_at.tzinfo is not None
    finally:
        await client.close()
