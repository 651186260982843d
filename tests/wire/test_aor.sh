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
exec 3>&1 # TAP comments from inside checks (their output goes to checks.log)

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
nothing_arrives() { test "$(head -1 "$WIRE_TMP/sink$1.log")" = "done"; }
sink() { start "sink$1" python3 -u "$HERE/sink.py" "$1" "$2"; }
# gone_within SECONDS CONTROL AOR [SINCE]: the AoR's bindings leave within
# SECONDS of SINCE (date +%s.%N; default now), by the wall clock; the time
# taken is printed as a TAP comment.
gone_within() {
  local secs=$1 ctl_path=$2 aor=$3 since=${4:-$(date +%s.%N)} now
  while :; do
    now=$(date +%s.%N)
    if dump_has "$ctl_path" "not [x for x in b if x['aor']=='$aor']" 2>/dev/null; then
      awk -v a="$now" -v b="$since" -v n="$aor" -v s="$secs" \
        'BEGIN { printf "# %s left after %.1f s (bound %s s)\n", n, a - b, s }' >&3
      awk -v a="$now" -v b="$since" -v s="$secs" 'BEGIN { exit !(a - b <= s) }'
      return
    fi
    awk -v a="$now" -v b="$since" -v s="$secs" 'BEGIN { exit !(a - b > s) }' &&
      return 1
    sleep 0.2
  done
}

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

phone alice 127.0.0.1 $P --life 400
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
phone bob 127.0.0.1 $P --aor-host "127.0.0.1:$P" --to-params ";transport=tcp" --life 400
check "single: REGISTER To sip:bob@127.0.0.1:$P;transport=tcp binds sip:bob@example.com" \
  until_true 5 dump_has "$CTL" "[x for x in b if x['aor']=='sip:bob@example.com']"
check "single: INVITE sip:bob@example.com reaches him" \
  expect 127.0.0.1 $P 200 INVITE "sip:bob@example.com"
check "single: a foreign domain's user is not ours: 404" \
  expect 127.0.0.1 $P 404 INVITE "sip:bob@elsewhere.test"

# No open relay (docs/proxy.md): a foreign Route or Request-URI gets 403
# and nothing is sent there; a --peer is forwarded to.
X=$(free_port)
sink $X 30
sleep 0.5
check "single: Route to a foreign host over UDP: 403" \
  expect 127.0.0.1 $P 403 MESSAGE "sip:alice@example.com" "Route: <sip:127.0.0.1:$X;lr>"
check "single: Route to a foreign host over TCP: 403" \
  expect 127.0.0.1 $P 403 MESSAGE "sip:alice@example.com" "Route: <sip:127.0.0.1:$X;transport=tcp;lr>"
check "single: a Request-URI for a foreign host: 403" \
  expect 127.0.0.1 $P 403 MESSAGE "sip:someone@127.0.0.1:$X"
check "single: a Request-URI for a foreign host without a user: 403" \
  expect 127.0.0.1 $P 403 OPTIONS "sip:127.0.0.1:$X;transport=tcp"
check "single: a REGISTER whose Path names a foreign host is stored" \
  expect 127.0.0.1 $P 200 REGISTER "sip:pat@example.com" \
  "Path: <sip:127.0.0.1:$X;lr>" "Contact: <sip:pat@192.0.2.7:5060>"
check "single: a call to it is not sent along that Path: 480" \
  expect 127.0.0.1 $P 480 INVITE "sip:pat@example.com"
check "single: nothing reached the foreign host (UDP or TCP)" \
  until_true 40 nothing_arrives $X
sink $PEER 4
sleep 0.5
expect 127.0.0.1 $P 0 MESSAGE "sip:someone@127.0.0.1:$PEER" >/dev/null 2>&1
check "single: a Request-URI for a --peer is forwarded there" \
  until_true 6 grep -q '^1$' "$WIRE_TMP/sink$PEER.log"

