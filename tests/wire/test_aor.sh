#!/usr/bin/env bash
# Users addressed every way callers do, against --role single and against an
# edge in front of a registrar (two processes): user@domain, user@own-ip,
# user@own-ip:port, with ;transport= and other URI parameters (RFC 3261
# §10.3, §16.4-16.5; docs/registrar.md, "The canonical AoR"); failover on a
# closed connection, 430, 408 or no answer, and dead keepalives (CRLF,
# OPTIONS), with the registrar learning of dead flows behind the edge
# (RFC 5626 §5.3, §7); no open relay (docs/proxy.md). Prints TAP.
# usage: test_aor.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
PHONE="python3 $HERE/phone.py"

# phone NAME HOST PORT [phone.py options]: a phone in the background,
# logging to NAME.events; its PID in $LAST_PID.
phone() {
  local name=$1 host=$2 port=$3; shift 3
  start "$name" $PHONE "$host" "$port" --user "$name" --log "$WIRE_TMP/$name.events" "$@"
}
registered() { grep -q '^registered' "$WIRE_TMP/$1.events" 2>/dev/null; }
expect() { $SIPRAW expect "$@"; }
# dump_has CONTROL 'python expr over the list b of bindings'
dump_has() { json_check "$1" dump "(lambda b: $2)(d['bindings'])"; }
# nothing_arrives PORT: a sink on 127.0.0.1:PORT that saw nothing
nothing_arrives() { test "$(head -1 "$WIRE_TMP/sink$1.log")" = done; }
sink() { start "sink$1" python3 -u "$HERE/sink.py" "$1" "$2"; }

# ---- --role single ----------------------------------------------------------
P=$(free_port)
PEER=$(free_port)
CTL=$WIRE_TMP/single.ctl
start single "$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
  --domain example.com --control "$CTL" --token-key "$WIRE_TMP/single.keys" \
  --peer udp:127.0.0.1:$PEER --flow-timer 3 --ka-interval 1 --ka-timeout 1 \
  --ka-misses 2 --txn-timeout-ms 2000 --log-level debug
SINGLE_PID=$LAST_PID
check "single: control socket up" wait_for "$CTL" 10

phone alice 127.0.0.1 $P --life 120
until_true 5 registered alice
for ruri in "sip:alice@example.com" "sip:alice@127.0.0.1" \
  "sip:alice@127.0.0.1:$P" "sip:alice@127.0.0.1:$P;transport=udp" \
  "sip:alice@127.0.0.1:$P;transport=tcp;user=phone;maddr=127.0.0.1" \
  "sip:alice@EXAMPLE.com:$P;transport=udp" "sip:%61lice@127.0.0.1:$P"; do
  check "single: INVITE $ruri reaches alice (registered as sip:alice@example.com)" \
    expect 127.0.0.1 $P 200 INVITE "$ruri"
done
check "single: INVITE over TCP to sip:alice@127.0.0.1:$P reaches her" \
  expect 127.0.0.1 $P 200 INVITE "sip:alice@127.0.0.1:$P" --tcp
check "single: OPTIONS sip:alice@127.0.0.1:$P goes to alice, not answered by the proxy" \
  sh -c "$SIPRAW expect 127.0.0.1 $P 200 OPTIONS 'sip:alice@127.0.0.1:$P' && grep -q '^REQ OPTIONS .* from=raw' '$WIRE_TMP/alice.events'"

# REGISTER with the proxy's own address as the AoR's host: the same user.
phone bob 127.0.0.1 $P --aor-host "127.0.0.1:$P" --to-params ";transport=tcp" --life 120
check "single: REGISTER To sip:bob@127.0.0.1:$P;transport=tcp binds sip:bob@example.com" \
  until_true 5 dump_has "$CTL" "[x for x in b if x['aor']=='sip:bob@example.com']"
check "single: INVITE sip:bob@example.com reaches him" \
  expect 127.0.0.1 $P 200 INVITE "sip:bob@example.com"
