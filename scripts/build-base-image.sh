#!/usr/bin/env bash
# Build (or reuse) the local stand-ins for NVIDIA's PyTorch base image, without any registry.
#
#   scripts/build-base-image.sh [--flavor sklearn|torch|all] [--wheelhouse DIR] [--force]
#
# A thin wrapper of `tc base-image` (tcli/baseimage.py; docs/base-image.md), kept for old
# instructions; installs the CLI into .venv first when it is not there. Default flavor: torch.
# The last line printed is the image tag.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TC=${TC:-$here/.venv/bin/tc}
[ -x "$TC" ] || make -s -C "$here" install-core >&2
case " $* " in *" --flavor "*|*" -f "*) exec "$TC" base-image "$@" ;; esac
exec "$TC" base-image --flavor torch "$@"
