"""What an end-to-end test needs of the mesh it talks to, local (`mesh.supervisor.Mesh`) or
deployed (compose, staging): its gateway URL and its admin's credentials."""

from typing import Protocol


class Gateway(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def admin_username(self) -> str: ...
    @property
    def admin_password(self) -> str: ...
