"""Beat's templated, batch-published messages are the ones `apply_async` would have sent.

Compared raw, as they sit in the broker's lists (ids and send times aside), and run by an
ordinary Celery worker with their args, kwargs, queues, priorities, expiry and retries intact.
"""

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from celery.beat import ScheduleEntry, Scheduler
from celery.contrib.testing.worker import start_worker
from celery.schedules import schedule as every
from celery.signals import task_revoked
from redis import Redis as SyncRedis

from scheduler.beat_publish import BatchPublisher, Prepared
from tasks.queued_at import connect_queued_at

# Beat's process stamps every message with its send time (`worker.app` connects this).
connect_queued_at()

# Differ per send by design: ids, the delivery tag and the send time.
PER_SEND_HEADERS = {"id", "root_id", "queued_at"}
PER_SEND_PROPERTIES = {"correlation_id", "delivery_tag"}
PRIORITY_SEP = "\x06\x16"
BROKER_DB = 11


@pytest.fixture
def broker_url(redis_url: str) -> Iterator[str]:
    url = f"{redis_url.rsplit('/', 1)[0]}/{BROKER_DB}"
    redis = SyncRedis.from_url(url)
    redis.flushdb()
    yield url
    redis.flushdb()
    redis.close()


@pytest.fixture
def app(plain_app: Celery, broker_url: str) -> Celery:
    plain_app.runs.clear()
    return plain_app


@pytest.fixture
def broker(broker_url: str) -> Iterator[SyncRedis]:
    redis = SyncRedis.from_url(broker_url)
    yield redis
    redis.close()


@pytest.fixture
def beat(app: Celery) -> Scheduler:
    """Celery's own beat scheduler: how `apply_async` sends an entry the ordinary way."""
    return Scheduler(app, lazy=True)


@pytest.fixture
def publisher(app: Celery) -> Iterator[BatchPublisher]:
    made = BatchPublisher(app)
    yield made
    made.close()


@pytest.fixture(scope="module")
def plain_app(redis_url: str) -> Iterator[Celery]:
    """A plain Celery app (JSON, no result backend) with a few tasks that report their runs
    (one per module: Celery registers task names process-wide)."""
    broker_url = f"{redis_url.rsplit('/', 1)[0]}/{BROKER_DB}"
    app = Celery("plain", broker=broker_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], enable_utc=True)
    app.runs = []
    lock = threading.Lock()

    def record(name: str, request: Any, *values: Any) -> None:
        with lock:
            app.runs.append(
                (name, request.delivery_info.get("routing_key"), request.retries, *values)
            )

    def add(self: Any, x: int, y: int, *, scale: int = 1) -> int:
        record("plain.add", self.request, (x + y) * scale, self.request.get("periodic_task_id"))
        return (x + y) * scale

    def flaky(self: Any, label: str) -> str:
        record("plain.flaky", self.request, label)
        if self.request.retries < 2:
            raise self.retry(countdown=0.05)
        return label

    def never(self: Any) -> None:
        record("plain.never", self.request)

    app.task(name="plain.add", bind=True)(add)
    app.task(name="plain.flaky", bind=True, max_retries=3)(flaky)
    app.task(name="plain.never", bind=True)(never)

    yield app
    app.close()


def entries(app: Celery) -> list[ScheduleEntry]:
    later = datetime.now(UTC) + timedelta(hours=1)

    def entry(name: str, task: str, args: list[Any], kwargs: dict[str, Any], **options: Any) -> Any:
        options.setdefault("headers", {})["periodic_task_id"] = name
        return ScheduleEntry(
            name=name,
            task=task,
            schedule=every(timedelta(seconds=10)),
            args=args,
            kwargs=kwargs,
            options=options,
            app=app,
        )

    return [
        entry("plain", "plain.add", [1, 2], {"scale": 3}),
        entry("queued", "plain.add", [4, 5], {}, queue="reports"),
        entry("urgent", "plain.add", [6, 7], {}, queue="reports", priority=7),
        entry("expiring", "plain.add", [8, 9], {}, expires=later),
        entry("relative", "plain.add", [1, 1], {}, expires=600),
        entry("retrying", "plain.flaky", ["x" * 2000], {}),
        entry("unregistered", "elsewhere.task", [{"nested": [1, 2]}], {"k": None}),
        entry("traced", "plain.add", [2, 3], {}, headers={"trace": "t-1", "tenant": 7}),
        # A header a send sets (`root_id`): rendered from the message's dicts, not its text.
        entry("rooted", "plain.add", [3, 4], {}, headers={"root_id": "r-1"}),
    ]


def pushed(redis: SyncRedis) -> dict[str, list[dict[str, Any]]]:
    """Every message in the broker's lists, by list key; the lists are emptied."""
    found: dict[str, list[dict[str, Any]]] = {}
    for key in redis.scan_iter():
        name = key.decode()
        if redis.type(key) == b"list":
            found[name] = [json.loads(raw) for raw in redis.lrange(key, 0, -1)]
            redis.delete(key)
    return found


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in message["headers"].items() if k not in PER_SEND_HEADERS}
    properties = {k: v for k, v in message["properties"].items() if k not in PER_SEND_PROPERTIES}
    if "expiration" in properties:
        # The TTL left until `expires`, in ms, as of each send: equal to within a second.
        properties["expiration"] = round(int(properties["expiration"]) / 1000)
    return {**message, "headers": headers, "properties": properties}


