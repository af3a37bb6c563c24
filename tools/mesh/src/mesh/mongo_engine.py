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
id, storage's file records by a UUID); every other write takes the engine's own path. A document
of plain values (`_encoded`) is also encoded for storage without mongoeco's repeated validation,
into the same text. Tested in
tools/mesh/tests/test_mongo_engine.py (which also notices if a mongoeco upgrade renames what is
overridden here).
"""

import datetime
import sqlite3
import uuid
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from mongoeco.core.bson_scalars import normalize_utc_bson_datetime
from mongoeco.core.codec import DocumentCodec, _InternalBsonArray, _InternalBsonDocument
from mongoeco.core.filtering import QueryEngine
from mongoeco.core.json_compat import json_dumps_compact
from mongoeco.core.operation_context import OperationContext
from mongoeco.core.paths import get_document_value, set_document_value
from mongoeco.core.query_plan import EqualsCondition
from mongoeco.core.update_array_operators import (
    expand_array_update_values,
    get_or_create_array_target,
)
from mongoeco.core.upserts import seed_upsert_document
from mongoeco.engines._sqlite_connection import sqlite_read_scope
from mongoeco.engines._sqlite_outbox import append_change
from mongoeco.engines._sqlite_write_scope import sqlite_write_scope
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.errors import PyMongoError

# Rows read per `IN (...)` query (SQLite's default limit on parameters is 32,766).
READ_CHUNK = 500
INT64 = 2**63
_SCALARS = (type(None), bool, float, str)
_DOCUMENTS = (dict, _InternalBsonDocument)
_ARRAYS = (list, _InternalBsonArray)


@dataclass(frozen=True, slots=True)
class KeyedUpdate:
    """One statement of a batched `update` command (`mesh.mongo_batch`): its operators in the
    order given, each with its top-level fields and plain values; `null_fields` must be null or
    missing for the document to match."""

    document_id: Any
    operators: tuple[tuple[str, dict[str, Any]], ...]
    upsert: bool = False
    null_fields: tuple[str, ...] = ()


@dataclass(slots=True)
class KeyedOutcome:
    matched: int = 0
    modified: int = 0
    upserted: list[tuple[int, Any]] = field(default_factory=list)


class _NotPlainError(Exception):
    """A value `DocumentCodec.encode` is left to encode."""


def _encoded(value: Any) -> Any:
    """`DocumentCodec.encode(value)` for documents of plain values (null, bool, int64, double,
    string, date, documents and arrays of them); `_NotPlainError` for anything else. mongoeco's
    encoder validates every subdocument's whole subtree again at each level, a third of the
    batch's server CPU for run records."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is int:
        if -INT64 <= value < INT64:
            return value
        raise _NotPlainError
    if kind is datetime.datetime:
        return DocumentCodec._tagged_value(
            "datetime", normalize_utc_bson_datetime(value).isoformat()
        )
    if kind in _ARRAYS:
        return [_encoded(item) for item in value]
    if kind in _DOCUMENTS:
        fields = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlainError
            fields[key] = _encoded(item)
        if DocumentCodec._is_tagged_value(fields):
            return DocumentCodec._tagged_value("dict", fields)
        return fields
    raise _NotPlainError


