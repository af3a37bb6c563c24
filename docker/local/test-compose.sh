#!/usr/bin/env bash
# `make test-compose`: compose.yaml for real on this machine, then the e2e suite through its gateway.
#
# From a bare Debian machine (as root): installs the Docker engine when missing, starts a dockerd
# when none runs (and stops only that one), builds a debootstrapped Debian base image once
# (reused while its tag exists), the stand-ins of compose.local.yaml and the stack's own images,
# brings the stack up with --wait, runs tests-e2e against its gateway, and tears everything down,
# whatever failed. Our dockerd changes nothing in the host's networking: no iptables rules, no
# ip_forward, published ports on loopback only; builds use the host's network instead of NAT.
set -euo pipefail
cd "$(dirname "$0")/../.."
# docker/Dockerfile needs BuildKit (RUN --mount); Debian's 20.10 client uses it only when asked.
export DOCKER_BUILDKIT=1

PROJECT=amdb-compose-test
BASE_IMAGE=amdb-local/debian:trixie
BASE_SUITE=trixie
CACHE=${COMPOSE_TEST_CACHE:-/var/cache/amdb-compose-test}
WORK=$(mktemp -d /tmp/amdb-compose-test.XXXXXX)
DOCKERD_PID=
IP_FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
IPTABLES_BEFORE=
LINKS_BEFORE=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' || true)
COMPOSE=()
COMPOSE_FILES=()
PYTEST_ARGS=${PYTEST_ARGS:-}
STACK_UP=

log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*"; }

[[ $(id -u) == 0 ]] || { echo "make test-compose installs and starts the Docker engine: run it as root" >&2; exit 2; }

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

# The mirror this machine's apt sources name (the base image and trixie's packages come from it).
debian_mirror() {
  local uri
  uri=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -v security | awk '{print $2}' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

install_engine() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io containerd runc)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} (Debian packages)"
    apt_install "${missing[@]}"
  fi
}

# Compose v2 is not packaged for bookworm; the next release's docker-compose and docker-buildx
# depend on libc only and work as CLI plugins. They come from a private apt state (the host's
# sources stay as they are); when they do not install cleanly, Debian's compose v1 is used.
install_compose() {
  if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); return; fi
  log "installing compose v2 and buildx from Debian $BASE_SUITE"
  local apt_dir=$CACHE/apt-$BASE_SUITE
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $BASE_SUITE main" >"$apt_dir/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$apt_dir/lists" -o Dir::State::Status=/var/lib/dpkg/status)
  if apt-get "${opts[@]}" update -qq \
    && apt-cache "${opts[@]}" policy docker-compose docker-buildx \
    && (cd "$apt_dir/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download docker-compose docker-buildx) \
    && dpkg -i "$apt_dir"/debs/*.deb >/dev/null \
    && docker compose version && docker buildx version; then
    COMPOSE=(docker compose)
    return
  fi
  echo "compose v2 did not install cleanly; using Debian's compose v1" >&2
  dpkg -r docker-compose docker-buildx >/dev/null 2>&1 || true
  apt_install docker-compose
  COMPOSE=(docker-compose)
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then log "using the running Docker engine"; return; fi
  IPTABLES_BEFORE=$(iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]//' || true)
  log "starting dockerd (ours: stopped at the end)"
  # No default bridge (compose makes its own networks, builds use the host's), no iptables rules,
  # no ip_forward: the host's networking stays as it was.
  dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false --ip=127.0.0.1 \
    --host=unix:///var/run/docker.sock >"$CACHE/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && return
    kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 30 "$CACHE/dockerd.log" >&2; exit 1; }
    sleep 1
  done
  echo "dockerd did not answer within 60 s" >&2; tail -n 30 "$CACHE/dockerd.log" >&2; exit 1
}

stop_dockerd() {
  [[ -n $DOCKERD_PID ]] || return 0
  log "stopping our dockerd (pid $DOCKERD_PID)"
  kill "$DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
  kill -0 "$DOCKERD_PID" 2>/dev/null && kill -9 "$DOCKERD_PID" 2>/dev/null || true
  local after
  after=$(iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]//' || true)
  if [[ $after != "$IPTABLES_BEFORE" ]]; then
    echo "iptables changed while dockerd ran: restoring the rules from before" >&2
    diff <(echo "$IPTABLES_BEFORE") <(echo "$after") >&2 || true
    if [[ -n $IPTABLES_BEFORE ]]; then echo "$IPTABLES_BEFORE" | iptables-restore; else
      for table in filter nat; do iptables -t "$table" -F; iptables -t "$table" -X; done
    fi
  fi
}

restore_host() {
  local link
  [[ -n $DOCKERD_PID ]] || return 0
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^(docker0|br-[0-9a-f]{12})' || true); do
    grep -qxF "$link" <<<"$LINKS_BEFORE" || ip link delete "$link" 2>/dev/null || true
  done
  if [[ $(cat /proc/sys/net/ipv4/ip_forward) != "$IP_FORWARD_BEFORE" ]]; then
    echo "$IP_FORWARD_BEFORE" >/proc/sys/net/ipv4/ip_forward
  fi
}

