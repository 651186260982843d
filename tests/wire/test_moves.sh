#!/usr/bin/env bash
# An Outbound binding that moves to a new flow (same AoR, instance and
# reg-id from a new port, as after a NAT rebinding) leaves no keepalive
# endpoint behind on the flow it left. Prints TAP.
# usage: test_moves.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
DIGEST="python3 $HERE/digest.py"
N=300

P=$(free_port)
CTL=$WIRE_TMP/ctl
start proxy "$PROXY" --listen udp:127.0.0.1:$P --domain example.com \
  --control "$CTL" --keepalive auto --log-level warn \
  --register-rate 0 # every REGISTER comes from 127.0.0.1
PROXY_PID=$LAST_PID
check "proxy up" wait_for "$CTL" 10
check "$N REGISTERs of one binding, each from a new port, all get 200" \
  $DIGEST moves 127.0.0.1 $P --user mover --count $N \
  --instance 00000000-0000-1000-8000-0000000000e8
check "one binding, on the last flow" \
  json_check "$CTL" dump "len(d['bindings'])==1 and d['bindings'][0]['flow'] is not None"
# An Outbound binding has two endpoints on its flow: the passive watch of
# the UA's keepalives and the RTT sampler beside it (docs/proxy.md).
check "two keepalive endpoints, both on the last flow: none left on the flows the binding left" \
  json_check "$CTL" stats "d['bindings']==1 and d['keepalive_endpoints']==2"
check "the proxy still runs" kill -0 $PROXY_PID
wire_done
