#!/usr/bin/env bash
# Publishes mlray, mlray-receiver and mlray-worker into PREFIX (default: .mlray-install in the repository) and writes
# a launcher for each into PREFIX/bin. Then: export PATH="PREFIX/bin:$PATH". Needs only the .NET 10 SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mkdir -p "${1:-.mlray-install}" && cd "${1:-.mlray-install}" && pwd)
mkdir -p "$prefix/bin" "$prefix/lib"
for app in Cli:mlray Receiver:mlray-receiver Worker:mlray-worker; do
  project=${app%%:*} name=${app#*:}
  echo "install: publishing $name (src/MLRay.$project) …"
  dotnet publish "src/MLRay.$project" -c Release -nologo -v quiet -o "$prefix/lib/$name" | { grep -E 'error|warn' || true; }
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "install: publishing $name failed (see above)" >&2; exit 1; }
  printf '#!/bin/sh\nexec dotnet "%s/lib/%s/%s.dll" "$@"\n' "$prefix" "$name" "$name" > "$prefix/bin/$name"
  chmod +x "$prefix/bin/$name"
done
echo "install: done. Add the commands to your PATH:"
echo "  export PATH=\"$prefix/bin:\$PATH\""
