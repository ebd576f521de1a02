#!/usr/bin/env bash
# The fault-injection suite alone (tests/MLRay.Tests.Pipeline/Faults, Category=Fault), then its figures.
#   scripts/faults.sh          the short form (what scripts/test.sh runs as part of the whole suite)
#   scripts/faults.sh full     the issue's sizes: 2,000 webhooks across the broker restart, 30 s Ray and MLflow outages
# Stops and starts the local RabbitMQ's app (rabbitmqctl stop_app/start_app) for a few seconds once, and two nodes of the
# three-node test cluster (scripts/rabbitmq.sh cluster, started here if it is not running) one after the other.
set -uo pipefail
cd "$(dirname "$0")/.."
# The cluster's URIs as the script prints them (RABBITMQ_URIS=…), for the node-loss test's fixture.
uris=$(scripts/rabbitmq.sh cluster start | sed -n 's/^RABBITMQ_URIS=//p')
[ -n "$uris" ] || exit 1
export RABBITMQ_CLUSTER_URIS="${RABBITMQ_CLUSTER_URIS:-$uris}"
export RABBITMQ_URI="${RABBITMQ_URI:-amqp://guest:guest@127.0.0.1:5672/}"
export MLRAY_FAULTS="${1:-short}"
report=$(mktemp)
export MLRAY_FAULTS_REPORT="$report"
dotnet test tests/MLRay.Tests.Pipeline -c Release --filter Category=Fault
rc=$?
echo
echo "Figures (${MLRAY_FAULTS} form):"
cat "$report"
rm -f "$report"
exit $rc
