#!/usr/bin/env bash
# sipflow.so against usrloc's own keepalive (ka_mode) in the same Debian
# kamailio, same load: N UDP phones (ka_peers.py, one flow each) register,
# then every contact is pinged once per INTERVAL seconds for SECONDS. Prints,
# per mode, CPU per 1000 keepalives (all kamailio processes), shared memory
# per contact, keepalives answered, and live contacts lost (removed while
# their phone answered). Loopback only; kamailio is stopped by its PID.
# Both modes run usrloc's timer every INTERVAL s (its expiry walk costs the
# same in both). ROUNDS alternates the modes (usrloc, module, usrloc, ...).
# KA_TIMEOUT (environment, seconds; 0 by default: never) is usrloc's
# ka_timeout, so that usrloc too drops contacts whose keepalives go
# unanswered; the module drops a flow after dead_after (2) probes missed for
# keepalive_timeout_ms each (TIMEOUT_MS, 1000 by default as in single.cfg).
# MODES (environment) picks the modes run ("usrloc module"; module1 is
# the module with probe_batch 0, one sendto per probe; modulerecv the
# module with udp_answer_socket 0, the answers read by the UDP receivers;
# usrloc runs with both the module's answer paths off); TICK_MS the
# module's timer_tick_ms (50); PROCS the phones' processes (ka_peers.py
# --procs, 1), sharing ANSWER_RATE answers a second (10000). Where answers can be lost is printed per mode: datagrams the
# kernel dropped on kamailio's socket (/proc/net/udp "drops") and on the
# phones' sockets (SO_RXQ_OVFL), the phones' send errors and answers they
# sent 1 s or more late (their --answer-rate queue), and the machine-wide
# UdpRcvbufErrors/UdpSndbufErrors over the run (other jobs' too); the
# socket drops and the module's counters also for the window alone.
# MAXBUFFER sets kamailio's maxbuffer core parameter in both modes (the
# most it raises its UDP receive buffer to; 256 KiB by default).
# Usage: kamailio_module.sh /path/to/sipflow.so [N] [INTERVAL] [SECONDS] [ROUNDS]
set -uo pipefail
MODULE=$1
N=${2:-2000}
INTERVAL=${3:-10}
SECONDS_RUN=${4:-40}
ROUNDS=${5:-1}
KA_TIMEOUT=${KA_TIMEOUT:-0}
TIMEOUT_MS=${TIMEOUT_MS:-1000} # the module's keepalive_timeout_ms
TICK_MS=${TICK_MS:-50}         # the module's timer_tick_ms
PROCS=${PROCS:-1}              # ka_peers.py processes
MAXBUFFER=${MAXBUFFER:-}       # kamailio's maxbuffer (UDP receive buffer)
ANSWER_RATE=${ANSWER_RATE:-10000} # the phones' answers per second, in all
MODES=${MODES:-usrloc module}
HERE=$(cd "$(dirname "$0")" && pwd)
CFG="$HERE/../../../bindings/kamailio/examples/single.cfg"
TMP=$(mktemp -d /tmp/sipflow-kambench.XXXXXX)
HZ=$(getconf CLK_TCK)
KPID=
PPID_PEERS=
cleanup() {
  for p in $PPID_PEERS $KPID; do kill -TERM "$p" 2>/dev/null; done
  sleep 1
  for p in $PPID_PEERS $KPID; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

ticks() { # user+system ticks of kamailio and its children
  local t=0 p
  for p in $KPID $(pgrep -P "$KPID"); do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
shm_used() { kamcmd -s "unix:$TMP/ctl" core.shmmem | awk '/used:/ {print $2; exit}'; }
contacts() { kamcmd -s "unix:$TMP/ctl" stats.get_statistics all | awk '/usrloc:location_contacts/ {print $3}'; }
sfstats() { kamcmd -s "unix:$TMP/ctl" sipflow.stats | awk '/deaths|contacts_removed|missed|sendmmsg_calls|probes_batched|timer_tick_ms|tick_batch|answers_/ {printf "%s %s ", $1, $2}'; }
status() { cat "$TMP/peers.status" 2>/dev/null || echo "0 0 0 0 0 0 0"; }
# datagrams the kernel dropped on the UDP sockets bound to local port $1
sock_drops() {
  awk -v p="$(printf ':%04X' "$1")" 'NR > 1 && substr($2, length($2) - 4) == p {d += $NF} END {print d + 0}' /proc/net/udp
}
snmp_udp() { # machine-wide InErrors RcvbufErrors SndbufErrors
  awk '/^Udp:/ {if (!h) {for (i = 1; i <= NF; i++) k[$i] = i; h = 1} else print $k["InErrors"], $k["RcvbufErrors"], $k["SndbufErrors"]}' /proc/net/snmp
}

run() { # mode: module | module1 | modulerecv | usrloc
  local mode=$1 cfg=$TMP/$1.cfg port ppport s0 c0 o0 c1 o1 left u0 r0 n0 u1 r1 n1 kd kd0 pd0 m0=
  port=$(python3 "$HERE/../../wire/sipraw.py" free-port)
  ppport=$(python3 "$HERE/../../wire/sipraw.py" free-port)
  if [ "$mode" = usrloc ]; then
    sed -e 's/sipflow_keepalive();/$var(sf_off) = 0;/' \
      -e "s|^modparam(\"usrloc\", \"timer_interval\", 1)|modparam(\"usrloc\", \"timer_interval\", $INTERVAL)\nmodparam(\"usrloc\", \"ka_mode\", 1)\nmodparam(\"usrloc\", \"ka_timeout\", $KA_TIMEOUT)\nmodparam(\"sipflow\", \"udp_answer_hook\", 0)\nmodparam(\"sipflow\", \"udp_answer_socket\", 0)|" \
      "$CFG" >"$cfg"
  else
    sed -e "s|^modparam(\"usrloc\", \"timer_interval\", 1)|modparam(\"usrloc\", \"timer_interval\", $INTERVAL)|" \
      "$CFG" >"$cfg"
    # module1: the module sending each probe with its own sendto
    [ "$mode" = module1 ] &&
      sed -i '/"timer_tick_ms"/a modparam("sipflow", "probe_batch", 0)' "$cfg"
    # modulerecv: the module without its answer socket (the UDP receivers
    # read the answers)
    [ "$mode" = modulerecv ] &&
      sed -i '/"timer_tick_ms"/a modparam("sipflow", "udp_answer_socket", 0)' "$cfg"
  fi
  sed -i 's|^debug=2|debug=0|; s|"rtt_loglevel", 2|"rtt_loglevel", 255|' "$cfg"
  [ -n "$MAXBUFFER" ] && sed -i "s|^children=2|children=2\nmaxbuffer=$MAXBUFFER|" "$cfg"
  rm -f "$TMP/ctl" "$TMP/peers.status"
  kamailio -DD -E -f "$cfg" -Y "$TMP" -w "$TMP" -m 512 -M 16 -n 2 \
    -l "udp:127.0.0.1:$port" -A "SF_MODULE=\"$MODULE\"" \
    -A "SF_CTL=\"unix:$TMP/ctl\"" -A "SF_INTERVAL_MS=$((INTERVAL * 1000))" \
    -A "SF_TIMEOUT_MS=$TIMEOUT_MS" -A "SF_TICK_MS=$TICK_MS" \
    >"$TMP/$mode.log" 2>&1 &
  KPID=$!
  for _ in $(seq 100); do [ -S "$TMP/ctl" ] && break; sleep 0.1; done
  sleep 1
  s0=$(shm_used)
  read -r u0 r0 n0 <<<"$(snmp_udp)"
  python3 "$HERE/ka_peers.py" "$port" "$N" --port "$ppport" --rate 2000 --procs "$PROCS" \
    --answer-rate $((ANSWER_RATE / PROCS)) \
    --seconds $((SECONDS_RUN + INTERVAL + 600)) --status "$TMP/peers.status" \
    >"$TMP/peers.log" 2>&1 &
  PPID_PEERS=$!
  for _ in $(seq 600); do
    [ "$(status | cut -d' ' -f1)" -ge "$N" ] && break
    sleep 0.1
  done
  sleep "$INTERVAL" # every contact has been pinged once
  c0=$(ticks) o0=$(status | cut -d' ' -f3)
  kd0=$(sock_drops "$port") pd0=$(status | cut -d' ' -f4)
  [ "$mode" != usrloc ] && m0=$(sfstats)
  s1=$(shm_used)
  sleep "$SECONDS_RUN"
  c1=$(ticks) o1=$(status | cut -d' ' -f3)
  left=$(contacts)
  [ -n "$left" ] || left="unknown (kamcmd failed)"
  kd=$(sock_drops "$port")
  read -r u1 r1 n1 <<<"$(snmp_udp)"
  echo "$mode: in the window: drops on kamailio's socket $((kd - kd0)), on the phones' $(($(status | cut -d' ' -f4) - pd0))"
  echo "$mode: from the start: drops on kamailio's socket: $kd; phones: $(status | awk '{printf "options %s answers %s drops %s send-errors %s late %s max-lag %s ms", $2, $3, $4, $5, $6, $7}');" \
    "machine-wide UDP InErrors +$((u1 - u0)) RcvbufErrors +$((r1 - r0)) SndbufErrors +$((n1 - n0))"
  [ "$mode" != usrloc ] && echo "$mode: at the window's start: $m0" &&
    echo "$mode: at its end: $(sfstats)"
  echo "$mode: registered $(status | cut -d' ' -f1) of $N;" \
    "keepalives answered in ${SECONDS_RUN}s: $((o1 - o0));" \
    "CPU s per 1000 keepalives: $(echo "scale=4; ($c1 - $c0) * 1000 / $HZ / ($o1 - $o0)" | bc -l);" \
    "shm per contact: $(( (s1 - s0) / N )) B;" \
    "contacts left: $left of $N; load: $(cut -d' ' -f1 /proc/loadavg)"
  # the phones outlive the window (a slow registration must not end them
  # early); stopped here by PID
  kill -TERM "$PPID_PEERS" "$KPID" 2>/dev/null
  wait "$PPID_PEERS" "$KPID" 2>/dev/null
  PPID_PEERS= KPID=
}
echo "N=$N interval=${INTERVAL}s window=${SECONDS_RUN}s rounds=$ROUNDS" \
  "usrloc ka_timeout=${KA_TIMEOUT}s load: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$ROUNDS"); do
  for m in $MODES; do run "$m"; done
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
