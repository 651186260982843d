#!/usr/bin/env bash
# sips: Request-URIs (RFC 3261 §26.2.2, §16.7; RFC 5630): a request to a
# sips: URI reaches a UA only over a TLS or WSS flow; an AoR whose only
# flow is UDP answers 480 and the phone sees nothing; an AoR with a TLS and
# a UDP flow is reached over TLS alone. The Record-Route value facing the
# TLS phone is a sips: URI, the one facing the UDP caller a sip: URI with
# transport=udp, and the caller's BYE reaches the TLS phone along them.
# Certificates are made here. Prints TAP.
# usage: test_sips.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
WSC="python3 $HERE/wsclient.py"

command -v openssl >/dev/null || { echo "1..0 # SKIP openssl not installed"; exit 0; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -days 2 -subj /CN=127.0.0.1 -keyout "$WIRE_TMP/key.pem" \
  -out "$WIRE_TMP/cert.pem" >/dev/null 2>&1

P=$(free_port); T=$(free_port); S=$(free_port)
CTL=$WIRE_TMP/ctl
start proxy "$PROXY" --listen udp:127.0.0.1:$P --listen tls:127.0.0.1:$T \
  --listen wss:127.0.0.1:$S \
  --tls-cert "$WIRE_TMP/cert.pem" --tls-key "$WIRE_TMP/key.pem" \
  --domain example.com --control "$CTL" --register-rate 0 \
  --keepalive off --log-level debug
PROXY_PID=$LAST_PID
check "control socket up" wait_for "$CTL" 10
aor_flows() { # AoR, then the sorted transports of its bindings
  json_check "$CTL" dump \
    "sorted(b['flow']['transport'] for b in d['bindings'] if b['aor']=='$1')==$2"
}

# A sips: AoR with two bindings: a TLS phone and a UDP phone.
start tls timeout 120 $WSC tls 127.0.0.1 $T usec --hold 100 --sips
U1=$(free_port)
start udp1 sipp -nostdin -sf "$SCEN/sips_udp_phone.xml" -t u1 -i 127.0.0.1 \
  -p $U1 -m 1 -d 100000 -set user usec -trace_msg \
  -message_file "$WIRE_TMP/udp1.msg" 127.0.0.1:$P
check "sips:usec registers over TLS and over UDP (two bindings)" within 30 \
  aor_flows sips:usec@example.com "['tls','udp']"
# A sips: AoR whose only flow is UDP.
U2=$(free_port)
start udp2 sipp -nostdin -sf "$SCEN/sips_udp_phone.xml" -t u1 -i 127.0.0.1 \
  -p $U2 -m 1 -d 100000 -set user uinsec -trace_msg \
  -message_file "$WIRE_TMP/udp2.msg" 127.0.0.1:$P
check "sips:uinsec registers over UDP only" within 30 \
  aor_flows sips:uinsec@example.com "['udp']"

C=$(free_port)
check "INVITE sips:uinsec (only a UDP flow): 480, nothing sent" \
  sipp_run c480 -sf "$SCEN/sips_call_480.xml" -t u1 -i 127.0.0.1 -p $C -m 1 \
  -set callee uinsec 127.0.0.1:$P
check "the refusal is counted (sips_insecure)" \
  json_check "$CTL" stats "d['sips_insecure']>=1"

C2=$(free_port)
check "INVITE sips:usec from a UDP caller: the TLS phone answers; ACK, BYE" \
  sipp_run call -sf "$SCEN/sips_call.xml" -t u1 -i 127.0.0.1 -p $C2 -m 1 \
  -set callee usec 127.0.0.1:$P -trace_msg -message_file "$WIRE_TMP/call.msg"
check "the TLS phone saw the INVITE, the ACK and the BYE" sh -c \
  "grep -q '^invite' $WIRE_TMP/tls.log && grep -qx ack $WIRE_TMP/tls.log && grep -qx bye $WIRE_TMP/tls.log"
check "the Record-Route on top, facing the TLS phone, is sips: (no transport=tls)" \
  grep -Eq "^invite record-route=<sips:[A-Za-z0-9_-]+@127\.0\.0\.1:$T;lr>$" "$WIRE_TMP/tls.log"
# The caller's 200: the value facing the TLS callee first, then the one
# facing the UDP caller (RFC 7118 §8.2's order).
rr_of_200() {
  python3 - "$WIRE_TMP/call.msg" "$T" "$P" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
m = re.search(r"SIP/2\.0 200 OK\r?\n(.*?)\r?\n\r?\n", text, re.S)
rr = []
for line in (m.group(1).splitlines() if m else []):
    k, _, v = line.partition(":")
    if k.strip().lower() in ("record-route",):
        rr += [x.strip() for x in v.split(",")]
ok = (len(rr) == 2 and
      re.fullmatch(r"<sips:[\w-]+@127\.0\.0\.1:%s;lr>" % sys.argv[2], rr[0]) and
      re.fullmatch(r"<sip:[\w-]+@127\.0\.0\.1:%s;transport=udp;lr>" % sys.argv[3], rr[1]))
print(rr)
sys.exit(0 if ok else 1)
PY
}
check "the caller's 200 has both values: sips: (TLS side), then sip:;transport=udp" rr_of_200
check "the UDP binding of sips:usec got no INVITE" sh -c \
  "grep -q 'SIP/2.0 200' $WIRE_TMP/udp1.msg && ! grep -q '^INVITE ' $WIRE_TMP/udp1.msg"
check "the UDP-only sips:uinsec got no INVITE" sh -c \
  "grep -q 'SIP/2.0 200' $WIRE_TMP/udp2.msg && ! grep -q '^INVITE ' $WIRE_TMP/udp2.msg"
check "the proxy still runs" kill -0 $PROXY_PID

wire_done
