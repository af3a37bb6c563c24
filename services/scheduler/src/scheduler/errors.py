"""The scheduler's domain errors (mapped to problem+json by `common.errors`)."""

from common.errors import ConflictError, NotFoundError, ServiceUnavailableError


class PeriodicTaskNotFoundError(NotFoundError):
    code = "periodic_task_not_found"
    title = "Periodic task not found"


class RunNotFoundError(NotFoundError):
    code = "run_not_found"
    title = "Run not found"


class PeriodicTaskNameTakenError(ConflictError):
    code = "periodic_task_name_taken"
    title = "A periodic task with this name exists"


class CatalogUnavailableError(ServiceUnavailableError):
    code = "catalog_unavailable"
    title = "The task catalog cannot be read"


class BrokerUnavailableError(ServiceUnavailableError):
    code = "broker_unavailable"
    title = "The task could not be sent"


class RunHistoryUnavailableError(ServiceUnavailableError):
    code = "run_history_unavailable"
    title = "The run history cannot be read"
