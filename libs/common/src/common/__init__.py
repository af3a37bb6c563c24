"""Shared building blocks of every service."""
