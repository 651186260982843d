#!/usr/bin/env bash
# sipflow-ping against SIPp answering OPTIONS, against sipflow-proxy
# answering CRLF (TCP) and STUN (UDP), and against a port with nothing
# listening, on loopback. Prints TAP.
# usage: test_ping.sh PATH/TO/sipflow-proxy PATH/TO/sipflow-ping
PROXY=$1
PING=$2
. "$(dirname "$0")/lib.sh"

# ping NAME args...: sipflow-ping in the foreground, bounded in time; its
# output in NAME.out, its exit status in $PING_RC.
ping() {
  local name=$1; shift
  timeout 30 "$PING" "$@" >"$WIRE_TMP/$name.out" 2>"$WIRE_TMP/$name.err"
  PING_RC=$?
}
# lines NAME N REGEX: exactly N lines of NAME.out match REGEX.
lines() { [ "$(grep -Ec "$3" "$WIRE_TMP/$1.out")" -eq "$2" ]; }
# port_busy PORT udp|tcp: something is bound there (SIPp is ready).
port_busy() {
  ! python3 -c "import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[2]=='udp' else socket.SOCK_STREAM).bind(('127.0.0.1', int(sys.argv[1])))" "$1" "$2" 2>/dev/null
}
RTT='rtt=[0-9]+\.[0-9]{3} ms'
SUMMARY_RTT='^rtt min/avg/max/mdev = [0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3} ms$'

# ---- SIPp answering OPTIONS (RFC 3261 §11) --------------------------------
for T in udp tcp; do
  S=$(free_port)
  start "sipp_$T" sipp -nostdin -sf "$SCEN/options_uas.xml" -t "${T:0:1}1" \
    -i 127.0.0.1 -p "$S" -m 3 -timeout 30 -timeout_error
  SIPP_PID=$LAST_PID
  until_true 5 port_busy "$S" "$T"
  ping "opt_$T" -c 3 -i 0.2 -W 1 "sip:127.0.0.1:$S;transport=$T"
  check "OPTIONS over $T to SIPp: exit 0" test "$PING_RC" -eq 0
  check "OPTIONS over $T: one reply line per probe, with RTT and the 200" \
    lines "opt_$T" 3 "^reply from 127\.0\.0\.1:$S: probe=[123] method=options $RTT status=200$"
  check "OPTIONS over $T: probes numbered 1, 2, 3 in order" \
    test "$(grep -Eo 'probe=[0-9]+' "$WIRE_TMP/opt_$T.out" | tr '\n' ' ')" = "probe=1 probe=2 probe=3 "
  check "OPTIONS over $T: summary 3 sent, 3 answered, 0% loss" \
    lines "opt_$T" 1 "^3 probes sent, 3 answered, 0% loss, time [0-9]+ ms$"
  check "OPTIONS over $T: rtt min/avg/max/mdev line" lines "opt_$T" 1 "$SUMMARY_RTT"
  check "SIPp over $T saw three OPTIONS and answered each" wait "$SIPP_PID"
done

# ---- sipflow-proxy answering CRLF and STUN (RFC 5626 §4.4.1, §8) -----------
P=$(free_port)
CTL=$WIRE_TMP/ctl
start proxy "$PROXY" --listen "udp:127.0.0.1:$P" --listen "tcp:127.0.0.1:$P" \
  --domain example.com --control "$CTL" --log-level debug
PROXY_PID=$LAST_PID
check "sipflow-proxy is up" wait_for "$CTL" 10

ping crlf -c 3 -i 0.2 -m crlf "sip:127.0.0.1:$P;transport=tcp"
check "CRLF over TCP to sipflow-proxy: exit 0" test "$PING_RC" -eq 0
check "CRLF: three pongs, each with its RTT" \
  lines crlf 3 "^reply from 127\.0\.0\.1:$P: probe=[123] method=crlf $RTT$"
check "CRLF: summary 3 sent, 3 answered, 0% loss" \
  lines crlf 1 "^3 probes sent, 3 answered, 0% loss, time [0-9]+ ms$"

ping stun -c 3 -i 0.2 -m stun "sip:127.0.0.1:$P"
check "STUN over UDP to sipflow-proxy: exit 0" test "$PING_RC" -eq 0
check "STUN: three Binding responses, each with its RTT" \
  lines stun 3 "^reply from 127\.0\.0\.1:$P: probe=[123] method=stun $RTT$"
check "STUN: summary and rtt line" \
  lines stun 1 "^3 probes sent, 3 answered, 0% loss, time [0-9]+ ms$"
check "the proxy counted the STUN requests it answered" \
  json_check "$CTL" stats "d['rx_stun']>=3"

# No -c: runs until SIGINT, then the summary.
start sigint "$PING" -i 0.2 -m stun "sip:127.0.0.1:$P"
SIG_PID=$LAST_PID
until_true 10 grep -q "probe=3" "$WIRE_TMP/sigint.log"
kill -INT "$SIG_PID"
wait "$SIG_PID"
check "without -c it pings until SIGINT and exits 0" test $? -eq 0
check "after SIGINT the summary is printed" \
  grep -Eq "^[0-9]+ probes sent, [0-9]+ answered, [0-9.]+% loss" "$WIRE_TMP/sigint.log"
stop_pid "$PROXY_PID"

# ---- nothing listening ------------------------------------------------------
Q=$(free_port)
ping none -c 2 -i 0.2 -W 0.3 "sip:127.0.0.1:$Q"
check "nothing listening on UDP: exit 1" test "$PING_RC" -eq 1
# (a send that meets the ICMP error first says so instead of timing out)
check "nothing listening: one no-reply line per probe" \
  lines none 2 "^no reply from 127\.0\.0\.1:$Q: probe=[12] method=options (timeout=300 ms|error=connection refused)"
check "nothing listening: 100% loss and no rtt line" \
  bash -c "grep -Eq '^2 probes sent, 0 answered, 100% loss' '$WIRE_TMP/none.out' && ! grep -q '^rtt' '$WIRE_TMP/none.out'"
ping none_tcp -c 1 -m crlf "sip:127.0.0.1:$Q"
check "nothing listening on TCP: connection refused, exit 1" \
  bash -c "[ $PING_RC -eq 1 ] && grep -q 'connection refused' '$WIRE_TMP/none_tcp.err'"

# ---- usage errors -----------------------------------------------------------
ping usage1 -c 1 sip:sip.example.com
check "a host name is a usage error (names are not resolved): exit 2" \
  test "$PING_RC" -eq 2
ping usage2 -m crlf "sip:127.0.0.1:$Q;transport=udp"
check "crlf over UDP is a usage error: exit 2" test "$PING_RC" -eq 2
for opt in --help -h; do
  ping "help$opt" "$opt"
  check "$opt prints the usage on stdout and exits 0" \
    bash -c "[ $PING_RC -eq 0 ] && grep -q '^usage: sipflow-ping' '$WIRE_TMP/help$opt.out'"
done
for opt in --version -V; do
  ping "version$opt" "$opt"
  check "$opt prints the version and exits 0" \
    bash -c "[ $PING_RC -eq 0 ] && grep -Eq '^sipflow-ping [0-9]+\.[0-9]+\.[0-9]+$' '$WIRE_TMP/version$opt.out'"
done
wire_done
