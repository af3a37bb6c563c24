"""The login benchmark's load shape and verdicts (the measured run itself is `make bench`)."""

import random

from bench.auth_login import (
    CryptoCost,
    HashCost,
    Login,
    Phase,
    arrival_schedule,
    percentile,
    report,
)


def test_the_schedule_offers_exactly_the_rate_spread_over_every_client() -> None:
    schedule = arrival_schedule(63.0, 20.0, 20, random.Random(1))

    due_times = [t for client in schedule for t in client]
    assert len(due_times) == 1260
    assert all(0 <= t < 20.0 for t in due_times)
    assert {len(client) for client in schedule} == {63}
    assert all(client == sorted(client) for client in schedule)


def test_the_schedule_is_random_but_reproducible() -> None:
    first = arrival_schedule(60.0, 5.0, 4, random.Random(7))
    again = arrival_schedule(60.0, 5.0, 4, random.Random(7))
    other = arrival_schedule(60.0, 5.0, 4, random.Random(8))

    assert first == again
    assert first != other


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([3.0], 0.99) == 3.0


def _phase(latency: float, count: int, elapsed: float) -> Phase:
    return Phase([Login(flow=latency, post=latency / 2)] * count, elapsed, 1.0, 0.1)


_CRYPTO = CryptoCost(
    hashes=(
        HashCost(memory_mib=46, time_cost=1, user_ms=3.0, system_ms=17.0),
        HashCost(memory_mib=19, time_cost=2, user_ms=6.0, system_ms=8.0),
        HashCost(memory_mib=9, time_cost=4, user_ms=4.0, system_ms=3.0),
    ),
    rsa_ms=0.6,
)


# A run within the targets, and one whose p95 misses while its rate holds.
_FAST = {
    "sequential": _phase(0.02, 30, 0.6),
    "open": _phase(0.08, 1260, 20.0),
    "closed": _phase(0.2, 1000, 10.0),
}
_SLOW = {
    "sequential": _phase(0.02, 30, 0.6),
    "open": _phase(0.4, 1260, 21.0),
    "closed": _phase(0.3, 690, 10.0),
}


def _section(phases: dict[str, Phase], leanest: Phase | None = None) -> str:
    return report(phases, leanest or _phase(0.05, 1260, 20.0), _CRYPTO, load_before=0.1)


def test_a_run_within_the_targets_says_meets_and_nothing_more() -> None:
    section = _section(_FAST)

    assert "| login p95 | 80.0 ms | ≤ 150 ms (meets) |" in section
    assert "| logins/s sustained | 63.0 | ≥ 60 (meets) |" in section
    assert "Why the target is missed" not in section


def test_a_slow_run_says_misses_and_why() -> None:
    section = _section(_SLOW)

    assert "| login p95 | 400.0 ms | ≤ 150 ms (misses) |" in section
    assert "| logins/s sustained | 60.0 | ≥ 60 (meets) |" in section
    assert "Why the target is missed here: the offered rate is 91% of" in section
    assert "14.0 ms of CPU per verification, 8.0 ms of it in the kernel" in section
    assert "At 63 logins/s the hashes alone keep 0.88 of the" in section
    assert "| one RSA-OAEP decryption (3072-bit key), CPU | 0.60 ms |" in section


def test_the_owasp_settings_are_compared_with_the_default_by_their_cpu() -> None:
    section = _section(_FAST)

    assert "| one Argon2id verification, CPU (user + kernel) | 6.0 + 8.0 ms |" in section
    assert "| m=46 MiB t=1 p=1 | 3.0 + 17.0 ms | 1.43 |" in section
    assert "| m=19 MiB t=2 p=1 (the default) | 6.0 + 8.0 ms | 1.00 |" in section
    assert "| m=9 MiB t=4 p=1 | 4.0 + 3.0 ms | 0.50 |" in section


def test_the_target_load_is_run_again_at_the_leanest_equally_strong_setting() -> None:
    section = _section(_SLOW, leanest=_phase(0.06, 1260, 20.0))

    assert "| login p95 | 400.0 ms | ≤ 150 ms (misses) |" in section
    lean = section.split("| the same target load at m=9 MiB t=4 p=1, in the same run |")[1]
    assert "| login p95 | 60.0 ms | ≤ 150 ms (meets) |" in lean
    assert "| logins/s sustained | 63.0 | ≥ 60 (meets) |" in lean
