from tasks import TASKS_ENTRY_POINT_GROUP
from worker.task_discovery import discover_task_modules


def test_task_modules_are_found_through_the_entry_point_group() -> None:
    assert TASKS_ENTRY_POINT_GROUP == "async_fastapi_multidb.tasks"
    assert "worker.demo" in discover_task_modules()


def test_an_unknown_group_loads_nothing() -> None:
    assert discover_task_modules("async_fastapi_multidb.no_such_group") == []
