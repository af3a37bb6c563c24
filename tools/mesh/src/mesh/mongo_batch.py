"""One `update` command of writes by `_id` applied as one SQLite transaction.

Measured ([perf-tasks], profiled with py-spy): mongoeco runs each statement of an `update`
command through its whole single-write path: the update compiled anew, one hand-off to the
engine's thread, one SQLite transaction, then the change-stream outbox dispatched (a lease taken
and released, a heartbeat thread started and joined, a checkpoint committed). That is 3-7 ms per
statement on a loaded machine, so run history's 500-run `bulk_write`s took 1.5-3.5 s each.

`BatchingProxyServer` answers an `update` command whose every statement is a plain write by an
exact `_id` (what the worker's run history sends) itself: on the engine's thread once, in one
transaction, with mongoeco's own update operators, storage format and index maintenance
(`KeyedSQLiteEngine.apply_keyed_updates`), committed before the reply. Anything else, and any
statement that would fail, goes through mongoeco's own path unchanged:

- the shape: statements `{q: {_id: <string, ObjectId or UUID>}, u: {<operator>: {<field>:
  <value>}}, upsert, multi: false}` with `$set`, `$setOnInsert`, `$addToSet` (one value) and
  `$min` on top-level fields, values of plain BSON types (null, bool, int32, double, string,
  date, documents and arrays of them); `q` may add `<field>: null` to a non-upsert. No
  transaction, acknowledged, no `let`, `hint`, `collation`, `arrayFilters` or `maxTimeMS`;
- the collection: it exists, has no options (validator, capped, ...), no unique or TTL index
  besides `_id`, no search index;
- no change stream listening (then mongoeco's path emits every event as it does), and no fail
  point ever configured on the server;
- a statement that would fail (`$addToSet` on a non-array, a `$min` between documents or arrays,
  a null condition against an array) rolls the whole transaction back and the command is run by
  mongoeco from its first statement, so errors, ordered and unordered semantics are exactly
  mongoeco's.

With no change stream listening mongoeco records one outbox gap per write; the batch records one
gap for the command, so a change stream resumed from before it still reports the gap.
Tested against mongoeco's own path in tools/mesh/tests/test_mongo_batch.py.
"""

import datetime
import uuid
from typing import Any

from bson import ObjectId
from mongoeco.core.bson_scalars import normalize_utc_bson_datetime
from mongoeco.core.codec import DocumentCodec
from mongoeco.core.operation_context import ChangePublicationPolicy
from mongoeco.wire.executor import WireCommandExecutor
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer
from mongoeco.wire.requests import WireRequestContext

from mesh.mongo_engine import KeyedSQLiteEngine, KeyedUpdate

OPERATORS = frozenset({"$set", "$setOnInsert", "$addToSet", "$min"})
COMMAND_KEYS = frozenset({"update", "updates", "ordered", "writeConcern", "comment"})
STATEMENT_KEYS = frozenset({"q", "u", "upsert", "multi"})
# Plain values: what `DocumentCodec` stores untagged, plus dates.
SCALARS = (type(None), bool, float, str)
INT32 = 2**31


def _exact_id(value: object) -> bool:
    # (mongoeco's wire ObjectId is a `bson.ObjectId`.)
    return isinstance(value, (str, ObjectId, uuid.UUID))


def _field(name: object) -> bool:
    return (
        isinstance(name, str)
        and name != ""
        and name != "_id"
        and not name.startswith("$")
        and "." not in name
        and "\x00" not in name
    )


_NOT_PLAIN: Any = object()


def _plain(value: Any) -> Any:
    """`value` with its dates normalized as mongoeco stores them, or `_NOT_PLAIN`."""
    kind = type(value)
    if kind is int:
        return value if -INT32 <= value < INT32 else _NOT_PLAIN
    if kind in SCALARS:
        return value
    if kind is datetime.datetime:
        return normalize_utc_bson_datetime(value)
    if kind is list:
        items = [_plain(item) for item in value]
        return _NOT_PLAIN if any(item is _NOT_PLAIN for item in items) else items
    if kind is dict:
        fields = {}
        for key, item in value.items():
            plain = _plain(item)
            if not _field(key) or plain is _NOT_PLAIN:
                return _NOT_PLAIN
            fields[key] = plain
        return fields
    return _NOT_PLAIN


