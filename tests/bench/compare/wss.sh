#!/usr/bin/env bash
# sipflow-proxy and Kamailio side by side over WSS, in one run: N idle
# WebSocket-over-TLS connections (default 5 000) to each server, each
# holding one Outbound REGISTER binding, opened by
# tests/clients/wss-load.mjs (Node, `ws`), C handshakes at a time. Both
# servers stay up with their connections open; the keepalive rounds
# alternate between them (one round on one server, then one on the other,
# the first server changing every round), so that both see the same
# machine.
# Figures per server:
#   memory per idle WSS connection  (PSS of every server process with the
#                                   connections open and registered, minus
#                                   PSS before) / N
#   CPU per WebSocket keepalive     server CPU (the scheduler's count, in
#                                   microseconds) over R rounds of a Ping on
#                                   every connection (each answered by a
#                                   Pong), minus the server's idle CPU over
#                                   as long, / keepalives answered; the
#                                   same for a double CRLF in a text
#                                   message answered by a CRLF message
# Prints a line per round and the figures; passes or fails nothing (a
# benchmark, run by hand).
#
# usage: wss.sh [--n N] [--rounds R (4)] [--runs K (3)] [--conc C] [--spread MS]
#               [--gap S] [--warmup W (1)] PATH/TO/sipflow-proxy
#   --conc C     handshakes at a time (default 50; see docs/performance.md
#                §7 for why not more)
#   --spread MS  a round's keepalives are sent over MS ms (default 2000; all
#                at once, Kamailio's TCP main process fails to hand
#                thousands of connections to its readers and drops them)
#   --gap S      each kind of keepalive is measured twice per round: after S
#                seconds without a keepalive round on that server ("idle",
#                default 6: Kamailio's TCP workers hand an idle connection
#                back to its TCP main process after 5 s, as happens between
#                real keepalives, 25 s or more apart) and again right
#                after ("again": the connection is still with a worker)
#   --warmup W   the first W rounds are printed but left out of the figures:
#                the figures are those of servers that have already answered
#                a keepalive on every connection, as a long-running server
#                has (default 1)
# Environment: KA_INTERVAL (each server's own WebSocket keepalive interval,
# default 180 s: Kamailio's keepalive_timeout, sipflow-proxy's
# --ka-interval), KAM_CHILDREN (default 2), KAM_SHM_MB (default 1024),
# KAM_ALLOC (Kamailio memory manager, default tlsf), SERVERS (default
# "sipflow kamailio"), COMPARE_KEEP=1.
set -u
N=5000 ROUNDS=4 RUNS=3 CONC=50 SPREAD=2000 GAP=6 WARMUP=1
while [ $# -gt 1 ]; do
  case $1 in
  --n) N=$2; shift 2 ;;
  --rounds) ROUNDS=$2; shift 2 ;;
  --runs) RUNS=$2; shift 2 ;;
  --conc) CONC=$2; shift 2 ;;
  --spread) SPREAD=$2; shift 2 ;;
  --gap) GAP=$2; shift 2 ;;
  --warmup) WARMUP=$2; shift 2 ;;
  *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# = 1 ] || { sed -n '/^# usage/,/^# "sipflow/p' "$0" >&2; exit 2; }
