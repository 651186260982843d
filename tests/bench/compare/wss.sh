#!/usr/bin/env bash
# sipflow-proxy and Kamailio side by side over WSS, in one run: N idle
# WebSocket-over-TLS connections (default 5 000), each holding one Outbound
# REGISTER binding, opened by tests/clients/wss-load.mjs (Node, `ws`).
# Figures per server:
#   memory per idle WSS connection  (PSS of every server process with the
#                                   connections open and registered, minus
#                                   PSS before) / N
#   CPU per WebSocket keepalive     server CPU over R rounds of a Ping on
#                                   every connection (each answered by a
#                                   Pong), minus the server's idle CPU over
#                                   as long, / keepalives answered; the
#                                   same for a double CRLF in a text
#                                   message answered by a CRLF message
# Prints figures; passes or fails nothing (a benchmark, run by hand).
#
# usage: wss.sh [--n N] [--rounds R] [--runs K] PATH/TO/sipflow-proxy
# Environment: KAM_CHILDREN (default 2), KAM_SHM_MB (default 1024),
# KAM_ALLOC (Kamailio memory manager, default tlsf), SERVERS (default
# "sipflow kamailio"), COMPARE_KEEP=1.
set -u
N=5000 ROUNDS=5 RUNS=1
while [ $# -gt 1 ]; do
  case $1 in
  --n) N=$2; shift 2 ;;
  --rounds) ROUNDS=$2; shift 2 ;;
  --runs) RUNS=$2; shift 2 ;;
  *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# = 1 ] || { sed -n '17,19p' "$0" >&2; exit 2; }
PROXY=$1
[ -x "$PROXY" ] || { echo "no sipflow-proxy at $PROXY" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENTS=$(cd "$HERE/../../clients" && pwd)
# Every connection is a descriptor on both sides.
ulimit -n $((N * 2 + 1024)) || { echo "cannot raise ulimit -n" >&2; exit 2; }
SRV_TMP=$(mktemp -d /tmp/sipflow-wss.XXXXXX)
export KAM_SHM_MB=${KAM_SHM_MB:-1024}
KAM_CFG=$HERE/kamailio-wss.cfg
. "$HERE/servers.sh"
LOAD_PID=''
cleanup() {
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
  srv_stop
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

# run KIND: one server, the load, the figures on one line.
run() {
  local kind=$1 port wss before after t0 t1 idle line
  port=$(srv_free_port) wss=$(srv_free_port)
  case $kind in
  sipflow)
    srv_start sipflow "$port" bench --listen "wss:127.0.0.1:$wss" \
      --tls-cert "$SRV_TMP/cert.pem" --tls-key "$SRV_TMP/key.pem" \
      --max-expires 7200 --log-level error --max-flows 0 --max-bindings 0 \
      --tcp-hello-timeout 0 || return 1 ;;
  kamailio)
    srv_start kamailio "$port" bench -x "${KAM_ALLOC:-tlsf}" -X "${KAM_ALLOC:-tlsf}" \
      -A KA_MODE=0 -A MAX_EXPIRES=7200 -A "TLS_CFG=\"$SRV_TMP/tls.cfg\"" \
      -l "tls:127.0.0.1:$wss" || return 1 ;;
  esac
  sleep 1
  before=$(srv_pss_kb)
  coproc LOAD { exec node "$CLIENTS/wss-load.mjs" --url "wss://127.0.0.1:$wss" \
    --domain example.com --n "$N" 2>"$SRV_TMP/load-$kind.log"; }
  read -r -t 900 line <&"${LOAD[0]}" || { echo "$kind: load did not finish"; return 1; }
  echo "$kind: $line (ok failed ms)"
  set -- $line
  local ok=$2
  if [ "$ok" -eq 0 ] || ! kill -0 "$SRV_PID" 2>/dev/null; then
    echo "$kind: the server died or registered nothing; no figures (COMPARE_KEEP=1 keeps its log)"
    echo quit >&"${LOAD[1]}"
    wait "$LOAD_PID" 2>/dev/null
    LOAD_PID=''
    srv_stop
    return 1
  fi
  sleep 3
  after=$(srv_pss_kb)
  echo "$kind: bindings $(srv_bindings), PSS $before kB -> $after kB," \
    "$(((after - before) * 1024 / ok)) bytes per idle WSS connection"
  # The server's own CPU with the connections idle, over 10 s.
  t0=$(srv_ticks); sleep 10; t1=$(srv_ticks)
  idle=$((t1 - t0))
  echo "$kind: idle CPU $idle ticks in 10 s (HZ $HZ)"
  for k in ping crlf; do
    t0=$(srv_ticks)
    echo "$k $ROUNDS" >&"${LOAD[1]}"
    read -r -t 300 line <&"${LOAD[0]}" || { echo "$kind: $k did not finish"; return 1; }
    t1=$(srv_ticks)
    # line: KIND SENT ANSWERED MS
    set -- $line
    awk -v k="$kind" -v w="$k" -v s="$2" -v a="$3" -v ms="$4" -v d=$((t1 - t0)) \
      -v idle="$idle" -v hz="$HZ" 'BEGIN {
        busy = d - idle * ms / 10000; if (busy < 0) busy = 0
        printf "%s: %s %d sent, %d answered in %d ms, %d ticks (%.1f idle): %.2f us CPU per keepalive\n",
          k, w, s, a, ms, d, idle * ms / 10000, (a ? busy / hz * 1e6 / a : 0) }'
  done
  echo quit >&"${LOAD[1]}"
  wait "$LOAD_PID" 2>/dev/null
  LOAD_PID=''
  srv_stop
}

echo "wss.sh: $N WSS connections, $ROUNDS keepalive rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sipflow-proxy $PROXY; $(kamailio -v 2>/dev/null | head -1)"
for r in $(seq "$RUNS"); do
  echo "== run $r"
  for s in ${SERVERS:-sipflow kamailio}; do run "$s"; done
done
