#!/usr/bin/env bash
# A loopback-only RabbitMQ broker on this machine (Debian, root, no systemd, no Docker). Idempotent.
#   scripts/rabbitmq.sh start      install if missing (config first), enable management, start, verify; prints RABBITMQ_URI=…
#   scripts/rabbitmq.sh stop       shut the node down (no-op if it is not running)
#   scripts/rabbitmq.sh stop-app   rabbitmqctl stop_app  (the node stays up: tests use it to simulate a broker outage)
#   scripts/rabbitmq.sh start-app  rabbitmqctl start_app, then wait until 5672 accepts connections
#   scripts/rabbitmq.sh status     one line: not-installed | stopped | app-stopped | running (exit 0 only when running)
# A three-node cluster beside it (own node names, ports and directories; the node on 5672 is never touched):
#   scripts/rabbitmq.sh cluster start         start mlray-n1..3@localhost (AMQP 5681-5683, management 15681-15683,
#                                             distribution 25681-25683), n2 and n3 joined to n1; prints RABBITMQ_URIS=…
#   scripts/rabbitmq.sh cluster stop          shut the three nodes down
#   scripts/rabbitmq.sh cluster status        one line per node (running | stopped), then RABBITMQ_URIS=… (exit 0 when all run)
#   scripts/rabbitmq.sh cluster stop-node N   shut node N (1-3) down; the other two keep the cluster (the node-loss fault test)
#   scripts/rabbitmq.sh cluster start-node N  start node N again: it rejoins the cluster by itself
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

# ------------------------------------------------------------------ the three-node cluster
# Each node gets its own environment file (RABBITMQ_CONF_ENV_FILE), so /etc/rabbitmq/rabbitmq-env.conf — whose
# NODENAME=rabbit@localhost is the single node's — is never read for them, and its own config, plugins file, mnesia, log and
# pid paths. The rabbitmq user runs them all (the package's wrapper su's to it), so they share its Erlang cookie and may cluster.
CLUSTER_NODES=3
CLUSTER_BASE=/var/lib/rabbitmq/mlray-cluster
CLUSTER_LOCK=/tmp/mlray-rabbitmq-cluster.lock

cnode() { echo "mlray-n$1@localhost"; }
camqp_port() { echo $((5680 + $1)); }
cmgmt_port() { echo $((15680 + $1)); }
cdist_port() { echo $((25680 + $1)); }
cdir() { echo "$CLUSTER_BASE/n$1"; }
cluster_uris() {
  local n uris=""
  for ((n = 1; n <= CLUSTER_NODES; n++)); do uris+="${uris:+,}amqp://guest:guest@127.0.0.1:$(camqp_port "$n")/"; done
  echo "$uris"
}

# Runs a RabbitMQ tool for node N with that node's environment only (never the single node's NODENAME).
cnode_env() { # N command args…
  local n=$1
  shift
  env -u NODENAME \
    RABBITMQ_CONF_ENV_FILE="$(cdir "$n")/rabbitmq-env.conf" \
    RABBITMQ_NODENAME="$(cnode "$n")" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$(camqp_port "$n")" \
    RABBITMQ_DIST_PORT="$(cdist_port "$n")" \
    RABBITMQ_CONFIG_FILE="$(cdir "$n")/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$(cdir "$n")/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$(cdir "$n")/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$(cdir "$n")/mnesia" \
    RABBITMQ_LOG_BASE="$(cdir "$n")/log" \
    RABBITMQ_PID_FILE="$(cdir "$n")/pid" \
    "$@"
}

# Closes every file descriptor above 2 of the (sub)shell that calls it.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-" 2>/dev/null  # 255: bash reads this script on it
  done
  return 0
}

cnode_up() { cnode_env "$1" rabbitmqctl -q -n "$(cnode "$1")" ping >/dev/null 2>&1; }
capp_up() { cnode_env "$1" rabbitmq-diagnostics -q -n "$(cnode "$1")" check_running >/dev/null 2>&1; }

cluster_write_node() { # N
  local n=$1 dir
  dir=$(cdir "$n")
  [ -n "$dir" ] && [ "$dir" != / ] || die "no directory for node $n"
  mkdir -p "$dir/mnesia" "$dir/log"
  printf '%s\n' \
    "# Written by scripts/rabbitmq.sh cluster: node $n of the loopback test cluster (not the single node on 5672)." \
    "NODENAME=$(cnode "$n")" \
    "NODE_IP_ADDRESS=127.0.0.1" \
    "NODE_PORT=$(camqp_port "$n")" \
    "DIST_PORT=$(cdist_port "$n")" \
    "ERL_EPMD_ADDRESS=127.0.0.1" \
    'SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"' >"$dir/rabbitmq-env.conf"
  printf '%s\n' \
    "# Written by scripts/rabbitmq.sh cluster: loopback only." \
    "listeners.tcp.1 = 127.0.0.1:$(camqp_port "$n")" \
    "management.tcp.ip = 127.0.0.1" \
    "management.tcp.port = $(cmgmt_port "$n")" >"$dir/rabbitmq.conf"
  echo '[rabbitmq_management].' >"$dir/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$CLUSTER_BASE"
}

# Starts node N's Erlang VM unless it runs; returns at once (cluster_await_node waits for it).
cluster_launch_node() { # N
  local n=$1
  cluster_write_node "$n"
  cnode_up "$n" && return 0
  log "starting node $(cnode "$n")"
  cnode_env "$n" rabbitmq-server -detached
}

