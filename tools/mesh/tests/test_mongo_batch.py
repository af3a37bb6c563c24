"""An `update` command of writes by `_id` is one transaction on the embedded server, and clients
see exactly what mongoeco's own path gives them: the same replies, documents, index lookups,
errors (ordered and unordered), and the write committed before the reply. (The wire server
refuses `$changeStream`, so no client of it can watch a collection.)

Each test runs the same commands, through pymongo, against the batching server and against
mongoeco's plain wire server on the same engine class (the reference)."""

import asyncio
import datetime
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer
from pymongo import ASCENDING, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from mesh.launch import running
from mesh.mongo import mongo_launch, mongo_url
from mesh.mongo_batch import BatchingProxyServer
from mesh.mongo_engine import KeyedOutcome, KeyedSQLiteEngine
from mesh.net import free_port

Client = MongoClient[dict[str, Any]]
NOW = datetime.datetime(2026, 11, 30, 12, 0, 0, 123000)


class CountingEngine(KeyedSQLiteEngine):
    """Counts the commands the batch applied and the ones it handed back to mongoeco."""

    batched = 0
    handed_back = 0

    async def apply_keyed_updates(self, *args: Any, **kwargs: Any) -> KeyedOutcome | None:
        outcome = await super().apply_keyed_updates(*args, **kwargs)
        if outcome is None:
            self.handed_back += 1
        else:
            self.batched += 1
        return outcome