PROXY=$1
[ -x "$PROXY" ] || { echo "no sipflow-proxy at $PROXY" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENTS=$(cd "$HERE/../../clients" && pwd)
# Every connection is a descriptor on both sides.
ulimit -n $((N * 2 + 1024)) || { echo "cannot raise ulimit -n" >&2; exit 2; }
SRV_TMP=$(mktemp -d /tmp/sipflow-wss.XXXXXX)
KA_INTERVAL=${KA_INTERVAL:-180}
export KAM_SHM_MB=${KAM_SHM_MB:-1024}
KAM_CFG=$HERE/kamailio-wss.cfg
. "$HERE/servers.sh"
# servers.sh keeps one server's state in SRV_*; both servers run at once
# here, so each one's is saved and restored by name.
declare -A S_PID S_PORT S_CTL S_CHILDREN S_WSS L_PID L_IN L_OUT
srv_save() {
  S_PID[$1]=$SRV_PID S_PORT[$1]=$SRV_PORT S_CTL[$1]=$SRV_CTL
  S_CHILDREN[$1]=$SRV_CHILDREN
}
srv_use() {
  SRV_KIND=$1 SRV_PID=${S_PID[$1]:-} SRV_PORT=${S_PORT[$1]:-}
  SRV_CTL=${S_CTL[$1]:-} SRV_CHILDREN=${S_CHILDREN[$1]:-}
}
# stop KIND: its load, then the server, by PID.
stop() {
  local k=$1
  if [ -n "${L_PID[$k]:-}" ]; then
    echo quit >&"${L_IN[$k]}" 2>/dev/null
    local n=0
    while kill -0 "${L_PID[$k]}" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    kill "${L_PID[$k]}" 2>/dev/null
    wait "${L_PID[$k]}" 2>/dev/null
    exec {L_IN[$k]}>&- {L_OUT[$k]}<&-
    L_PID[$k]=''
  fi
  srv_use "$k"
  srv_stop
  srv_save "$k"
}
cleanup() {
  for k in ${SERVERS:-sipflow kamailio}; do stop "$k"; done
  [ "${COMPARE_KEEP:-0}" = 1 ] && echo "logs kept in $SRV_TMP" || rm -rf "$SRV_TMP"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$SRV_TMP/key.pem" -out "$SRV_TMP/cert.pem" >/dev/null 2>&1
cat >"$SRV_TMP/tls.cfg" <<TLS
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = $SRV_TMP/key.pem
certificate = $SRV_TMP/cert.pem
TLS

# alive KIND: whether every process of the server is still there; if not,
# what its log says about why (Kamailio's workers die alone: the main
# process stays).
alive() {
  local p dead=''
  srv_use "$1"
  for p in $(srv_pids); do kill -0 "$p" 2>/dev/null || dead="$dead $p"; done
  [ -z "$dead" ] && return 0
  echo "$1: process(es)$dead gone; from its log:"
  grep -E 'ALERT|CRITICAL|BUG|assert|signal' "$SRV_TMP/$1.log" | grep -v 'queue full' | tail -5
  return 1
}

# open KIND: the server, its N connections and bindings, its memory figure.
open_server() {
  local k=$1 port wss before after line
  port=$(srv_free_port) wss=$(srv_free_port)
  case $k in
  sipflow)
    srv_start sipflow "$port" bench --listen "wss:127.0.0.1:$wss" \
      --tls-cert "$SRV_TMP/cert.pem" --tls-key "$SRV_TMP/key.pem" \
      --max-expires 7200 --log-level error --max-flows 0 --max-bindings 0 \
      --tcp-hello-timeout 0 --ka-interval "$KA_INTERVAL" || return 1 ;;
  kamailio)
    srv_start kamailio "$port" bench -x "${KAM_ALLOC:-tlsf}" -X "${KAM_ALLOC:-tlsf}" \
      -A KA_MODE=0 -A MAX_EXPIRES=7200 -A "TLS_CFG=\"$SRV_TMP/tls.cfg\"" \
      -A "WS_KA_TIMEOUT=$KA_INTERVAL" \
      -l "tls:127.0.0.1:$wss" || return 1 ;;
  esac
  srv_save "$k"
  sleep 1
  before=$(srv_pss_kb)
  rm -f "$SRV_TMP/$k.in" "$SRV_TMP/$k.out"
  mkfifo "$SRV_TMP/$k.in" "$SRV_TMP/$k.out"
  node "$CLIENTS/wss-load.mjs" --url "wss://127.0.0.1:$wss" --domain example.com \
    --n "$N" --conc "$CONC" --spread "$SPREAD" <"$SRV_TMP/$k.in" \
    >"$SRV_TMP/$k.out" 2>"$SRV_TMP/load-$k.log" &
  L_PID[$k]=$!
  exec {L_IN[$k]}>"$SRV_TMP/$k.in" {L_OUT[$k]}<"$SRV_TMP/$k.out"
  read -r -t 1800 line <&"${L_OUT[$k]}" || { echo "$k: load did not finish"; return 1; }
  echo "$k: $line (ok failed ms)"
  set -- $line
  OK[$k]=$2
  if [ "$2" -eq 0 ] || ! alive "$k"; then
    echo "$k: the server died or registered nothing; no figures"
    return 1
  fi
  sleep 3
  after=$(srv_pss_kb)
  echo "$k: bindings $(srv_bindings), PSS $before kB -> $after kB," \
    "$(((after - before) * 1024 / $2)) bytes per idle WSS connection"
}