check "single: a foreign domain's user is not ours: 404" \
  expect 127.0.0.1 $P 404 INVITE "sip:bob@elsewhere.test"

# No open relay (docs/proxy.md): a foreign Route or Request-URI gets 403
# and nothing is sent there; a --peer is forwarded to.
X=$(free_port)
sink $X 4
sleep 0.5
check "single: Route to a foreign host over UDP: 403" \
  expect 127.0.0.1 $P 403 MESSAGE "sip:alice@example.com" "Route: <sip:127.0.0.1:$X;lr>"
check "single: Route to a foreign host over TCP: 403" \
  expect 127.0.0.1 $P 403 MESSAGE "sip:alice@example.com" "Route: <sip:127.0.0.1:$X;transport=tcp;lr>"
check "single: a Request-URI for a foreign host: 403" \
  expect 127.0.0.1 $P 403 MESSAGE "sip:someone@127.0.0.1:$X"
check "single: a Request-URI for a foreign host without a user: 403" \
  expect 127.0.0.1 $P 403 OPTIONS "sip:127.0.0.1:$X;transport=tcp"
check "single: nothing reached the foreign host" \
  until_true 6 nothing_arrives $X
sink $PEER 4
sleep 0.5
expect 127.0.0.1 $P 0 MESSAGE "sip:someone@127.0.0.1:$PEER" >/dev/null 2>&1
check "single: a Request-URI for a --peer is forwarded there" \
  until_true 6 grep -q '^1$' "$WIRE_TMP/sink$PEER.log"

# Failover in the single role, the callee named by own address and port.
# Two Outbound flows of one instance (RFC 5626 §7): one answers 430.
inst() { printf '00000000-0000-1000-8000-%012d' "$1"; }
phone carl1 127.0.0.1 $P --user carl --transport tcp --ob "$(inst 1):1" --answer 430 --life 120
until_true 5 registered carl1
phone carl2 127.0.0.1 $P --user carl --transport tcp --ob "$(inst 1):2" --life 120
until_true 5 registered carl2
check "single: 430 from a flow: the call completes on the instance's other flow" \
  expect 127.0.0.1 $P 200 INVITE "sip:carl@127.0.0.1:$P;transport=tcp"
check "single: the flow that answers 430 got the INVITE" \
  grep -q '^REQ INVITE' "$WIRE_TMP/carl1.events"
check "single: the binding whose flow answered 430 was removed" \
  dump_has "$CTL" "[x['reg_id'] for x in b if x['aor']=='sip:carl@example.com']==[2]"

# No answer on one flow (UDP): local 408, the next flow answers; the
# binding stays (RFC 5626 §7).
phone dora1 127.0.0.1 $P --user dora --ob "$(inst 2):1" --answer none --life 120
until_true 5 registered dora1
phone dora2 127.0.0.1 $P --user dora --ob "$(inst 2):2" --life 120
until_true 5 registered dora2
check "single: no answer on one UDP flow: 408 locally, the call completes on the other" \
  expect 127.0.0.1 $P 200 INVITE "sip:dora@127.0.0.1"
check "single: after a 408 both bindings stay" \
  dump_has "$CTL" "sorted(x['reg_id'] for x in b if x['aor']=='sip:dora@example.com')==[1,2]"

# A TCP flow closes: its binding goes at once; the call takes the other.
phone eli1 127.0.0.1 $P --user eli --transport tcp --ob "$(inst 3):1" --life 120
ELI1_PID=$LAST_PID
until_true 5 registered eli1
phone eli2 127.0.0.1 $P --user eli --transport tcp --ob "$(inst 3):2" --life 120
until_true 5 registered eli2
stop_pid $ELI1_PID
check "single: a closed TCP connection removes its binding" \
  until_true 5 dump_has "$CTL" "[x['reg_id'] for x in b if x['aor']=='sip:eli@example.com']==[2]"
check "single: after the close the call reaches the other flow" \
  expect 127.0.0.1 $P 200 INVITE "sip:eli@127.0.0.1:$P"

