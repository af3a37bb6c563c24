"""The embedded server's engine writes string-, ObjectId- and UUID-keyed documents without
reading the rest of the collection, and stays right: duplicates refused, numeric ids still
compared by value."""

import datetime
import uuid
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from mongoeco import MongoClient
from mongoeco.core.codec import DocumentCodec
from mongoeco.engines.sqlite import SQLiteEngine
from pymongo.errors import DuplicateKeyError

from mesh.mongo_engine import KeyedSQLiteEngine

STORED = 50


class Scans:
    """Counts the engine's whole-collection reads: documents loaded for a unique check, and the
    `json_extract` probes a general query plan makes."""

    def __init__(self) -> None:
        self.loads = 0
        self.probes = 0


def counting(base: type[SQLiteEngine], scans: Scans) -> type[SQLiteEngine]:
    class Counting(base):  # type: ignore[misc, valid-type]
        def _load_documents(self, *args: Any, **kwargs: Any) -> Any:
            scans.loads += 1
            return super()._load_documents(*args, **kwargs)

        def _field_contains_tagged_value_type_in_collection(self, *args: Any) -> bool:
            scans.probes += 1
            return bool(super()._field_contains_tagged_value_type_in_collection(*args))

    return Counting


@pytest.mark.parametrize(("base", "scanning"), [(KeyedSQLiteEngine, False), (SQLiteEngine, True)])
def test_writes_by_a_string_id_read_no_other_document(
    base: type[SQLiteEngine], scanning: bool, tmp_path: Path
) -> None:
    scans = Scans()
    client: MongoClient = MongoClient(engine=counting(base, scans)(str(tmp_path / "m.sqlite3")))
    try:
        runs = client.db.runs
        runs.insert_many([{"_id": f"stored-{i}", "n": i} for i in range(STORED)])
        scans.loads = scans.probes = 0

        runs.insert_one({"_id": "new", "n": -1})
        runs.update_one({"_id": "upserted"}, {"$set": {"n": -2}}, upsert=True)
        runs.update_one({"_id": "stored-3"}, {"$inc": {"n": 100}}, upsert=True)
        runs.update_one({"_id": ObjectId()}, {"$set": {"n": -3}}, upsert=True)
        # Storage's file records: a UUID `_id`, inserted.
        file_id = uuid.uuid4()
        runs.insert_one({"_id": file_id, "n": -4})

        assert (scans.loads + scans.probes > 0) is scanning
        assert runs.count_documents({}) == STORED + 4
        assert (runs.find_one({"_id": "upserted"}) or {})["n"] == -2
        assert (runs.find_one({"_id": "stored-3"}) or {})["n"] == 103
        with pytest.raises(DuplicateKeyError):
            runs.insert_one({"_id": "new"})
        with pytest.raises(DuplicateKeyError):
            runs.insert_one({"_id": file_id})
    finally:
        client.close()


def test_numeric_ids_are_still_compared_by_value(tmp_path: Path) -> None:
    client: MongoClient = MongoClient(engine=KeyedSQLiteEngine(str(tmp_path / "m.sqlite3")))
    try:
        runs = client.db.runs
        runs.insert_one({"_id": 1, "n": 1})
        with pytest.raises(DuplicateKeyError):
            runs.insert_one({"_id": 1.0})
        runs.update_one({"_id": 1.0}, {"$set": {"n": 2}}, upsert=True)
        assert runs.count_documents({}) == 1
        assert (runs.find_one({"_id": 1}) or {})["n"] == 2
    finally:
        client.close()


DOCUMENTS: list[dict[str, Any]] = [
    # A run record, as the worker's writes leave it.
    {
        "_id": "3f1c",
        "task_id": "3f1c",
        "task": "demo.add",
        "periodic_task_id": None,
        "state": "SUCCESS",
        "args": [1, 2],
        "kwargs": {"a": [1.5, True, None]},
        "started_at": datetime.datetime(2026, 11, 30, 12, 0, 0, 123456),
        "finished_at": datetime.datetime(2026, 11, 30, 13, 0, 1, 5000, tzinfo=datetime.UTC),
        "starts": ["k1", "k2"],
        "runtime_ms": 0.5,
        "result": 2**40,
        "error": "lone \udc80 surrogate",
    },
    # Fields that look like mongoeco's own tags, NaN, the int64 edges, empty containers.
    {"_id": "t", "a": {"$mongoeco": {"type": "int32", "value": 1}}, "b": {"$mongoeco": 1}},
    {"_id": "n", "nan": float("nan"), "inf": float("-inf"), "lo": -(2**63), "hi": 2**63 - 1},
    {"_id": "e", "list": [], "doc": {}, "nested": [[{"x": [None]}]]},
    # Beyond the plain values: mongoeco's encoder, so the same result or the same error.
    {"_id": ObjectId("65a1b2c3d4e5f60718293a4b"), "id": uuid.UUID(int=7), "raw": b"\x00"},
    {"_id": "big", "n": 2**63},
    {"_id": "tuple", "t": (1, 2), "s": {"x": frozenset()}},
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d["_id"]))
def test_documents_are_stored_as_mongoeco_stores_them(
    document: dict[str, Any], tmp_path: Path
) -> None:
    keyed = KeyedSQLiteEngine(str(tmp_path / "k.sqlite3"))
    reference = SQLiteEngine(str(tmp_path / "r.sqlite3"))
    try:
        expected = reference._serialize_document(document)
    except Exception as error:
        with pytest.raises(type(error)):
            keyed._serialize_document(document)
        return
    assert keyed._serialize_document(document) == expected
    # And as mongoeco holds values inside the engine (immutable documents and arrays).
    internal = DocumentCodec.mark_internal(document)
    assert keyed._serialize_document(internal) == reference._serialize_document(internal)


def _exists(engine: SQLiteEngine, name: str) -> bool:
    conn = engine._require_connection(None)
    return bool(engine._collection_exists_sync(conn, "db", name))


def test_a_collection_exists_as_mongoeco_says_without_reading_its_documents(
    tmp_path: Path,
) -> None:
    keyed = KeyedSQLiteEngine(str(tmp_path / "k.sqlite3"))
    reference = SQLiteEngine(str(tmp_path / "r.sqlite3"))
    steps: list[int] = []
    for engine in (keyed, reference):
        client: MongoClient = MongoClient(engine=engine)
        db = client.db
        db.create_collection("created")
        db.indexed.create_index("n")
        db.few.insert_many([{"_id": f"r{i}", "n": i} for i in range(10)])
        db.many.insert_many([{"_id": f"r{i}", "n": i} for i in range(2000)])
        db.dropped.insert_one({"_id": "x"})
        db.dropped.drop()
        names = ["created", "indexed", "few", "many", "dropped", "never"]
        assert [_exists(engine, n) for n in names] == [True, True, True, True, False, False]
        if engine is keyed:
            # The same work for 10 stored documents as for 2,000 (SQLite's VM steps).
            conn = engine._require_connection(None)
            for name in ("few", "many"):
                counted = [0]

                def count(counted: list[int] = counted) -> int:
                    counted[0] += 1
                    return 0

                conn.set_progress_handler(count, 1)
                _exists(engine, name)
                conn.set_progress_handler(None, 1)
                steps.append(counted[0])
        client.close()
    assert steps[0] == steps[1]