teardown() {
  local status=$?
  set +e
  if [[ -n $STACK_UP ]]; then
    if ((status)); then
      "${COMPOSE[@]}" "${COMPOSE_FILES[@]}" ps --all
      "${COMPOSE[@]}" "${COMPOSE_FILES[@]}" logs --no-color --tail 40
    fi
    log "tearing the stack down (containers, networks, volumes)"
    "${COMPOSE[@]}" "${COMPOSE_FILES[@]}" down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1
  fi
  stop_dockerd
  restore_host
  rm -rf "$WORK"
  log "done (exit $status)"
  exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# The debootstrapped root filesystem, imported once: every image here starts from it. It trusts
# the host's CA bundle, so that apt and pip inside builds reach their registries the way the host
# does (a TLS-inspecting proxy included).
build_base() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then log "base image $BASE_IMAGE: cached"; return; fi
  local mirror rootfs=$WORK/rootfs
  mirror=$(debian_mirror)
  log "debootstrap $BASE_SUITE from $mirror into $BASE_IMAGE"
  debootstrap --variant=minbase "$BASE_SUITE" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 30 "$CACHE/debootstrap.log" >&2; return 1; }
  mkdir -p "$rootfs/etc/ssl"
  cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$rootfs/etc/ssl/host-ca-bundle.crt"
  printf '#!/bin/sh\n# No service starts while an image is built.\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  echo 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/90no-recommends"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV LANG=C.UTF-8' \
    -c 'ENV SSL_CERT_FILE=/etc/ssl/host-ca-bundle.crt' \
    -c 'ENV PIP_CERT=/etc/ssl/host-ca-bundle.crt' \
    -c 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/host-ca-bundle.crt' \
    -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
}

# The two images docker/Dockerfile builds from (python:3.13-slim and uv's, made here).
build_toolchain() {
  log "building amdb-local/python:3.13 and amdb-local/uv:0.13"
  local target tag
  for target in python:amdb-local/python:3.13 uv:amdb-local/uv:0.13; do
    tag=${target#*:}
    docker build --quiet --network host -f docker/local/Dockerfile --target "${target%%:*}" -t "$tag" . >/dev/null
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# What a newcomer does, from .env.example and the README: copy .env.example to .env, replace
# every placeholder secret, create the signing key with the command .env.example gives. Here
# in a temp dir, on free ports, so no developer's .env or key is touched.
prepare_env() {
  log "creating .env and the auth signing key the way .env.example says"
  cp .env.example "$WORK/.env"
  local command
  command=$(sed -n '/create it once with:/,/^[^#]/p' .env.example | sed -n 's/^#   //p')
  [[ -n $command ]] || { echo ".env.example no longer shows how to create the key" >&2; return 1; }
  (cd "$WORK" && sh -euc "$command" 2>keygen.log) || { cat "$WORK/keygen.log" >&2; return 1; }
  GATEWAY_PORT=$(free_port)
  S3_PUBLIC_PORT=$(free_port)
  ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  python3 - "$WORK/.env" <<PY
import re, secrets, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub("replace-with-a-long-random-string", lambda _: secrets.token_urlsafe(24), text)
values = {
    "GATEWAY_PORT": "127.0.0.1:$GATEWAY_PORT",
    "S3_PUBLIC_PORT": "127.0.0.1:$S3_PUBLIC_PORT",
    "S3_PUBLIC_ENDPOINT": "http://127.0.0.1:$S3_PUBLIC_PORT",
    "ADMIN_PASSWORD": "$ADMIN_PASSWORD",
    "AUTH_PRIVATE_KEY_PATH": "$WORK/secrets/auth-private-key.pem",
}
for name, value in values.items():
    text, found = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
    assert found == 1, name
open(path, "w").write(text)
PY
  COMPOSE_FILES=(-p "$PROJECT" --env-file "$WORK/.env" -f compose.yaml -f compose.local.yaml)
}

# Compose v1 has no `up --wait`: wait until every container is healthy or has exited with 0.
wait_v1() {
  local deadline=$((SECONDS + 600)) states
  while ((SECONDS < deadline)); do
    states=$(docker ps -a --filter "label=com.docker.compose.project=$PROJECT" \
      --format '{{.Names}}' | xargs docker inspect --format \
      '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}')
    if grep -qE ' exited [1-9]' <<<"$states"; then echo "$states" >&2; return 1; fi
    if ! grep -vE ' exited 0|running 0 healthy' <<<"$states" | grep -q .; then return 0; fi
    sleep 3
  done
  echo "$states" >&2
  return 1
}

mkdir -p "$CACHE"
START=$SECONDS
install_engine
start_dockerd
install_compose
build_base
build_toolchain
prepare_env
log "building the stack's images (compose.yaml + compose.local.yaml)"
"${COMPOSE[@]}" "${COMPOSE_FILES[@]}" build --quiet
BUILT=$SECONDS
log "starting the stack, gateway on 127.0.0.1:$GATEWAY_PORT"
STACK_UP=1
if [[ ${COMPOSE[0]} == docker-compose ]]; then
  "${COMPOSE[@]}" "${COMPOSE_FILES[@]}" up --detach --no-build
  wait_v1
else
  "${COMPOSE[@]}" "${COMPOSE_FILES[@]}" up --detach --no-build --wait --wait-timeout 600
fi
UP=$SECONDS
log "running tests-e2e against http://127.0.0.1:$GATEWAY_PORT"
MESH_URL=http://127.0.0.1:$GATEWAY_PORT MESH_ADMIN_USERNAME=admin MESH_ADMIN_PASSWORD=$ADMIN_PASSWORD \
  ${UV:-python3 -m uv} run --frozen pytest tests-e2e -p no:cacheprovider -q $PYTEST_ARGS
log "compose test passed: setup and builds $((BUILT - START)) s, up $((UP - BUILT)) s, tests $((SECONDS - UP)) s, total $((SECONDS - START)) s"
