#!/usr/bin/env bash
# TLS, WS and WSS flows (RFC 5626 over RFC 3261 §26 and RFC 7118): phones
# register over each with Outbound; the WebSocket ones are kept with
# WebSocket Pings and get an RTT in `ctl dump`; a CRLF keepalive inside a
# WebSocket message is answered; a Close removes the binding at once; a
# reload (new connection, same +sip.instance and reg-id) replaces it at
# once; a WebSocket that never registers is closed when idle; a UDP phone
# calls a WSS phone. Certificates are made here. Prints TAP.
# usage: test_tlsws.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
WSC="python3 $HERE/wsclient.py"

command -v openssl >/dev/null || { echo "1..0 # SKIP openssl not installed"; exit 0; }
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -keyout "$WIRE_TMP/key.pem" -out "$WIRE_TMP/cert.pem" >/dev/null 2>&1

P=$(free_port); T=$(free_port); W=$(free_port); S=$(free_port)
CTL=$WIRE_TMP/ctl
start proxy "$PROXY" --listen udp:127.0.0.1:$P --listen tls:127.0.0.1:$T \
  --listen ws:127.0.0.1:$W --listen wss:127.0.0.1:$S \
  --tls-cert "$WIRE_TMP/cert.pem" --tls-key "$WIRE_TMP/key.pem" \
  --domain example.com --control "$CTL" --token-key "$WIRE_TMP/keys" \
  --ka-interval 1 --register-rate 0 --ws-idle-timeout 2 \
  --tcp-hello-timeout 0 --log-level debug
PROXY_PID=$LAST_PID
check "control socket up" wait_for "$CTL" 10

# dump_has 'python expression on b (each binding)'
binding() { json_check "$CTL" dump "any($1 for b in d['bindings'])"; }
nbind() { json_check "$CTL" dump "len(d['bindings'])==$1"; }

start tls timeout 280 $WSC tls 127.0.0.1 $T utls --hold 250
start ws timeout 280 $WSC ws 127.0.0.1 $W uws --hold 250 --crlf
start wss timeout 280 $WSC wss 127.0.0.1 $S uwss --hold 250 --crlf
check "a phone registers over TLS (flow transport tls)" within 30 \
  binding "b['aor'].startswith('sip:utls@') and b['flow']['transport']=='tls'"
check "a phone registers over WS" within 30 \
  binding "b['aor'].startswith('sip:uws@') and b['flow']['transport']=='ws'"
check "a phone registers over WSS" within 30 \
  binding "b['aor'].startswith('sip:uwss@') and b['flow']['transport']=='wss'"
check "the answers' Via has received and rport (TLS, WS, WSS)" sh -c \
  "grep -q 'via=SIP/2.0/TLS .*rport=[0-9].*received=127.0.0.1' $WIRE_TMP/tls.log &&
   grep -q 'via=SIP/2.0/WS .*rport=[0-9].*received=127.0.0.1' $WIRE_TMP/ws.log &&
   grep -q 'via=SIP/2.0/WSS .*rport=[0-9].*received=127.0.0.1' $WIRE_TMP/wss.log"
check "a CRLF keepalive inside a WebSocket message is answered (WS, WSS)" sh -c \
  "grep -qx crlf-pong $WIRE_TMP/ws.log && grep -qx crlf-pong $WIRE_TMP/wss.log"
check "WS and WSS flows get WebSocket Pings with an RTT in ctl dump" \
  within 20 json_check "$CTL" dump \
  "len([b for b in d['bindings'] if b['flow']['transport'] in ('ws','wss') and b['keepalive'] and b['keepalive']['method']=='ws-ping' and b['keepalive']['rtt_us'] is not None])==2"
check "the TLS flow has an RTT in ctl dump" within 20 \
  binding "b['flow']['transport']=='tls' and b['keepalive'] and b['keepalive']['rtt_us'] is not None"

# sips: (RFC 3261 §19.1): a TLS phone registers a sips: AoR and Contact.
start sips timeout 280 $WSC tls 127.0.0.1 $T usips --hold 250 --sips
check "a sips: AoR registers over TLS" within 30 \
  binding "b['aor']=='sips:usips@example.com' and b['contact'].startswith('sips:') and b['flow']['transport']=='tls'"

# A UDP caller reaches the WSS phone, and the call ends.
C=$(free_port)
check "a UDP phone calls the WSS phone (INVITE, 200, ACK, BYE)" \
  sipp_run call -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C -m 1 \
  -set callee uwss 127.0.0.1:$P
