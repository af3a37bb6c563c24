import pytest

from storage.filenames import content_disposition, filename_problem


@pytest.mark.parametrize(
    "name", ["report.pdf", "notes été.txt", "日本語.md", ".bashrc", "a..b", "x" * 255]
)
def test_plain_names_are_accepted(name: str) -> None:
    assert filename_problem(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        (" ", "empty"),
        ("../x", "path"),
        ("a/b", "path"),
        ("a\\b", "path"),
        ("..", "path"),
        (".", "path"),
        ("a\x00b", "control"),
        ("a\x1fb", "control"),
        ("a\x7fb", "control"),
        ("a\u202eb", "control"),
        (" a.txt", "whitespace"),
        ("x" * 256, "bytes"),
        ("é" * 128, "bytes"),
    ],
)
def test_unsafe_names_are_refused_with_a_reason(name: str, reason: str) -> None:
    problem = filename_problem(name)

    assert problem is not None
    assert reason in problem


def test_content_disposition_keeps_the_exact_name_and_an_ascii_fallback() -> None:
    header = content_disposition('résumé "final"; v2%.pdf')

    assert header == (
        'attachment; filename="r_sum_ _final__ v2_.pdf"; '
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%3B%20v2%25.pdf"
    )