def _statement(spec: object) -> KeyedUpdate | None:
    if not isinstance(spec, dict) or not set(spec) <= STATEMENT_KEYS:
        return None
    query, update = spec.get("q"), spec.get("u")
    upsert = spec.get("upsert", False)
    if spec.get("multi", False) is not False or not isinstance(upsert, bool):
        return None
    if not isinstance(query, dict) or not _exact_id(query.get("_id")):
        return None
    null_fields = tuple(name for name in query if name != "_id")
    if null_fields and (upsert or not all(_field(n) and query[n] is None for n in null_fields)):
        return None
    if not isinstance(update, dict) or not update:
        return None
    seen: set[str] = set()
    operators: list[tuple[str, dict[str, Any]]] = []
    for operator, fields in update.items():
        if operator not in OPERATORS or not isinstance(fields, dict) or not fields:
            return None
        plain_fields: dict[str, Any] = {}
        for name, value in fields.items():
            plain = _plain(value)
            if not _field(name) or name in seen or plain is _NOT_PLAIN:
                return None
            if operator == "$addToSet" and isinstance(value, dict):
                return None  # `$each` and documents: mongoeco's path
            seen.add(name)
            # As mongoeco holds command values (`DocumentCodec.to_internal`): its update
            # operators tell a change by type too.
            plain_fields[name] = DocumentCodec.mark_internal(plain)
        operators.append((operator, plain_fields))
    return KeyedUpdate(query["_id"], tuple(operators), upsert=upsert, null_fields=null_fields)


def keyed_updates(command: dict[str, Any]) -> list[KeyedUpdate] | None:
    """The statements of an `update` command the batch applies, or None for mongoeco's path."""
    if not set(command) <= COMMAND_KEYS or not isinstance(command.get("update"), str):
        return None
    if not isinstance(command.get("ordered", True), bool):
        return None
    concern = command.get("writeConcern", {})
    if not isinstance(concern, dict) or not set(concern) <= {"w", "j", "wtimeout"}:
        return None
    if concern.get("w", 1) in (0, False) or concern.get("j") not in (None, True, False):
        return None
    specs = command.get("updates")
    if not isinstance(specs, list) or not specs:
        return None
    statements = [_statement(spec) for spec in specs]
    if any(statement is None for statement in statements):
        return None
    return [s for s in statements if s is not None]


class BatchingCommandExecutor(WireCommandExecutor):
    def __init__(self, *args: Any, engine: KeyedSQLiteEngine, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._engine = engine
        self._fail_points_used = False

    async def execute_prepared(self, context: WireRequestContext) -> dict[str, Any]:
        if context.command_name == "configureFailPoint":
            # A fail point acts inside mongoeco's command path: from now on every command
            # takes it.
            self._fail_points_used = True
        elif context.command_name == "update" and not self._fail_points_used:
            reply = await self._batched_update(context)
            if reply is not None:
                return reply
        return await super().execute_prepared(context)

    async def _batched_update(self, context: WireRequestContext) -> dict[str, Any] | None:
        session = context.session
        if session is not None and (session.in_transaction or "txnNumber" in context.raw_body):
            return None
        updates = keyed_updates(context.command_document)
        if updates is None:
            return None
        self._auth.require_authenticated(context.connection, context.command_name)
        name = context.command_document["update"]
        try:
            collection = self._client.get_database(context.db_name).get_collection(name)
        except Exception:
            return None  # an invalid name: mongoeco's path answers it
        if collection._should_publish_change_events(session=None):
            return None
        runtime = collection._runtime
        change_context = collection._new_operation_context(
            publication=ChangePublicationPolicy.RECORD_GAP, change_operation_type="update"
        )
        runtime._prepare_engine_change_delivery(change_context)
        outcome = await self._engine.apply_keyed_updates(
            context.db_name,
            name,
            updates,
            dialect=collection._mongodb_dialect,
            change_context=change_context,
        )
        if outcome is None:
            return None
        runtime._dispatch_engine_changes(change_context)
        reply: dict[str, Any] = {"n": outcome.matched + len(outcome.upserted), "ok": 1.0}
        reply["nModified"] = outcome.modified
        if outcome.upserted:
            reply["upserted"] = [{"index": i, "_id": key} for i, key in outcome.upserted]
        return reply


class BatchingProxyServer(AsyncMongoEcoProxyServer):
    """mongoeco's wire server with `update` commands of keyed writes batched (module doc)."""

    def __init__(self, *, engine: KeyedSQLiteEngine, host: str, port: int) -> None:
        super().__init__(engine=engine, host=host, port=port)
        self._executor = BatchingCommandExecutor(
            self._client,
            self._cursor_store,
            self._session_store,
            surface=self._surface,
            auth=self._auth,
            engine=engine,
        )