class NotBatchableError(Exception):
    """A statement only mongoeco's own path runs right (it would fail): the batch rolls back."""


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

    def _collection_exists_sync(
        self, conn: sqlite3.Connection, db_name: str, coll_name: str
    ) -> bool:
        # mongoeco asks the same with a UNION, which SQLite computes in full before its LIMIT:
        # a row per stored document, on every batched write (40 % of the server's CPU per run
        # record at 100,000 stored). EXISTS stops at the first row.
        key = (db_name, coll_name)
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM collections WHERE db_name = ? AND coll_name = ?)"
            " OR EXISTS (SELECT 1 FROM documents WHERE db_name = ? AND coll_name = ?)"
            " OR EXISTS (SELECT 1 FROM indexes WHERE db_name = ? AND coll_name = ?)"
            " OR EXISTS (SELECT 1 FROM search_indexes WHERE db_name = ? AND coll_name = ?)",
            key * 4,
        ).fetchone()
        return bool(row[0])

    def _serialize_document(self, document: Any) -> str:
        try:
            return json_dumps_compact(_encoded(document), sort_keys=False)
        except _NotPlainError:
            return super()._serialize_document(document)

    async def apply_keyed_updates(
        self,
        db_name: str,
        coll_name: str,
        updates: list[KeyedUpdate],
        *,
        dialect: Any,
        change_context: OperationContext,
    ) -> KeyedOutcome | None:
        """Apply `updates` in order in one transaction, committed before returning; None (and
        nothing written) when the collection or a statement needs mongoeco's own path
        (`mesh.mongo_batch`)."""
        outcome: KeyedOutcome | None = await self._run_blocking(  # type: ignore[no-untyped-call]
            self._apply_keyed_updates_sync, db_name, coll_name, updates, dialect, change_context
        )
        return outcome

    def _apply_keyed_updates_sync(
        self,
        db_name: str,
        coll_name: str,
        updates: list[KeyedUpdate],
        dialect: Any,
        change_context: OperationContext,
    ) -> KeyedOutcome | None:
        with self._lock:
            conn = self._require_connection(None)
            with self._bind_connection(conn):
                try:
                    with sqlite_write_scope(
                        conn,
                        begin_write=lambda current: self._begin_write(current, None),
                        commit_write=lambda current: self._commit_write(current, None),
                        rollback_write=lambda current: self._rollback_write(current, None),
                    ):
                        return self._apply_keyed_updates(
                            conn, db_name, coll_name, updates, dialect, change_context
                        )
                except NotBatchableError:
                    pass
        return None

    def _apply_keyed_updates(
        self,
        conn: sqlite3.Connection,
        db_name: str,
        coll_name: str,
        updates: list[KeyedUpdate],
        dialect: Any,
        change_context: OperationContext,
    ) -> KeyedOutcome:
        if not self._collection_exists_sync(conn, db_name, coll_name):
            raise NotBatchableError  # mongoeco's path creates it
        if self._collection_options_or_empty_sync(conn, db_name, coll_name):
            raise NotBatchableError  # a validator, a capped collection, ...
        indexes = self._load_indexes(db_name, coll_name)
        if any(
            (index.unique and index.name != "_id_") or index.expire_after_seconds is not None
            for index in indexes
        ) or self._load_search_index_rows(db_name, coll_name):
            raise NotBatchableError
        keys = list(dict.fromkeys(self._storage_key(u.document_id) for u in updates))
        documents: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), READ_CHUNK):
            chunk = keys[start : start + READ_CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, text in conn.execute(
                "SELECT storage_key, document FROM documents"  # noqa: S608 - only "?" marks
                f" WHERE db_name = ? AND coll_name = ? AND storage_key IN ({marks})",
                (db_name, coll_name, *chunk),
            ):
                documents[key] = self._deserialize_document(text)
        stored = set(documents)
        changed: set[str] = set()
        outcome = KeyedOutcome()
        try:
            for index, update in enumerate(updates):
                key = self._storage_key(update.document_id)
                if key in changed:
                    # Changed earlier in this batch: as mongoeco's next statement would read it
                    # back (its operators tell a change by type, and hold values immutable).
                    documents[key] = self._deserialize_document(
                        self._serialize_document(documents[key])
                    )
                document = documents.get(key)
                if document is None:
                    if update.upsert:
                        document = {}
                        seed_upsert_document(document, {"_id": update.document_id})
                        _apply(document, update, dialect, inserting=True)
                        documents[key] = document
                        changed.add(key)
                        outcome.upserted.append((index, document["_id"]))
                    continue
                if not _matches_nulls(document, update.null_fields):
                    continue
                outcome.matched += 1
                if _apply(document, update, dialect, inserting=False):
                    outcome.modified += 1
                    changed.add(key)
        except PyMongoError as error:
            raise NotBatchableError from error
        if not changed:
            return outcome
        rows = [
            (self._serialize_document(documents[key]), db_name, coll_name, key) for key in changed
        ]
        conn.executemany(
            "UPDATE documents SET document = ?"
            " WHERE db_name = ? AND coll_name = ? AND storage_key = ?",
            [row for row in rows if row[3] in stored],
        )
        conn.executemany(
            "INSERT INTO documents (document, db_name, coll_name, storage_key) VALUES (?, ?, ?, ?)",
            [row for row in rows if row[3] not in stored],
        )
        for key in changed:
            self._rebuild_multikey_entries_for_document(
                conn, db_name, coll_name, key, documents[key], indexes
            )
            self._rebuild_scalar_entries_for_document(
                conn, db_name, coll_name, key, documents[key], indexes
            )
        self._invalidate_collection_features_cache(db_name, coll_name)
        # mongoeco records a gap per write while no change stream listens; one for the batch
        # tells a resumed stream the same (it cannot resume across these writes).
        append_change(
            conn,
            context=change_context,
            operation_type="update",
            db_name=db_name,
            coll_name=coll_name,
            document_key={},
            full_document=None,
            serialize_document=self._serialize_document,
            max_entries=self._change_outbox_max_entries,
        )
        return outcome


def _matches_nulls(document: dict[str, Any], null_fields: tuple[str, ...]) -> bool:
    for name in null_fields:
        value = document.get(name)
        if isinstance(value, list):
            raise NotBatchableError  # {field: null} against an array: mongoeco's matcher
        if value is not None:
            return False
    return True


def _apply(document: dict[str, Any], update: KeyedUpdate, dialect: Any, *, inserting: bool) -> bool:
    """Apply the operators as mongoeco's do (its own path helpers), fields in the dialect's
    order; True if the document changed."""
    modified = False
    for operator, fields in update.operators:
        for name, value in dialect.policy.sort_update_path_items(fields):
            if operator == "$set" or (operator == "$setOnInsert" and inserting):
                modified = set_document_value(document, name, deepcopy(value)) or modified
            elif operator == "$min":
                found, current = get_document_value(document, name)
                if isinstance(current, (dict, list)):
                    raise NotBatchableError
                if not found or dialect.policy.compare_values(current, value) > 0:
                    modified = set_document_value(document, name, deepcopy(value)) or modified
            elif operator == "$addToSet":
                modified = _add_to_set(document, name, value, dialect) or modified
    return modified


def _add_to_set(document: dict[str, Any], name: str, value: Any, dialect: Any) -> bool:
    values = expand_array_update_values("$addToSet", value)
    current, created = get_or_create_array_target(document, name, operator_name="$addToSet")
    if created:
        unique: list[Any] = []
        for candidate in values:
            if not any(
                QueryEngine._values_equal(e, candidate, dialect=dialect, collation=None)
                for e in unique
            ):
                unique.append(candidate)
        return bool(set_document_value(document, name, unique))
    modified = False
    for candidate in values:
        if any(
            QueryEngine._values_equal(e, candidate, dialect=dialect, collation=None)
            for e in current
        ):
            continue
        current.append(candidate)
        modified = True
    return modified
