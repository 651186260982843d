#!/usr/bin/env bash
# A port is one proxy's unless sharing is asked for: a second sipflow-proxy
# on a UDP or TCP port in use fails at start-up with a clear message and
# the first keeps its traffic; with --reuse-port on both, both run.
# Prints TAP.
# usage: test_port.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"

P=$(free_port)
start first "$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
  --domain example.com --control "$WIRE_TMP/first.ctl" \
  --token-key "$WIRE_TMP/first.keys" --keepalive off --register-rate 0
FIRST_PID=$LAST_PID
check "the first proxy starts" wait_for "$WIRE_TMP/first.ctl" 10

# second NAME LISTEN...: a second proxy on the given listeners, in the
# foreground, bounded; its exit status and stderr are kept.
second() {
  local name=$1; shift
  local args=() l
  for l in "$@"; do args+=(--listen "$l"); done
  timeout 10 "$PROXY" "${args[@]}" --domain example.com --keepalive off \
    --token-key "$WIRE_TMP/$name.keys" --log-level error \
    >"$WIRE_TMP/$name.log" 2>&1
  echo $? >"$WIRE_TMP/$name.rc"
}
refused() { # NAME: exited 1 (not killed by timeout) and said why
  [ "$(cat "$WIRE_TMP/$1.rc")" = 1 ] &&
    grep -q "address already in use.*--reuse-port" "$WIRE_TMP/$1.log"
}
second udp udp:127.0.0.1:$P
check "a second proxy on the UDP port in use exits 1 at start-up" refused udp
second tcp tcp:127.0.0.1:$P
check "a second proxy on the TCP port in use exits 1 at start-up" refused tcp
check "the first proxy still answers REGISTER on that port" \
  $SIPRAW expect 127.0.0.1 $P 200 REGISTER sip:amy@example.com \
  "Contact: <sip:amy@127.0.0.1:5099>"
check "the first proxy is still running" kill -0 "$FIRST_PID"

# Sharing on purpose: both ask for SO_REUSEPORT.
Q=$(free_port)
start shareA "$PROXY" --listen udp:127.0.0.1:$Q --listen tcp:127.0.0.1:$Q \
  --reuse-port --domain example.com --control "$WIRE_TMP/a.ctl" \
  --token-key "$WIRE_TMP/a.keys" --keepalive off --register-rate 0
A_PID=$LAST_PID
start shareB "$PROXY" --listen udp:127.0.0.1:$Q --listen tcp:127.0.0.1:$Q \
  --reuse-port --domain example.com --control "$WIRE_TMP/b.ctl" \
  --token-key "$WIRE_TMP/b.keys" --keepalive off --register-rate 0
B_PID=$LAST_PID
check "with --reuse-port two proxies share the port" \
  bash -c "[ -S '$WIRE_TMP/a.ctl' ] || sleep 3; [ -S '$WIRE_TMP/b.ctl' ] || sleep 3; \
  [ -S '$WIRE_TMP/a.ctl' ] && [ -S '$WIRE_TMP/b.ctl' ] && \
  kill -0 $A_PID && kill -0 $B_PID"
check "the shared port answers REGISTER" \
  $SIPRAW expect 127.0.0.1 $Q 200 REGISTER sip:bob@example.com \
  "Contact: <sip:bob@127.0.0.1:5098>"
# A third without --reuse-port is still refused.
second third udp:127.0.0.1:$Q
check "a proxy without --reuse-port is refused a shared port" refused third

wire_done
