"""The storage routes: presigned uploads, multipart, files and buckets."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from common.errors import error_responses
from common.pagination import Page, PageQueryDep, page_slice
from common.security import AdminUserDep, CurrentUserDep
from common.strict_input import DecimalDigits
from storage.deps import FileServiceDep
from storage.errors import (
    AlreadyCompletedError,
    ContentTypeMismatchError,
    FileNotReadyError,
    InvalidPartsError,
    InvalidUploadRequestError,
    ObjectMissingError,
    SizeMismatchError,
    StorageUnavailableError,
    StoredFileNotFoundError,
    UploadChangedError,
    WrongUploadKindError,
)
from storage.schemas import (
    BucketRead,
    DownloadLink,
    FileRead,
    MultipartCompletionCreate,
    MultipartCreate,
    MultipartTicket,
    UploadCreate,
    UploadTicket,
)
from storage.settings import MAX_URL_EXPIRY_SECONDS

router = APIRouter()

_COMPLETE_ERRORS = error_responses(
    StoredFileNotFoundError, AlreadyCompletedError, InvalidPartsError, StorageUnavailableError
)


@router.post(
    "/uploads",
    status_code=status.HTTP_201_CREATED,
    summary="Start a single upload: a presigned PUT pinned to the content type",
    tags=["uploads"],
    responses=error_responses(InvalidUploadRequestError, StorageUnavailableError),
)
async def start_upload(
    body: UploadCreate, user: CurrentUserDep, files: FileServiceDep
) -> UploadTicket:
    return await files.start_upload(user, body)


@router.post(
    "/uploads/{file_id}/complete",
    summary="Check the uploaded object, seal a copy of it and mark the file ready",
    tags=["uploads"],
    responses={
        **_COMPLETE_ERRORS,
        **error_responses(
            ObjectMissingError,
            SizeMismatchError,
            ContentTypeMismatchError,
            UploadChangedError,
            WrongUploadKindError,
        ),
    },
)
async def complete_upload(file_id: UUID, user: CurrentUserDep, files: FileServiceDep) -> FileRead:
    return await files.complete_upload(user, file_id)


@router.post(
    "/multipart",
    status_code=status.HTTP_201_CREATED,
    summary="Start a multipart upload: a presigned PUT per part",
    tags=["uploads"],
    responses=error_responses(InvalidUploadRequestError, StorageUnavailableError),
)
async def start_multipart(
    body: MultipartCreate, user: CurrentUserDep, files: FileServiceDep
) -> MultipartTicket:
    return await files.start_multipart(user, body)


@router.post(
    "/multipart/{file_id}/complete",
    summary="Assemble the uploaded parts and mark the file ready",
    tags=["uploads"],
    responses={**_COMPLETE_ERRORS, **error_responses(SizeMismatchError, WrongUploadKindError)},
)
async def complete_multipart(
    file_id: UUID, body: MultipartCompletionCreate, user: CurrentUserDep, files: FileServiceDep
) -> FileRead:
    return await files.complete_multipart(user, file_id, body.parts)


@router.delete(
    "/multipart/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Abort a multipart upload",
    tags=["uploads"],
    responses=error_responses(
        StoredFileNotFoundError,
        AlreadyCompletedError,
        WrongUploadKindError,
        StorageUnavailableError,
    ),
)
async def abort_multipart(file_id: UUID, user: CurrentUserDep, files: FileServiceDep) -> None:
    await files.abort_multipart(user, file_id)


@router.get("/files", summary="List files (your own; every file for admins)", tags=["files"])
async def list_files(
    user: CurrentUserDep, page: PageQueryDep, files: FileServiceDep
) -> Page[FileRead]:
    return await files.page(user, page)


@router.get(
    "/files/{file_id}",
    summary="One file's metadata",
    tags=["files"],
    responses=error_responses(StoredFileNotFoundError),
)
async def get_file(file_id: UUID, user: CurrentUserDep, files: FileServiceDep) -> FileRead:
    return await files.get_file(user, file_id)


@router.get(
    "/files/{file_id}/download",
    summary="A presigned download URL",
    tags=["files"],
    responses=error_responses(
        StoredFileNotFoundError, FileNotReadyError, InvalidUploadRequestError
    ),
)
async def download_file(
    file_id: UUID,
    user: CurrentUserDep,
    files: FileServiceDep,
    expires_in: Annotated[
        int | None,
        Query(
            description="URL lifetime in seconds (at most STORAGE_MAX_URL_EXPIRY_SECONDS, "
            "7 days by default)",
            json_schema_extra={"minimum": 1, "maximum": MAX_URL_EXPIRY_SECONDS},
        ),
        DecimalDigits,
    ] = None,
) -> DownloadLink:
    return await files.download(user, file_id, expires_in)


@router.delete(
    "/files/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a file: its object and its metadata",
    tags=["files"],
    responses=error_responses(StoredFileNotFoundError, StorageUnavailableError),
)
async def delete_file(file_id: UUID, user: CurrentUserDep, files: FileServiceDep) -> None:
    await files.delete_file(user, file_id)


@router.get(
    "/buckets",
    summary="Buckets with object count and total size (admins)",
    tags=["buckets"],
    responses=error_responses(StorageUnavailableError),
)
async def list_buckets(
    _admin: AdminUserDep, page: PageQueryDep, files: FileServiceDep
) -> Page[BucketRead]:
    buckets = await files.buckets()
    return Page[BucketRead](items=page_slice(buckets, page), total=len(buckets))
