import itertools

import pytest

from rbac.patterns import Grants, InvalidPatternError, covers, validate_pattern


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


@pytest.mark.parametrize(
    ("held", "wanted", "covered"),
    [
        ("*", "*", True),
        ("*", "storage:*", True),
        ("storage:*", "*", False),
        ("storage:*", "storage:*:*", True),
        ("storage:*:*", "storage:*", True),
        ("storage:*", "storagex:*", False),
        ("storage:*", "scheduler:GET:/tasks", False),
        # A route storage does not serve yet is still storage's.
        ("storage:*", "storage:GET:/not-served-yet", True),
        ("storage:GET:*", "storage:*", False),
        ("storage:GET:*", "storage:*:*", False),
        ("storage:GET:*", "storage:*:/files", False),
        ("storage:GET:*", "storage:GET:*", True),
        ("storage:GET:*", "storage:GET:/files/*", True),
        ("storage:GET:*", "storage:GET:/not-served-yet", True),
        ("storage:GET:*", "storage:POST:/uploads", False),
        ("storage:GET:/files/*", "storage:GET:/files*", False),
        ("storage:GET:/files/*", "storage:GET:/files", False),
        ("storage:GET:/files/*", "storage:GET:/files/{file_id}", True),
        ("storage:GET:/files*", "storage:GET:/files/*", True),
        ("storage:GET:/files*", "storage:GET:/files", True),
        ("storage:GET:/files*", "storage:GET:/filesystem", True),
        ("storage:GET:/files", "storage:GET:/files*", False),
        ("storage:GET:/files", "storage:GET:/files", True),
        ("storage:GET:/files", "storage:GET:/files/{file_id}", False),
        ("storage:GET:/files", "storage:HEAD:/files", False),
        ("storage:*:/files", "storage:DELETE:/files", True),
        ("storage:DELETE:/files", "storage:*:/files", False),
        ("storage:*:/files*", "storage:GET:/files/*", True),
        ("storage:GET:/", "storage:GET:/*", False),
        ("storage:GET:/*", "storage:GET:/", True),
    ],
)
def test_a_pattern_covers_another_only_if_it_matches_every_code_the_other_does(
    held: str, wanted: str, covered: bool
) -> None:
    assert covers(held, wanted) is covered


def test_grants_cover_a_pattern_only_through_one_pattern_that_covers_it_whole() -> None:
    # Every method one by one still does not cover `storage:*`: a method added later would.
    every_method = Grants(
        f"storage:{m}:*" for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    )
    assert not every_method.covers("storage:*")
    assert every_method.covers("storage:PUT:/files/{file_id}")
    assert Grants(["storage:GET:/files", "scheduler:*"]).covers("scheduler:*:/tasks")
    assert not Grants([]).covers("storage:GET:/files")


def test_a_stored_pattern_the_grammar_refuses_covers_nothing() -> None:
    assert not Grants(["storage:GET:/fi*les"]).covers("storage:GET:/files")
    assert not Grants(["*"]).covers("storage:GET:/fi*les")


PATTERNS = [
    "*",
    "storage:*",
    "storage:*:*",
    "storage:GET:*",
    "storage:*:/files",
    "storage:*:/files*",
    "storage:GET:/files",
    "storage:GET:/files*",
    "storage:GET:/files/*",
    "storage:GET:/files/{file_id}",
    "storage:POST:/files",
    "storage:GET:/",
    "storage:GET:/*",
    "storagex:*",
    "scheduler:*",
    "scheduler:GET:/files",
]
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def witnesses(pattern: str) -> list[str]:
    """Codes `pattern` matches, including ones in services, methods and paths nobody serves."""
    service, _, rest = pattern.partition(":")
    method, _, path = rest.partition(":")
    services = ["storage", "scheduler", "other"] if service == "*" else [service]
    if pattern == "*" or rest == "*":
        method, path = "*", "*"
    methods = METHODS if method == "*" else (method,)
    if path.endswith("*"):
        stem = path[:-1]
        paths = [stem or "/", stem + "zz", stem + "/", stem + "/{id}"]
    else:
        paths = [path]
    return [f"{s}:{m}:{p}" for s in services for m in methods for p in paths]


def test_covers_agrees_with_what_the_patterns_match_on_codes_of_any_route_existing_or_not() -> None:
    universe = {code for pattern in PATTERNS for code in witnesses(pattern)}
    for held, wanted in itertools.product(PATTERNS, repeat=2):
        matched = {code for code in universe if Grants([wanted]).allows(code)}
        assert matched, wanted
        escaping = {code for code in matched if not Grants([held]).allows(code)}
        # Covered: nothing `wanted` matches escapes `held`; not covered: something does.
        assert covers(held, wanted) is (not escaping), (held, wanted, sorted(escaping)[:3])
