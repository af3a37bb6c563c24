"""How big a benchmark run is: the full run `make bench` does, or the seconds-long smoke run
`make test` does (`python -m bench --smoke`), which only proves that each benchmark still
measures and writes its section, so none can rot unnoticed between full runs."""

import os

SMOKE_ENV = "BENCH_SMOKE"


def smoke() -> bool:
    """True in a smoke run: every benchmark reads its sizes through `sized` at import."""
    return os.environ.get(SMOKE_ENV) == "1"


def sized[T](full: T, smoke_size: T) -> T:
    """`full` in a real run, `smoke_size` in a smoke run."""
    return smoke_size if smoke() else full
