# Wire-test helpers: TAP output, processes started and stopped by PID,
# loopback only, everything bounded in time. Source it from a test script.
set -u
WIRE_PIDS=()
WIRE_TMP=$(mktemp -d /tmp/sipflow-wire.XXXXXX)
WIRE_N=0
WIRE_FAILED=0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCEN="$HERE/scenarios"
SIPRAW="python3 $HERE/sipraw.py"

ok() { WIRE_N=$((WIRE_N + 1)); echo "ok $WIRE_N - $*"; }
not_ok() {
  WIRE_N=$((WIRE_N + 1)); WIRE_FAILED=$((WIRE_FAILED + 1))
  echo "not ok $WIRE_N - $*"
}
# check "description" command...: one TAP line from the command's status.
check() {
  local desc=$1; shift
  if "$@" >>"$WIRE_TMP/checks.log" 2>&1; then ok "$desc"; else not_ok "$desc"; fi
}

# start NAME command...: runs it in the background, logging to NAME.log, and
# remembers its PID; the PID is in $LAST_PID.
start() {
  local name=$1; shift
  "$@" >"$WIRE_TMP/$name.log" 2>&1 &
  LAST_PID=$!
  WIRE_PIDS+=("$LAST_PID")
}

# A redis-server of the test's own on loopback port $RP (a free one when
# RP is unset or empty), with no persistence, in the test's directory;
# stopped by PID with the others ($LAST_PID). Without redis-server the
# whole test is skipped (call it before any TAP line).
start_redis() {
  command -v redis-server >/dev/null || { echo "1..0 # SKIP no redis-server"; exit 0; }
  RP=${RP:-$(free_port)}
  start redis redis-server --port "$RP" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$WIRE_TMP"
}

# stop PID: TERM, then KILL after 3 s; only processes this script started.
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 30); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

wire_cleanup() {
  for pid in "${WIRE_PIDS[@]}"; do stop_pid "$pid"; done
  if [ "${WIRE_KEEP:-0}" = 1 ] || [ "$WIRE_FAILED" -gt 0 ]; then
    for f in "$WIRE_TMP"/*.log "$WIRE_TMP"/*.err; do
      [ -f "$f" ] && { echo "# --- $(basename "$f")"; tail -40 "$f" | sed 's/^/# /'; }
    done
  fi
  rm -rf "$WIRE_TMP"
}
trap wire_cleanup EXIT

wire_done() { echo "1..$WIRE_N"; [ "$WIRE_FAILED" -eq 0 ]; }

# A free loopback port (UDP and TCP both free at the time of asking).
free_port() { python3 "$HERE/sipraw.py" free-port; }

# wait_for PATH SECONDS: until the socket file exists.
wait_for() {
  for _ in $(seq $(($2 * 10))); do [ -S "$1" ] && return 0; sleep 0.1; done
  return 1
}

# until_true SECONDS command...: retries every 0.2 s.
until_true() {
  local secs=$1; shift
  for _ in $(seq $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

# ctl CONTROL dump|flows|stats
ctl() { "$PROXY" ctl --control "$1" "$2"; }

# jq-like checks on ctl output with Python: json_check CONTROL CMD 'python expr on d'
json_check() {
  local out
  out=$(ctl "$1" "$2") || return 1
  python3 -c "import json,sys; d=json.loads(sys.stdin.read()); sys.exit(0 if ($3) else 1)" <<<"$out"
}

# sipp_run NAME [args...]: foreground SIPp, bounded in time.
sipp_run() {
  local name=$1; shift
  timeout 40 sipp -nostdin -timeout 30 -timeout_error -trace_err \
    -error_file "$WIRE_TMP/$name.err" "$@" >"$WIRE_TMP/$name.log" 2>&1
}

# until_true bounded by the clock (a slow check is not retried 5 times a
# second for SECONDS): within SECONDS command...
within() {
  local end=$(($(date +%s) + $1)); shift
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.2
  done
}

# cluster_peers NAME: "--peer udp:127.0.0.1:PORT" for every other node of
# the associative array PORT (node name -> port). Cluster nodes forward to
# one another through their Paths, and nothing else is relayed
# (docs/proxy.md).
cluster_peers() {
  local m
  for m in "${!PORT[@]}"; do
    [ "$m" = "$1" ] || echo "--peer udp:127.0.0.1:${PORT[$m]}"
  done
}