# Dead by keepalive: an Outbound TCP phone stops its CRLF keepalives
# (Flow-Timer 3 s, then the 10 s grace); a plain UDP phone never answers
# the proxy's OPTIONS (1 s interval, 1 s timeout, 2 misses).
phone fay 127.0.0.1 $P --transport tcp --ob "$(inst 4):1" --crlf 1 --crlf-for 2 --life 120
until_true 5 registered fay
check "single: CRLF keepalives stop: the binding goes within Flow-Timer + 10 s" \
  until_true 18 dump_has "$CTL" "not [x for x in b if x['aor']=='sip:fay@example.com']"
phone gus 127.0.0.1 $P --aor-host "127.0.0.1" --options none --life 120
until_true 5 registered gus
check "single: OPTIONS unanswered: the binding goes within misses x (interval + timeout) + 2 s" \
  until_true 6 dump_has "$CTL" "not [x for x in b if x['aor']=='sip:gus@example.com']"
check "single: a plain UDP contact that answers has a measured RTT" \
  until_true 5 dump_has "$CTL" "[x for x in b if x['aor']=='sip:alice@example.com' and x['keepalive'] and x['keepalive']['rtt_us'] is not None]"
check "single: the server still runs" kill -0 $SINGLE_PID
stop_pid $SINGLE_PID

# ---- --role edge in front of --role registrar --------------------------------
R=$(free_port)
E=$(free_port)
RCTL=$WIRE_TMP/reg.ctl
ECTL=$WIRE_TMP/edge.ctl
# The registrar knows the edge's address as one of its names (--alias) and
# as the hop in-dialog requests go back to (--peer); it probes bindings
# behind the edge through their Path every second.
start registrar "$PROXY" --role registrar --listen udp:127.0.0.1:$R \
  --listen tcp:127.0.0.1:$R --domain example.com --alias 127.0.0.1:$E \
  --peer udp:127.0.0.1:$E --control "$RCTL" --ka-interval 1 --ka-timeout 1 \
  --ka-misses 2 --txn-timeout-ms 4000 --log-level debug
REG_PID=$LAST_PID
start edge "$PROXY" --role edge --listen udp:127.0.0.1:$E --listen tcp:127.0.0.1:$E \
  --registrar udp:127.0.0.1:$R --control "$ECTL" --token-key "$WIRE_TMP/edge.keys" \
  --flow-timer 3 --ka-interval 1 --ka-timeout 1 --ka-misses 2 \
  --txn-timeout-ms 2000 --log-level debug
EDGE_PID=$LAST_PID
check "pair: both control sockets up" sh -c "$(declare -f wait_for); wait_for $RCTL 10 && wait_for $ECTL 10"

phone hal 127.0.0.1 $E --aor-host "127.0.0.1:$E" --life 150
check "pair: REGISTER To sip:hal@<edge ip:port> binds sip:hal@example.com with the edge's Path" \
  until_true 5 dump_has "$RCTL" "[x for x in b if x['aor']=='sip:hal@example.com' and x['path']]"
for ruri in "sip:hal@127.0.0.1:$E" "sip:hal@127.0.0.1" "sip:hal@example.com" \
  "sip:hal@127.0.0.1:$E;transport=udp;user=phone"; do
  check "pair: INVITE $ruri to the edge reaches hal" \
    expect 127.0.0.1 $E 200 INVITE "$ruri"
done
check "pair: INVITE over TCP to the edge for sip:hal@127.0.0.1:$E reaches hal" \
  expect 127.0.0.1 $E 200 INVITE "sip:hal@127.0.0.1:$E" --tcp
check "pair: the registrar measures an RTT for the binding behind the edge" \
  until_true 5 dump_has "$RCTL" "[x for x in b if x['aor']=='sip:hal@example.com' and x['keepalive'] and x['keepalive']['rtt_us'] is not None]"

X=$(free_port)
sink $X 4
sleep 0.5
check "pair: the edge refuses a Route to a foreign host: 403" \
  expect 127.0.0.1 $E 403 MESSAGE "sip:hal@example.com" "Route: <sip:127.0.0.1:$X;lr>"
