#!/usr/bin/env bash
# Security checks of sipflow-proxy on loopback. usage: run.sh PATH/TO/sipflow-proxy
#
# Starts two proxies with different key rings and runs attack.py against the
# first: tokens from the other ring, every bit of a token flipped, a token
# replayed after its connection closed, a REGISTER flood against
# max-contacts, CRLF and STUN floods, oversized messages; then one-shot UDP
# peers against a third proxy with a flow cap. Prints the figures
# of each check with its documented answer, then the proxy's counters, its
# log volume and whether it survived. Exits nonzero on any other answer or a
# crash. Processes are stopped by PID; everything is bounded in time.
set -u
PROXY=${1:?usage: run.sh PATH/TO/sipflow-proxy}
HERE=$(cd "$(dirname "$0")" && pwd)
MAX_CONTACTS=10
tmp=$(mktemp -d /tmp/sipflow-security.XXXXXX)
pids=()
stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
cleanup() {
  for p in "${pids[@]}"; do stop_pid "$p"; done
  [ "${SECURITY_KEEP:-0}" = 1 ] && echo "logs kept in $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

start_proxy() { # name port
  # SECURITY_IGNORE_SIGPIPE=1: start the proxies with SIGPIPE ignored (an
  # ignored signal survives exec), to measure the checks after the TCP
  # flood even when the proxy itself does not ignore SIGPIPE.
  if [ "${SECURITY_IGNORE_SIGPIPE:-0}" = 1 ]; then trap '' PIPE; fi
  "$PROXY" --listen udp:127.0.0.1:$2 --listen tcp:127.0.0.1:$2 \
    --domain example.com --control "$tmp/$1.ctl" --log-level info \
    --token-key "$tmp/$1.keys" --max-contacts $MAX_CONTACTS --keepalive off \
    >"$tmp/$1.log" 2>&1 &
  pids+=($!)
  trap - PIPE
  for _ in $(seq 50); do [ -S "$tmp/$1.ctl" ] && return 0; sleep 0.1; done
  echo "proxy $1 did not start"; cat "$tmp/$1.log"; exit 1
}

A=$(python3 "$HERE/../wire/sipraw.py" free-port)
start_proxy a "$A"
PA=${pids[0]}
B=$(python3 "$HERE/../wire/sipraw.py" free-port)
start_proxy b "$B"
echo "security checks against sipflow-proxy pid $PA on 127.0.0.1:$A (max-contacts $MAX_CONTACTS)"
cpu0=$(awk '{print $14 + $15}' /proc/$PA/stat)
timeout 300 python3 "$HERE/attack.py" "$A" "$B" "$MAX_CONTACTS"
rc=$?
cpu1=$(awk '{print $14 + $15}' /proc/$PA/stat 2>/dev/null || echo "$cpu0")
stats=$(timeout 10 "$PROXY" ctl --control "$tmp/a.ctl" stats 2>/dev/null)
echo "proxy counters: $(python3 -c 'import json,sys; d=json.load(sys.stdin); print(", ".join(f"{k} {d[k]}" for k in ("rx_messages","rx_stun","rx_crlf_pings","rx_dropped","rx_malformed","register_rejected","token_403","token_430","bindings")))' <<<"$stats" 2>/dev/null || echo "unavailable")"
echo "proxy CPU during the checks: $(echo "($cpu1 - $cpu0) / $(getconf CLK_TCK)" | bc -l | xargs printf '%.2f') s"
# One-shot UDP peers: one OPTIONS from each of 10000 source ports against a
# third proxy with a --max-flows cap, then silence until --udp-flow-idle.
C=$(python3 "$HERE/../wire/sipraw.py" free-port)
"$PROXY" --listen udp:127.0.0.1:$C --domain example.com --control "$tmp/c.ctl" \
  --log-level info --keepalive off --udp-flow-idle 20 --max-flows 5000 \
  >"$tmp/c.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$tmp/c.ctl" ] && break; sleep 0.1; done
cstat() { timeout 10 "$PROXY" ctl --control "$tmp/c.ctl" stats | python3 -c "import json,sys; d=json.load(sys.stdin); print(*(d[k] for k in sys.argv[1:]))" "$@"; }
answered=0
t0=$(date +%s)
for _ in $(seq 20); do
  n=$(timeout 30 python3 "$HERE/../wire/sipraw.py" peers 127.0.0.1 "$C" 500 0.3)
  answered=$((answered + ${n:-0}))
done
read -r f1 refused <<<"$(cstat flows flows_refused)"
waited=0
while [ "$waited" -lt 40 ] && [ "$(cstat flows)" != 0 ]; do sleep 1; waited=$((waited + 1)); done
read -r f2 forgotten <<<"$(cstat flows udp_flows_forgotten)"
echo "one-shot UDP peers: 10000 source ports in $(($(date +%s) - t0 - waited)) s, one OPTIONS each -> $answered answered; then $f1 flows (max-flows 5000), $refused refused; $waited s later $f2 flows, $forgotten forgotten (documented: at most max-flows, the rest refused and counted; a silent peer forgotten 20-25 s after its last datagram)"
if [ "${f1:-99999}" -gt 5000 ] || [ "${refused:-0}" = 0 ] || [ "${f2:-1}" != 0 ]; then
  echo "one-shot UDP peers: not as documented"; rc=1
  echo "CHECK FAIL: one-shot UDP peers"
else
  echo "CHECK ok: one-shot UDP peers"
fi

lines=$(wc -l <"$tmp/a.log")
summaries=$(grep -c 'suppressed' "$tmp/a.log" || true)
echo "proxy log: $lines lines at level info ($summaries rate-limit summary lines)"
if kill -0 "$PA" 2>/dev/null; then
  echo "crash: none (the proxy ran throughout)"
  echo "CHECK ok: no crash"
else
  echo "CHECK FAIL: no crash"
  wait "$PA"
  st=$?
  echo "crash: the proxy exited with status $st$([ $st = 141 ] && echo ' (SIGPIPE)')"
  rc=1
fi
echo "security: $([ "$rc" = 0 ] && echo PASS || echo FAIL)"
exit "$rc"