# round KIND WHAT WHEN: one round of WHAT (ping | crlf) on KIND's
# connections; adds its CPU time, milliseconds and answers to the sums of
# WHAT.WHEN. WHEN is "idle" (no keepalive on that server for GAP s
# before) or "again" (right after the previous round).
round() {
  local k=$1 w=$2 when=$3 r=$4 t0 t1 line key=$1.$2.$3
  alive "$k" || return 1
  t0=$(srv_cpu_us)
  echo "$w 1" >&"${L_IN[$k]}"
  read -r -t 300 line <&"${L_OUT[$k]}" || { echo "$k: $w did not finish"; return 1; }
  t1=$(srv_cpu_us)
  LAST[$k]=${EPOCHREALTIME/./} LASTCPU[$k]=$t1 LASTANS[$k]=0
  set -- $line # WHAT SENT ANSWERED MS CLOSED
  # This round's own figure (idle CPU over as long subtracted), so that
  # rounds can be told apart: the first after the connections opened, and
  # the later ones, when the server has been up for minutes.
  echo "$k: $w ($when) sent $2, answered $3 in $4 ms, CPU $((t1 - t0)) us," \
    "$(awk -v d=$((t1 - t0)) -v i="${IDLE[$k]}" -v ms="$4" -v a="$3" \
      'BEGIN { b = d - i * ms / 10000; if (b < 0) b = 0
               printf "%.1f us per keepalive", a ? b / a : 0 }')," \
    "connections closed by the server so far ${5:-?}," \
    "load $(cut -d' ' -f1 /proc/loadavg)$([ "$r" -le "$WARMUP" ] && echo ', warm-up: not counted')"
  [ "$r" -le "$WARMUP" ] && return 0
  LASTANS[$k]=$3 LASTKEY[$k]=$k.$w.idle # the give-back of each idle spell
  SENT[$key]=$((${SENT[$key]:-0} + $2)) ANS[$key]=$((${ANS[$key]:-0} + $3))
  MS[$key]=$((${MS[$key]:-0} + $4)) CPU[$key]=$((${CPU[$key]:-0} + t1 - t0))
}

# gap KIND: waits until KIND's connections have had no keepalive round for
# GAP seconds.
# What a server spends after a round, on top of its idle CPU, until the
# next round on it (the other server's rounds run meanwhile) is part of
# what the keepalives of that round cost: Kamailio's TCP readers give the
# connections back to its TCP main process 5 s after their last traffic.
# It is added up per kind of round (AFTER) and printed apart.
gap() {
  local k=$1 left now c
  left=$((${LAST[$k]:-0} + GAP * 1000000 - ${EPOCHREALTIME/./}))
  [ "$left" -le 0 ] || sleep "$((left / 1000000)).$(printf %06d $((left % 1000000)))"
  [ "${LASTANS[$k]:-0}" -gt 0 ] || return 0
  now=${EPOCHREALTIME/./}
  srv_use "$k"
  c=$(srv_cpu_us)
  local key=${LASTKEY[$k]}
  AFTER[$key]=$((${AFTER[$key]:-0} + c - LASTCPU[$k] - IDLE[$k] * (now - LAST[$k]) / 10000000))
  LASTANS[$k]=0
}

