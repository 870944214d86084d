#!/usr/bin/env bash
# Make the Debian root file system of tc's local base-image stand-ins, as one tarball.
#
#   bash scripts/build-rootfs.sh OUT.tar
#
# debootstrap (minbase, bookworm) with python3, pip and the tools the train container's
# Dockerfile installs (s3fs, fuse, jq, libxml2-utils, curl, procps), `user_allow_other` in
# /etc/fuse.conf, `python` -> python3, apt caches removed; written as OUT.tar atomically.
# Nothing here talks to Docker: `tc base-image` imports the tarball (tcli/baseimage.py), and
# `make demo` runs this script in the background while it installs tc.
#
# Safe to run twice at once (flock on OUT.tar.lock: the second waits, then finds OUT.tar).
# An interrupted or failed run leaves no OUT.tar and removes its temporary tree.
# Environment: TC_DEBIAN_MIRROR (default http://deb.debian.org/debian), TC_DEBIAN_SUITE (bookworm).
set -euo pipefail

out=${1:?usage: build-rootfs.sh OUT.tar}
mirror=${TC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${TC_DEBIAN_SUITE:-bookworm}
packages=python3,python3-venv,python3-pip,ca-certificates,s3fs,fuse,jq,libxml2-utils,curl,procps

log() { printf '[build-rootfs] %s\n' "$*" >&2; }

mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
if [ -s "$out" ]; then log "reusing $out"; exit 0; fi

command -v debootstrap >/dev/null || {
  log "debootstrap not found: install it (apt-get install -y debootstrap, or bash scripts/provision-docker.sh)"
  exit 3; }
[ "$(id -u)" = 0 ] || { log "debootstrap needs root: run this as root (or with sudo)"; exit 3; }

root=$(mktemp -d "$(dirname "$out")/rootfs.XXXXXX")
cleanup() { rm -rf "$root" "$out.tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
log "debootstrap $suite (minbase + python3, s3fs, fuse, jq, libxml2-utils, curl) from $mirror (about a minute)"
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
  tail -15 "$root.log" >&2
  log "debootstrap failed (log above): the build needs Debian's package mirror ($mirror, TC_DEBIAN_MIRROR)"
  rm -f "$root.log"
  exit 1
fi
rm -f "$root.log"
grep -q '^user_allow_other' "$root/etc/fuse.conf" 2>/dev/null || echo user_allow_other >>"$root/etc/fuse.conf"
ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" --numeric-owner -cf "$out.tmp" .
mv "$out.tmp" "$out"
log "wrote $out ($(du -h "$out" | cut -f1))"
