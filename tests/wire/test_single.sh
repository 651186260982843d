#!/usr/bin/env bash
# sipflow-proxy as a single server (edge and registrar in one process),
# against SIPp user agents and raw probes on loopback. Prints TAP.
# usage: test_single.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"

P=$(free_port)
CTL=$WIRE_TMP/ctl
start proxy "$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
  --listen "udp:[::1]:$P" --listen "tcp:[::1]:$P" \
  --domain example.com --control "$CTL" --token-key "$WIRE_TMP/keys" \
  --flow-timer 25 --ka-interval 1 --ka-timeout 1 --ka-misses 2 \
  --txn-timeout-ms 3000 --log-level debug
PROXY_PID=$LAST_PID
check "control socket appears once the listeners are bound" wait_for "$CTL" 10

# RFC 5626 §4.4.1 / §5.4: a double CRLF gets one CRLF back at once.
check "CRLF ping on TCP answered with a pong" $SIPRAW crlf 127.0.0.1 $P
# RFC 5626 §8 / RFC 5389 §7.3.1: STUN Binding answered, address XOR-mapped.
check "STUN Binding request on the SIP UDP port answered" $SIPRAW stun 127.0.0.1 $P
check "STUN over IPv6 answered with the IPv6 address XOR-mapped" $SIPRAW stun ::1 $P
check "CRLF ping over IPv6 TCP answered" $SIPRAW crlf ::1 $P
check "REGISTER over IPv6 UDP stored and answered 200" \
  $SIPRAW expect ::1 $P 200 REGISTER sip:ivy@example.com "Contact: <sip:ivy@[::1]:5099>"
check "the IPv6 binding shows its IPv6 flow" \
  json_check "$CTL" dump "[b for b in d['bindings'] if b['aor']=='sip:ivy@example.com' and b['flow']['remote'].startswith('[::1]:')]"

# RFC 3261 §7.3.1 allows Vias folded onto one line; RFC 3581 §4: the top
# one still gets received and rport in the answer, and the second stays
# once, as it was.
folded_vias_answered() {
  local out port first
  out=$($SIPRAW vias 127.0.0.1 $P OPTIONS sip:127.0.0.1:$P \
    ", SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKfolded") || return 1
  port=$(printf '%s\n' "$out" | sed -n 's/^port=//p')
  first=$(printf '%s\n' "$out" | grep -i -m1 '^via:')
  printf '%s\n' "$out" >&2
  case "$first" in
  *"received=127.0.0.1"*"rport=$port"* | *"rport=$port"*"received=127.0.0.1"*) ;;
  *) return 1 ;;
  esac
  [ "$(printf '%s\n' "$out" | grep -o '192.0.2.9:5070' | wc -l)" -eq 1 ]
}
check "two Vias on one line: the answer's top Via has received and rport" \
  folded_vias_answered

# Two flows of one instance: reg-id 1 and 2 over TCP (RFC 5626 §6).
phone() { # name user regid port [instance]
  start "$1" sipp -nostdin -sf "$SCEN/ob_register.xml" -oocsf "$SCEN/ob_answer.xml" \
    -t t1 -i 127.0.0.1 -p "$4" -m 1 -timeout 120 \
    -set user "$2" -set regid "$3" -set cseq 1 -d 120000 \
    -set inst "${5:-00000000-0000-1000-8000-00000000b0b0}" 127.0.0.1:$P
}
B1=$(free_port); phone bob1 bob 1 $B1; BOB1_PID=$LAST_PID
B2=$(free_port); phone bob2 bob 2 $B2; BOB2_PID=$LAST_PID
check "Outbound REGISTER over TCP with two reg-ids: both bindings kept" \
  until_true 10 json_check "$CTL" dump \
  "sorted(b['reg_id'] for b in d['bindings'] if b['aor']=='sip:bob@example.com')==[1,2] and all(b['flow']['transport']=='tcp' and b['outbound'] for b in d['bindings'] if b['aor']=='sip:bob@example.com')"

# A call from a UDP caller reaches bob over one of his flows, with BYE.
C=$(free_port)
check "INVITE delivered over the flow; full call with ACK and BYE" \
  sipp_run call1 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C -m 1 \
  -set callee bob 127.0.0.1:$P

# The 200 OK of an Outbound registration (SIPp checks the headers).
Z=$(free_port)
check "200 OK has Require: outbound, Flow-Timer and the reg-id (SIPp checks)" \
  sipp_run zoe -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 -p $Z -m 1 \
  -set user zoe -set regid 1 -set cseq 1 -d 1 \
  -set inst 00000000-0000-1000-8000-00000000200e 127.0.0.1:$P
check "its binding went when SIPp closed the connection (RFC 5626 §7)" \
  until_true 5 json_check "$CTL" dump \
  "not [b for b in d['bindings'] if b['aor']=='sip:zoe@example.com']"

