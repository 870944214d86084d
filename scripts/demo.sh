#!/usr/bin/env bash
# `make demo`: render a train container, create demo data, build and run it, print score and model.
#
#   DEMO_DIR=/tmp/tc-demo TC=.venv/bin/tc bash scripts/demo.sh
#
# Environment:
#   DEMO_DIR          where the project is rendered (re-created on every run)
#   TC                the tc executable (default: tc on PATH)
#   TC_DEMO_TEMPLATE  sklearn (default, a few seconds on CPU), classification, detection, segmentation
#   TC_BASE_IMAGE     base image; default: the project's (NVIDIA's PyTorch image) when it is present
#                     locally, otherwise the local stand-in, built by scripts/build-base-image.sh
#   TC_NETWORK        network for build and run (default here: host)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TC=${TC:-tc}
DEMO_DIR=${DEMO_DIR:-/tmp/tc-demo}
TEMPLATE=${TC_DEMO_TEMPLATE:-sklearn}
export TC_NETWORK=${TC_NETWORK:-host}

say() { printf '\n== %s\n' "$*"; }

if ! docker info >/dev/null 2>&1; then
  say "Docker is not running here: installing/starting it (scripts/provision-docker.sh)"
  bash "$here/scripts/provision-docker.sh" || {
    echo "demo: no Docker engine; install docker.io and start dockerd, then run make demo again" >&2
    exit 3; }
fi

default_base=$(sed -n '/^base_image:/,/^[a-z]/s/^  default: *//p' "$here/scaffolds/copier.yml" | head -1)
if [ -z "${TC_BASE_IMAGE:-}" ]; then
  if [ -n "$default_base" ] && docker image inspect "$default_base" >/dev/null 2>&1; then
    say "base image: $default_base (present)"
  else
    say "base image: $default_base is not available here: using the local stand-in"
    TC_BASE_IMAGE=$(bash "$here/scripts/build-base-image.sh" | tail -1)
    export TC_BASE_IMAGE
  fi
fi

say "tc new $DEMO_DIR --template $TEMPLATE"
rm -rf "$DEMO_DIR"
"$TC" new "$DEMO_DIR" --template "$TEMPLATE" --defaults --no-git

say "tc dev-run $DEMO_DIR --demo  (demo data, build, run)"
summary="$DEMO_DIR/.tc/demo-summary.json"
mkdir -p "$DEMO_DIR/.tc"
# progress streams on stderr; the JSON summary lands in $summary
"$TC" dev-run "$DEMO_DIR" --demo --json >"$summary"

python3 - "$summary" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
size = s.get("model_bytes") or 0
print()
print(f"demo: {s['template']} {s['status']}")
print(f"  score  {s['score_name']} {s['score']}")
print(f"  model  {s['model_file'] or s['model_filepath']} ({size} bytes)")
d = s["durations"]
print(f"  time   build {d.get('build')} s, setup {d.get('setup')} s, train {d.get('train')} s")
EOF
