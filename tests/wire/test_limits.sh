#!/usr/bin/env bash
# The limits a stranger can hit (docs/limits.md), each against a proxy of
# its own: a failed relay leaks nothing, a peer that never reads is cut off
# at --max-send-queue, Expires past 32 bits clamps, a long Via stack is
# answered, protocol errors get their RFC 3261 answers, a small UDP query is
# not answered with far more bytes, --max-bindings, --register-rate,
# connections that send no SIP neither lock phones out nor stay, the
# control socket is the owner's alone and drops silent clients, and `ctl
# dump` is linear in the bindings of one flow. Prints TAP.
# usage: test_limits.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
LIM="python3 $HERE/limits.py"

proxy() { # name port args...: a proxy on UDP and TCP with its control socket
  local name=$1 port=$2
  shift 2
  start "$name" "$PROXY" --listen udp:127.0.0.1:$port --listen tcp:127.0.0.1:$port \
    --domain example.com --control "$WIRE_TMP/$name.ctl" \
    --token-key "$WIRE_TMP/$name.keys" --log-level info "$@"
  wait_for "$WIRE_TMP/$name.ctl" 10
}

# 1. A failed relay: MESSAGEs to an unknown user through an edge.
R=$(free_port)
E=$(free_port)
proxy reg "$R" --role registrar --keepalive off
proxy edge "$E" --role edge --registrar udp:127.0.0.1:$R --keepalive off
EDGE_PID=$LAST_PID
check "failed relays (480 from the registrar) leave the edge's memory flat" \
  $LIM relay-leak "$E" "$EDGE_PID" 3000
# Under the sanitizer build LeakSanitizer runs at exit: a leak makes the
# exit status nonzero.
edge_exit() {
  kill -TERM "$EDGE_PID" 2>/dev/null || return 1
  for _ in $(seq 100); do kill -0 "$EDGE_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$EDGE_PID"
}
check "the edge exits cleanly (no leak reported under the sanitizers)" edge_exit
# An edge that reaches its registrar over TCP: the registrar cannot tell
# the REGISTER came over UDP, so the edge applies the answer-size rule.
E2=$(free_port)
proxy edge2 "$E2" --role edge --registrar tcp:127.0.0.1:$R --keepalive off
check "through an edge (registrar over TCP) a UDP query is not answered with far more bytes" \
  $LIM reflection "$E2" 10

# 2. A peer that sends CRLF pings and never reads. The proxy starts under
# umask 000: its control socket must still be the owner's alone.
A=$(free_port)
old_umask=$(umask)
umask 000
proxy a "$A" --max-contacts 10 --max-expires 3600 --register-rate 0 \
  --max-send-queue 262144 --keepalive off
A_PID=$LAST_PID
umask "$old_umask"
check "16 MiB of unread CRLF pings: connection closed at --max-send-queue" \
  $LIM unread-crlf "$A" "$A_PID" 16
if ldd "$PROXY" | grep -q libasan; then
  ok "the queue overflow is counted # SKIP sanitizer build: too slow to reach the cap"
else
  check "the queue overflow is counted" \
    json_check "$WIRE_TMP/a.ctl" stats "d['tcp_queue_overflows']>=1"
fi

# 3. Expires past 32 bits, a long Via stack, protocol errors, reflection.
check "Expires: 4294967296 is clamped to --max-expires, not wrapped to 0" \
  $LIM expires-wrap "$A"
check "the binding stays" \
  json_check "$WIRE_TMP/a.ctl" dump "[b for b in d['bindings'] if b['aor']=='sip:wrap@example.com']"
check "a REGISTER with 251 Vias is answered" $LIM many-vias "$A"
check "unknown Require 420, Path 400, SIP/3.0 505, CSeq 400, UDP Content-Length 400" \
  $LIM protocol "$A"
check "--max-contacts 10; a UDP query is not answered with far more bytes" \
  $LIM reflection "$A" 10
check "the trimmed answer is counted" \
  json_check "$WIRE_TMP/a.ctl" stats "d['udp_answers_trimmed']>=1"

check "retransmitted 200s to a relayed INVITE: each passed on, no crash" \
  $LIM retrans-2xx "$A"

# 4. The control socket: mode 0600 under umask 000, silent clients closed.
check "control socket mode 600 under umask 000" \
  test "$(stat -c %a "$WIRE_TMP/a.ctl")" = 600
check "a control client that sends nothing is closed within 7 s" \
  timeout 10 python3 -c "
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(7)
t = time.monotonic(); d = s.recv(1)
sys.exit(0 if d == b'' and time.monotonic() - t < 7 else 1)" "$WIRE_TMP/a.ctl"

# 5. --max-bindings and --register-rate.
B=$(free_port)
proxy b "$B" --max-bindings 5 --register-rate 0 --keepalive off
check "--max-bindings 5: the sixth and seventh AoR get 503" $LIM max-bindings "$B" 5
C=$(free_port)
proxy c "$C" --register-rate 5 --register-burst 10 --keepalive off
check "--register-rate: past the burst 503 with Retry-After, others served" \
  $LIM rate "$C" 10
check "the rate-limited REGISTERs are counted" \
  json_check "$WIRE_TMP/c.ctl" stats "d['register_rate_limited']>=1"

# 6. Connections that send no SIP.
D=$(free_port)
proxy d "$D" --max-flows 8 --max-conns-per-source 5 --tcp-hello-timeout 2 \
  --keepalive off
check "silent TCP: per-address cap, shed for a phone, closed after the timeout" \
  $LIM idle-tcp "$D" 5 8 2
check "refused and shed connections are counted" \
  json_check "$WIRE_TMP/d.ctl" stats \
  "d['flows_refused']>=1 and d['flows_shed']>=1 and d['tcp_hello_timeouts']>=1"

# 7. `ctl dump` with many bindings on one flow.
F=$(free_port)
proxy f "$F" --register-rate 0 --keepalive crlf --max-contacts 1
check "ctl dump of 20000 bindings on one flow: SIP still answered meanwhile" \
  $LIM dump-one-flow "$F" 20000 "$PROXY" "$WIRE_TMP/f.ctl"

for pid in "${WIRE_PIDS[@]}"; do
  [ "$pid" = "$EDGE_PID" ] && continue # stopped above, on purpose
  check "proxy $pid still runs" kill -0 "$pid"
done
wire_done
