"""Benchmarks: each module exposes `run() -> str`, a markdown section measured side by side."""
