"""Writes to the run history: upserts keyed by `_id`, the Celery task id.

Upserts (never inserts) because the records of one run come from several places in any order:
the scheduler records a run it queued, the worker records its start and its end. Each write is a
plain `UpdateOne` by `_id`, so the worker can buffer them and send many in one ordered
`bulk_write` (the worker process's recorder), and replaying one (after a lost reply) changes
nothing.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import bson
from beanie import init_beanie
from bson.errors import BSONError
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from common.mongo import create_mongo_client
from tasks.runs import LEGACY_TASK_ID_INDEX, RunState, TaskRun

# What the store refuses for the data itself, not because it is unreachable: a write failing on
# one of these is that record's problem, never a reason to treat the server as down.
UNSTORABLE_ERRORS = (BSONError, OverflowError, UnicodeEncodeError)


INT64 = 2**63
# Nesting the plain check follows; deeper values take the encoders' own check.
PLAIN_DEPTH = 8


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether `value` is made only of what JSON and BSON both carry as it is (null, bool,
    float, an int64, an ASCII string, lists and documents of them with ASCII keys without
    NUL): what most arguments and results are, told without encoding them twice."""
    kind = type(value)
    if kind is str:
        return bool(value.isascii())
    if kind is int:
        return bool(-INT64 <= value < INT64)
    if kind is bool or kind is float or value is None:
        return True
    if depth >= PLAIN_DEPTH:
        return False
    if kind is list:
        return all(_plain(item, depth + 1) for item in value)
    if kind is dict:
        return all(
            type(key) is str and key.isascii() and "\x00" not in key and _plain(item, depth + 1)
            for key, item in value.items()
        )
    return False


def _storable(value: Any) -> bool:
    """Whether both the API (JSON) and the store (BSON) can carry `value` as it is.

    JSON alone is not enough: an integer beyond 64 bits, a lone surrogate or a NUL in a key
    passes JSON and fails BSON, and a failed write would lose the whole record.
    """
    if _plain(value):
        return True
    try:
        json.dumps(value)
        bson.encode({"value": value})
    # TypeError and ValueError are JSON's refusals.
    except (TypeError, ValueError, *UNSTORABLE_ERRORS):
        return False
    return True


def json_safe(value: Any) -> Any:
    """`value` if it can be stored as it is, else its ASCII repr: a result must never break the
    record."""
    return value if _storable(value) else ascii(value)


def _arguments(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The run's arguments for the record. Ones the store cannot hold are left out, so the run is
    still recorded, rather than stored in a shape the record's fields do not have."""
    fields: dict[str, Any] = {}
    if _storable(args):
        fields["args"] = args
    if _storable(kwargs):
        fields["kwargs"] = kwargs
    return fields


def _text_safe(text: str | None) -> str | None:
    """`text` with anything UTF-8 cannot encode (a lone surrogate) escaped."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass
class RunWrite:
    """One write of a run's record: an update of the document `_id` = `run_id` (what an
    `UpdateOne` carries), and what it records, so a batch can merge a run's start and end."""

    run_id: str
    update: dict[str, Any]
    kind: str = ""
    # Conditions besides the `_id` (none for upserts).
    condition: dict[str, Any] = field(default_factory=dict)
    upsert: bool = True

    def operation(self) -> UpdateOne:
        return UpdateOne({"_id": self.run_id, **self.condition}, self.update, upsert=self.upsert)


STARTED, FINISHED = "started", "finished"


def _merged(started: RunWrite, finished: RunWrite) -> RunWrite:
    """One write with the effect of `started` then `finished` (the end's fields win)."""
    fields = {**started.update["$set"], **finished.update["$set"]}
    on_insert = {
        **started.update.get("$setOnInsert", {}),
        **{k: v for k, v in finished.update.get("$setOnInsert", {}).items() if k not in fields},
    }
    update = {**started.update, "$set": fields, "$setOnInsert": on_insert}
    return RunWrite(started.run_id, update, kind=f"{STARTED}+{FINISHED}")


