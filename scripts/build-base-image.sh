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
# Both stages are cached by tag: an existing tag is reused unless --force.
set -euo pipefail

DEBIAN_IMAGE=${TC_DEBIAN_IMAGE:-tc-local/debian-python:bookworm}
BASE_IMAGE=${TC_BASE_IMAGE:-tc-local/pytorch:2.14.1}
TORCH_SPEC=${TC_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
EXTRA_SPEC=${TC_EXTRA_SPEC:-"numpy==2.4.6 pillow==13.0.0 lxml==6.1.3 jsonschema==4.26.0 scikit-learn==1.9.1 onnx==1.23.2 onnxruntime==1.32.0 skl2onnx==1.20.0 onnxmltools==1.16.0 pycocotools==2.0.11"}
MIRROR=${TC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
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
  ca=/etc/ssl/certs/ca-certificates.crt
  pipconf=$(mktemp /tmp/tc-pip.XXXXXX.conf)
  # the host's pip configuration (local wheel folders, index) plus its CA bundle
  { echo '[global]'; pip3 config list 2>/dev/null | sed -n 's/^global\.\([a-z-]*\)=\(.*\)$/\1 = \2/p' | tr -d "'"; } >"$pipconf" || true
  name=tc-base-build-$$
  log "installing $TORCH_SPEC (+ template packages) into $name (about 3 minutes)"
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run --name "$name" --network host "${mounts[@]}" \
    -v "$ca:/tmp/host-ca.crt:ro" -v "$pipconf:/etc/pip.conf:ro" \
    -e PIP_CERT=/tmp/host-ca.crt -e PIP_DISABLE_PIP_VERSION_CHECK=1 -e PIP_NO_CACHE_DIR=1 \
    "$DEBIAN_IMAGE" bash -c "pip install -q $TORCH_SPEC $EXTRA_SPEC && python -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'" \
    || { docker rm -f "$name" >/dev/null 2>&1; rm -f "$pipconf"; exit 1; }
  docker commit \
    -c 'ENV PIP_BREAK_SYSTEM_PACKAGES=1 PYTHONUNBUFFERED=1' \
    -c 'LABEL org.tc.base-image=stand-in' \
    -c 'CMD ["/bin/bash"]' "$name" "$BASE_IMAGE" >/dev/null
  docker rm -f "$name" >/dev/null
  rm -f "$pipconf"
  log "built $BASE_IMAGE"
else
  log "reusing $BASE_IMAGE"
fi
echo "$BASE_IMAGE"
