#!/usr/bin/env bash
# mlray demo on a fresh machine: starts a loopback RabbitMQ when it can (the demo falls back to MassTransit's
# in-memory transport when it cannot), builds the CLI and runs the seed's scenario on the built-in emulators.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${MLRAY_DEMO_NO_RABBITMQ:-}" != "1" ]; then
  echo "demo: starting a loopback RabbitMQ (scripts/rabbitmq.sh start) …"
  scripts/rabbitmq.sh start >/dev/null 2>&1 || echo "demo: RabbitMQ could not be started; using the in-memory transport" >&2
fi
echo "demo: building the CLI (dotnet build src/MLRay.Cli; the first build restores packages and takes about a minute) …"
# Build errors and warnings are shown; the progress lines of a quiet build are not.
if ! dotnet build src/MLRay.Cli -c Release -v quiet -nologo -clp:NoSummary; then
  echo "demo: the build failed (see above)" >&2
  exit 1
fi
exec dotnet src/MLRay.Cli/bin/Release/net10.0/mlray.dll demo "$@"