cluster_await_node() { # N
  local n=$1 i code=""
  # wait returns once the rabbit app runs. A clustered node that was not the last to stop waits for its peers' tables at
  # boot, which is why cluster start launches every node before it waits for any.
  if ! cnode_env "$n" rabbitmqctl -q -n "$(cnode "$n")" wait --timeout 120 "$(cdir "$n")/pid" >/dev/null; then
    cnode_up "$n" || die "$(cnode "$n") did not start (see $(cdir "$n")/log)"
    capp_up "$n" || cnode_env "$n" rabbitmqctl -q -n "$(cnode "$n")" start_app
  fi
  wait_port "$(camqp_port "$n")" 60 || die "nothing accepts connections on 127.0.0.1:$(camqp_port "$n") ($(cnode "$n"))"
  for ((i = 0; i < 60; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -u guest:guest --max-time 5 "http://127.0.0.1:$(cmgmt_port "$n")/api/overview" || true)
    [ "$code" = 200 ] && return 0
    sleep 1
  done
  die "the management API of $(cnode "$n") on port $(cmgmt_port "$n") does not answer (last HTTP status: ${code:-none})"
}

cluster_start_node() { # N
  cluster_launch_node "$1"
  cluster_await_node "$1"
}

# Node N (2, 3) joins node 1, unless node 1 already counts it in its cluster.
cluster_join() { # N
  local n=$1
  if cnode_env 1 rabbitmqctl -q -n "$(cnode 1)" cluster_status --formatter json 2>/dev/null | grep -q "\"$(cnode "$n")\""; then
    return 0
  fi
  log "joining $(cnode "$n") to $(cnode 1)"
  cnode_env "$n" rabbitmqctl -q -n "$(cnode "$n")" stop_app
  cnode_env "$n" rabbitmqctl -q -n "$(cnode "$n")" join_cluster "$(cnode 1)"
  cnode_env "$n" rabbitmqctl -q -n "$(cnode "$n")" start_app
  wait_port "$(camqp_port "$n")" 60 || die "$(cnode "$n") did not come back after join_cluster"
}

cluster_start() {
  if ! installed; then install; fi
  local n
  # All launched before any is awaited: after an unclean stop (a machine that went away) each node waits for the others.
  for ((n = 1; n <= CLUSTER_NODES; n++)); do cluster_launch_node "$n"; done
  for ((n = 1; n <= CLUSTER_NODES; n++)); do cluster_await_node "$n"; done
  for ((n = 2; n <= CLUSTER_NODES; n++)); do cluster_join "$n"; done
  log "cluster running: $(cnode 1) $(cnode 2) $(cnode 3) (guest/guest; management on 127.0.0.1:15681-15683)"
  echo "RABBITMQ_URIS=$(cluster_uris)"
}

cluster_stop_node() { # N
  local n=$1
  if cnode_up "$n"; then
    log "shutting down $(cnode "$n")"
    cnode_env "$n" rabbitmqctl -q -n "$(cnode "$n")" shutdown >/dev/null
  else
    log "$(cnode "$n") not running"
  fi
}

cluster_stop() {
  installed || { log "not installed"; return 0; }
  local n
  # Node 1 last: the node stopped last is the one that may boot first again, and the others rejoin it.
  for ((n = CLUSTER_NODES; n >= 1; n--)); do cluster_stop_node "$n"; done
}

cluster_status() {
  installed || { echo "not-installed"; return 3; }
  local n rc=0
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    if cnode_up "$n" && capp_up "$n"; then
      echo "$(cnode "$n") running 127.0.0.1:$(camqp_port "$n")"
    else
      echo "$(cnode "$n") stopped"
      rc=3
    fi
  done
  echo "RABBITMQ_URIS=$(cluster_uris)"
  return $rc
}

cluster_node_arg() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$CLUSTER_NODES" ] \
    || { echo "usage: $0 cluster stop-node|start-node 1..$CLUSTER_NODES" >&2; exit 2; }
}

cluster_main() {
  local sub=${1:-}
  # Nothing this script starts (nodes, epmd) may keep a file the caller had open: a test run under
  # `flock /tmp/mlray-build.lock …` would otherwise leave that lock held by a node for as long as it runs.
  close_inherited_fds
  case "$sub" in
    start | stop | stop-node | start-node)
      if [ "${MLRAY_RABBITMQ_CLUSTER_LOCKED:-}" != 1 ]; then
        MLRAY_RABBITMQ_CLUSTER_LOCKED=1 exec flock -o "$CLUSTER_LOCK" "$0" cluster "$@"
      fi
      case "$sub" in
        start) cluster_start ;;
        stop) cluster_stop ;;
        stop-node) cluster_node_arg "${2:-}"; cluster_stop_node "$2" ;;
        start-node)
          cluster_node_arg "${2:-}"
          installed || die "not installed (scripts/rabbitmq.sh cluster start)"
          cluster_start_node "$2"
          ;;
      esac
      ;;
    status) cluster_status ;;
    *) echo "usage: $0 cluster start|stop|status|stop-node N|start-node N" >&2; exit 2 ;;
  esac
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
  cluster) shift; cluster_main "$@" ;;
  *) echo "usage: $0 start|stop|stop-app|start-app|status|cluster start|stop|status|stop-node N|start-node N" >&2; exit 2 ;;
esac
