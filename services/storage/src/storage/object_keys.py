"""Where a file's bytes live in the bucket; every key is chosen by the server.

- `uploads/{file_id}`: a single upload's staging object, the only key a presigned PUT writes.
  It stays writable until the URL expires, so nothing is ever served from it.
- `files/{file_id}/{copy_id}`: a single upload's sealed object, copied from the staging object
  when `complete` verified it. No URL can write it; each completion attempt copies to its own
  key, so a losing concurrent attempt never overwrites the bytes the winner hashed.
- `objects/{file_id}`: a multipart upload's object, written only by CompleteMultipartUpload
  (part URLs name their upload id, which S3 refuses once the upload is complete); also where
  single uploads lived before staging keys, so records from then keep their key.
"""

import uuid

from common.ids import uuid7

STAGING_PREFIX = "uploads/"
SEALED_PREFIX = "files/"
OBJECT_PREFIX = "objects/"


def staging_key(file_id: uuid.UUID) -> str:
    return f"{STAGING_PREFIX}{file_id}"


def sealed_key(file_id: uuid.UUID) -> str:
    """A fresh key for one completion attempt's copy of the staging object."""
    return f"{SEALED_PREFIX}{file_id}/{uuid7().hex}"


def multipart_key(file_id: uuid.UUID) -> str:
    return f"{OBJECT_PREFIX}{file_id}"


def file_id_of(key: str) -> uuid.UUID | None:
    """The file id a key under one of our prefixes names, or None for a key we did not name."""
    for prefix in (STAGING_PREFIX, SEALED_PREFIX, OBJECT_PREFIX):
        if key.startswith(prefix):
            head = key.removeprefix(prefix)
            if prefix == SEALED_PREFIX:
                head, slash, tail = head.partition("/")
                if not slash or not tail or "/" in tail:
                    return None
            try:
                file_id = uuid.UUID(head)
            except ValueError:
                return None
            # Only the canonical form the service writes, not `{...}` or `urn:uuid:` variants.
            return file_id if str(file_id) == head else None
    return None
