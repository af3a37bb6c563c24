import pytest

from rbac.patterns import Grants, InvalidPatternError, validate_pattern


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "storage:*",
        "storage:GET:*",
        "storage:*:*",
        "storage:POST:/uploads",
        "storage:GET:/files/{file_id}",
        "storage:GET:/files/*",
        "storage:*:/files/{file_id}",
        "rbac:GET:/",
    ],
)
def test_valid_patterns_are_accepted(pattern: str) -> None:
    assert validate_pattern(pattern) == pattern


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "storage",
        "storage:",
        "storage:GET",
        "storage:get:/files",
        "storage:FETCH:/files",
        "storage:GET:files",
        "stor*:GET:/files",
        "storage:G*:/files",
        "storage:GET:/fi*les",
        "storage:GET:/files/**",
        "*:GET:/files",
        "storage:GET:/files\n",
        "Storage:GET:/files",
    ],
)
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidPatternError):
        validate_pattern(pattern)


@pytest.mark.parametrize(
    ("patterns", "code", "allowed"),
    [
        (["storage:POST:/uploads"], "storage:POST:/uploads", True),
        (["storage:POST:/uploads"], "storage:POST:/uploads/{file_id}/complete", False),
        (["storage:*"], "storage:DELETE:/files/{file_id}", True),
        (["storage:*"], "storagex:GET:/files", False),
        (["storage:*"], "scheduler:GET:/tasks", False),
        (["storage:GET:*"], "storage:GET:/files/{file_id}", True),
        (["storage:GET:*"], "storage:DELETE:/files/{file_id}", False),
        (["storage:GET:/files/*"], "storage:GET:/files/{file_id}/download", True),
        (["storage:GET:/files/*"], "storage:GET:/files", False),
        (["storage:*:/files"], "storage:GET:/files", True),
        (["storage:*:/files"], "storage:GET:/x:/files", False),
        (["*"], "auth:GET:/users", True),
        ([], "auth:GET:/users", False),
        (["auth:GET:/users", "storage:*"], "auth:GET:/users", True),
    ],
)
def test_grants_allow_exactly_what_their_patterns_cover(
    patterns: list[str], code: str, allowed: bool
) -> None:
    grants = Grants(patterns)
    assert grants.allows(code) is allowed
    assert grants.allows(code) is allowed  # the memoised answer is the same
