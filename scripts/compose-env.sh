#!/usr/bin/env bash
# Writes compose/.env (or the file given with --output) with fresh secrets for every variable in
# compose/.env.example. Refuses to overwrite an existing file unless --force: a new Fernet key makes MLflow unable to
# decrypt the webhook secrets it already stored.
set -euo pipefail
cd "$(dirname "$0")/.."
out=compose/.env force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --output) out=$2; shift 2 ;;
    --force) force=1; shift ;;
    *) echo "usage: scripts/compose-env.sh [--output FILE] [--force]" >&2; exit 2 ;;
  esac
done
if [ -e "$out" ] && [ "$force" -ne 1 ]; then
  echo "$out exists; keeping it (pass --force to replace its secrets, which breaks webhooks MLflow already stored)" >&2
  exit 1
fi

random_hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# Fernet key: the urlsafe base64 of 32 random bytes (44 characters with its padding).
fernet_key() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n'; }

umask 077
tmp=$(mktemp "${out}.XXXXXX")
while IFS= read -r line; do
  case "$line" in
    MLRAY_WEBHOOK_SECRET=*) echo "MLRAY_WEBHOOK_SECRET=$(random_hex)" ;;
    MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=*) echo "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=$(fernet_key)" ;;
    *_PASSWORD=*) echo "${line%%=*}=$(random_hex)" ;;
    *) echo "$line" ;;
  esac
done < compose/.env.example > "$tmp"
mv "$tmp" "$out"
echo "wrote $out"
