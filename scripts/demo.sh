#!/usr/bin/env bash
# mlray demo on a fresh machine: builds the CLI and runs the seed's scenario on the built-in emulators.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/MLRay.Cli -c Release -v quiet -nologo >/dev/null
exec dotnet src/MLRay.Cli/bin/Release/net10.0/mlray.dll demo "$@"
