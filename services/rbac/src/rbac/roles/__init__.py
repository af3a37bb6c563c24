"""Roles (named sets of permission codes and patterns) and the users they are bound to."""