# Failover in the single role, the callee named by own address and port.
# Two Outbound flows of one instance (RFC 5626 §7): one answers 430.
inst() { printf '00000000-0000-1000-8000-%012d' "$1"; }
phone carl1 127.0.0.1 $P --crlf 1 --user carl --transport tcp --ob "$(inst 1):1" --answer 430 --life 400
until_true 5 registered carl1
phone carl2 127.0.0.1 $P --crlf 1 --user carl --transport tcp --ob "$(inst 1):2" --life 400
until_true 5 registered carl2
check "single: 430 from a flow: the call completes on the instance's other flow" \
  expect 127.0.0.1 $P 200 INVITE "sip:carl@127.0.0.1:$P;transport=tcp"
check "single: the flow that answers 430 got the INVITE" \
  grep -q '^REQ INVITE' "$WIRE_TMP/carl1.events"
check "single: the binding whose flow answered 430 was removed" \
  dump_has "$CTL" "[x['reg_id'] for x in b if x['aor']=='sip:carl@example.com']==[2]"

# No answer on one flow (UDP): local 408, the next flow answers; the
# binding stays (RFC 5626 §7).
phone dora1 127.0.0.1 $P --crlf 1 --user dora --ob "$(inst 2):1" --answer none --life 400
until_true 5 registered dora1
phone dora2 127.0.0.1 $P --crlf 1 --user dora --ob "$(inst 2):2" --life 400
until_true 5 registered dora2
check "single: no answer on one UDP flow: 408 locally, the call completes on the other" \
  expect 127.0.0.1 $P 200 INVITE "sip:dora@127.0.0.1"
check "single: after a 408 both bindings stay" \
  dump_has "$CTL" "sorted(x['reg_id'] for x in b if x['aor']=='sip:dora@example.com')==[1,2]"
# Outbound flows are watched passively, yet show an RTT: an OPTIONS sampled
# every 2 x --ka-interval (docs/proxy.md, "Keepalives").
check "single: an Outbound TCP binding shows a measured RTT within 2 keepalive intervals" \
  until_true 4 dump_has "$CTL" "[x for x in b if x['aor']=='sip:carl@example.com' and x['keepalive']['method']=='passive' and x['keepalive']['rtt_us'] is not None]"
check "single: an Outbound UDP binding shows a measured RTT too" \
  until_true 4 dump_has "$CTL" "[x for x in b if x['aor']=='sip:dora@example.com' and x['reg_id']==2 and x['keepalive']['method']=='passive' and x['keepalive']['rtt_us'] is not None]"

# A TCP flow closes: its binding goes at once; the call takes the other.
phone eli1 127.0.0.1 $P --crlf 1 --user eli --transport tcp --ob "$(inst 3):1" --life 400
ELI1_PID=$LAST_PID
until_true 5 registered eli1
phone eli2 127.0.0.1 $P --crlf 1 --user eli --transport tcp --ob "$(inst 3):2" --life 400
until_true 5 registered eli2
stop_pid $ELI1_PID
check "single: a closed TCP connection removes its binding" \
  until_true 5 dump_has "$CTL" "[x['reg_id'] for x in b if x['aor']=='sip:eli@example.com']==[2]"
check "single: after the close the call reaches the other flow" \
  expect 127.0.0.1 $P 200 INVITE "sip:eli@127.0.0.1:$P"

# Dead by keepalive: an Outbound TCP phone stops its CRLF keepalives
# (Flow-Timer 3 s, then the 10 s grace); a plain UDP phone never answers
# the proxy's OPTIONS (1 s interval, 1 s timeout, 2 misses).
T0=$(date +%s.%N)
phone fay 127.0.0.1 $P --transport tcp --ob "$(inst 4):1" --crlf 1 --crlf-for 2 --life 400
until_true 5 registered fay
check "single: CRLF keepalives stop after 2 s: the binding goes within 2 + Flow-Timer 3 + 10 s grace + 5 s" \
  gone_within 20 "$CTL" sip:fay@example.com "$T0"
