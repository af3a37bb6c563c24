"""The route registry: every route of every service, filled from the manifests they publish."""
