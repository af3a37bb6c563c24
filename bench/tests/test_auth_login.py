"""The login benchmark's load shape and verdicts (the measured run itself is `make bench`)."""

import random

from bench.auth_login import (
    DEFAULT_SETTING,
    OWASP_SETTINGS,
    CryptoCost,
    HashCost,
    Login,
    Parts,
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


def _phase(latency: float, count: int, elapsed: float, cpu: float = 1.0) -> Phase:
    return Phase(
        [Login(flow=latency, post=latency / 2)] * count,
        elapsed,
        cpu_seconds=cpu,
        client_cpu_seconds=0.1,
        loop_cpu_seconds=cpu / 4,
        redis_cpu_seconds=0.05,
    )


def _crypto(default_ms: tuple[float, float] = (6.0, 2.0)) -> CryptoCost:
    """Libsodium and argon2-cffi at every OWASP setting; the default costs `default_ms`."""
    hashes = []
    for memory_mib, passes in OWASP_SETTINGS:
        user, system = (
            default_ms if (memory_mib, passes) == DEFAULT_SETTING else (7.0, memory_mib / 4)
        )
        hashes.append(HashCost(memory_mib, passes, user, system, "libsodium"))
        hashes.append(HashCost(memory_mib, passes, 3 * user, 0.1, "argon2-cffi"))
    return CryptoCost(hashes=tuple(hashes), rsa_ms=0.6, sign_ms=0.7)


# 1000 logins at 100/s in saturation, 50/s at half of it; CPU per login 9 ms against an 8 ms
# hash: within the targets. The slow run misses each of them.
_FAST = {
    "sequential": _phase(0.01, 40, 0.4, cpu=0.36),
    "closed": _phase(0.2, 2000, 10.0, cpu=18.0),
    "open": _phase(0.02, 1000, 20.0, cpu=9.0),
}
_SLOW = {
    "sequential": _phase(0.02, 40, 0.8, cpu=0.8),
    "closed": _phase(0.3, 500, 10.0, cpu=8.0),
    "open": _phase(0.4, 250, 10.0, cpu=5.0),
}


def _section(phases: dict[str, Phase], crypto: CryptoCost | None = None) -> str:
    return report(phases, crypto or _crypto(), load=(0.5, 0.7))


def test_a_run_within_the_targets_says_meets_and_nothing_more() -> None:
    section = _section(_FAST)

    assert "| service CPU per login ÷ CPU of one verification (9.0 ÷ 8.0 ms) | 1.12 |" in section
    assert "≤ 1.15 (meets) |" in section
    assert "| login p95 at 50% of saturation (50.0 logins/s) | 20.0 ms | ≤ 150 ms (meets) |" in (
        section
    )
    assert "(200.0 ÷ 250.0) | 0.80 | ≥ 0.85 (misses) |" in section
    assert "misses) |" not in section.replace("≥ 0.85 (misses) |", "")
    assert "Why the CPU ratio is missed" not in section


def test_a_slow_run_says_misses_and_why() -> None:
    section = _section(_SLOW)

    assert "(20.0 ÷ 8.0 ms) | 2.50 | ≤ 1.15 (misses) |" in section
    assert "| 400.0 ms | ≤ 150 ms (misses) |" in section
    assert "(50.0 ÷ 250.0) | 0.20 | ≥ 0.85 (misses) |" in section
    assert "Why the CPU ratio is missed: beyond the hash a login costs 12.0 ms" in section
    assert "(8.00 + 0.60 + 0.70) ÷ 8.00 = 1.16 times the hash" in section
    assert "the RSA operations alone are 0.16 of the hash where the target leaves 0.15" in section
    # 8 s of service CPU over 10 s of saturation; 5 s over the 10 s at half of it.
    assert "the service kept only 0.80 of the" in section
    assert (
        "would stop it at about 0.49, and even a login made of nothing but its hash and its two"
        in (section)
    )
    assert "RSA operations at 0.86." in section
    assert "Why the p95 is missed: at 25.0 logins/s the service kept 0.50 of the" in section
    assert "| one RSA-OAEP decryption + one RS256 signature (3072-bit key) | 0.60 + 0.70 ms |" in (
        section
    )


def test_the_owasp_settings_and_implementations_are_compared_with_the_default() -> None:
    section = _section(_FAST)

    assert "| m=7 MiB t=5 p=1 (the default) | 6.0 + 2.0 ms (least) | 18.0 + 0.1 ms | 1.00 |" in (
        section
    )
    assert "| m=46 MiB t=1 p=1 | 7.0 + 11.5 ms | 21.0 + 0.1 ms | 2.31 |" in section
    assert "| m=7 MiB t=5 p=1 | m=7 MiB t=5 p=1 (meets) |" in section


def test_a_default_that_is_not_the_cheapest_setting_here_misses() -> None:
    section = _section(_FAST, _crypto(default_ms=(9.0, 9.0)))

    assert "| m=9 MiB t=4 p=1 | m=7 MiB t=5 p=1 (misses) |" in section


def test_the_argon2_cffi_implementation_is_named_when_it_is_the_cheapest() -> None:
    hashes = [
        HashCost(m, t, 1.0 if name == "argon2-cffi" and (m, t) == (9, 4) else 9.0, 1.0, name)
        for m, t in OWASP_SETTINGS
        for name in ("libsodium", "argon2-cffi")
    ]
    crypto = CryptoCost(hashes=tuple(hashes), rsa_ms=0.6, sign_ms=0.7)

    section = _section(_FAST, crypto)

    assert "The cheapest here is m=9 MiB t=4 p=1 through argon2-cffi" in section
    assert "| m=9 MiB t=4 p=1 | 9.0 + 1.0 ms | 1.0 + 1.0 ms (least) | 1.00 |" in section


def test_the_parts_of_a_login_add_up_to_the_whole_with_the_rest_by_difference() -> None:
    crypto = CryptoCost(hashes=_crypto().hashes, rsa_ms=0.6, sign_ms=0.7, bare_sign_ms=0.65)
    parts = Parts(worker_hop_ms=0.05, redis_ms=0.45, sql_ms=1.0)
    # 400 bare requests for 0.12 s of service CPU: 0.3 ms each.
    phases = {**_SLOW, "bare": _phase(0.001, 400, 0.5, cpu=0.12)}

    section = report(phases, crypto, load=(0.5, 0.7), parts=parts)

    assert "PyJWT's JSON and base64 0.05 ms) | 0.70 ms | 1 | 0.70 ms | 0.09 |" in section
    assert "| 0.05 ms | 3 | 0.15 ms | 0.02 |" in section
    assert "| 0.30 ms | 2 | 0.60 ms | 0.07 |" in section
    # 20.0 ms in all: 8.0 + 0.6 + 0.7 + 0.15 + 0.45 + 1.0 + 0.6 = 11.5 accounted, 8.5 left.
    assert "waking) | | | 8.50 ms | 1.06 |" in section
    assert "| the whole login in the service (50% of saturation) | | | 20.00 ms | 2.50 |" in section


def test_without_the_parts_the_section_has_no_parts_table() -> None:
    assert "a login's parts" not in _section(_FAST)
