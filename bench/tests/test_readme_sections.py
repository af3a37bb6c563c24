"""`make bench` rewrites its own README sections and nothing else."""

from bench.__main__ import write_section


def section(name: str, body: str) -> str:
    return f"<!-- bench:{name} -->\n{body}\n<!-- /bench:{name} -->\n"


def test_a_new_section_is_appended() -> None:
    readme = "# Title\n\ntext\n"
    updated = write_section(readme, "auth_login", "| a | b |")
    assert updated == "# Title\n\ntext\n\n" + section("auth_login", "| a | b |")


def test_an_existing_section_is_replaced_in_place() -> None:
    readme = "A\n" + section("x", "old") + "B\n" + section("y", "keep")
    updated = write_section(readme, "x", "new")
    assert updated == "A\n" + section("x", "new") + "B\n" + section("y", "keep")
