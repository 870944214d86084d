#!/usr/bin/env bash
# Make a Docker engine usable on a Debian/Ubuntu machine: install what is missing, start dockerd.
#
#   bash scripts/provision-docker.sh [--with-test-tools]
#
# Installs (apt-get, only what is missing) docker.io and debootstrap (the local base image, see
# docs/base-image.md); with --with-test-tools also s3fs, fuse3, git, make (S3 mount tests), chromium +
# chromium-driver (browser tests) and docker-registry (a real registry on 127.0.0.1 for tc build --push).
# Starts dockerd in the background when no daemon answers and waits for it (log:
# /tmp/tc-dockerd.log). Needs root or password-less sudo for what it has to install or start;
# otherwise it says what to run and exits 3. Safe to run again: it does nothing when all is there.
set -euo pipefail

log() { printf '[provision-docker] %s\n' "$*" >&2; }
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO=(sudo -n); else SUDO=(__no_root__); fi
fi
as_root() {
  if [ "${SUDO[0]:-}" = __no_root__ ]; then
    log "needs root for: $*"; log "run it yourself (or with sudo), then run this again"; exit 3
  fi
  "${SUDO[@]}" "$@"
}

need=()
# a reachable daemon is enough; otherwise the engine must be here to be started
if ! docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null; then need+=(docker.io); fi
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ "${1:-}" = --with-test-tools ]; then
  command -v s3fs >/dev/null || need+=(s3fs)
  command -v fusermount3 >/dev/null || command -v fusermount >/dev/null || need+=(fuse3)
  command -v git >/dev/null || need+=(git)
  command -v make >/dev/null || need+=(make)
  # browser tests (tc form): Debian's chromium and its driver; tc build --push: a real registry
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
  command -v docker-registry >/dev/null || [ -x /usr/bin/docker-registry ] || need+=(docker-registry)
fi
if [ "${#need[@]}" -gt 0 ]; then
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends "${need[@]}" ca-certificates
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /tmp/tc-dockerd.log)"
  as_root sh -c 'nohup dockerd >/tmp/tc-dockerd.log 2>&1 &'
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -30 /tmp/tc-dockerd.log >&2; log "dockerd did not come up"; exit 1; }
fi
log "docker $(docker version --format '{{.Server.Version}}') is up"
