import uuid

import pytest

from storage.object_keys import file_id_of, multipart_key, sealed_key, staging_key

FILE_ID = uuid.UUID("01a22b90-b2e8-738b-b080-fcf6e5249c16")


def test_every_key_the_service_names_leads_back_to_its_file() -> None:
    keys = [staging_key(FILE_ID), sealed_key(FILE_ID), multipart_key(FILE_ID)]

    assert [file_id_of(k) for k in keys] == [FILE_ID] * 3


def test_each_completion_attempt_gets_its_own_sealed_key() -> None:
    assert sealed_key(FILE_ID) != sealed_key(FILE_ID)


@pytest.mark.parametrize(
    "key",
    [
        "objects/not-a-file-id",
        f"objects/{{{FILE_ID}}}",
        f"uploads/{FILE_ID.hex}",
        f"files/{FILE_ID}",
        f"files/{FILE_ID}/",
        f"files/{FILE_ID}/a/b",
        f"elsewhere/{FILE_ID}",
    ],
)
def test_keys_the_service_did_not_name_belong_to_no_file(key: str) -> None:
    assert file_id_of(key) is None
