"""The scheduler's domain errors (mapped to problem+json by `common.errors`)."""

from common.errors import ConflictError, ForbiddenError, NotFoundError, ServiceUnavailableError


class PeriodicTaskNotFoundError(NotFoundError):
    code = "periodic_task_not_found"
    title = "Periodic task not found"


class RunNotFoundError(NotFoundError):
    code = "run_not_found"
    title = "Run not found"


class PeriodicTaskNameTakenError(ConflictError):
    code = "periodic_task_name_taken"
    title = "A periodic task with this name exists"


class AdminOnlyTaskError(ForbiddenError):
    """A non-admin tried to schedule, point a task at, or run a task declared admin-only."""

    code = "admin_only_task"
    title = "Task reserved to administrators"

    def __init__(self, task: str) -> None:
        super().__init__(f"Only administrators may schedule or run the task {task!r}.")
        self.extensions = {"task": task}


class CatalogUnavailableError(ServiceUnavailableError):
    code = "catalog_unavailable"
    title = "The task catalog cannot be read"


class BrokerUnavailableError(ServiceUnavailableError):
    code = "broker_unavailable"
    title = "The task could not be sent"


class RunHistoryUnavailableError(ServiceUnavailableError):
    code = "run_history_unavailable"
    title = "The run history cannot be read"