# Re-REGISTER of the same instance and reg-id over a new connection with a
# new Contact replaces the binding and moves it to the new flow (RFC 5626
# §6, §4.2.1); the old connection closing then removes nothing.
carol() { # port cseq
  start "carol$2" sipp -nostdin -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 \
    -p "$1" -m 1 -timeout 120 -set user carol -set regid 1 -set cseq "$2" \
    -d 120000 -set inst 00000000-0000-1000-8000-0000000ca401 127.0.0.1:$P
}
K1=$(free_port); carol $K1 1; CAROL1_PID=$LAST_PID
until_true 10 json_check "$CTL" dump "[b for b in d['bindings'] if b['aor']=='sip:carol@example.com']"
K2=$(free_port); carol $K2 2; CAROL2_PID=$LAST_PID
check "re-REGISTER with a new Contact replaces the binding of the instance" \
  until_true 10 json_check "$CTL" dump \
  "[(b['contact'], b['flow']['remote']) for b in d['bindings'] if b['aor']=='sip:carol@example.com']==[('sip:carol@127.0.0.1:$K2;transport=TCP;ob', '127.0.0.1:$K2')]"
stop_pid $CAROL1_PID
check "closing the replaced binding's old flow leaves the new binding" \
  until_true 3 json_check "$CTL" dump \
  "len([b for b in d['bindings'] if b['aor']=='sip:carol@example.com'])==1"

# Wildcard: Contact: * with Expires: 0 removes every binding (RFC 3261 §10.3).
check "REGISTER with Contact: * and Expires: 0 answered 200" \
  $SIPRAW expect 127.0.0.1 $P 200 REGISTER sip:carol@example.com "Contact: *" "Expires: 0"
check "wildcard de-registration removed the bindings" \
  json_check "$CTL" dump \
  "not [b for b in d['bindings'] if b['aor']=='sip:carol@example.com']"
stop_pid $CAROL2_PID
check "wildcard with a non-zero Expires is refused with 400" \
  $SIPRAW expect 127.0.0.1 $P 400 REGISTER sip:carol@example.com "Contact: *" "Expires: 60"
check "reg-id 0 is refused with 400" \
  $SIPRAW expect 127.0.0.1 $P 400 REGISTER sip:zed@example.com \
  "Supported: outbound, path" "Contact: <sip:zed@127.0.0.1:9;ob>;reg-id=0;+sip.instance=\"<urn:uuid:1>\""
check "a request for another domain gets 404" \
  $SIPRAW expect 127.0.0.1 $P 404 REGISTER sip:bob@elsewhere.test "Contact: <sip:bob@127.0.0.1:9>"

# Tokens: forged gets 403, a flow that is gone 430 (RFC 5626 §5.3.1).
TOKEN=$(ctl "$CTL" dump | python3 -c "import json,sys; d=json.load(sys.stdin); print([b['flow']['token'] for b in d['bindings'] if b['aor']=='sip:bob@example.com' and b['reg_id']==1][0])")
FORGED=$(python3 -c "import sys; t=sys.argv[1]; c='A' if t[5]!='A' else 'B'; print(t[:5]+c+t[6:])" "$TOKEN")
check "a forged flow token gets 403" \
  $SIPRAW expect 127.0.0.1 $P 403 OPTIONS sip:bob@example.com "Route: <sip:$FORGED@127.0.0.1:$P;lr>"

# Failover: bob's reg-id 1 flow closes; the call goes to reg-id 2.
stop_pid $BOB1_PID
check "closing a flow removes its binding at once" \
  until_true 5 json_check "$CTL" dump \
  "[b['reg_id'] for b in d['bindings'] if b['aor']=='sip:bob@example.com']==[2]"
check "the token of the closed flow now gets 430, not 403" \
  $SIPRAW expect 127.0.0.1 $P 430 OPTIONS sip:bob@example.com "Route: <sip:$TOKEN@127.0.0.1:$P;lr>"
C2=$(free_port)
check "after one flow closed, the call completes over the other flow" \
  sipp_run call2 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C2 -m 1 \
  -set callee bob 127.0.0.1:$P
stop_pid $BOB2_PID
C3=$(free_port)
check "with both flows gone the caller gets 480" \
  sipp_run call3 -sf "$SCEN/call_480.xml" -t u1 -i 127.0.0.1 -p $C3 -m 1 \
  -set callee bob 127.0.0.1:$P

# A flow that takes calls but never answers: the branch times out into a
# local 408 and the call fails over to the instance's next flow (RFC 5626 §7).
silent() { # name regid port
  start "$1" sipp -nostdin -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 \
    -p "$3" -m 1 -timeout 120 -set user gil -set regid "$2" -set cseq 1 \
    -d 120000 -set inst 00000000-0000-1000-8000-00000000061e 127.0.0.1:$P
}
G1=$(free_port); silent gil1 1 $G1; GIL1_PID=$LAST_PID
G2=$(free_port); phone gil2 gil 2 $G2 00000000-0000-1000-8000-00000000061e; GIL2_PID=$LAST_PID
until_true 10 json_check "$CTL" dump "len([b for b in d['bindings'] if b['aor']=='sip:gil@example.com'])==2"
C4=$(free_port)
check "no answer on the first flow: local 408, the call completes on the next" \
  sipp_run call4 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C4 -m 1 \
  -set callee gil 127.0.0.1:$P
