"""The storage service's domain errors, each with a stable `code`."""

from common.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)


class StoredFileNotFoundError(NotFoundError):
    """Unknown id, or a file of another user (the two are indistinguishable on purpose)."""

    code = "file_not_found"
    title = "File not found"


class InvalidUploadRequestError(InvalidInputError):
    """A filename, content type, size, part size or expiry the service refuses."""


class AlreadyCompletedError(ConflictError):
    code = "already_completed"
    title = "Upload already completed"


class WrongUploadKindError(ConflictError):
    code = "wrong_upload_kind"
    title = "Wrong kind of upload"


class ObjectMissingError(ConflictError):
    code = "object_missing"
    title = "Nothing was uploaded"


class SizeMismatchError(ConflictError):
    code = "size_mismatch"
    title = "Uploaded size differs from the declared size"


class InvalidPartsError(DomainError):
    """Missing, unknown, duplicate or foreign parts in a multipart completion."""

    status = 422
    code = "invalid_parts"
    title = "Parts do not match the upload"


class FileNotReadyError(ConflictError):
    code = "file_not_ready"
    title = "File not ready"


class StorageUnavailableError(ServiceUnavailableError):
    code = "storage_unavailable"
    title = "Object storage unavailable"


class MetadataUnavailableError(ServiceUnavailableError):
    code = "metadata_unavailable"
    title = "File metadata unavailable"


class ContentTypeMismatchError(ConflictError):
    code = "content_type_mismatch"
    title = "Uploaded content type differs from the declared one"


class UploadChangedError(ConflictError):
    code = "upload_changed"
    title = "The upload changed while it was checked"
