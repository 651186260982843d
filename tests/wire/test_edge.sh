#!/usr/bin/env bash
# sipflow-proxy as an edge proxy in front of sipflow-proxy as a registrar:
# Path with flow tokens and ;ob, routing back by token, and 430 failover
# through the edge (RFC 5626 §5, §7). Prints TAP.
# usage: test_edge.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"

R=$(free_port)
E=$(free_port)
RCTL=$WIRE_TMP/reg.ctl
ECTL=$WIRE_TMP/edge.ctl
# The registrar forwards in-dialog requests back to its edge: a --peer
# (nothing else is relayed, docs/proxy.md).
start registrar "$PROXY" --role registrar --listen udp:127.0.0.1:$R \
  --listen tcp:127.0.0.1:$R --domain example.com --control "$RCTL" \
  --peer udp:127.0.0.1:$E \
  --keepalive off --txn-timeout-ms 3000 --log-level debug
REG_PID=$LAST_PID
start edge "$PROXY" --role edge --listen udp:127.0.0.1:$E --listen tcp:127.0.0.1:$E \
  --registrar udp:127.0.0.1:$R --control "$ECTL" --token-key "$WIRE_TMP/edge.keys" \
  --txn-timeout-ms 3000 --log-level debug
EDGE_PID=$LAST_PID
check "registrar control socket up" wait_for "$RCTL" 10
check "edge control socket up" wait_for "$ECTL" 10

phone() { # name user regid port
  start "$1" sipp -nostdin -sf "$SCEN/ob_register.xml" -oocsf "$SCEN/ob_answer.xml" \
    -t t1 -i 127.0.0.1 -p "$4" -m 1 -timeout 120 \
    -set user "$2" -set regid "$3" -set cseq 1 -d 120000 \
    -set inst 00000000-0000-1000-8000-00000000f4a4 127.0.0.1:$E
}
F1=$(free_port); phone frank1 frank 1 $F1; F1_PID=$LAST_PID
F2=$(free_port); phone frank2 frank 2 $F2; F2_PID=$LAST_PID
check "registrar stores both flows of the instance with the edge's Path" \
  until_true 10 json_check "$RCTL" dump \
  "sorted(b['reg_id'] for b in d['bindings'] if b['aor']=='sip:frank@example.com')==[1,2] and all(';ob>' in b['path'] and 'sip:' in b['path'] for b in d['bindings'])"
check "edge holds the two TCP flows" \
  json_check "$ECTL" flows "len([f for f in d['flows'] if f['transport']=='tcp'])>=2"

check "the edge watches its Outbound flows passively (it gave the Flow-Timer)" \
  until_true 5 json_check "$ECTL" flows \
  "len([f for f in d['flows'] if f['transport']=='tcp' and f['keepalive'] and f['keepalive']['method']=='passive'])>=2"
K=$(free_port)
check "through the edge the 200 OK has Require: outbound and Flow-Timer (SIPp checks)" \
  sipp_run kim -sf "$SCEN/ob_register.xml" -t t1 -i 127.0.0.1 -p $K -m 1 \
  -set user kim -set regid 1 -set cseq 1 -d 1 \
  -set inst 00000000-0000-1000-8000-000000000c1c 127.0.0.1:$E
C=$(free_port)
check "a call through edge and registrar reaches the phone over its flow" \
  sipp_run call1 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C -m 1 \
  -set callee frank 127.0.0.1:$E

# The edge loses flow 1; the registrar does not know. Its first branch gets
# 430 from the edge and fails over to the instance's other flow.
stop_pid $F1_PID
check "edge notices the closed flow" \
  until_true 5 json_check "$ECTL" stats "d['flows_failed']>=1"
check "registrar still lists the binding of the closed flow" \
  json_check "$RCTL" dump "len([b for b in d['bindings'] if b['aor']=='sip:frank@example.com'])==2"
C2=$(free_port)
check "430 from the edge fails over to the other flow: the call completes" \
  sipp_run call2 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C2 -m 1 \
  -set callee frank 127.0.0.1:$E
check "the edge answered 430 for the stale token" \
  json_check "$ECTL" stats "d['token_430']>=1"
check "the registrar removed the binding whose flow failed" \
  json_check "$RCTL" dump "[b['reg_id'] for b in d['bindings'] if b['aor']=='sip:frank@example.com']==[2]"
check "the registrar counted a failover" json_check "$RCTL" stats "d['failovers']>=1"
stop_pid $F2_PID
C3=$(free_port)
check "with both flows gone the caller gets 480, never 430" \
  sipp_run call3 -sf "$SCEN/call_480.xml" -t u1 -i 127.0.0.1 -p $C3 -m 1 \
  -set callee frank 127.0.0.1:$E
check "both servers still run" kill -0 $REG_PID $EDGE_PID
wire_done
