from common.ids import uuid7


def test_uuid7_has_version_7_and_the_rfc_variant() -> None:
    value = uuid7()
    assert value.version == 7
    assert value.variant == "specified in RFC 4122"


def test_uuid7_sorts_by_creation_time() -> None:
    values = [uuid7() for _ in range(2000)]
    timestamps = [v.int >> 80 for v in values]
    assert timestamps == sorted(timestamps)
    assert len(set(values)) == len(values)
