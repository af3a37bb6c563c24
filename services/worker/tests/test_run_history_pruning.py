"""`worker.prune_run_history`: run history does not grow without bound."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient

from worker.maintenance import prune_run_history

NOW = datetime.now(UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


RUNS = {
    "finished long ago": {
        "queued_at": days_ago(41),
        "started_at": days_ago(41),
        "finished_at": days_ago(40),
    },
    "finished ten days ago": {
        "queued_at": days_ago(10),
        "started_at": days_ago(10),
        "finished_at": days_ago(10),
    },
    "finished yesterday": {
        "queued_at": days_ago(1),
        "started_at": days_ago(1),
        "finished_at": days_ago(1),
    },
    "long run that ended today": {
        "queued_at": days_ago(45),
        "started_at": days_ago(45),
        "finished_at": days_ago(0.1),
    },
    "started long ago, worker died": {"queued_at": days_ago(40), "started_at": days_ago(40)},
    "queued long ago, never started": {"queued_at": days_ago(40)},
    "queued an hour ago": {"queued_at": days_ago(0.04)},
}


@pytest.fixture
def runs_collection(mongo_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    database = f"worker_prune_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MONGO_URL", mongo_url)
    monkeypatch.setenv("WORKER_MONGO_DATABASE", database)
    with MongoClient[dict[str, Any]](mongo_url, tz_aware=True) as client:
        client[database]["task_runs"].insert_many(
            [{"task_id": name, "task": "demo.add", **times} for name, times in RUNS.items()]
        )
    return {"url": mongo_url, "database": database}


def remaining(where: dict[str, str]) -> set[str]:
    with MongoClient[dict[str, Any]](where["url"], tz_aware=True) as client:
        return {doc["task_id"] for doc in client[where["database"]]["task_runs"].find()}


def test_runs_older_than_the_retention_are_removed_by_their_last_sign_of_life(
    runs_collection: dict[str, str],
) -> None:
    outcome = prune_run_history(older_than_days=30)

    assert outcome == {"runs_removed": 3}
    assert remaining(runs_collection) == {
        "finished ten days ago",
        "finished yesterday",
        "long run that ended today",
        "queued an hour ago",
    }


def test_the_retention_defaults_to_the_worker_setting(
    runs_collection: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_RUN_HISTORY_DAYS", "7")

    outcome = prune_run_history()

    assert outcome == {"runs_removed": 4}
    assert "finished ten days ago" not in remaining(runs_collection)
    assert "finished yesterday" in remaining(runs_collection)


def test_pruning_twice_removes_nothing_more(runs_collection: dict[str, str]) -> None:
    prune_run_history(older_than_days=30)

    assert prune_run_history(older_than_days=30) == {"runs_removed": 0}
    assert len(remaining(runs_collection)) == 4
