#!/usr/bin/env bash
# Every keepalive a UA may send on its Outbound flow is a sign of life
# (RFC 5626 §4.4): STUN Binding requests and the other datagrams on UDP,
# double CRLFs on TCP, and any SIP message on both. The proxy watches
# Outbound flows passively against the Flow-Timer it gave: a flow kept alive
# only by one kind keeps its binding past Flow-Timer plus the grace, and a
# silent one loses it. Then a stream that smuggles a request behind a
# message without Content-Length (RFC 3261 §18.3). Prints TAP.
# usage: test_liveness.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
# The system's Python when there is one: a version manager's shim can take
# seconds to start on a loaded machine, and these checks race a timer.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
PEER="$PY $HERE/peer.py"

P=$(free_port)
CTL=$WIRE_TMP/ctl
# Flow-Timer 1 s: a passive watch declares a flow dead after 1 s plus the
# scheduler's 10 s grace of silence.
start proxy "$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
  --control "$CTL" --token-key "$WIRE_TMP/keys" --flow-timer 1 \
  --keepalive auto --log-level debug
check "control socket appears once the listeners are bound" wait_for "$CTL" 10

# Each phone registers, then sends only its one kind of keepalive for 18 s
# (or only answers the requests routed to it),
# longer than the 11 s of silence that make a flow dead and the checks.
SECS=18
START=$(date +%s)
declare -A KEEP
for spec in stun:udp crlf:udp nat4:udp options:udp crlf:tcp options:tcp \
  answer:udp none:udp none:tcp; do
  kind=${spec%:*} tr=${spec#*:}
  start "keep-$kind-$tr" $PEER keep 127.0.0.1 $P "ka-$kind-$tr" $kind $SECS \
    $([ "$tr" = tcp ] && echo --tcp)
  KEEP[$spec]=$LAST_PID
done

# has_binding USER [DUMP-FILE]: from the live dump or a saved one.
has_binding() {
  local out
  if [ $# -gt 1 ]; then out=$(cat "$2"); else out=$(ctl "$CTL" dump) || return 1; fi
  $PY -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if [b for b in d['bindings'] if b['aor']=='sip:$1@127.0.0.1'] else 1)" <<<"$out"
}
no_binding() { ! has_binding "$@"; }
all_registered() {
  local out
  out=$(ctl "$CTL" dump) || return 1
  $PY -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if len(d['bindings'])==9 and all(b.get('outbound') for b in d['bindings']) else 1)" <<<"$out"
}
check "all nine phones registered with Outbound" until_true 5 all_registered
# The answering phone hears an OPTIONS through the proxy every 0.7 s: its
# 200s are all it sends. The pokes stop before it does, so that no request
# is left waiting for an answer.
start poke $PEER poke 127.0.0.1 $P ka-answer-udp \
  $((SECS - 3 - $(date +%s) + START))
POKE=$LAST_PID

# The silent UDP phone's binding goes about 11 s after its REGISTER; the
# others registered within the same fraction of a second, so a second later
# every flow whose keepalives did not count would be gone too.
check "UDP, silent: binding removed (the watch is on)" \
  until_true 20 no_binding ka-none-udp
sleep 1.5
D=$WIRE_TMP/dump.json
for _ in 1 2 3 4 5; do
  ctl "$CTL" dump >"$D" 2>>"$WIRE_TMP/checks.log" &&
    $PY -c "import json,sys; json.load(open(sys.argv[1]))" "$D" && break
  sleep 0.2
done
check "UDP, STUN Binding requests only: binding still there" has_binding ka-stun-udp "$D"
check "UDP, double CRLF datagrams only: binding still there" has_binding ka-crlf-udp "$D"
check "UDP, 4-byte datagrams only: binding still there" has_binding ka-nat4-udp "$D"
check "UDP, OPTIONS only: binding still there" has_binding ka-options-udp "$D"
check "TCP, double CRLF only: binding still there" has_binding ka-crlf-tcp "$D"
check "TCP, OPTIONS only: binding still there" has_binding ka-options-tcp "$D"
check "UDP, only 200s to requests routed to it: binding still there" \
  has_binding ka-answer-udp "$D"
check "TCP, silent: binding removed" no_binding ka-none-tcp "$D"

for spec in stun:udp crlf:udp nat4:udp options:udp crlf:tcp options:tcp \
  answer:udp none:udp; do
  wait "${KEEP[$spec]}"
  rc=$?
  check "phone keeping alive with ${spec%:*} on ${spec#*:}: ran to the end" \
    test "$rc" -eq 0
done
wait "$POKE"
rc=$?
check "the OPTIONS routed to the answering phone got its 200s back" test "$rc" -eq 0
wait "${KEEP[none:tcp]}"
rc=$?
check "TCP, silent: the proxy closed the dead flow's connection" test "$rc" -eq 2

# RFC 3261 §18.3: on a stream Content-Length MUST be present. A message
# without it is a framing error; its "body", here a REGISTER, must not be
# read as a second request.
registers() {
  ctl "$CTL" stats | $PY -c "import json,sys; print(json.load(sys.stdin)['registers'])"
}
BEFORE=$(registers)
check "TCP message without Content-Length: nothing answered, connection closed" \
  $PEER smuggle 127.0.0.1 $P smuggled
check "the REGISTER smuggled in its body was not processed" \
  test "$(registers)" = "$BEFORE"
check "the proxy still answers on TCP" \
  $PY $HERE/sipraw.py expect 127.0.0.1 $P 200 OPTIONS sip:127.0.0.1:$P --tcp

wire_done
