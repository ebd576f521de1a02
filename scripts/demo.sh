#!/usr/bin/env bash
# mlray demo on a fresh machine: starts a loopback RabbitMQ when it can (the demo falls back to MassTransit's
# in-memory transport when it cannot), builds the CLI and runs the seed's scenario on the built-in emulators.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${MLRAY_DEMO_NO_RABBITMQ:-}" != "1" ]; then
  scripts/rabbitmq.sh start >/dev/null 2>&1 || echo "demo: RabbitMQ could not be started; using the in-memory transport" >&2
fi
dotnet build src/MLRay.Cli -c Release -v quiet -nologo >/dev/null
exec dotnet src/MLRay.Cli/bin/Release/net10.0/mlray.dll demo "$@"
