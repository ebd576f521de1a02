#!/usr/bin/env bash
# A loopback-only RabbitMQ broker on this machine (Debian, root, no systemd, no Docker). Idempotent.
#   scripts/rabbitmq.sh start      install if missing (config first), enable management, start, verify; prints RABBITMQ_URI=…
#   scripts/rabbitmq.sh stop       shut the node down (no-op if it is not running)
#   scripts/rabbitmq.sh stop-app   rabbitmqctl stop_app  (the node stays up: tests use it to simulate a broker outage)
#   scripts/rabbitmq.sh start-app  rabbitmqctl start_app, then wait until 5672 accepts connections
#   scripts/rabbitmq.sh status     one line: not-installed | stopped | app-stopped | running (exit 0 only when running)
set -euo pipefail

NODE=rabbit@localhost
PIDFILE=/var/lib/rabbitmq/mnesia/${NODE}.pid
AMQP_PORT=5672
MGMT_URL=http://127.0.0.1:15672
URI=amqp://guest:guest@127.0.0.1:${AMQP_PORT}/
LOCK=/tmp/mlray-rabbitmq.lock

# The CLI tools start epmd themselves when none runs: keep it on loopback too.
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_NODENAME=$NODE

log() { echo "rabbitmq: $*" >&2; }
die() { log "error: $*"; exit 1; }

installed() { command -v rabbitmq-server >/dev/null 2>&1 && command -v rabbitmqctl >/dev/null 2>&1; }

# The Erlang node answers (whether or not the rabbit app runs in it).
node_up() { rabbitmqctl -q -n "$NODE" ping >/dev/null 2>&1; }

# The rabbit application runs in the node (AMQP served).
app_up() { rabbitmq-diagnostics -q -n "$NODE" check_running >/dev/null 2>&1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 2; i++)); do port_open "$1" && return 0; sleep 0.5; done
  return 1
}

write_config() {
  mkdir -p /etc/rabbitmq
  cat >/etc/rabbitmq/rabbitmq-env.conf <<'EOF'
# Written by scripts/rabbitmq.sh: loopback only (AMQP, epmd, inter-node distribution), fixed node name.
NODE_IP_ADDRESS=127.0.0.1
ERL_EPMD_ADDRESS=127.0.0.1
NODENAME=rabbit@localhost
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  cat >/etc/rabbitmq/rabbitmq.conf <<'EOF'
# Written by scripts/rabbitmq.sh: loopback only.
listeners.tcp.1 = 127.0.0.1:5672
management.tcp.ip = 127.0.0.1
management.tcp.port = 15672
EOF
}

install() {
  log "installing rabbitmq-server (Debian package)"
  write_config # before the package: it must never listen on anything but loopback, not even once
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --force-confold keeps the files written above if the package ships its own copy.
  apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold rabbitmq-server >/dev/null
  installed || die "rabbitmq-server is still missing after apt-get install"
}

verify_management() {
  local i code=""
  for ((i = 0; i < 60; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -u guest:guest --max-time 5 "$MGMT_URL/api/overview" || true)
    [ "$code" = 200 ] && return 0
    sleep 1
  done
  die "the management API at $MGMT_URL does not answer (last HTTP status: ${code:-none})"
}

start() {
  if ! installed; then install; fi
  [ -f /etc/rabbitmq/rabbitmq-env.conf ] && [ -f /etc/rabbitmq/rabbitmq.conf ] || write_config
  # --offline only edits the enabled_plugins file; a running node picks it up on its next start,
  # so also enable it online below when the node is already up.
  rabbitmq-plugins enable --offline rabbitmq_management >/dev/null

  if node_up; then
    log "node $NODE already running"
    # A node started before the plugin was enabled: enable it online (skipped when the API already answers).
    if [ "$(curl -s -o /dev/null -w '%{http_code}' -u guest:guest --max-time 3 "$MGMT_URL/api/overview" || true)" != 200 ]; then
      rabbitmq-plugins -q -n "$NODE" enable rabbitmq_management >/dev/null 2>&1 || true
    fi
    if ! app_up; then
      log "rabbit app stopped (stop-app?): starting it"
      rabbitmqctl -q -n "$NODE" start_app
    fi
  else
    log "starting node $NODE"
    rabbitmq-server -detached
    # await_startup right after -detached fails (rc 69): wait on the pid file instead.
    rabbitmqctl -q -n "$NODE" wait --timeout 90 "$PIDFILE" >/dev/null
  fi

  wait_port "$AMQP_PORT" 60 || die "nothing accepts connections on 127.0.0.1:$AMQP_PORT"
  verify_management
  log "running: AMQP 127.0.0.1:$AMQP_PORT, management $MGMT_URL (guest/guest)"
  echo "RABBITMQ_URI=$URI"
}

stop() {
  installed || { log "not installed"; return 0; }
  if node_up; then
    log "shutting down $NODE"
    rabbitmqctl -q -n "$NODE" shutdown >/dev/null
  else
    log "not running"
  fi
}

stop_app() {
  installed && node_up || die "node $NODE is not running (scripts/rabbitmq.sh start)"
  rabbitmqctl -q -n "$NODE" stop_app
  log "app stopped (node still up)"
}

start_app() {
  installed && node_up || die "node $NODE is not running (scripts/rabbitmq.sh start)"
  rabbitmqctl -q -n "$NODE" start_app
  wait_port "$AMQP_PORT" 60 || die "nothing accepts connections on 127.0.0.1:$AMQP_PORT"
  log "app started"
}

status() {
  if ! installed; then echo "not-installed"; return 3; fi
  if ! node_up; then echo "stopped"; return 3; fi
  if ! app_up; then echo "app-stopped"; return 1; fi
  echo "running $URI"
}

cmd=${1:-}
case "$cmd" in
  start | stop | stop-app | start-app)
    # One at a time (CI or another checkout may run this concurrently). flock -o: the lock fd is not inherited by
    # the script, so the detached broker and epmd never hold the lock after we exit.
    if [ "${MLRAY_RABBITMQ_LOCKED:-}" != 1 ]; then
      MLRAY_RABBITMQ_LOCKED=1 exec flock -o "$LOCK" "$0" "$@"
    fi
    case "$cmd" in
      start) start ;;
      stop) stop ;;
      stop-app) stop_app ;;
      start-app) start_app ;;
    esac
    ;;
  status) status ;;
  *) echo "usage: $0 start|stop|stop-app|start-app|status" >&2; exit 2 ;;
esac
