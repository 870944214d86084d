#!/usr/bin/env bash
# `make demo`: from a fresh clone to a printed score. Provision Docker, install the CLI, build the
# stand-in base image the demo template needs (when NVIDIA's image is not here), render a
# container, make demo data, build and run it, print score, model and where the time went.
#
#   DEMO_DIR=/tmp/tc-demo TC=.venv/bin/tc bash scripts/demo.sh
#
# Work that does not depend on each other runs side by side: the Debian root file system of the
# stand-in (debootstrap, ~1 min) is made while tc installs into .venv.
#
# Environment:
#   DEMO_DIR          where the project is rendered (re-created on every run)
#   TC                the tc executable (default: .venv/bin/tc)
#   TC_DEMO_TEMPLATE  sklearn (default, a few seconds on CPU), classification, detection, segmentation
#   TC_BASE_IMAGE     base image (default: the project's, NVIDIA's PyTorch image, when present locally;
#                     otherwise tc dev-run picks the local stand-in for the template)
#   TC_NETWORK        network for build and run (default here: host)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TC=${TC:-$here/.venv/bin/tc}
MAKE=${MAKE:-make}
DEMO_DIR=${DEMO_DIR:-/tmp/tc-demo}
TEMPLATE=${TC_DEMO_TEMPLATE:-sklearn}
export TC_NETWORK=${TC_NETWORK:-host}
tc_home=${TC_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/tc}
rootfs=$tc_home/base-images/rootfs-bookworm.tar

t0=$(date +%s.%N)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '\n== %s\n' "$*"; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# --- provision: Docker engine (+ debootstrap) -------------------------------------------------
t=$(now)
if ! docker info >/dev/null 2>&1 || ! command -v debootstrap >/dev/null; then
  say "provision: Docker engine and debootstrap (scripts/provision-docker.sh)"
  bash "$here/scripts/provision-docker.sh" || {
    echo "demo: no Docker engine; install docker.io and start dockerd, then run make demo again" >&2
    exit 3; }
fi
t_provision=$(secs "$t" "$(now)")

# --- install tc, and meanwhile the stand-in's root file system --------------------------------
flavor=torch; [ "$TEMPLATE" = sklearn ] && flavor=sklearn
stand_in=tc-local/pytorch:2.14.1; [ "$flavor" = sklearn ] && stand_in=tc-local/python-sklearn:bookworm
default_base=$(sed -n '/^base_image:/,/^[a-z]/s/^  default: *//p' "$here/scaffolds/copier.yml" | head -1)
need_base=0
if [ -z "${TC_BASE_IMAGE:-}" ] && ! have_image "$default_base" && ! have_image "$stand_in"; then need_base=1; fi
rootfs_pid=
if [ "$need_base" = 1 ] && ! have_image tc-local/debian-python:bookworm && [ ! -s "$rootfs" ]; then
  say "base image: $default_base is not here; making the stand-in's Debian root file system meanwhile"
  mkdir -p "$(dirname "$rootfs")"
  bash "$here/scripts/build-rootfs.sh" "$rootfs" 2>"$tc_home/base-images/rootfs.log" &
  rootfs_pid=$!
fi
t=$(now)
say "install: tc into .venv ($MAKE install-core)"
"$MAKE" -s -C "$here" install-core
t_install=$(secs "$t" "$(now)")

t=$(now)
if [ -n "$rootfs_pid" ]; then
  wait "$rootfs_pid" || { cat "$tc_home/base-images/rootfs.log" >&2; exit 1; }
fi
if [ "$need_base" = 1 ]; then
  say "base image: building the $flavor stand-in $stand_in (tc base-image --flavor $flavor)"
  "$TC" base-image --flavor "$flavor" >/dev/null
fi
t_base=$(secs "$t" "$(now)")

say "tc new $DEMO_DIR --template $TEMPLATE"
rm -rf "$DEMO_DIR"
"$TC" new "$DEMO_DIR" --template "$TEMPLATE" --defaults --no-git

say "tc dev-run $DEMO_DIR --demo  (demo data, build, run)"
summary="$DEMO_DIR/.tc/demo-summary.json"
mkdir -p "$DEMO_DIR/.tc"
# progress streams on stderr; the JSON summary lands in $summary
"$TC" dev-run "$DEMO_DIR" --demo --json >"$summary"

python3 - "$summary" "$t_provision" "$t_install" "$t_base" "$(secs "$t0" "$(now)")" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
provision, install, base, total = sys.argv[2:6]
size = s.get("model_bytes") or 0
d = s["durations"]
print()
print(f"demo: {s['template']} {s['status']}")
print(f"  score  {s['score_name']} {s['score']}")
print(f"  model  {s['model_file'] or s['model_filepath']} ({size} bytes)")
print(f"  base   {s.get('base_image')}")
print(f"  time   provision {provision} s, install {install} s (root file system alongside), "
      f"base image {base} s, build {d.get('build')} s, setup {d.get('setup')} s, train {d.get('train')} s")
print(f"  total  {total} s")
EOF
