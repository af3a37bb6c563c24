"""RBAC service: route registry, roles, permission cache and the gateway decision."""