check "the WSS phone saw the INVITE, ACK and BYE" sh -c \
  "grep -q '^invite' $WIRE_TMP/wss.log && grep -qx ack $WIRE_TMP/wss.log && grep -qx bye $WIRE_TMP/wss.log"
check "its Record-Route names the WSS flow (transport=wss)" \
  grep -q '^invite record-route=.*transport=wss' "$WIRE_TMP/wss.log"

# A reload: a new WSS connection with the same instance and reg-id.
INST=6f1c0b8e-1111-4aaa-8bbb-000000000001
start tab1 timeout 280 $WSC wss 127.0.0.1 $S tab --hold 250 --instance $INST
check "a tab registers over WSS" within 30 binding "b['aor'].startswith('sip:tab@')"
start tab2 timeout 280 $WSC wss 127.0.0.1 $S tab --hold 250 --instance $INST
TAB2=$(within 30 grep -q '^local' "$WIRE_TMP/tab2.log"; sed -n 's/^local //p' "$WIRE_TMP/tab2.log")
check "the reload's binding replaces the old one at once (one binding, on the new flow)" \
  within 15 json_check "$CTL" dump \
  "[b['flow']['remote'] for b in d['bindings'] if b['aor'].startswith('sip:tab@')]==['$TAB2']"

# A closed tab: Close frame, binding gone at once (well within any expiry).
start gone timeout 60 $WSC ws 127.0.0.1 $W gone --hold 3
check "a WS phone registers (200)" within 30 grep -q '^response 200' "$WIRE_TMP/gone.log"
gone_after_close() {
  grep -qx done "$WIRE_TMP/gone.log" &&
    json_check "$CTL" dump "not any(b['aor'].startswith('sip:gone@') for b in d['bindings'])"
}
check "its WebSocket Close removes the binding at once (Expires was 600)" \
  within 20 gone_after_close

# RFC 7118 §4.1: a client must offer the subprotocol sip.
check "a WebSocket handshake without the subprotocol sip is refused" sh -c \
  "timeout 20 $WSC ws 127.0.0.1 $W nosip --protocol chat --hold 1 | grep -q '^handshake-refused HTTP/1.1 400'"

# A WebSocket that never registers is closed after --ws-idle-timeout 2.
start idle timeout 20 $WSC ws 127.0.0.1 $W nobody --no-register --hold 10
check "an unregistered, idle WebSocket is closed (--ws-idle-timeout)" \
  within 25 grep -q '^closed-by-server' "$WIRE_TMP/idle.log"
check "the closing is counted" within 5 json_check "$CTL" stats "d['ws_idle_closed']>=1"
check "registered WebSockets stay open past the idle timeout" \
  json_check "$CTL" dump "any(b['aor'].startswith('sip:uws@') for b in d['bindings'])"
check "the proxy still runs" kill -0 $PROXY_PID

# Edge + registrar: the Path of a WS flow names the edge's UDP interface,
# and a call's in-dialog requests reach the WS phone (RFC 3327, RFC 7118).
R2=$(free_port); E2=$(free_port); W2=$(free_port)
start registrar2 "$PROXY" --role registrar --listen udp:127.0.0.1:$R2 \
  --domain example.com --control "$WIRE_TMP/ctlr" --token-key "$WIRE_TMP/keysr" \
  --alias 127.0.0.1:$E2 --peer udp:127.0.0.1:$E2
start edge2 "$PROXY" --role edge --registrar udp:127.0.0.1:$R2 \
  --listen udp:127.0.0.1:$E2 --listen ws:127.0.0.1:$W2 --domain example.com \
  --control "$WIRE_TMP/ctle" --token-key "$WIRE_TMP/keyse" --register-rate 0
check "edge and registrar up" sh -c \
  "for i in \$(seq 100); do [ -S $WIRE_TMP/ctle ] && [ -S $WIRE_TMP/ctlr ] && exit 0; sleep 0.1; done; exit 1"
start edws timeout 280 $WSC ws 127.0.0.1 $W2 ed --hold 250
check "behind an edge, a WS phone's Path names the edge's UDP interface" \
  within 30 json_check "$WIRE_TMP/ctlr" dump \
  "any(b['aor']=='sip:ed@example.com' and ';transport=udp;' in (b['path'] or '') for b in d['bindings'])"
C3=$(free_port)
check "a UDP phone calls the WS phone through edge and registrar" \
  sipp_run call3 -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $C3 -m 1 \
  -set callee ed 127.0.0.1:$E2
check "the WS phone behind the edge saw the ACK and the BYE" sh -c \
  "grep -qx ack $WIRE_TMP/edws.log && grep -qx bye $WIRE_TMP/edws.log"
wire_done
