"""Pytest fixtures with real embedded servers for every test suite."""
