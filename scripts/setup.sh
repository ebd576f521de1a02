#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine with the .NET 10 SDK. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# s3rver: a loopback S3 server for the s3:// artifact tests (MinIO is not packaged for Debian).
if [ ! -x tools/s3rver/node_modules/.bin/s3rver ]; then
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm; }
  mkdir -p tools/s3rver
  npm install --silent --no-audit --no-fund --prefix tools/s3rver s3rver@3.7.1 >/dev/null
fi
echo "setup: s3rver at tools/s3rver/node_modules/.bin/s3rver"

# RabbitMQ: a loopback broker with the management API for the broker/pipeline tests (installs it on first run).
scripts/rabbitmq.sh start

# docker-compose (v1, client only; no engine runs here) validates compose/docker-compose.yml in the tests.
if ! command -v docker-compose >/dev/null; then
  apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; }
fi
echo "setup: $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"
