#!/usr/bin/env bash
# sipflow-proxy's server transactions for REGISTER: retransmissions get the
# first answer again, the transactions go after their linger, streams keep
# none. Raw probes on loopback. Prints TAP.
# usage: test_txn.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
PROBE="python3 $HERE/txnprobe.py"

P=$(free_port)
CTL=$WIRE_TMP/ctl
start proxy "$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
  --domain example.com --control "$CTL" --keepalive off --log-level info \
  --register-rate 0 # thousands of REGISTERs from one address, by design
check "control socket appears once the listeners are bound" wait_for "$CTL" 10

# registers counts requests that were not retransmissions.
registers() { ctl "$CTL" stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["registers"])'; }
R0=$(registers)

check "a retransmitted REGISTER gets the first answer's very bytes (RFC 3261 §17.2.2)" \
  $PROBE same-answer 127.0.0.1 $P
check "the retransmission is absorbed: one REGISTER counted" \
  test "$(registers)" = $((R0 + 1))
check "Vias sharing one line come back one per line, in order" \
  $PROBE two-vias 127.0.0.1 $P
check "2 000 REGISTERs in flight, each retransmission finds its transaction" \
  $PROBE burst 127.0.0.1 $P 2000
check "the 2 000 retransmissions are absorbed" \
  test "$(registers)" = $((R0 + 2 + 2000))
check "2 000 bindings and the earlier ones are kept" \
  json_check "$CTL" stats "d['bindings'] == 2002"
check "over TCP the same REGISTER sent again is a new request: 400 Stale CSeq" \
  $PROBE tcp-twice 127.0.0.1 $P
check "over TCP no transaction absorbed it: both counted" \
  test "$(registers)" = $((R0 + 2 + 2000 + 2))
# After the linger (5 s) the transaction is gone: the same bytes are a new
# request, and the registrar refuses its repeated Call-ID and CSeq.
check "a REGISTER sent again after the linger is new: 400 Stale CSeq" \
  $PROBE late 127.0.0.1 $P 5.6
check "the late copy was counted" \
  test "$(registers)" = $((R0 + 2 + 2000 + 2 + 2))
check "transactions removed around others lose none of them (two bursts 2.5 s apart)" \
  $PROBE staggered 127.0.0.1 $P 1500 2.5
check "the proxy is still answering" \
  $PROBE same-answer 127.0.0.1 $P
wire_done
