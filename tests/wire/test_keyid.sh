#!/usr/bin/env bash
# An edge restarted without --token-key makes a fresh key under a new key
# id, so a token minted before the restart names an id that is not in its
# ring: an in-dialog request carrying it gets 430 (flow gone, the registrar
# fails over), not 403 (docs/tokens.md, RFC 5626 §5.3.1). Prints TAP.
# usage: test_keyid.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
DIGEST="python3 $HERE/digest.py"

R=$(free_port)
E=$(free_port)
RCTL=$WIRE_TMP/reg.ctl
ECTL=$WIRE_TMP/edge.ctl
start registrar "$PROXY" --role registrar --listen udp:127.0.0.1:$R \
  --domain example.com --control "$RCTL" --keepalive off --log-level debug
run_edge() {
  rm -f "$ECTL"
  start edge "$PROXY" --role edge --listen udp:127.0.0.1:$E \
    --registrar udp:127.0.0.1:$R --control "$ECTL" --keepalive off \
    --txn-timeout-ms 2000 --log-level debug
  EDGE_PID=$LAST_PID
}
run_edge
check "registrar up" wait_for "$RCTL" 10
check "edge (no --token-key) up" wait_for "$ECTL" 10
# path_of USER: the Path the registrar stored for USER's binding.
path_of() {
  ctl "$RCTL" dump | python3 -c "import json,sys; print([b['path'] for b in json.load(sys.stdin)['bindings'] if b['aor']=='sip:$1@example.com'][0])"
}
# key id of the token in a Path value: the record's second byte.
kid() {
  python3 -c "import base64,re,sys; t=re.search(r'sip:([^@]+)@', sys.argv[1]).group(1); print(base64.urlsafe_b64decode(t+'='*(-len(t)%4))[1])" "$1"
}
Q=$(free_port)
check "a phone registers through the edge" \
  $DIGEST register 127.0.0.1 $E --user quinn --lport $Q \
  --instance 00000000-0000-1000-8000-0000000000c1
OLD=$(path_of quinn)
check "the registrar holds its Path with the edge's token" \
  sh -c "echo '$OLD' | grep -q ';ob'"
check "before the restart, the token routes (the phone does not answer: 408)" \
  $DIGEST indialog 127.0.0.1 $E --user quinn --lport $Q --route "$OLD" --expect 408

# Restart the edge; with one-byte ids a fresh random id matches the old one
# once in 255 restarts, so restart again in that case (bounded).
for try in 1 2 3; do
  stop_pid $EDGE_PID
  run_edge
  wait_for "$ECTL" 10 || break
  $DIGEST register 127.0.0.1 $E --user quinn2 --lport "$(free_port)" \
    --instance 00000000-0000-1000-8000-0000000000c2 >/dev/null 2>&1 || break
  [ "$(kid "$(path_of quinn2)")" != "$(kid "$OLD")" ] && break
done
check "after the restart the edge mints under another key id" \
  test "$(kid "$(path_of quinn2)")" != "$(kid "$OLD")"
check "an in-dialog request with a token from before the restart gets 430, not 403" \
  $DIGEST indialog 127.0.0.1 $E --user quinn --lport $Q --route "$OLD" --expect 430
check "the edge still runs" kill -0 $EDGE_PID
wire_done
