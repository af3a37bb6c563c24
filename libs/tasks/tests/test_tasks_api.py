import asyncio
from typing import assert_type

from tasks.celery_app import process_app
from tasks.event_loop import process_loop
from tasks.tasks_api import TaskCall, TaskResult, TypedTask, task


@task("sdk_test.add")
def add(x: float, y: float) -> float:
    """Add two numbers."""
    return x + y


@task("sdk_test.sleep")
async def sleep(seconds: float) -> float:
    """Sleep asynchronously for `seconds`."""
    await asyncio.sleep(seconds)
    return seconds


def test_sync_task_keeps_its_signature_and_runs_inline() -> None:
    assert isinstance(add, TypedTask)
    assert_type(add(2, 3), float)
    assert add(2, 3) == 5


def test_async_task_is_typed_by_its_awaited_result_and_runs_on_the_process_loop() -> None:
    assert isinstance(sleep, TypedTask)
    assert_type(sleep(0), float)
    assert sleep(0.01) >= 0.01


def test_message_options_keep_the_argument_types() -> None:
    call = add.options(queue="celery", priority=3)
    assert isinstance(call, TaskCall)
    assert call._options == {"queue": "celery", "priority": 3}


def test_tasks_are_registered_under_their_public_names() -> None:
    assert add.name == "sdk_test.add"
    assert sleep.name == "sdk_test.sleep"
    assert add.__doc__ == "Add two numbers."
    assert process_app().tasks["sdk_test.add"] is add.celery_task


def test_result_handle_is_generic_in_the_return_type() -> None:
    assert_type(TaskResult[int], type[TaskResult[int]])


def test_async_tasks_reuse_one_running_loop_across_calls() -> None:
    sleep(0)
    first = process_loop.loop
    sleep(0)
    assert process_loop.loop is first
    assert first.is_running()


def test_idempotent_tasks_are_acknowledged_late_and_redelivered_if_the_worker_dies() -> None:
    @task("test.idempotent_noop", idempotent=True)
    def idempotent_noop() -> None:
        """Do nothing, safely, any number of times."""

    @task("test.plain_noop")
    def plain_noop() -> None:
        """Do nothing, at most once."""

    assert idempotent_noop.celery_task.acks_late is True
    assert idempotent_noop.celery_task.reject_on_worker_lost is True
    assert plain_noop.celery_task.acks_late is False
