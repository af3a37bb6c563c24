"""What a person needs once the mesh is up, printed last by `mesh up` and again by `mesh status`."""

from mesh.state import StateDir


def banner(
    url: str, admin_username: str, state: StateDir, *, generated_password: str | None = None
) -> list[str]:
    """The lines: gateway, docs, the admin and where their password is, where the logs are."""
    if generated_password is not None:
        where = (
            f"generated on this first start, shown once: {generated_password}\n"
            f"             kept in {state.admin_password_file} (mode 0600)"
        )
    elif state.admin_password_file.exists():
        where = f"in {state.admin_password_file}"
    else:
        where = "from ADMIN_PASSWORD"
    return [
        f"mesh is up: {url}",
        f"  API docs:  {url}/docs",
        f"  admin:     {admin_username}, password {where}",
        "  a token:   uv run mesh token",
        f"  logs:      uv run mesh logs [NAME]  ({state.logs})",
    ]
