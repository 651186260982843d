#!/usr/bin/env bash
# sipflow-proxy --state FILE: bindings and the key ring survive a kill -9.
# Prints TAP. usage: test_state.sh PATH/TO/sipflow-proxy [PATH/TO/sipflow-ping]
PROXY=$1
. "$(dirname "$0")/lib.sh"

P=$(free_port)
CTL=$WIRE_TMP/ctl
STATE=$WIRE_TMP/state.db
run_proxy() {
  start proxy "$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
    --domain example.com --control "$CTL" --state "$STATE" \
    --keepalive options --ka-interval 1 --ka-timeout 1 --ka-misses 3 \
    --txn-timeout-ms 3000 --log-level debug
  PROXY_PID=$LAST_PID
}
run_proxy
check "proxy with --state up" wait_for "$CTL" 10

# A plain UDP phone that answers calls and OPTIONS, and an Outbound TCP phone.
U=$(free_port)
start uma sipp -nostdin -sf "$SCEN/udp_phone.xml" -oocsf "$SCEN/ob_answer.xml" -aa \
  -t u1 -i 127.0.0.1 -p $U -m 1 -timeout 120 -set user uma -d 120000 127.0.0.1:$P
T=$(free_port)
start ted sipp -nostdin -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 -p $T -m 1 \
  -timeout 120 -set user ted -set regid 1 -set cseq 1 -d 120000 \
  -set inst 00000000-0000-1000-8000-000000000ed0 127.0.0.1:$P
check "both phones registered" until_true 10 json_check "$CTL" dump \
  "len(d['bindings'])==2"
TOKEN=$(ctl "$CTL" dump | python3 -c "import json,sys; print([b['flow']['token'] for b in json.load(sys.stdin)['bindings'] if b['aor']=='sip:ted@example.com'][0])")
BEFORE=$(ctl "$CTL" dump | python3 -c "import json,sys; print(min(b['expires'] for b in json.load(sys.stdin)['bindings']))")

# kill -9: no chance to save anything at exit.
kill -KILL $PROXY_PID
wait $PROXY_PID 2>/dev/null
check "the proxy is gone" sh -c "! kill -0 $PROXY_PID 2>/dev/null"
rm -f "$CTL"
sleep 1
run_proxy
check "restarted with the same --state" wait_for "$CTL" 10
check "both bindings are back, their expiry less the time that passed" \
  json_check "$CTL" dump \
  "sorted(b['aor'] for b in d['bindings'])==['sip:ted@example.com','sip:uma@example.com'] and all(0 < b['expires'] < $BEFORE for b in d['bindings'])"
check "the UDP binding has its flow again and keepalives resume" \
  until_true 6 json_check "$CTL" dump \
  "[b for b in d['bindings'] if b['aor']=='sip:uma@example.com' and b['flow'] and b['keepalive'] and b['keepalive']['probes_answered']>0]"
C=$(free_port)
check "an INVITE after the restart still reaches the UDP phone" \
  sipp_run call -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C -m 1 \
  -set callee uma 127.0.0.1:$P
check "a token minted before the restart gets 430 (its flow is gone), not 403" \
  $SIPRAW expect 127.0.0.1 $P 430 OPTIONS sip:ted@example.com "Route: <sip:$TOKEN@127.0.0.1:$P;lr>"
# 300 UDP phones (ka_peers.py, one address each) probed every second:
# their answers arrive many at a time, and every one counts.
FAILED0=$(ctl "$CTL" stats | python3 -c "import json,sys; print(json.load(sys.stdin)['flows_failed'])")
start peers python3 "$HERE/../bench/compare/ka_peers.py" "$P" 300 \
  --port "$(free_port)" --rate 1000 --seconds 20 --status "$WIRE_TMP/peers.status"
PEERS_PID=$LAST_PID
check "300 phones registered" until_true 10 json_check "$CTL" dump \
  "len(d['bindings']) >= 302"
sleep 5
check "their answers all taken: answered within 2 % of sent, no flow failed" \
  json_check "$CTL" stats "d['options_sent'] > 1200 and d['options_answered'] >= 0.98 * d['options_sent'] - 300 and d['flows_failed'] == $FAILED0"
stop_pid "$PEERS_PID"
check "the proxy still runs" kill -0 $PROXY_PID
wire_done
