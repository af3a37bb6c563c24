"""The peers' side of `bench.scheduler_beat`: RedBeat and django-celery-beat, run by the
benchmark in an environment of their own (never the product's), on the same broker.

This file is both the Celery app module of a peer's `celery beat` (`-A beat_peers`, with
`BEAT_PEER` = `redbeat` or `django` and `BEAT_BROKER_URL`, `BEAT_DJANGO_DB` in the environment)
and the command that seeds and edits a peer's schedule:

    python beat_peers.py seed tasks.json      # [[index, every_seconds, last_run_epoch], ...]
    python beat_peers.py edit NAME            # NAME's schedule becomes every 5 s; prints when

Every message the peer's beat sends is stamped with a `queued_at` header at send time, as ours
are, so both are judged by the same reader of the broker. Peers' modules are imported by name
(`importlib`): none of them is installed in the product's environment.
"""

import importlib
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

TASK = "demo.add"
EDITED_EVERY_SECONDS = 5


def _module(name: str) -> Any:
    return importlib.import_module(name)


def _stamp_queued_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers.setdefault("queued_at", datetime.now(UTC).isoformat())


def _setup_django() -> None:
    conf = _module("django.conf")
    if conf.settings.configured:
        return
    conf.settings.configure(
        INSTALLED_APPS=["django_celery_beat"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.environ["BEAT_DJANGO_DB"],
                "OPTIONS": {"timeout": 30},
            }
        },
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    _module("django").setup()


def make_app() -> Any:
    peer = os.environ["BEAT_PEER"]
    broker = os.environ["BEAT_BROKER_URL"]
    if peer == "django":
        _setup_django()
    celery = _module("celery")
    app = celery.Celery("beat_peers", broker=broker, set_as_current=True)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        timezone="UTC",
        beat_max_loop_interval=1,
        redbeat_redis_url=broker,
        # Longer than ours (10 s): RedBeat renews its lock between ticks, and one tick over
        # 10,000 due entries on a loaded machine outlasted 10 s, lost the lock and exited.
        redbeat_lock_timeout=60,
        django_celery_beat_max_interval=1,
    )
    _module("celery.signals").before_task_publish.connect(_stamp_queued_at, weak=False)
    return app


app: Any = make_app() if os.environ.get("BEAT_PEER") else None


def _interval(every: float) -> Any:
    return _module("celery.schedules").schedule(timedelta(seconds=every))


def seed(spec: list[list[float]]) -> None:
    """Entries `t<index>` running `demo.add(index, 0)` every `every` s, last run as given."""
    if os.environ["BEAT_PEER"] == "redbeat":
        entry_class = _module("redbeat").RedBeatSchedulerEntry
        for index, every, last in spec:
            entry_class(
                name=f"t{int(index)}",
                task=TASK,
                schedule=_interval(every),
                args=[int(index), 0],
                app=app,
                last_run_at=datetime.fromtimestamp(last, UTC),
            ).save()
        return
    models = _module("django_celery_beat.models")
    _module("django.core.management").call_command("migrate", verbosity=0)
    intervals: dict[float, Any] = {}
    rows = []
    for index, every, last in spec:
        if every not in intervals:
            intervals[every], _ = models.IntervalSchedule.objects.get_or_create(
                every=int(every), period=models.IntervalSchedule.SECONDS
            )
        rows.append(
            models.PeriodicTask(
                name=f"t{int(index)}",
                task=TASK,
                interval=intervals[every],
                args=json.dumps([int(index), 0]),
                last_run_at=datetime.fromtimestamp(last, UTC),
            )
        )
    models.PeriodicTask.objects.bulk_create(rows, batch_size=1000)
    models.PeriodicTasks.update_changed()


def edit(name: str) -> float:
    """Make `name` run every 5 s, as a user of the peer would; returns the commit time."""
    if os.environ["BEAT_PEER"] == "redbeat":
        schedulers = _module("redbeat.schedulers")
        schedulers.ensure_conf(app)
        entry_class = schedulers.RedBeatSchedulerEntry
        key = entry_class.generate_key(app, name)
        entry = entry_class.from_key(key, app=app)
        entry.schedule = _interval(EDITED_EVERY_SECONDS)
        entry.save()
        return time.time()
    models = _module("django_celery_beat.models")
    interval, _ = models.IntervalSchedule.objects.get_or_create(
        every=EDITED_EVERY_SECONDS, period=models.IntervalSchedule.SECONDS
    )
    task = models.PeriodicTask.objects.get(name=name)
    task.interval = interval
    task.save()
    return time.time()


def main(argv: list[str]) -> int:
    command, argument = argv[1], argv[2]
    if command == "seed":
        with open(argument) as spec:
            seed(json.load(spec))
        return 0
    if command == "edit":
        print(repr(edit(argument)))
        return 0
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
