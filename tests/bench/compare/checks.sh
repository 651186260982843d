#!/usr/bin/env bash
# The wire checks of tests/wire/test_single.sh, run against either server,
# with the same SIPp scenarios and raw probes. Prints TAP; a check that
# cannot apply to a server prints "ok N - ... # SKIP reason".
# usage: checks.sh sipflow|kamailio PATH/TO/sipflow-proxy
# Bindings are read through srv_dump (sipflow-proxy's ctl dump, or
# Kamailio's ul.dump reshaped to the same JSON by kamrpc.py).
KIND=$1
PROXY=$2
. "$(dirname "$0")/../../wire/lib.sh"
. "$(dirname "$0")/servers.sh"
SRV_TMP=$WIRE_TMP

# lib.sh's cleanup, plus the server (stopped through servers.sh so that
# Kamailio's children are checked too); logs are kept for run.sh.
wire_cleanup() {
  srv_stop
  for pid in "${WIRE_PIDS[@]}"; do stop_pid "$pid"; done
  if [ -n "${CHECKS_LOGDIR:-}" ]; then
    mkdir -p "$CHECKS_LOGDIR"
    cp "$WIRE_TMP"/*.log "$WIRE_TMP"/*.err "$CHECKS_LOGDIR"/ 2>/dev/null
  fi
  rm -rf "$WIRE_TMP"
}
# A signal also runs the cleanup, so no server or SIPp outlives the script.
trap 'exit 143' TERM
trap 'exit 130' INT
skip() { WIRE_N=$((WIRE_N + 1)); echo "ok $WIRE_N - $1 # SKIP $2"; }

# dump_check 'python expression on d': d is the normalised binding dump.
dump_check() {
  local out
  out=$(srv_dump) || return 1
  python3 -c "import json,sys; d=json.loads(sys.stdin.read()); sys.exit(0 if ($1) else 1)" <<<"$out"
}
stats_check() {
  local out
  out=$(srv_stats) || return 1
  python3 -c "import json,sys; d=json.loads(sys.stdin.read()); sys.exit(0 if ($1) else 1)" <<<"$out"
}
aor() { echo "[b for b in d['bindings'] if b['aor']=='sip:$1@example.com']"; }

P=$(free_port)
case $KIND in
sipflow)
  srv_start sipflow "$P" wire --token-key "$WIRE_TMP/keys" --flow-timer 25 \
    --ka-interval 1 --ka-timeout 1 --ka-misses 2 --txn-timeout-ms 3000 \
    --log-level debug ;;
kamailio)
  # Keepalive every second, a contact silent for 3 s is cut short (5.6 has
  # no miss counter), 3 s branch timeout: the settings sipflow gets above.
  srv_start kamailio "$P" wire -A KA_INTERVAL=1 -A KA_TIMEOUT=3 \
    -A FR_TIMER=3000 -A FLOW_TIMER=25 -A LOG_LEVEL=2 ;;
esac
START=$?
check "the server starts and answers OPTIONS" test $START = 0
[ $START = 0 ] || { wire_done; exit 1; }
SERVER_PID=$SRV_PID

# RFC 5626 §4.4.1 / §5.4 and §8 / RFC 5389 §7.3.1.
check "CRLF ping on TCP answered with a pong" $SIPRAW crlf 127.0.0.1 $P
check "STUN Binding request on the SIP UDP port answered" $SIPRAW stun 127.0.0.1 $P
check "STUN over IPv6 answered with the IPv6 address XOR-mapped" $SIPRAW stun ::1 $P
check "CRLF ping over IPv6 TCP answered" $SIPRAW crlf ::1 $P
check "REGISTER over IPv6 UDP stored and answered 200" \
  $SIPRAW expect ::1 $P 200 REGISTER sip:ivy@example.com "Contact: <sip:ivy@[::1]:5099>"
check "the IPv6 binding shows its IPv6 flow" \
  dump_check "[b for b in $(aor ivy) if b['flow']['remote'].startswith('[::1]:')]"

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
  until_true 10 dump_check \
  "sorted(b['reg_id'] for b in $(aor bob))==[1,2] and all(b['flow']['transport']=='tcp' and b['outbound'] for b in $(aor bob))"

C=$(free_port)
check "INVITE delivered over the flow; full call with ACK and BYE" \
  sipp_run call1 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C -m 1 \
  -set callee bob 127.0.0.1:$P

Z=$(free_port)
check "200 OK has Require: outbound, Flow-Timer and the reg-id (SIPp checks)" \
  sipp_run zoe -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 -p $Z -m 1 \
  -set user zoe -set regid 1 -set cseq 1 -d 1 \
  -set inst 00000000-0000-1000-8000-00000000200e 127.0.0.1:$P
check "its binding went when SIPp closed the connection (RFC 5626 §7)" \
  until_true 5 dump_check "not $(aor zoe)"

# Re-REGISTER of the same instance and reg-id over a new connection with a
# new Contact replaces the binding (RFC 5626 §6, §4.2.1).
carol() { # port cseq
  start "carol$2" sipp -nostdin -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 \
    -p "$1" -m 1 -timeout 120 -set user carol -set regid 1 -set cseq "$2" \
    -d 120000 -set inst 00000000-0000-1000-8000-0000000ca401 127.0.0.1:$P
}
K1=$(free_port); carol $K1 1; CAROL1_PID=$LAST_PID
until_true 10 dump_check "$(aor carol)"
K2=$(free_port); carol $K2 2; CAROL2_PID=$LAST_PID
check "re-REGISTER with a new Contact replaces the binding of the instance" \
  until_true 10 dump_check \
  "[(b['contact'], b['flow']['remote']) for b in $(aor carol)]==[('sip:carol@127.0.0.1:$K2;transport=TCP;ob', '127.0.0.1:$K2')]"
stop_pid $CAROL1_PID
check "closing the replaced binding's old flow leaves the new binding" \
  until_true 3 dump_check "len($(aor carol))==1"

# RFC 3261 §10.3: wildcard only with Expires: 0.
check "REGISTER with Contact: * and Expires: 0 answered 200" \
  $SIPRAW expect 127.0.0.1 $P 200 REGISTER sip:carol@example.com "Contact: *" "Expires: 0"
check "wildcard de-registration removed the bindings" dump_check "not $(aor carol)"
stop_pid $CAROL2_PID
check "wildcard with a non-zero Expires is refused with 400" \
  $SIPRAW expect 127.0.0.1 $P 400 REGISTER sip:carol@example.com "Contact: *" "Expires: 60"
check "reg-id 0 is refused with 400" \
  $SIPRAW expect 127.0.0.1 $P 400 REGISTER sip:zed@example.com \
  "Supported: outbound, path" "Contact: <sip:zed@127.0.0.1:9;ob>;reg-id=0;+sip.instance=\"<urn:uuid:1>\""
check "a request for another domain gets 404" \
  $SIPRAW expect 127.0.0.1 $P 404 REGISTER sip:bob@elsewhere.test "Contact: <sip:bob@127.0.0.1:9>"

# A forged token: for sipflow-proxy one character of a real token changed;
# Kamailio's single-server configuration mints no token for a REGISTER
# flow (its tokens go into Path and Record-Route only), so its forgery is a
# token of its own layout (RFC 5626 §5.2 leaves the format to the proxy):
# a random 10-byte MAC, UDP, our socket, a client address, base64.
case $KIND in
sipflow)
  TOKEN=$(srv_dump | python3 -c "import json,sys; d=json.load(sys.stdin); print([b['flow']['token'] for b in d['bindings'] if b['aor']=='sip:bob@example.com' and b['reg_id']==1][0])")
  FORGED=$(python3 -c "import sys; t=sys.argv[1]; c='A' if t[5]!='A' else 'B'; print(t[:5]+c+t[6:])" "$TOKEN") ;;
kamailio)
  FORGED=$(python3 -c "import base64,os,socket,struct,sys; print(base64.b64encode(os.urandom(10)+bytes([1])+socket.inet_aton('127.0.0.1')+struct.pack('!H',int(sys.argv[1]))+socket.inet_aton('127.0.0.1')+struct.pack('!H',5099)).decode())" $P) ;;
esac
check "a forged flow token gets 403" \
  $SIPRAW expect 127.0.0.1 $P 403 OPTIONS sip:bob@example.com "Route: <sip:$FORGED@127.0.0.1:$P;lr>"

# Failover: bob's reg-id 1 flow closes; the call goes to reg-id 2.
stop_pid $BOB1_PID
check "closing a flow removes its binding at once" \
  until_true 5 dump_check "[b['reg_id'] for b in $(aor bob)]==[2]"
if [ "$KIND" = sipflow ]; then
  check "the token of the closed flow now gets 430, not 403" \
    $SIPRAW expect 127.0.0.1 $P 430 OPTIONS sip:bob@example.com "Route: <sip:$TOKEN@127.0.0.1:$P;lr>"
else
  skip "the token of the closed flow now gets 430, not 403" \
    "no token exists for a REGISTER flow here; Kamailio 5.6 has no check_flow_token() (6.1+)"
fi
C2=$(free_port)
check "after one flow closed, the call completes over the other flow" \
  sipp_run call2 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C2 -m 1 \
  -set callee bob 127.0.0.1:$P
stop_pid $BOB2_PID
C3=$(free_port)
check "with both flows gone the caller gets 480" \
  sipp_run call3 -sf "$SCEN/call_480.xml" -t u1 -i 127.0.0.1 -p $C3 -m 1 \
  -set callee bob 127.0.0.1:$P

# A flow that takes calls but never answers: local 408, then the instance's
# next flow (RFC 5626 §7 and the t_next_contact_flow() pattern). Which flow
# of an instance a server tries first is its own choice (sipflow-proxy: the
# oldest binding; Kamailio: the newest), so the silent flow is registered
# first for gil and last for gus: every server meets it in one of the two.
silent() { # name user regid port
  start "$1" sipp -nostdin -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 \
    -p "$4" -m 1 -timeout 120 -set user "$2" -set regid "$3" -set cseq 1 \
    -d 120000 -set inst 00000000-0000-1000-8000-00000000061e 127.0.0.1:$P
}
G1=$(free_port); silent gil1 gil 1 $G1; GIL1_PID=$LAST_PID
until_true 10 dump_check "len($(aor gil))==1"
G2=$(free_port); phone gil2 gil 2 $G2 00000000-0000-1000-8000-00000000061e; GIL2_PID=$LAST_PID
until_true 10 dump_check "len($(aor gil))==2"
C4=$(free_port)
check "silent flow registered first: the call completes over the instance's other flow" \
  sipp_run call4 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C4 -m 1 \
  -set callee gil 127.0.0.1:$P
stop_pid $GIL1_PID
stop_pid $GIL2_PID
U1=$(free_port); phone gus1 gus 1 $U1 00000000-0000-1000-8000-00000000061e; GUS1_PID=$LAST_PID
until_true 10 dump_check "len($(aor gus))==1"
U2=$(free_port); silent gus2 gus 2 $U2; GUS2_PID=$LAST_PID
until_true 10 dump_check "len($(aor gus))==2"
C6=$(free_port)
check "silent flow registered last: the call completes over the instance's other flow" \
  sipp_run call6 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C6 -m 1 \
  -set callee gus 127.0.0.1:$P
case $KIND in
sipflow) check "the server timed a silent flow out (local 408) and failed over" \
  stats_check "d['local_408']>=1 and d['failovers']>=1" ;;
kamailio) check "the server timed a silent flow out (local 408) and failed over" \
  grep -q "flow failover after 408" "$SRV_TMP/kamailio.log" ;;
esac
stop_pid $GUS1_PID
stop_pid $GUS2_PID

H=$(free_port)
start hal sipp -nostdin -sf "$SCEN/ob_register.xml" -oocsf "$SCEN/ob_ring.xml" \
  -t t1 -i 127.0.0.1 -p $H -m 1 -timeout 120 -set user hal -set regid 1 \
  -set cseq 1 -d 120000 -set inst 00000000-0000-1000-8000-000000000ha1 127.0.0.1:$P
HAL_PID=$LAST_PID
until_true 10 dump_check "$(aor hal)"
C5=$(free_port)
check "CANCEL reaches the ringing phone; the caller gets 200 and 487" \
  sipp_run cancel -sf "$SCEN/cancel.xml" -t u1 -i 127.0.0.1 -p $C5 -m 1 \
  -set callee hal 127.0.0.1:$P
stop_pid $HAL_PID

# A plain UDP phone: pinged with OPTIONS, RTT shown, removed when silent.
# (25 s here, not test_single.sh's 15: Kamailio 5.6 first cuts a silent
# contact's lifetime to 10 s, then its timer removes it.)
D=$(free_port)
start dave sipp -nostdin -sf "$SCEN/udp_phone.xml" -aa -t u1 -i 127.0.0.1 -p $D \
  -m 1 -timeout 60 -set user dave -d 6000 127.0.0.1:$P
DAVE_PID=$LAST_PID
check "a non-Outbound UDP contact is pinged with OPTIONS and its RTT shown" \
  until_true 10 dump_check "[b for b in $(aor dave) if b['keepalive'] and b['keepalive']['rtt_us'] is not None]"
stop_pid $DAVE_PID
check "the contact is removed once it stops answering" \
  until_true 25 dump_check "not $(aor dave)"

E=$(free_port)
start eve sipp -nostdin -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 -p $E -m 1 \
  -timeout 120 -set user eve -set regid 1 -set cseq 1 -d 120000 \
  -set inst 00000000-0000-1000-8000-000000000e0e 127.0.0.1:$P
until_true 10 dump_check "$(aor eve)"
check "flood of garbage, CRLF, STUN, bad and oversized messages sent" \
  $SIPRAW flood 127.0.0.1 $P 5000
check "after the flood the server still answers" \
  $SIPRAW expect 127.0.0.1 $P 200 OPTIONS sip:127.0.0.1:$P
check "after the flood every binding is intact" dump_check "$(aor eve)"
case $KIND in
sipflow) check "the server counted the malformed input" \
  stats_check "d['rx_dropped']+d['rx_malformed']>0 and d['rx_stun']>0" ;;
kamailio) check "the server counted the malformed input" stats_check "d['rx_bad']>0" ;;
esac
check "the server process is still running" kill -0 $SERVER_PID

CHILDREN=$SRV_CHILDREN
srv_stop
check "SIGTERM stops the server and every process it started" \
  python3 -c "import os,sys; sys.exit(any(os.path.exists('/proc/%s' % p) for p in sys.argv[1:]))" \
  $SERVER_PID $CHILDREN
wire_done
