"""Dependencies of the storage routes, declared once."""

from typing import Annotated

from fastapi import Depends, Request

from storage.service import FileService


def file_service(request: Request) -> FileService:
    service: FileService = request.app.state.files
    return service


FileServiceDep = Annotated[FileService, Depends(file_service)]