check "pair: a Request-URI for a foreign host is refused: 403" \
  expect 127.0.0.1 $E 403 MESSAGE "sip:someone@127.0.0.1:$X"
check "pair: nothing reached the foreign host" until_true 6 nothing_arrives $X

# 430 from the phone passes the edge untouched: the registrar fails over
# and drops the binding (RFC 5626 §7, §11.5).
phone ivy1 127.0.0.1 $E --user ivy --transport tcp --ob "$(inst 5):1" --answer 430 --life 120
until_true 5 registered ivy1
phone ivy2 127.0.0.1 $E --user ivy --transport tcp --ob "$(inst 5):2" --life 120
until_true 5 registered ivy2
F0=$(ctl "$RCTL" stats | python3 -c "import json,sys; print(json.load(sys.stdin)['failovers'])")
check "pair: 430 through the edge: the registrar fails over and the call completes" \
  expect 127.0.0.1 $E 200 INVITE "sip:ivy@127.0.0.1:$E"
check "pair: the registrar removed the binding that answered 430" \
  dump_has "$RCTL" "[x['reg_id'] for x in b if x['aor']=='sip:ivy@example.com']==[2]"
check "pair: the registrar counted the failover" \
  json_check "$RCTL" stats "d['failovers']>$F0"

# No answer from a UDP flow: the edge's 408 makes the registrar try the
# instance's other flow; the binding stays.
phone jo1 127.0.0.1 $E --user jo --ob "$(inst 6):1" --answer none --life 120
until_true 5 registered jo1
phone jo2 127.0.0.1 $E --user jo --ob "$(inst 6):2" --life 120
until_true 5 registered jo2
check "pair: no answer on one flow: 408 from the edge, the call completes on the other" \
  expect 127.0.0.1 $E 200 INVITE "sip:jo@example.com"
check "pair: after the 408 both bindings stay" \
  dump_has "$RCTL" "sorted(x['reg_id'] for x in b if x['aor']=='sip:jo@example.com')==[1,2]"

# The registrar learns of dead flows: through the Path its probe gets 430
# from the edge once the edge has lost the flow.
phone kai 127.0.0.1 $E --transport tcp --ob "$(inst 7):1" --crlf 1 --life 120
KAI_PID=$LAST_PID
until_true 5 registered kai
stop_pid $KAI_PID
check "pair: a closed TCP connection at the edge: the registrar drops the binding within 4 s" \
  until_true 4 dump_has "$RCTL" "not [x for x in b if x['aor']=='sip:kai@example.com']"
check "pair: the edge logs the connection closed" \
  grep -q "dead (connection closed)" "$WIRE_TMP/edge.log"
phone lea 127.0.0.1 $E --transport tcp --ob "$(inst 8):1" --crlf 1 --crlf-for 2 --life 120
until_true 5 registered lea
check "pair: CRLF keepalives stop: the registrar drops the binding within Flow-Timer + 10 s + 4 s" \
  until_true 20 dump_has "$RCTL" "not [x for x in b if x['aor']=='sip:lea@example.com']"
phone mia 127.0.0.1 $E --ob "$(inst 9):1" --life 120
until_true 5 registered mia
check "pair: a silent UDP Outbound flow: the registrar drops the binding within Flow-Timer + 10 s + 4 s" \
  until_true 20 dump_has "$RCTL" "not [x for x in b if x['aor']=='sip:mia@example.com']"
phone ned 127.0.0.1 $E --options none --life 120
until_true 5 registered ned
check "pair: a plain UDP phone that stops answering OPTIONS (asked through the edge) is dropped" \
  until_true 12 dump_has "$RCTL" "not [x for x in b if x['aor']=='sip:ned@example.com']"
check "pair: hal, who answers, is still registered" \
  dump_has "$RCTL" "[x for x in b if x['aor']=='sip:hal@example.com']"
check "pair: both servers still run" kill -0 $REG_PID $EDGE_PID
wire_done
