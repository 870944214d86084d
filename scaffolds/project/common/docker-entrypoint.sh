#!/usr/bin/env bash
# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
# Entrypoint of a train container (platform contract §4):
#   1. load $WORKSPACE/.env as KEY=value data (values there win: the platform rewrites
#      DATASET_ID in it to switch the dataset of an existing container before `docker start`)
#   2. require DATASET_ID (positive integer)
#   3. mount the user's bucket at $MINIO_ROOT (skipped, with one info line, without S3 settings)
#   4. print the GPU inventory when nvidia-smi exists
#   5. python setup.py (once per node), then python config_to_args.py (which execs train.py
#      with an argv list) -- or, when TC_NPROC_PER_NODE (tc dev-run, a bigger machine) or
#      Kubeflow's PET_NNODES/PET_NPROC_PER_NODE ask for it, train.py under torchrun
#      (torchrun_launcher.py: torch.distributed.run, the exit status of the first failing
#      process or the signal the launcher got) with the same argv list: torchrun reads the other
#      PET_* variables (node rank, master address/port) itself; one node alone rendezvouses
#      on its own (--standalone).
# Exit code: the first failing stage's (under torchrun: the first failing process's; a signal
# ends the launcher with that signal). Paths are overridable for tests outside Docker:
# WORKSPACE (/workspace), MINIO_ROOT (/minio), DATASETS_ROOT (/datasets), PYTHON (python).
set -euo pipefail

WORKSPACE="${WORKSPACE:-/workspace}"
PYTHON="${PYTHON:-python}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOUNT_S3="${MOUNT_S3:-$HERE/mount-s3.sh}"

log() { printf '[entrypoint] %s\n' "$*"; }
die() { printf '[entrypoint] error: %s\n' "$1" >&2; exit "${2:-2}"; }

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

PROCS_RE='^([1-9][0-9]{0,3}|auto|cpu|gpu)$'
NODES_RE='^[1-9][0-9]{0,4}(:[1-9][0-9]{0,4})?$'
launch_torchrun() {
    local opts=() argv_file rc=0
    if [ -n "${TC_NPROC_PER_NODE:-}" ]; then
        [[ "$TC_NPROC_PER_NODE" =~ $PROCS_RE ]] \
            || die "TC_NPROC_PER_NODE='$TC_NPROC_PER_NODE' is not a process count (1-9999, auto, cpu, gpu)"
        opts+=(--nproc-per-node "$TC_NPROC_PER_NODE")
    elif [ -n "${PET_NPROC_PER_NODE:-}" ]; then
        [[ "$PET_NPROC_PER_NODE" =~ $PROCS_RE ]] \
            || die "PET_NPROC_PER_NODE='$PET_NPROC_PER_NODE' is not a process count (1-9999, auto, cpu, gpu)"
    fi
    if [ -n "${PET_NNODES:-}" ]; then
        [[ "$PET_NNODES" =~ $NODES_RE ]] || die "PET_NNODES='$PET_NNODES' is not a node count (N or MIN:MAX)"
    fi
    if [ -z "${PET_MASTER_ADDR:-}${PET_RDZV_ENDPOINT:-}" ]; then
        if [ -n "${MASTER_ADDR:-}" ] && [ -n "${PET_NNODES:-}" ]; then
            # Training Operator v1 (PyTorchJob) versions that set MASTER_ADDR/PORT and the
            # pod's RANK only
            opts+=(--master-addr "$MASTER_ADDR" --master-port "${MASTER_PORT:-29500}"
                   --node-rank "${PET_NODE_RANK:-${RANK:-0}}")
        elif [ "${PET_NNODES:-1}" = "1" ]; then
            opts+=(--standalone)
        else
            die "PET_NNODES=$PET_NNODES but no PET_MASTER_ADDR (or PET_RDZV_ENDPOINT) to meet the other nodes at"
        fi
    fi
    [ -f train.py ] || die "$WORKSPACE/train.py: missing"
    [ -f torchrun_launcher.py ] || die "$WORKSPACE/torchrun_launcher.py: missing (a tc runtime file)"
    argv_file="$(mktemp "${TMPDIR:-/tmp}/tc-argv.XXXXXX")"
    "$PYTHON" config_to_args.py --print > "$argv_file" || rc=$?
    if [ "$rc" -ne 0 ]; then
        rm -f "$argv_file"
        exit "$rc"
    fi
    log "torchrun: ${TC_NPROC_PER_NODE:-${PET_NPROC_PER_NODE:-1}} process(es) per node, ${PET_NNODES:-1} node(s), node rank ${PET_NODE_RANK:-0}"
    if [ "$$" -eq 1 ]; then
        rc=0
        run_forwarding "$PYTHON" torchrun_launcher.py "$argv_file" "${opts[@]}" || rc=$?
        [ "$rc" -eq 0 ] || record_failure train "$rc"
        exit "$rc"
    fi
    exec "$PYTHON" torchrun_launcher.py "$argv_file" "${opts[@]}"
}

load_env_file "$WORKSPACE/.env"

# failure.json (docs/explain.md): a copy of the log for its last lines; failure.py writes the
# file next to the model when a stage fails (never on success) and removes a previous one.
FAILURE_LOG="${TMPDIR:-/tmp}/tc-entrypoint.log"
record_failure() {  # STAGE EXIT_CODE
    [ -f "$WORKSPACE/failure.py" ] || return 0
    "$PYTHON" "$WORKSPACE/failure.py" --stage "$1" --exit-code "$2" --log "$FAILURE_LOG" || true
}
if [ -f "$WORKSPACE/failure.py" ] && : > "$FAILURE_LOG" 2>/dev/null; then
    exec > >(tee -a "$FAILURE_LOG") 2> >(tee -a "$FAILURE_LOG" >&2)
    "$PYTHON" "$WORKSPACE/failure.py" --clear || true
fi

DATASET_ID="${DATASET_ID:-}"
[ -n "$DATASET_ID" ] || die "DATASET_ID is not set (docker run -e DATASET_ID=<id>)"
[[ "$DATASET_ID" =~ ^[1-9][0-9]{0,17}$ ]] || die "DATASET_ID='$DATASET_ID' is not a positive integer"
export DATASET_ID
export MINIO_ROOT="${MINIO_ROOT:-/minio}"
export DATASETS_ROOT="${DATASETS_ROOT:-/datasets}"
export WORKSPACE
log "dataset $DATASET_ID: $MINIO_ROOT/datasets/$DATASET_ID"

if [ -n "${S3_HOST:-}" ] && [ -n "${OID_ACCESS_TOKEN:-}" ]; then
    bash "$MOUNT_S3" || { rc=$?; record_failure mount 3; die "mounting the dataset bucket failed (exit $rc)" 3; }
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
    record_failure setup "$rc"
    exit "$rc"
fi

if [ -n "${TC_NPROC_PER_NODE:-}${PET_NPROC_PER_NODE:-}${PET_NNODES:-}" ]; then
    launch_torchrun  # does not return
fi

if [ "$$" -eq 1 ]; then
    # As PID 1 a Python process without a SIGTERM handler ignores `docker stop`: stay as the
    # parent and forward the signal.
    rc=0
    run_forwarding "$PYTHON" config_to_args.py || rc=$?
    [ "$rc" -eq 0 ] || record_failure train "$rc"
    exit "$rc"
fi
exec "$PYTHON" config_to_args.py