def coalesce(writes: list[RunWrite]) -> list[RunWrite]:
    """`writes` with each run started and then finished within them written once: half the
    writes for short runs. Only writes of one run are ordered against each other, and their
    order is kept."""
    merged: list[RunWrite] = []
    last: dict[str, int] = {}
    for write in writes:
        at = last.get(write.run_id)
        if write.kind == FINISHED and at is not None and merged[at].kind == STARTED:
            merged[at] = _merged(merged[at], write)
            continue
        last[write.run_id] = len(merged)
        merged.append(write)
    return merged


async def record_queued(
    task_id: str,
    task: str,
    *,
    periodic_task_id: str | None,
    args: list[Any],
    kwargs: dict[str, Any],
) -> None:
    await TaskRun.get_pymongo_collection().update_one(
        {"_id": task_id},
        {
            "$setOnInsert": {
                "task_id": task_id,
                "task": task,
                "periodic_task_id": periodic_task_id,
                "state": RunState.PENDING.value,
                **_arguments(args, kwargs),
                "queued_at": datetime.now(UTC),
            }
        },
        upsert=True,
    )


def started_write(
    task_id: str,
    task: str,
    *,
    periodic_task_id: str | None,
    args: list[Any],
    kwargs: dict[str, Any],
    started_at: datetime,
    start_key: str,
    worker_id: str | None = None,
    queued_at: datetime | None = None,
) -> RunWrite:
    """A worker starts the run; a redelivered run starts again in the same record, its start
    added to `starts` (`attempts` counts them: the same start written twice counts once) and the
    end of the previous attempt cleared. `queued_at` is when the message was sent; the earliest
    known time is kept (the API may have recorded it)."""
    earliest = {"$min": {"queued_at": queued_at}} if queued_at is not None else {}
    return RunWrite(
        task_id,
        {
            **earliest,
            "$set": {
                "task": task,
                "periodic_task_id": periodic_task_id,
                "state": RunState.STARTED.value,
                **_arguments(args, kwargs),
                "started_at": started_at,
                "worker_id": worker_id,
                "finished_at": None,
                "error": None,
                "result": None,
            },
            "$addToSet": {"starts": start_key},
            "$setOnInsert": {"task_id": task_id},
        },
        kind=STARTED,
    )


def finished_write(
    task_id: str,
    task: str,
    *,
    state: str,
    result: Any,
    error: str | None,
    finished_at: datetime,
    runtime_ms: float | None,
) -> RunWrite:
    known = {s.value for s in RunState}
    return RunWrite(
        task_id,
        {
            "$set": {
                "state": state if state in known else RunState.FAILURE.value,
                "result": json_safe(result),
                "error": _text_safe(error),
                "finished_at": finished_at,
                "runtime_ms": runtime_ms,
            },
            "$setOnInsert": {"task_id": task_id, "task": task},
        },
        kind=FINISHED,
    )


def lost_write(task_id: str, *, reason: str, finished_at: datetime) -> RunWrite:
    """The worker process running the run died: the run ends `LOST` unless it already ended."""
    return RunWrite(
        task_id,
        {
            "$set": {
                "state": RunState.LOST.value,
                "error": _text_safe(reason),
                "finished_at": finished_at,
            }
        },
        condition={"finished_at": None},
        upsert=False,
    )


async def record_started(task_id: str, task: str, **fields: Any) -> None:
    """One start written at once (`started_write`; a fresh start key unless given)."""
    fields.setdefault("start_key", uuid.uuid4().hex)
    await write_runs([started_write(task_id, task, **fields)])


async def write_runs(writes: list[RunWrite]) -> None:
    """Apply `writes` (`coalesce`d) in order, in one round trip."""
    if writes:
        operations = [write.operation() for write in coalesce(writes)]
        await TaskRun.get_pymongo_collection().bulk_write(operations, ordered=True)


