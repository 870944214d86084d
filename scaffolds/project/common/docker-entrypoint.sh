#!/usr/bin/env bash
# Entrypoint of a train container (platform contract §4):
#   1. load $WORKSPACE/.env as KEY=value data (values there win: the platform rewrites
#      DATASET_ID in it to switch the dataset of an existing container before `docker start`)
#   2. require DATASET_ID (positive integer)
#   3. mount the user's bucket at $MINIO_ROOT (skipped, with one info line, without S3 settings)
#   4. print the GPU inventory when nvidia-smi exists
#   5. python setup.py, then python config_to_args.py (which execs train.py with an argv list)
# Exit code: the first failing stage's. Paths are overridable for tests outside Docker:
# WORKSPACE (/workspace), MINIO_ROOT (/minio), DATASETS_ROOT (/datasets), PYTHON (python).
set -euo pipefail

WORKSPACE="${WORKSPACE:-/workspace}"
PYTHON="${PYTHON:-python}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOUNT_S3="${MOUNT_S3:-$HERE/mount-s3.sh}"

log() { printf '[entrypoint] %s\n' "$*"; }
die() { printf '[entrypoint] error: %s\n' "$*" >&2; exit "${2:-2}"; }

# KEY=value lines as data: no expansion, no command substitution, nothing executed.
DQ_RE='^"(.*)"$'
SQ_RE="^'(.*)'\$"
load_env_file() {
    local file="$1" line key value n=0
    [ -f "$file" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        line="${line%$'\r'}"
        # strip leading blanks
        line="${line#"${line%%[![:space:]]*}"}"
        case "$line" in ''|'#'*) continue ;; esac
        line="${line#export }"
        if [[ "$line" != *=* ]]; then
            log "warning: $file:$n: not KEY=value, ignored"
            continue
        fi
        key="${line%%=*}"
        value="${line#*=}"
        key="${key%"${key##*[![:space:]]}"}"
        if [[ ! "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
            log "warning: $file:$n: invalid variable name '$key', ignored"
            continue
        fi
        if [[ "$value" =~ $DQ_RE || "$value" =~ $SQ_RE ]]; then
            value="${BASH_REMATCH[1]}"
        fi
        export "$key=$value"
    done < "$file"
}

# Run a command as a child, forwarding SIGTERM/SIGINT to it; return its exit code.
run_forwarding() {
    local child rc
    "$@" &
    child=$!
    trap 'kill -TERM "$child" 2>/dev/null || true' TERM
    trap 'kill -INT "$child" 2>/dev/null || true' INT
    while true; do
        rc=0
        wait "$child" || rc=$?
        if kill -0 "$child" 2>/dev/null; then
            continue  # wait was interrupted by a forwarded signal; the child still runs
        fi
        break
    done
    trap - TERM INT
    return "$rc"
}

load_env_file "$WORKSPACE/.env"

DATASET_ID="${DATASET_ID:-}"
[ -n "$DATASET_ID" ] || die "DATASET_ID is not set (docker run -e DATASET_ID=<id>)"
[[ "$DATASET_ID" =~ ^[1-9][0-9]{0,17}$ ]] || die "DATASET_ID='$DATASET_ID' is not a positive integer"
export DATASET_ID
export MINIO_ROOT="${MINIO_ROOT:-/minio}"
export DATASETS_ROOT="${DATASETS_ROOT:-/datasets}"
export WORKSPACE
log "dataset $DATASET_ID: $MINIO_ROOT/datasets/$DATASET_ID"

if [ -n "${S3_HOST:-}" ] && [ -n "${OID_ACCESS_TOKEN:-}" ]; then
    bash "$MOUNT_S3" || die "mounting the dataset bucket failed (exit $?)" 3
else
    log "S3 mount skipped: S3_HOST/OID_ACCESS_TOKEN not set (local run: using $MINIO_ROOT as it is)"
fi

if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader \
        | sed 's/^/[entrypoint] GPU /' || log "nvidia-smi found but failed: no GPU inventory"
else
    log "no nvidia-smi: CPU only"
fi

cd "$WORKSPACE"
rc=0
run_forwarding "$PYTHON" setup.py || rc=$?
if [ "$rc" -ne 0 ]; then
    log "setup.py failed (exit $rc)"
    exit "$rc"
fi

if [ "$$" -eq 1 ]; then
    # As PID 1 a Python process without a SIGTERM handler ignores `docker stop`: stay as the
    # parent and forward the signal.
    rc=0
    run_forwarding "$PYTHON" config_to_args.py || rc=$?
    exit "$rc"
fi
exec "$PYTHON" config_to_args.py
