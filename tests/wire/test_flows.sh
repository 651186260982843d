#!/usr/bin/env bash
# UDP flow lifetime: peers that send one message are forgotten once silent
# for --udp-flow-idle, the table's --max-flows refuses new peers while full,
# and a flow that a binding uses stays (calls still reach the phone), even
# with keepalives off. Prints TAP. usage: test_flows.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"

P=$(free_port)
CTL=$WIRE_TMP/ctl
start proxy "$PROXY" --listen udp:127.0.0.1:$P --domain example.com \
  --control "$CTL" --token-key "$WIRE_TMP/keys" --keepalive off \
  --udp-flow-idle 4 --max-flows 40 --txn-timeout-ms 3000 --log-level debug
PROXY_PID=$LAST_PID
check "control socket up" wait_for "$CTL" 10

U=$(free_port)
start uma sipp -nostdin -sf "$SCEN/udp_phone.xml" -oocsf "$SCEN/ob_answer.xml" \
  -t u1 -i 127.0.0.1 -p $U -m 1 -timeout 120 -set user uma -d 120000 127.0.0.1:$P
check "a plain UDP phone registered (keepalives off)" \
  until_true 10 json_check "$CTL" dump "len(d['bindings'])==1"

peers() { python3 "$HERE/sipraw.py" peers 127.0.0.1 $P "$1"; }
N1=$(peers 30)
check "30 one-off UDP peers are answered (got $N1)" test "$N1" = 30
check "each has a flow" json_check "$CTL" stats "d['flows']>=31"
N2=$(peers 30)
check "with --max-flows 40 the next 30 peers are partly refused (answered $N2)" \
  test "$N2" -lt 30
check "the refusals are counted" json_check "$CTL" stats "d['flows_refused']>=1"
check "silent peers are forgotten; the phone's flow stays" \
  until_true 20 json_check "$CTL" stats \
  "d['flows']==1 and d['udp_flows_forgotten']>=39 and d['flows_failed']==0"
check "the binding still names its flow" \
  json_check "$CTL" dump "d['bindings'][0]['flow'] and d['bindings'][0]['flow']['remote']=='127.0.0.1:$U'"
C=$(free_port)
check "a call still reaches the phone over its flow" \
  sipp_run call -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C -m 1 \
  -set callee uma 127.0.0.1:$P
check "the caller's flow, named in the Record-Route, outlives the idle time" \
  sh -c "sleep 5.5; $PROXY ctl --control $CTL flows | python3 -c \"import json,sys; d=json.load(sys.stdin); sys.exit(0 if [f for f in d['flows'] if f['remote']=='127.0.0.1:$C'] else 1)\""
N3=$(peers 30)
check "once forgotten, new peers are answered again (got $N3)" test "$N3" = 30
check "the proxy still runs" kill -0 $PROXY_PID
wire_done
