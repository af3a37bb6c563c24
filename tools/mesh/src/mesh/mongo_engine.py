"""mongoeco's SQLite engine without two whole-collection scans on writes keyed by `_id`.

Measured (MEASUREMENTS.md, [perf-tasks]): a new document costs time proportional to the documents
already stored, so run history slowed from 60 writes/s empty to 0.5/s at 20,000 documents:

- `insert` checks a new `_id` against every stored document, loading and decoding each one
  (`_validate_document_against_unique_indexes(scan_payload_id=True)`). The scan exists for
  numeric ids, where 1, 1.0 and Int64(1) are one `_id` under different storage keys. For a
  string, an ObjectId or a UUID the storage key is exact, and the engine's own indexed lookup of
  that key, done just before the scan, already answers.
- An upsert (or update) by `_id` whose document does not exist yet finds nothing through the
  engine's indexed `_id` lookup and then falls back to compiling a general query, which scans the
  collection several times (`json_extract` probes for decimal and array values, then the query).
  For such an `_id` the indexed lookup's "not there" is the answer.

Both shortcuts apply only to string, ObjectId and UUID `_id`s (run history is keyed by the task
id, storage's file records by a UUID); every other write takes the engine's own path. Tested in
tools/mesh/tests/test_mongo_engine.py (which also notices if a mongoeco upgrade renames what is
overridden here).
"""

import uuid
from typing import Any

from bson import ObjectId
from mongoeco.core.query_plan import EqualsCondition
from mongoeco.engines._sqlite_connection import sqlite_read_scope
from mongoeco.engines.sqlite import SQLiteEngine


def _exact_id(value: object) -> bool:
    """An `_id` whose storage key is its only equal: no numeric aliases. (A UUID arrives from
    the wire as `uuid.UUID`: storage's file records are keyed by one.)"""
    return isinstance(value, (str, ObjectId, uuid.UUID))


class KeyedSQLiteEngine(SQLiteEngine):
    def _validate_document_against_unique_indexes(
        self,
        db_name: str,
        coll_name: str,
        document: Any,
        *,
        exclude_storage_key: str | None = None,
        skip_id_check: bool = False,
        scan_payload_id: bool = False,
    ) -> None:
        if scan_payload_id and _exact_id(document.get("_id")):
            scan_payload_id = False
        super()._validate_document_against_unique_indexes(
            db_name,
            coll_name,
            document,
            exclude_storage_key=exclude_storage_key,
            skip_id_check=skip_id_check,
            scan_payload_id=scan_payload_id,
        )

    def _select_first_document_for_plan(
        self,
        db_name: str,
        coll_name: str,
        plan: Any,
        *,
        hint: Any = None,
        context: Any = None,
    ) -> Any:
        if (
            hint is None
            and isinstance(plan, EqualsCondition)
            and plan.field == "_id"
            and _exact_id(plan.value)
        ):
            conn = self._require_connection(context)
            with self._bind_connection(conn), sqlite_read_scope(conn):
                row = conn.execute(
                    "SELECT 1 FROM documents"
                    " WHERE db_name = ? AND coll_name = ? AND storage_key = ?",
                    (db_name, coll_name, self._storage_key(plan.value)),
                ).fetchone()
            if row is None:
                return None
        return super()._select_first_document_for_plan(
            db_name, coll_name, plan, hint=hint, context=context
        )
