"""`python -m scheduler.migrations`: upgrade SCHEDULER_DATABASE_URL to the newest schema."""

from common.migrations import migrate_from_environment
from scheduler.migrations import MIGRATIONS_DIR
from scheduler.settings import SchedulerSettings


def main() -> None:
    migrate_from_environment("scheduler", SchedulerSettings, MIGRATIONS_DIR)


if __name__ == "__main__":
    main()
