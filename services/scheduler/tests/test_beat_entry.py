from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.beat_entry import DORMANT_SECONDS, PeriodicTaskEntry
from scheduler.beat_schedule import Schedule
from scheduler.models import PeriodicTask
from tasks.celery_app import process_app

celery_app = process_app()

EVERY_MINUTE = {"type": "interval", "every": 1, "period": "minutes"}
EVERY_HOUR = {"type": "interval", "every": 1, "period": "hours"}


def entry(**fields: Any) -> PeriodicTaskEntry:
    values: dict[str, Any] = {
        "name": "t",
        "task": "demo.add",
        "schedule_type": "interval",
        "schedule": EVERY_MINUTE,
        "created_at": datetime.now(UTC) - timedelta(hours=1),
    }
    values.update(fields)
    return PeriodicTaskEntry.from_model(PeriodicTask(**values), celery_app)


def test_a_task_that_never_ran_counts_its_first_period_from_creation() -> None:
    assert entry().is_due().is_due
    fresh = entry(created_at=datetime.now(UTC))
    due, next_in = fresh.is_due()
    assert not due
    assert 55 < next_in <= 60


def test_nothing_is_due_before_the_start_time() -> None:
    due, next_in = entry(start_time=datetime.now(UTC) + timedelta(seconds=30)).is_due()
    assert not due
    assert 25 < next_in <= 30


def test_expired_and_finished_one_off_tasks_are_dormant() -> None:
    expired = entry(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert expired.is_due() == (False, DORMANT_SECONDS)
    done = entry(one_off=True, total_run_count=1)
    assert done.is_due() == (False, DORMANT_SECONDS)
    assert entry(one_off=True).is_due().is_due


def test_a_task_no_worker_has_registered_is_held_back() -> None:
    held = entry()
    held.registered = False
    assert held.is_due() == (False, DORMANT_SECONDS)


def test_message_options_carry_the_queue_priority_expiry_and_periodic_task_id() -> None:
    expires = datetime.now(UTC) + timedelta(days=1)
    made = entry(queue="io", priority=7, expires_at=expires)
    assert made.options["queue"] == "io"
    assert made.options["priority"] == 7
    assert made.options["expires"] == expires
    assert made.options["headers"] == {"periodic_task_id": made.name}
    assert made.options["ignore_result"] is True


def test_the_next_entry_counts_the_run_and_keeps_the_gates() -> None:
    first = entry(one_off=True)
    second = next(first)
    assert second.total_run_count == 1
    assert second.one_off
    assert not second.is_due().is_due


def test_an_interval_is_due_exactly_when_celerys_own_schedule_says_so() -> None:
    for seconds_ago in (0.0, 1.0, 59.0, 59.999, 60.0, 60.5, 3600.0):
        made = entry(last_run_at=datetime.now(UTC) - timedelta(seconds=seconds_ago))
        # Both read the real clock, so Celery is asked just before and just after: near the due
        # line (59.999 s) the clock may cross it between the calls, and the fast answer must then
        # be one of the two.
        before = made.schedule.is_due(made.last_run_at)
        fast = made.is_due()
        after = made.schedule.is_due(made.last_run_at)
        assert fast.is_due in {before.is_due, after.is_due}, seconds_ago
        celerys = before if fast.is_due == before.is_due else after
        assert abs(fast.next - celerys.next) < 0.05, seconds_ago


def test_the_schedule_pops_only_what_is_due_and_drops_replaced_entries() -> None:
    # Hourly tasks whose last runs are a minute apart: whatever time passes while the test runs
    # (entries read the real clock), no entry is within 30 s of the due line.
    now = datetime.now(UTC)
    made = [
        entry(schedule=EVERY_HOUR, last_run_at=now - timedelta(minutes=i, seconds=30))
        for i in range(120)
    ]
    schedule = Schedule()
    schedule.replace({e.name: e for e in made})
    clock = datetime.now(UTC).timestamp()
    # Due are those that last ran an hour ago or more.
    assert {e.name for e in schedule.due(clock, limit=1000)} == {e.name for e in made[60:]}
    edited = entry(schedule=EVERY_HOUR, last_run_at=now - timedelta(hours=2))
    edited.name = made[5].name
    schedule.put(edited)
    clock = datetime.now(UTC).timestamp()
    assert list(schedule.due(clock, limit=1000)) == [edited]
    # The old entry comes up within the hour but is no longer the schedule's: dropped.
    later = list(schedule.due(clock + 3600, limit=1000))
    assert {e.name for e in later} == {e.name for e in made[:60]} - {edited.name}
    assert all(e is not made[5] for e in later)