phone gus 127.0.0.1 $P --aor-host "127.0.0.1" --options none --life 400
until_true 5 registered gus
check "single: OPTIONS unanswered: the binding goes within 2 misses x (1 s + 1 s) + 4 s" \
  gone_within 8 "$CTL" sip:gus@example.com
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

phone hal 127.0.0.1 $E --aor-host "127.0.0.1:$E" --life 400
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
phone ivy1 127.0.0.1 $E --crlf 1 --user ivy --transport tcp --ob "$(inst 5):1" --answer 430 --life 400
until_true 5 registered ivy1
phone ivy2 127.0.0.1 $E --crlf 1 --user ivy --transport tcp --ob "$(inst 5):2" --life 400
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
phone jo1 127.0.0.1 $E --crlf 1 --user jo --ob "$(inst 6):1" --answer none --life 400
until_true 5 registered jo1
phone jo2 127.0.0.1 $E --crlf 1 --user jo --ob "$(inst 6):2" --life 400
until_true 5 registered jo2
check "pair: no answer on one flow: 408 from the edge, the call completes on the other" \
  expect 127.0.0.1 $E 200 INVITE "sip:jo@example.com"
check "pair: after the 408 both bindings stay" \
  dump_has "$RCTL" "sorted(x['reg_id'] for x in b if x['aor']=='sip:jo@example.com')==[1,2]"
check "pair: the edge measures an RTT on its passively watched Outbound flows" \
  until_true 4 json_check "$ECTL" flows "[f for f in d['flows'] if f['keepalive'] and f['keepalive']['method']=='passive' and f['keepalive']['rtt_us'] is not None]"
check "pair: the registrar shows an RTT for an Outbound binding behind the edge" \
  until_true 4 dump_has "$RCTL" "[x for x in b if x['aor']=='sip:jo@example.com' and x['keepalive'] and x['keepalive']['rtt_us'] is not None]"

# The registrar learns of dead flows: through the Path its probe gets 430
# from the edge once the edge has lost the flow.
phone kai 127.0.0.1 $E --transport tcp --ob "$(inst 7):1" --crlf 1 --life 400
KAI_PID=$LAST_PID
until_true 5 registered kai
stop_pid $KAI_PID
check "pair: a closed TCP connection at the edge: the registrar drops the binding within 1 s + 1 s + 3 s" \
  gone_within 5 "$RCTL" sip:kai@example.com
check "pair: the edge logs the connection closed" \
  grep -q "dead (connection closed)" "$WIRE_TMP/edge.log"
T0=$(date +%s.%N)
phone lea 127.0.0.1 $E --transport tcp --ob "$(inst 8):1" --crlf 1 --crlf-for 2 --life 400
until_true 5 registered lea
check "pair: CRLF keepalives stop after 2 s: the registrar drops the binding within 2 + 3 + 10 s + 1 s + 4 s" \
  gone_within 20 "$RCTL" sip:lea@example.com "$T0"
T0=$(date +%s.%N)
phone mia 127.0.0.1 $E --ob "$(inst 9):1" --life 400
until_true 5 registered mia
check "pair: a silent UDP Outbound flow: the registrar drops the binding within 3 + 10 s + 1 s + 4 s" \
  gone_within 18 "$RCTL" sip:mia@example.com "$T0"
phone ned 127.0.0.1 $E --options none --life 400
until_true 5 registered ned
check "pair: a plain UDP phone that never answers OPTIONS (asked through the edge) is dropped within 2 x (1 s + 1 s) + 4 s" \
  gone_within 8 "$RCTL" sip:ned@example.com
check "pair: hal, who answers, is still registered" \
  dump_has "$RCTL" "[x for x in b if x['aor']=='sip:hal@example.com']"
check "pair: both servers still run" kill -0 $REG_PID $EDGE_PID
wire_done