run() {
  local servers=(${SERVERS:-sipflow kamailio}) k w r order alive=()
  declare -gA OK=() IDLE=() SENT=() ANS=() MS=() CPU=() T0=() DEAD=() LAST=() \
    LASTCPU=() LASTANS=() LASTKEY=() AFTER=()
  for k in "${servers[@]}"; do
    if open_server "$k"; then alive+=("$k"); else stop "$k"; fi
  done
  [ ${#alive[@]} -gt 0 ] || return 1
  # Each server's own CPU with its connections idle, over the same 10 s,
  # from GAP s after the last registration: Kamailio's readers give the
  # connections back to its TCP main process 5 s after their last traffic,
  # and that work, if counted as idle, would be subtracted from every round.
  sleep "$GAP"
  for k in "${alive[@]}"; do srv_use "$k"; T0[$k]=$(srv_cpu_us); done
  sleep 10
  for k in "${alive[@]}"; do
    srv_use "$k"
    IDLE[$k]=$(($(srv_cpu_us) - ${T0[$k]}))
    echo "$k: idle CPU ${IDLE[$k]} us in 10 s"
  done
  for r in $(seq "$ROUNDS"); do
    order=("${alive[@]}")
    [ $((r % 2)) = 0 ] && [ ${#alive[@]} = 2 ] && order=("${alive[1]}" "${alive[0]}")
    echo "-- round $r"
    for w in ping crlf; do
      for k in "${order[@]}"; do
        [ -z "${DEAD[$k]:-}" ] || continue
        gap "$k"
        round "$k" "$w" idle "$r" && round "$k" "$w" again "$r" || DEAD[$k]="died in round $r"
      done
    done
  done
  # The idle CPU again, after the rounds (once every server has had GAP s
  # without a keepalive round): the figures subtract the mean of the two,
  # and both are printed, so that a drift shows.
  for k in "${alive[@]}"; do gap "$k"; done
  for k in "${alive[@]}"; do
    [ -z "${DEAD[$k]:-}" ] || continue
    srv_use "$k"; T0[$k]=$(srv_cpu_us)
  done
  sleep 10
  for k in "${alive[@]}"; do
    [ -z "${DEAD[$k]:-}" ] || continue
    srv_use "$k"
    local after=$(($(srv_cpu_us) - ${T0[$k]}))
    echo "$k: idle CPU $after us in 10 s after the rounds (${IDLE[$k]} before)"
    IDLE[$k]=$(((IDLE[$k] + after) / 2))
  done
  for k in "${alive[@]}"; do
    [ -z "${DEAD[$k]:-}" ] || { echo "$k: ${DEAD[$k]}: no CPU figures"; continue; }
    for w in ping.idle ping.again crlf.idle crlf.again; do
      awk -v k="$k" -v w="$w" -v s="${SENT[$k.$w]}" -v a="${ANS[$k.$w]}" \
        -v after="${AFTER[$k.$w]:-0}" \
        -v ms="${MS[$k.$w]}" -v d="${CPU[$k.$w]}" -v idle="${IDLE[$k]}" \
        'BEGIN {
          busy = d - idle * ms / 10000; if (busy < 0) busy = 0
          printf "%s: %s %d sent, %d answered in %d ms, CPU %d us (%d idle): %.2f us CPU per keepalive; %.2f us more per keepalive after the rounds, until the next\n",
            k, w, s, a, ms, d, idle * ms / 10000, (a ? busy / a : 0), (a ? after / a : 0) }'
    done
  done
  for k in "${alive[@]}"; do stop "$k"; done
}

echo "wss.sh: $N WSS connections per server, $ROUNDS keepalive rounds ($WARMUP of them warm-up), $CONC handshakes at a time, spread $SPREAD ms, gap $GAP s, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sipflow-proxy $PROXY ($(git -C "$HERE" rev-parse --short HEAD 2>/dev/null)); $(kamailio -v 2>/dev/null | head -1)"
for r in $(seq "$RUNS"); do
  echo "== run $r ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
  run
done
echo "end ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
