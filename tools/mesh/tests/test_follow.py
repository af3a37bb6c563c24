"""The foreground follower prints this run's log lines only, each prefixed with its process."""

from pathlib import Path

from mesh.banner import banner
from mesh.follow import LogFollower
from mesh.state import StateDir


def test_the_follower_starts_at_the_end_of_logs_an_earlier_run_wrote(tmp_path: Path) -> None:
    valkey, mongo, absent = tmp_path / "valkey.log", tmp_path / "mongo.log", tmp_path / "s3.log"
    valkey.write_text("earlier run 1\nearlier run 2\n")
    mongo.write_text("earlier run\n")
    printed: list[str] = []
    follower = LogFollower({"valkey": valkey, "mongo": mongo, "s3": absent}, printed.append)

    follower.poll()
    assert printed == []

    with valkey.open("a") as log:
        log.write("this run\nhalf a li")
    absent.write_text("s3 started\n")
    follower.poll()
    assert printed == ["valkey | this run", "s3     | s3 started"]

    with valkey.open("a") as log:
        log.write("ne\n")
    follower.poll()
    assert printed[-1] == "valkey | half a line"


def test_the_banner_names_the_gateway_the_docs_the_admin_and_where_the_password_is(
    tmp_path: Path,
) -> None:
    state = StateDir(tmp_path)
    state.create()
    state.admin_password("")  # generated and stored, as on a first start

    lines = "\n".join(banner("http://127.0.0.1:8000", "admin", state))

    assert "http://127.0.0.1:8000/docs" in lines
    assert f"admin, password in {state.admin_password_file}" in lines
    assert state.admin_password_file.read_text().strip() not in lines
    shown = "\n".join(banner("http://x", "admin", state, generated_password="s3cret"))
    assert "shown once: s3cret" in shown
