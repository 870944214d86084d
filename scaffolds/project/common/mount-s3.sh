#!/usr/bin/env bash
# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
# Mount the user's bucket at $MINIO_ROOT with s3fs, using temporary credentials from STS
# AssumeRoleWithWebIdentity (MinIO's STS) for the user's OIDC token.
#   S3_HOST           S3 endpoint (URL, or host[:port] -> https://host[:port])
#   S3_BUCKET_NAME    the user's bucket (holds datasets/<id>/...)
#   OID_ACCESS_TOKEN  the user's OIDC access token (sent on curl's stdin, never on a command line)
#   S3_STS_ENDPOINT   STS URL (default: the S3 endpoint)
#   STS_DURATION      seconds (default 43200)
#   MINIO_ROOT        mount point (default /minio)
#   S3FS_CREDENTIALS_FILE  credentials file, mode 600 (default $HOME/.aws/credentials)
#   S3FS_OPTIONS      extra -o options (comma list), e.g. for tests
# Idempotent: an existing mount at $MINIO_ROOT is kept (docker start).
set -euo pipefail

log() { printf '[mount-s3] %s\n' "$*"; }
die() { printf '[mount-s3] error: %s\n' "$*" >&2; exit 3; }

MINIO_ROOT="${MINIO_ROOT:-/minio}"
PYTHON="${PYTHON:-python3}"
: "${S3_HOST:?S3_HOST is not set}"
: "${S3_BUCKET_NAME:?S3_BUCKET_NAME is not set}"
: "${OID_ACCESS_TOKEN:?OID_ACCESS_TOKEN is not set}"

if mountpoint -q "$MINIO_ROOT" 2>/dev/null; then
    log "$MINIO_ROOT is already mounted: kept"
    exit 0
fi

case "$S3_HOST" in
    http://*|https://*) S3_URL="$S3_HOST" ;;
    *) S3_URL="https://$S3_HOST" ;;
esac
S3_URL="${S3_URL%/}"
STS_URL="${S3_STS_ENDPOINT:-$S3_URL}"

# Pull the three values out of the XML answer (sts_credentials.py: a plain text search, no
# entities, no DTD): beside this script in a project, in $WORKSPACE in the image.
STS_PY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/sts_credentials.py"
[ -f "$STS_PY" ] || STS_PY="${WORKSPACE:-/workspace}/sts_credentials.py"
[ -f "$STS_PY" ] || die "$STS_PY: missing (a tc runtime file)"

response="$(printf '%s' "$OID_ACCESS_TOKEN" | curl -sS --fail-with-body --max-time 60 -X POST \
    --data-urlencode "Action=AssumeRoleWithWebIdentity" \
    --data-urlencode "Version=2011-06-15" \
    --data-urlencode "DurationSeconds=${STS_DURATION:-43200}" \
    --data-urlencode "RoleArn=${STS_ROLE_ARN:-arn:aws:iam::000000000000:role/train-container}" \
    --data-urlencode "RoleSessionName=train-container" \
    --data-urlencode "WebIdentityToken@-" \
    "$STS_URL/")" || die "STS at $STS_URL refused AssumeRoleWithWebIdentity: ${response:0:300}"

read_creds() {
    "$PYTHON" -I "$STS_PY"
}
{ read -r ACCESS_KEY; read -r SECRET_KEY; read -r SESSION_TOKEN; } < <(printf '%s' "$response" | read_creds)
[ -n "${ACCESS_KEY:-}" ] && [ -n "${SECRET_KEY:-}" ] \
    || die "S3 server '$STS_URL' did not return credentials for the OIDC access token"

# s3fs needs the AWS credentials-file format (or the environment) for a session token.
CRED_FILE="${S3FS_CREDENTIALS_FILE:-${HOME:-/root}/.aws/credentials}"
mkdir -p "$(dirname "$CRED_FILE")"
umask 077
tmp="$CRED_FILE.tmp.$$"
printf '[train-container]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n' \
    "$ACCESS_KEY" "$SECRET_KEY" "$SESSION_TOKEN" > "$tmp"
chmod 600 "$tmp"
mv -f "$tmp" "$CRED_FILE"

mkdir -p "$MINIO_ROOT"
opts="url=$S3_URL,use_path_request_style,allow_other,umask=0022"
[ -n "$SESSION_TOKEN" ] && opts="$opts,use_session_token"
[ -n "${S3FS_OPTIONS:-}" ] && opts="$opts,$S3FS_OPTIONS"
# the environment takes precedence over credential files in s3fs; the file (mode 600) is the
# record for a remount
AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" AWS_SESSION_TOKEN="$SESSION_TOKEN" \
    s3fs "$S3_BUCKET_NAME" "$MINIO_ROOT" -o "$opts" \
    || die "s3fs could not mount bucket '$S3_BUCKET_NAME' at $MINIO_ROOT"

for _ in $(seq 1 50); do
    mountpoint -q "$MINIO_ROOT" && { log "bucket '$S3_BUCKET_NAME' mounted at $MINIO_ROOT"; exit 0; }
    sleep 0.1
done
die "s3fs started but $MINIO_ROOT is not a mount point"
