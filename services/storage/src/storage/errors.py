"""The storage service's domain errors, each with a stable `code`."""

from common.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)


class FileNotFound(NotFoundError):
    """Unknown id, or a file of another user (the two are indistinguishable on purpose)."""

    code = "file_not_found"
    title = "File not found"


class InvalidUploadRequest(InvalidInputError):
    """A filename, content type, size, part size or expiry the service refuses."""


class AlreadyCompleted(ConflictError):
    code = "already_completed"
    title = "Upload already completed"


class WrongUploadKind(ConflictError):
    code = "wrong_upload_kind"
    title = "Wrong kind of upload"


class ObjectMissing(ConflictError):
    code = "object_missing"
    title = "Nothing was uploaded"


class SizeMismatch(ConflictError):
    code = "size_mismatch"
    title = "Uploaded size differs from the declared size"


class InvalidParts(DomainError):
    """Missing, unknown, duplicate or foreign parts in a multipart completion."""

    status = 422
    code = "invalid_parts"
    title = "Parts do not match the upload"


class FileNotReady(ConflictError):
    code = "file_not_ready"
    title = "File not ready"


class StorageUnavailable(ServiceUnavailableError):
    code = "storage_unavailable"
    title = "Object storage unavailable"


class MetadataUnavailable(ServiceUnavailableError):
    code = "metadata_unavailable"
    title = "File metadata unavailable"


class ContentTypeMismatch(ConflictError):
    code = "content_type_mismatch"
    title = "Uploaded content type differs from the declared one"


class UploadChanged(ConflictError):
    code = "upload_changed"
    title = "The upload changed while it was checked"