check "the proxy counted the local 408 and the failover" \
  json_check "$CTL" stats "d['local_408']>=1 and d['failovers']>=1"
stop_pid $GIL1_PID
stop_pid $GIL2_PID

# CANCEL follows the INVITE's branches: 200 for the CANCEL, 487 for the call.
H=$(free_port)
start hal sipp -nostdin -sf "$SCEN/ob_register.xml" -oocsf "$SCEN/ob_ring.xml" \
  -t t1 -i 127.0.0.1 -p $H -m 1 -timeout 120 -set user hal -set regid 1 \
  -set cseq 1 -d 120000 -set inst 00000000-0000-1000-8000-000000000ha1 127.0.0.1:$P
HAL_PID=$LAST_PID
until_true 10 json_check "$CTL" dump "[b for b in d['bindings'] if b['aor']=='sip:hal@example.com']"
C5=$(free_port)
check "CANCEL reaches the ringing phone; the caller gets 200 and 487" \
  sipp_run cancel -sf "$SCEN/cancel.xml" -t u1 -i 127.0.0.1 -p $C5 -m 1 \
  -set callee hal 127.0.0.1:$P
stop_pid $HAL_PID

# A plain UDP phone: pinged with OPTIONS, RTT shown, removed when silent.
D=$(free_port)
start dave sipp -nostdin -sf "$SCEN/udp_phone.xml" -aa -t u1 -i 127.0.0.1 -p $D \
  -m 1 -timeout 60 -set user dave -d 6000 127.0.0.1:$P
DAVE_PID=$LAST_PID
check "a non-Outbound UDP contact is pinged with OPTIONS and its RTT shown" \
  until_true 10 json_check "$CTL" dump \
  "[b for b in d['bindings'] if b['aor']=='sip:dave@example.com' and b['keepalive'] and b['keepalive']['method']=='options' and b['keepalive']['rtt_us'] is not None]"
stop_pid $DAVE_PID
check "the contact is removed once it stops answering" \
  until_true 15 json_check "$CTL" dump \
  "not [b for b in d['bindings'] if b['aor']=='sip:dave@example.com']"

# Keepalive answers: the plain form is read before sofia-sip parses anything
# (docs/proxy.md, "Keepalive cost"); a folded header line sends it through
# the full parser. Every answer counts either way, none as malformed.
stat_of() { ctl "$CTL" stats | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
for form in plain folded; do
  M0=$(stat_of rx_malformed)
  N=$(python3 "$HERE/ka_answer.py" 127.0.0.1 $P "ka$form" $form 4) || N=0
  check "OPTIONS keepalive answers in the $form form: each one counted for its contact" \
    until_true 3 json_check "$CTL" dump \
    "$N > 0 and [b for b in d['bindings'] if b['aor']=='sip:ka$form@example.com' and b['keepalive'] and b['keepalive']['probes_answered'] >= $N and b['keepalive']['state']=='alive']"
  check "OPTIONS keepalive answers in the $form form: none counted as malformed" \
    test "$(stat_of rx_malformed)" = "$M0"
done

# Probes due in one timer callback go out in one sendmmsg() (net.c): 40
# phones registered together are each pinged and answer, and every probe
# they answered went through a batch.
B0=$(stat_of tx_batched)
read -r KA_FEWEST KA_TOTAL < <(python3 "$HERE/ka_answer.py" 127.0.0.1 $P kamany plain 3.5 40) ||
  KA_FEWEST=0
check "40 UDP phones pinged together: each answered OPTIONS (fewest $KA_FEWEST)" \
  test "${KA_FEWEST:-0}" -ge 1
check "their probes went out batched ($(($(stat_of tx_batched) - B0)) batched, $KA_TOTAL answered)" \
  test "$(($(stat_of tx_batched) - B0))" -ge "${KA_TOTAL:-1}"

# Hostile input: garbage, floods, oversized and partial messages.
E=$(free_port)
start eve sipp -nostdin -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 -p $E -m 1 \
  -timeout 120 -set user eve -set regid 1 -set cseq 1 -d 120000 \
  -set inst 00000000-0000-1000-8000-000000000e0e 127.0.0.1:$P
until_true 10 json_check "$CTL" dump "[b for b in d['bindings'] if b['aor']=='sip:eve@example.com']"
check "flood of garbage, CRLF, STUN, bad and oversized messages sent" \
  $SIPRAW flood 127.0.0.1 $P 5000
check "after the flood the server still answers" \
  $SIPRAW expect 127.0.0.1 $P 200 OPTIONS sip:127.0.0.1:$P
check "after the flood every binding is intact" \
  json_check "$CTL" dump "[b for b in d['bindings'] if b['aor']=='sip:eve@example.com']"
check "the server counted the malformed input" \
  json_check "$CTL" stats "d['rx_dropped']+d['rx_malformed']>0 and d['rx_stun']>0"
check "the log names how many flood lines it held back, without another line" \
  until_true 3 grep -q "log lines about network input suppressed" "$WIRE_TMP/proxy.log"
check "the server process is still running" kill -0 $PROXY_PID

stop_pid $PROXY_PID
check "shutdown on SIGTERM removes the control socket" test ! -e "$CTL"
wire_done
