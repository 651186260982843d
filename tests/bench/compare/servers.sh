# shellcheck shell=bash
# Shell helpers for the sipflow-proxy / Kamailio comparison: start either
# server on loopback ports, measure its CPU and memory over every process it
# forked, read its bindings in one JSON shape, stop it by PID. Source it;
# set PROXY (the sipflow-proxy binary) and SRV_TMP (a scratch directory).
#
# Kamailio runs in the foreground (-DD: the main process stays ours and
# forks its workers); it is stopped through the main PID, then every child
# recorded at start is checked and, if still there, killed by its PID.

COMPARE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SIPRAW_PY="$COMPARE_DIR/../../wire/sipraw.py"
KAMRPC="python3 $COMPARE_DIR/kamrpc.py"
KAM_CFG=${KAM_CFG:-$COMPARE_DIR/kamailio-single.cfg}
KAM_CHILDREN=${KAM_CHILDREN:-2}
KAM_SHM_MB=${KAM_SHM_MB:-512}
HZ=$(getconf CLK_TCK) # clock ticks per second, for srv_ticks users
export HZ

SRV_KIND='' SRV_PID='' SRV_PORT='' SRV_CTL='' SRV_CHILDREN=''

srv_free_port() { python3 "$SIPRAW_PY" free-port; }

# srv_start KIND PORT PROFILE [server-specific extra args...]
#   KIND     sipflow | kamailio
#   PROFILE  bench-register | bench-keepalive | wire
# Listens on udp 127.0.0.1:PORT (wire: also tcp and [::1]); returns 1 if
# the server does not answer an OPTIONS within 10 s.
srv_start() {
  SRV_KIND=$1 SRV_PORT=$2
  local profile=$3 n=0
  shift 3
  local listen=("udp:127.0.0.1:$SRV_PORT")
  [ "$profile" = wire ] &&
    listen+=("tcp:127.0.0.1:$SRV_PORT" "udp:[::1]:$SRV_PORT" "tcp:[::1]:$SRV_PORT")
  case $SRV_KIND in
  sipflow)
    SRV_CTL=$SRV_TMP/sipflow.ctl
    # The load comes from one address: no per-source limits.
    local args=(--domain example.com --control "$SRV_CTL" --register-rate 0
      --max-conns-per-source 0)
    for l in "${listen[@]}"; do args+=(--listen "$l"); done
    "$PROXY" "${args[@]}" "$@" >"$SRV_TMP/sipflow.log" 2>&1 &
    SRV_PID=$!
    ;;
  kamailio)
    SRV_CTL=$SRV_TMP/kamailio.rpc
    local args=(-DD -E -f "$KAM_CFG" -n "$KAM_CHILDREN" -m "$KAM_SHM_MB" -M 16
      -Y "$SRV_TMP" -w "$SRV_TMP" -A "RPC_SOCK=\"$SRV_CTL\"")
    for l in "${listen[@]}"; do args+=(-l "$l"); done
    kamailio "${args[@]}" "$@" >"$SRV_TMP/kamailio.log" 2>&1 &
    SRV_PID=$!
    ;;
  *) echo "srv_start: unknown server $SRV_KIND" >&2; return 2 ;;
  esac
  while [ $n -lt 100 ]; do
    if [ -S "$SRV_CTL" ] && python3 "$SIPRAW_PY" expect 127.0.0.1 "$SRV_PORT" \
      200 OPTIONS "sip:127.0.0.1:$SRV_PORT" >/dev/null 2>&1; then
      SRV_CHILDREN=$(ps -o pid= --ppid "$SRV_PID" | tr '\n' ' ')
      return 0
    fi
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
    n=$((n + 1))
  done
  echo "srv_start: $SRV_KIND did not come up; its log:" >&2
  tail -20 "$SRV_TMP/$SRV_KIND.log" >&2
  srv_stop
  return 1
}

# srv_stop: TERM to the main PID, KILL after 5 s; then any child recorded at
# start that is still alive is reported and killed by its PID.
srv_stop() {
  [ -n "$SRV_PID" ] || return 0
  local pid=$SRV_PID n=0 left=''
  kill -TERM "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  for c in $SRV_CHILDREN; do
    n=0
    while kill -0 "$c" 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
    if kill -0 "$c" 2>/dev/null; then
      left="$left $c"
      kill -KILL "$c" 2>/dev/null
    fi
  done
  [ -z "$left" ] || echo "srv_stop: $SRV_KIND children still alive, killed:$left" >&2
  SRV_PID='' SRV_CHILDREN=''
  rm -f "$SRV_CTL"
}

# Every process of the server: the main PID and the children it forked.
srv_pids() { echo "$SRV_PID $SRV_CHILDREN"; }

# srv_ticks: user+system CPU clock ticks of every process of the server.
srv_ticks() {
  local t=0 p
  for p in $(srv_pids); do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the command name, which may contain spaces.
    t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}

# srv_cpu_us: CPU time of every thread of every process of the server, in
# microseconds (the scheduler's own count, /proc/PID/task/TID/schedstat:
# finer than srv_ticks' 10 ms clock ticks).
srv_cpu_us() {
  local p
  for p in $(srv_pids); do
    cat /proc/"$p"/task/*/schedstat 2>/dev/null
  done | awk '{ns += $1} END {printf "%d\n", ns / 1000}'
}

# srv_pss_kb: proportional set size summed over the server's processes:
# memory Kamailio's workers share is counted once, not once per process.
srv_pss_kb() {
  local t=0 p v
  for p in $(srv_pids); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# srv_bindings: how many bindings (contacts) the server holds.
srv_bindings() {
  case $SRV_KIND in
  sipflow) "$PROXY" ctl --control "$SRV_CTL" stats |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["bindings"])' ;;
  kamailio) $KAMRPC "$SRV_CTL" contacts ;;
  esac
}

# srv_dump: {"bindings": [{aor, contact, reg_id, outbound, flow: {transport,
# remote}, keepalive: {rtt_us}}]} from either server.
srv_dump() {
  case $SRV_KIND in
  sipflow) "$PROXY" ctl --control "$SRV_CTL" dump ;;
  kamailio) $KAMRPC "$SRV_CTL" dump ;;
  esac
}

# srv_stats: the server's own counters as JSON (names differ per server).
srv_stats() {
  case $SRV_KIND in
  sipflow) "$PROXY" ctl --control "$SRV_CTL" stats ;;
  kamailio) $KAMRPC "$SRV_CTL" stats ;;
  esac
}

# srv_udp_drops: datagrams the kernel dropped at the server's UDP socket
# on 127.0.0.1:SRV_PORT (receive buffer full).
srv_udp_drops() {
  local hex
  hex=$(printf '0100007F:%04X' "$SRV_PORT")
  awk -v a="$hex" '$2 == a {d += $NF} END {print d + 0}' /proc/net/udp
}
