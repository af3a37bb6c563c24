"""The gateway benchmark compares cells measured side by side, and says so when it misses."""

import dataclasses

from bench.gateway_authorize import CONNECTIONS, LABELS, Result, report


def _results(c_rates: list[float], c_p50: list[float]) -> dict[tuple[str, int], list[Result]]:
    """Five rounds in which (d) swings widely and (c) follows it within each round."""
    d_rates = [4000.0, 5000.0, 4500.0, 3000.0, 4800.0]
    results: dict[tuple[str, int], list[Result]] = {}
    for variant in LABELS:
        for connections in CONNECTIONS:
            rates = d_rates
            p50s = [1.0] * len(d_rates)
            if variant == "c":
                rates = [d * ratio for d, ratio in zip(d_rates, c_rates, strict=True)]
                p50s = [1.0 + delta for delta in c_p50]
            results[variant, connections] = [
                Result(rate, p50, 2 * p50, int(rate * 2), closed_auth_connections=int(rate * 0.4))
                for rate, p50 in zip(rates, p50s, strict=True)
            ]
    return results


def test_ratios_are_medians_of_pairs_taken_in_the_same_round() -> None:
    section = report(_results([0.95, 0.97, 1.0, 0.5, 0.99], [0.0, 0.02, 0.03, 0.9, 0.01]), 2)

    row = next(line for line in section.splitlines() if line.startswith("| (c)/(d)"))
    assert row == (
        "| (c)/(d) throughput: our decision (target ≥ 0.90) "
        "| 0.97 (0.50 to 1.00) | 0.97 (0.50 to 1.00) |"
    )
    assert "| (c) - (d) p50 ms (target ≤ 0.10) | +0.02 (+0.00 to +0.90) |" in section
    assert "Our decision costs nothing measurable beyond the hop" in section
    assert "about 20 of every 100 requests" in section


def test_a_decision_slower_than_the_hop_is_reported_as_a_miss() -> None:
    section = report(_results([0.8] * 5, [0.3] * 5), 2)

    assert "Our decision misses its targets against the hop in this run" in section


def _with_plugin(ratio: float, p50_delta: float) -> dict[tuple[str, int], list[Result]]:
    """(h) at `ratio` of (b)'s throughput and `p50_delta` ms slower, round by round."""
    results = _results([1.0] * 5, [0.0] * 5)
    for connections in CONNECTIONS:
        results["h", connections] = [
            Result(
                b.requests_per_second * ratio,
                b.p50_ms + p50_delta,
                b.p99_ms,
                b.requests,
                gateway_cpu_us=110.0,
            )
            for b in results["b", connections]
        ]
        results["b", connections] = [
            Result(b.requests_per_second, b.p50_ms, b.p99_ms, b.requests, gateway_cpu_us=100.0)
            for b in results["b", connections]
        ]
        results["c", connections] = [
            dataclasses.replace(c, gateway_cpu_us=200.0) for c in results["c", connections]
        ]
    return results


def test_the_plugin_is_judged_against_traefik_without_auth() -> None:
    section = report(_with_plugin(0.9, 0.05), 2)

    assert "| (h)/(b) throughput: the decision plugin, cache on (target ≥ 0.80) | 0.90" in section
    assert "| (h)/(b) Traefik CPU per request | 1.10 (1.10 to 1.10) |" in section
    assert "it meets both targets in this run" in section
    assert "costs 1.10 / 1.10 times Traefik's CPU without auth" in section
    assert "forwardAuth to rbac, (c), costs 2.00 / 2.00" in section
    assert "keep 0.91 / 0.91 of its throughput with the plugin" in section


def test_a_plugin_below_the_targets_is_reported_as_a_miss() -> None:
    for ratio, delta in ((0.7, 0.0), (0.9, 0.3)):
        assert "it misses a target in this run" in report(_with_plugin(ratio, delta), 2)