async def mark_runs_lost(
    collection: AsyncCollection[dict[str, object]],
    worker_ids: list[str],
    *,
    reason: str,
    finished_at: datetime,
) -> int:
    """End as `LOST` every run still `STARTED` on one of `worker_ids`; returns how many."""
    updated = await collection.update_many(
        {"state": RunState.STARTED.value, "worker_id": {"$in": worker_ids}},
        {
            "$set": {
                "state": RunState.LOST.value,
                "error": reason,
                "finished_at": finished_at,
            }
        },
    )
    return updated.modified_count


async def mark_unowned_runs_lost(
    collection: AsyncCollection[dict[str, object]],
    *,
    started_before: datetime,
    reason: str,
    finished_at: datetime,
) -> int:
    """End as `LOST` every run still `STARTED` without a `worker_id` (recorded before runs were
    tied to a worker's heartbeat, so nothing tells whether its worker lives) that started before
    `started_before`; returns how many."""
    updated = await collection.update_many(
        {
            "state": RunState.STARTED.value,
            "worker_id": None,
            "$or": [{"started_at": {"$lt": started_before}}, {"started_at": None}],
        },
        {
            "$set": {
                "state": RunState.LOST.value,
                "error": reason,
                "finished_at": finished_at,
            }
        },
    )
    return updated.modified_count


async def started_run_workers(collection: AsyncCollection[dict[str, object]]) -> set[str]:
    """The workers that have runs `STARTED` right now."""
    workers = await collection.distinct("worker_id", {"state": RunState.STARTED.value})
    return {str(w) for w in workers if w}


async def open_run_history(
    url: str, database: str, *, migrate: bool = True
) -> AsyncMongoClient[dict[str, object]]:
    """A client with `TaskRun` registered, its records rekeyed (`migrate_run_keys`) first
    unless `migrate` is False (this process's parent did it)."""
    client = create_mongo_client(url)
    try:
        if migrate:
            await migrate_run_keys(client[database][TaskRun.Settings.name])
        await init_beanie(database=client[database], document_models=[TaskRun])
    except BaseException:
        await client.close()
        raise
    return client


async def migrate_run_keys(collection: AsyncCollection[dict[str, object]]) -> int:
    """Rekey records written before runs were keyed by `_id`: each ObjectId-keyed record is
    copied to `_id` = its `task_id` and removed; a record already written under the new key
    (the run went on after the upgrade) is the newer one and is kept. Drops the old unique
    `task_id` index first, so the non-unique one can be created. Idempotent, and safe to run in
    several processes at once; returns how many records it moved."""
    indexes = await (await collection.list_indexes()).to_list()
    if any(i.get("name") == LEGACY_TASK_ID_INDEX and i.get("unique") for i in indexes):
        await collection.drop_index(LEGACY_TASK_ID_INDEX)
    moved = 0
    legacy = collection.find({"_id": {"$type": "objectId"}, "task_id": {"$type": "string"}})
    async for record in legacy:
        old_id = record["_id"]
        copy = {**record, "_id": record["task_id"]}
        try:
            await collection.insert_one(copy)
            moved += 1
        except DuplicateKeyError:
            pass
        await collection.delete_one({"_id": old_id})
    return moved


def stale_runs(cutoff: datetime) -> dict[str, Any]:
    """Runs whose last sign of life is before `cutoff`: the end of a finished run, else its
    start, else when it was queued (a run whose worker died never gets an end)."""
    return {
        "$or": [
            {"finished_at": {"$lt": cutoff}},
            {"finished_at": None, "started_at": {"$lt": cutoff}},
            {"finished_at": None, "started_at": None, "queued_at": {"$lt": cutoff}},
        ]
    }


async def prune_runs(collection: AsyncCollection[dict[str, object]], cutoff: datetime) -> int:
    """Delete the records `stale_runs(cutoff)` selects; returns how many went."""
    deleted = await collection.delete_many(stale_runs(cutoff))
    return deleted.deleted_count
