#!/usr/bin/env bash
# Build a local stand-in for NVIDIA's PyTorch base image without any registry.
#
#   scripts/build-base-image.sh [--force]
#
# Stage 1: debootstrap a minimal Debian bookworm with python3 and the tools the
#          train container's Dockerfile installs (s3fs, fuse3, jq, libxml2-utils,
#          curl), then `docker import` it as $TC_DEBIAN_IMAGE.
# Stage 2: run stage 1 with the host's wheel folders and pip configuration mounted
#          read-only, pip-install torch/torchvision (+ the heavy packages the
#          templates pin), and `docker commit` the result as $TC_BASE_IMAGE.
# Stage 3: bake the host's CA bundle into $TC_BASE_IMAGE and point PIP_CERT at it, so
#          `pip install -r requirements.txt` in a train container build works behind a
#          TLS-intercepting proxy. Idempotent: the image is labelled with the bundle's
#          sha256 and only re-committed (seconds) when the host bundle changed.
# Every stage is cached by tag: an existing tag is reused unless --force.
# Builds use host networking (TC_NETWORK, default host): the default bridge may not
# route on build machines.
set -euo pipefail

DEBIAN_IMAGE=${TC_DEBIAN_IMAGE:-tc-local/debian-python:bookworm}
BASE_IMAGE=${TC_BASE_IMAGE:-tc-local/pytorch:2.14.1}
TORCH_SPEC=${TC_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
EXTRA_SPEC=${TC_EXTRA_SPEC:-"numpy==2.4.6 pillow==13.0.0 lxml==6.1.3 jsonschema==4.26.0 scikit-learn==1.9.1 onnx==1.23.2 onnxruntime==1.32.0 skl2onnx==1.20.0 onnxmltools==1.16.0 pycocotools==2.0.11"}
MIRROR=${TC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
HOST_CA=${TC_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
IMAGE_CA=/usr/local/share/tc/host-ca.crt
NETWORK=${TC_NETWORK:-host}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { printf '[build-base-image] %s\n' "$*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

command -v docker >/dev/null || { log "docker CLI not found: install docker.io"; exit 1; }
docker info >/dev/null 2>&1 || { log "Docker daemon not reachable: start dockerd"; exit 1; }

if [ "$FORCE" = 1 ] || ! have_image "$DEBIAN_IMAGE"; then
  command -v debootstrap >/dev/null || { log "debootstrap not found: apt-get install -y debootstrap"; exit 1; }
  root=$(mktemp -d /tmp/tc-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  log "debootstrap bookworm into $root (about a minute)"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates,s3fs,fuse,jq,libxml2-utils,curl,procps \
    bookworm "$root" "$MIRROR" >/tmp/tc-debootstrap.log 2>&1 || { tail -20 /tmp/tc-debootstrap.log >&2; exit 1; }
  # fuse: let the platform's s3fs mount be used by other users, as its Dockerfile does
  grep -q '^user_allow_other' "$root/etc/fuse.conf" 2>/dev/null || echo user_allow_other >>"$root/etc/fuse.conf"
  ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  log "docker import -> $DEBIAN_IMAGE"
  tar -C "$root" -c . | docker import \
    -c 'ENV PIP_BREAK_SYSTEM_PACKAGES=1 PYTHONUNBUFFERED=1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/bash"]' - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$root"; trap - EXIT
else
  log "reusing $DEBIAN_IMAGE"
fi

if [ "$FORCE" = 1 ] || ! have_image "$BASE_IMAGE"; then
  mounts=()
  for d in /opt/wheels /opt/pypi /opt/pypi-more; do
    [ -d "$d" ] && mounts+=(-v "$d:$d:ro")
  done
  ca_mount=() ca_env=() ca_copy=true ca_commit=()
  if [ -r "$HOST_CA" ]; then
    ca_mount=(-v "$HOST_CA:/tmp/host-ca.crt:ro")
    ca_env=(-e PIP_CERT=/tmp/host-ca.crt)
    ca_copy="mkdir -p $(dirname "$IMAGE_CA") && cp /tmp/host-ca.crt $IMAGE_CA"
    ca_commit=(-c "ENV PIP_CERT=$IMAGE_CA" -c "LABEL org.tc.host-ca=$(sha256sum "$HOST_CA" | cut -c1-64)")
  fi
  pipconf=$(mktemp /tmp/tc-pip.XXXXXX.conf)
  # the host's pip configuration (local wheel folders, index)
  { echo '[global]'; pip3 config list 2>/dev/null | sed -n 's/^global\.\([a-z-]*\)=\(.*\)$/\1 = \2/p' | grep -v '^cert =' | tr -d "'"; } >"$pipconf" || true
  name=tc-base-build-$$
  log "installing $TORCH_SPEC (+ template packages) into $name (about 3 minutes)"
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run --name "$name" --network "$NETWORK" "${mounts[@]}" "${ca_mount[@]}" -v "$pipconf:/etc/pip.conf:ro" \
    "${ca_env[@]}" -e PIP_DISABLE_PIP_VERSION_CHECK=1 -e PIP_NO_CACHE_DIR=1 \
    "$DEBIAN_IMAGE" bash -c "pip install -q $TORCH_SPEC $EXTRA_SPEC && python -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__)' && $ca_copy" \
    || { docker rm -f "$name" >/dev/null 2>&1; rm -f "$pipconf"; exit 1; }
  docker commit \
    -c 'ENV PIP_BREAK_SYSTEM_PACKAGES=1 PYTHONUNBUFFERED=1' "${ca_commit[@]}" \
    -c 'LABEL org.tc.base-image=stand-in' \
    -c 'CMD ["/bin/bash"]' "$name" "$BASE_IMAGE" >/dev/null
  docker rm -f "$name" >/dev/null
  rm -f "$pipconf"
  log "built $BASE_IMAGE"
else
  log "reusing $BASE_IMAGE"
fi

# Stage 3: the host's CA bundle inside the image (also fixes images built before this step)
if [ -r "$HOST_CA" ]; then
  want=$(sha256sum "$HOST_CA" | cut -c1-64)
  have=$(docker image inspect -f '{{ index .Config.Labels "org.tc.host-ca" }}' "$BASE_IMAGE" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    name=tc-base-ca-$$
    log "baking $HOST_CA into $BASE_IMAGE (PIP_CERT=$IMAGE_CA)"
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker run --name "$name" --network none -v "$HOST_CA:/tmp/host-ca.crt:ro" "$BASE_IMAGE" \
      bash -c "mkdir -p $(dirname "$IMAGE_CA") && cp /tmp/host-ca.crt $IMAGE_CA" \
      || { docker rm -f "$name" >/dev/null 2>&1; exit 1; }
    docker commit -c "ENV PIP_CERT=$IMAGE_CA" -c "LABEL org.tc.host-ca=$want" \
      -c 'CMD ["/bin/bash"]' "$name" "$BASE_IMAGE" >/dev/null
    docker rm -f "$name" >/dev/null
  fi
fi
echo "$BASE_IMAGE"