@contextmanager
def wire_server(server: AsyncMongoEcoProxyServer) -> Iterator[Client]:
    """`server` on its own event loop thread; a client of it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        address = asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
        client: Client = MongoClient(address.uri, uuidRepresentation="standard")
        try:
            yield client
        finally:
            client.close()
            asyncio.run_coroutine_threadsafe(server.close(), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def engine(tmp_path: Path) -> CountingEngine:
    return CountingEngine(str(tmp_path / "batched.sqlite3"))


@pytest.fixture
def batched(engine: CountingEngine) -> Iterator[Client]:
    with wire_server(BatchingProxyServer(engine=engine, host="127.0.0.1", port=0)) as client:
        yield client


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[Client]:
    engine = KeyedSQLiteEngine(str(tmp_path / "reference.sqlite3"))
    with wire_server(AsyncMongoEcoProxyServer(engine=engine, host="127.0.0.1", port=0)) as client:
        yield client


def runs(client: Client) -> Collection[dict[str, Any]]:
    collection = client.scheduler.task_runs
    collection.create_index([("task_id", ASCENDING)])
    collection.create_index([("state", ASCENDING), ("worker_id", ASCENDING)])
    return collection


def stored(collection: Collection[dict[str, Any]]) -> list[list[tuple[str, Any]]]:
    """Every document, fields in stored order."""
    return [list(d.items()) for d in collection.find().sort("_id", ASCENDING)]


def started(run_id: str, key: str, worker: str = "w:1") -> UpdateOne:
    return UpdateOne(
        {"_id": run_id},
        {
            "$min": {"queued_at": NOW},
            "$set": {
                "task": "demo.add",
                "state": "STARTED",
                "args": [1, 2],
                "kwargs": {},
                "started_at": NOW,
                "worker_id": worker,
                "finished_at": None,
                "error": None,
                "result": None,
            },
            "$addToSet": {"starts": key},
            "$setOnInsert": {"task_id": run_id},
        },
        upsert=True,
    )


def finished(run_id: str, state: str = "SUCCESS", result: Any = 3) -> UpdateOne:
    return UpdateOne(
        {"_id": run_id},
        {
            "$set": {
                "state": state,
                "result": result,
                "error": None,
                "finished_at": NOW + datetime.timedelta(seconds=1),
                "runtime_ms": 1.5,
            },
            "$setOnInsert": {"task_id": run_id, "task": "demo.add"},
        },
        upsert=True,
    )


def lost(run_id: str) -> UpdateOne:
    return UpdateOne(
        {"_id": run_id, "finished_at": None},
        {"$set": {"state": "LOST", "error": "worker process lost", "finished_at": NOW}},
    )


def both(batched: Client, reference: Client, operations: list[UpdateOne], **options: Any) -> Any:
    """Run one bulk_write on both servers; the replies (or errors) must be equal."""
    replies: list[Any] = []
    for client in (batched, reference):
        try:
            replies.append(runs(client).bulk_write(operations, **options).bulk_api_result)
        except BulkWriteError as error:
            replies.append(("error", error.details))
    assert replies[0] == replies[1]
    return replies[0]


def test_run_history_writes_are_one_batch_and_match_mongoeco(
    batched: Client, reference: Client, engine: CountingEngine
) -> None:
    ids = [f"run-{i}" for i in range(6)]
    both(batched, reference, [started(i, f"{i}-a") for i in ids])
    reply = both(
        batched,
        reference,
        [
            finished(ids[0]),
            finished(ids[1], "FAILURE", None),
            started(ids[2], f"{ids[2]}-a"),  # the same start again (mongoeco: modified)
            started(ids[3], f"{ids[3]}-b", worker="w:2"),  # redelivered: a second start
            lost(ids[4]),
            finished(ids[5]),
            lost(ids[5]),  # already finished: no match
            lost("never-started"),
            finished("finished-first"),  # an end before its start: upserted
            started("finished-first", "ff-a"),
        ],
    )
    assert (reply["nUpserted"], reply["nMatched"], reply["nModified"]) == (1, 7, 7)

    assert (engine.batched, engine.handed_back) == (2, 0)
    assert stored(runs(batched)) == stored(runs(reference))
    for query in (
        {"task_id": ids[3]},
        {"state": "STARTED", "worker_id": "w:2"},
        {"state": "LOST"},
        {"starts": f"{ids[3]}-b"},
    ):
        assert list(runs(batched).find(query)) == list(runs(reference).find(query))
        assert list(runs(batched).find(query))


def test_values_of_every_plain_type_are_stored_as_mongoeco_stores_them(
    batched: Client, reference: Client, engine: CountingEngine
) -> None:
    values: dict[str, Any] = {
        "none": None,
        "yes": True,
        "int": 7,
        "negative": -(2**31),
        "float": 1.0,
        "text": "z\u00e1\u0431\U0001f600",
        "micro": datetime.datetime(2026, 1, 2, 3, 4, 5, 678999),
        "nested": {"a": [1, {"b": None}], "c": {"d": "e"}},
        "empty": [],
        "mapping": {},
    }
    both(batched, reference, [UpdateOne({"_id": "v"}, {"$set": values}, upsert=True)])
    # The same values again change nothing; an int over a float, a date, `$min` do.
    reply = both(
        batched,
        reference,
        [
            UpdateOne({"_id": "v"}, {"$set": values}),
            UpdateOne({"_id": "v"}, {"$set": {"float": 1, "int": 7.0}}),
            UpdateOne({"_id": "v"}, {"$min": {"micro": NOW, "text": "a", "none": 1}}),
            UpdateOne({"_id": "v"}, {"$min": {"int": 3, "added": "x"}}),
            UpdateOne({"_id": "v"}, {"$addToSet": {"empty": 1}}),
            UpdateOne({"_id": "v"}, {"$addToSet": {"empty": 1.0}}),
        ],
    )
    assert reply["nMatched"] == 6
    assert engine.batched == 2
    assert stored(runs(batched)) == stored(runs(reference))


@pytest.mark.parametrize("ordered", [True, False])
def test_a_statement_that_fails_gives_mongoeco_s_errors_and_writes(
    batched: Client, reference: Client, engine: CountingEngine, ordered: bool
) -> None:
    both(
        batched,
        reference,
        [UpdateOne({"_id": "s"}, {"$set": {"starts": "not an array"}}, upsert=True)],
    )
    reply = both(
        batched,
        reference,
        [
            started("before", "b"),
            UpdateOne({"_id": "s"}, {"$addToSet": {"starts": "k"}}),  # not an array: fails
            started("after", "a"),
        ],
        ordered=ordered,
    )
    assert reply[0] == "error"
    assert reply[1]["writeErrors"][0]["index"] == 1
    assert engine.handed_back == 1
    assert stored(runs(batched)) == stored(runs(reference))
    assert (runs(batched).find_one({"_id": "after"}) is None) is ordered


def test_ids_written_in_a_batch_are_unique_for_later_inserts(
    batched: Client, engine: CountingEngine
) -> None:
    ids: list[Any] = ["r", uuid.uuid4(), ObjectId()]
    runs(batched).bulk_write([UpdateOne({"_id": i}, {"$set": {"n": 1}}, upsert=True) for i in ids])
    assert engine.batched == 1
    for document_id in ids:
        with pytest.raises(DuplicateKeyError):
            runs(batched).insert_one({"_id": document_id})
        assert (runs(batched).find_one({"_id": document_id}) or {}).get("n") == 1
    assert runs(batched).count_documents({}) == len(ids)


def test_a_batch_is_committed_before_its_reply(tmp_path: Path) -> None:
    port = free_port()
    with running(mongo_launch(tmp_path, port), tmp_path / "server.log") as proc:
        client: Client = MongoClient(mongo_url(port))
        runs(client).bulk_write([started(f"k-{i}", "a") for i in range(100)])
        client.close()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    port = free_port()
    with running(mongo_launch(tmp_path, port), tmp_path / "server2.log"):
        client = MongoClient(mongo_url(port))
        try:
            assert runs(client).count_documents({"state": "STARTED"}) == 100
        finally:
            client.close()
