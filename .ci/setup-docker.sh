#!/usr/bin/env bash
# Make a Docker Engine and the air-gapped base image available for the docker target's tests.
#
#   * installs docker.io and debootstrap from Debian packages when they are absent
#   * starts dockerd when no engine answers, and waits for its socket
#   * builds multicloud/python:3.11-bookworm and the gateway's multicloud/haproxy:2.6-bookworm with the
#     product's own code (multicloud.providers.docker.base_image), each skipped when it exists already
#   * builds multicloud/nats:bookworm, the air-gapped broker image (providers/docker/broker_image.py), likewise
#
# Idempotent and quick on a machine that has everything. Any failure exits non-zero: in CI the Docker
# tests never skip, so a missing engine must fail here, loudly, not later as skipped tests.
set -euo pipefail

cd "$(dirname "$0")/.."
BASE_IMAGE="${MULTICLOUD_BASE_IMAGE:-multicloud/python:3.11-bookworm}"
PROXY_IMAGE="${MULTICLOUD_PROXY_IMAGE:-multicloud/haproxy:2.6-bookworm}"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

log() { echo "setup-docker: $*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need_pkgs+=(debootstrap)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing ${need_pkgs[*]} from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if [ -n "${DOCKER_HOST:-}" ]; then
    log "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local dockerd for a remote engine"
    exit 1
  fi
  log "starting dockerd"
  # descriptors 3-9 closed: a daemon that inherits a caller's open file (a flock'd lock, a pipe) would hold
  # it for as long as the engine runs
  $SUDO sh -c 'nohup dockerd >/var/log/multicloud-dockerd.log 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &'
  for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    log "dockerd did not come up within 60 s; last log lines:"
    tail -n 20 /var/log/multicloud-dockerd.log >&2 || true
    exit 1
  fi
fi
log "engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

BROKER_IMAGE="${MULTICLOUD_BROKER_IMAGE:-multicloud/nats:bookworm}"
if docker image inspect "$BROKER_IMAGE" >/dev/null 2>&1; then
  log "$BROKER_IMAGE exists (cached)"
else
  log "building $BROKER_IMAGE (nats-server from Debian packages) with debootstrap (about 40 s)"
  "$PYTHON" - "$BROKER_IMAGE" <<'PY'
import sys

from multicloud.providers.docker.broker_image import build_broker_image

print(build_broker_image(sys.argv[1], lambda m: print(f"setup-docker: {m}", file=sys.stderr)))
PY
fi

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "$BASE_IMAGE exists (cached)"
else
  log "building $BASE_IMAGE with debootstrap (about a minute)"
  version="${BASE_IMAGE##*:}"; version="${version%%-*}"
  "$PYTHON" - "$version" "$BASE_IMAGE" <<'PY'
import sys

from multicloud.providers.docker.base_image import build_base_image

print(build_base_image(sys.argv[1], sys.argv[2], lambda m: print(f"setup-docker: {m}", file=sys.stderr)))
PY
fi

if docker image inspect "$PROXY_IMAGE" >/dev/null 2>&1; then
  log "$PROXY_IMAGE exists (cached)"
else
  log "building $PROXY_IMAGE (the gateway's HAProxy) with debootstrap (about a minute)"
  "$PYTHON" - "$PROXY_IMAGE" <<'PY'
import sys

from multicloud.providers.docker.base_image import build_proxy_image

print(build_proxy_image(sys.argv[1], lambda m: print(f"setup-docker: {m}", file=sys.stderr)))
PY
fi