def batch_send(
    publisher: BatchPublisher, beat: Scheduler, batch: list[ScheduleEntry]
) -> list[Prepared]:
    def send_one(entry: Any, producer: Any) -> Any:
        return beat.apply_async(entry, producer=producer, advance=False)

    now = datetime.now(UTC)
    messages = []
    for entry in batch:
        prepared = publisher.prepare(entry, send_one)
        messages.append((prepared, publisher.render(prepared, now)[1]))
    publisher.publish(messages)
    return [prepared for prepared, _ in messages]


def test_each_message_equals_what_apply_async_sends_but_for_ids_and_times(
    app: Celery, broker: SyncRedis, beat: Scheduler, publisher: BatchPublisher
) -> None:
    assert publisher.templated()
    for entry in entries(app):
        with app.producer_or_acquire() as producer:
            beat.apply_async(entry, producer=producer, advance=False)
        ordinary = pushed(broker)
        # Twice: the second send reuses the template built by the first.
        prepared = batch_send(publisher, beat, [entry, entry])
        batched = pushed(broker)
        # Rendered from the message's text, but where an entry sets a header a send sets.
        assert (prepared[0].skeleton is None) == (entry.name == "rooted"), entry.name

        assert list(batched) == list(ordinary), entry.name  # the same list key
        [key] = ordinary
        [expected] = ordinary[key]
        first, second = batched[key]
        if entry.name == "relative":
            # `expires=600` is relative: each send's own time plus 600 s.
            for sent in (expected, first):
                expires = datetime.fromisoformat(sent["headers"].pop("expires"))
                queued = datetime.fromisoformat(sent["headers"]["queued_at"])
                assert abs((expires - queued).total_seconds() - 600) < 1
            second["headers"].pop("expires")
        assert comparable(first) == comparable(expected), entry.name
        assert comparable(second) == comparable(expected), entry.name
        assert first["headers"]["id"] != second["headers"]["id"]
        if entry.name == "rooted":  # its own root, as `apply_async` keeps it
            assert first["headers"]["root_id"] == expected["headers"]["root_id"] == "r-1"
        else:
            assert first["headers"]["root_id"] == first["headers"]["id"]
        assert first["properties"]["correlation_id"] == first["headers"]["id"]
        assert first["properties"]["delivery_tag"] != second["properties"]["delivery_tag"]
        assert datetime.fromisoformat(first["headers"]["queued_at"]).tzinfo is not None
        if entry.name == "urgent":
            assert key == f"reports{PRIORITY_SEP}6"  # kombu's priority-queue naming
        elif entry.name == "queued":
            assert key == "reports"
        else:
            assert key == "celery"


def test_a_batch_is_one_push_per_list_and_consumed_in_the_order_it_was_sent(
    app: Celery, broker: SyncRedis, beat: Scheduler, publisher: BatchPublisher
) -> None:
    made = {e.name: e for e in entries(app)}
    batch = [made["plain"], made["queued"], made["relative"], made["plain"], made["queued"]]
    before = broker.info("commandstats").get("cmdstat_lpush", {}).get("calls", 0)
    batch_send(publisher, beat, batch)
    after = broker.info("commandstats")["cmdstat_lpush"]["calls"]
    assert after - before == 2  # `celery` and `reports`
    # Workers take from the list's tail (BRPOP): the first sent comes first.
    taken = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)[::-1]]
    broker.delete("celery")
    assert [m["headers"]["argsrepr"] for m in taken] == ["[1, 2]", "[1, 1]", "[1, 2]"]
    assert [m["headers"]["argsrepr"] for m in pushed(broker)["reports"]] == ["[4, 5]"] * 2


def test_an_ordinary_celery_worker_runs_batch_published_tasks(
    app: Celery, beat: Scheduler, publisher: BatchPublisher
) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    revoked: list[str] = []

    def on_revoked(request: Any = None, expired: bool = False, **_: Any) -> None:
        if expired and request is not None:
            revoked.append(request.id)

    task_revoked.connect(on_revoked, weak=False)
    batch = [e for e in entries(app) if e.task != "elsewhere.task"]
    batch.append(
        ScheduleEntry(
            name="expired",
            task="plain.never",
            schedule=every(timedelta(seconds=10)),
            args=[],
            kwargs={},
            options={"expires": past},
            app=app,
        )
    )
    try:
        batch_send(publisher, beat, batch)
        with start_worker(app, pool="solo", perform_ping_check=False, queues=["celery", "reports"]):
            deadline = datetime.now(UTC) + timedelta(seconds=30)
            runs: list[tuple[Any, ...]] = app.runs
            while len(runs) < 10 and datetime.now(UTC) < deadline:
                threading.Event().wait(0.1)
            threading.Event().wait(0.5)  # anything more that was coming
    finally:
        task_revoked.disconnect(on_revoked)

    adds = sorted(r for r in runs if r[0] == "plain.add")
    assert adds == sorted(
        [
            ("plain.add", "celery", 0, 9, "plain"),
            ("plain.add", "reports", 0, 9, "queued"),
            ("plain.add", "reports", 0, 13, "urgent"),
            ("plain.add", "celery", 0, 17, "expiring"),
            ("plain.add", "celery", 0, 2, "relative"),
            ("plain.add", "celery", 0, 5, "traced"),
            ("plain.add", "celery", 0, 7, "rooted"),
        ]
    )
    flaky = [r for r in runs if r[0] == "plain.flaky"]
    assert [r[2] for r in flaky] == [0, 1, 2]  # retried twice by the worker, then done
    assert all(r[3] == "x" * 2000 for r in flaky)
    assert not [r for r in runs if r[0] == "plain.never"]
    assert len(revoked) == 1  # the expired one was refused as expired, not lost
