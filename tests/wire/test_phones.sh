#!/usr/bin/env bash
# Real phones against sipflow-proxy on loopback: baresip (Outbound over UDP
# with STUN keepalives, Outbound over TCP with CRLF keepalives, plain UDP)
# and linphone-daemon (+sip.instance without reg-id). Registrations must
# outlive 3 x Flow-Timer; calls (INVITE, 180, 200, ACK, BYE) go between
# two baresip phones through --role single and through an edge in front of
# a registrar, and between linphone and baresip. Each phone has its own
# temporary config directory and is driven through its control socket
# (baresip's ctrl_tcp, linphone-daemon's --pipe). Prints TAP.
# usage: test_phones.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"

if ! command -v baresip >/dev/null || ! command -v linphone-daemon >/dev/null ||
  [ ! -f /usr/lib/baresip/modules/ctrl_tcp.so ]; then
  echo "1..0 # SKIP baresip (baresip-core) or linphone-daemon (linphone-cli) not installed"
  exit 0
fi

# The system's Python when there is one: a version manager's shim can take
# seconds to start on a loaded machine, and some checks race a timer.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
PHONE="$PY $HERE/realphone.py"

# Flow-Timer 12 s: the passive watch gives a flow 12 s plus 10 s of grace,
# so a binding still there after 3 x 12 s was kept alive by the phone.
# baresip 1.0.0 (libre) sends STUN at 80-100% of Flow-Timer, but on TCP
# never less than 20 s apart (16-20 s): 12 + 10 covers that.
FT=12
read -r P R E PA PB PC PE PF PL CA CB CC CE CF LR PU PT PN CU CT CN \
  <<<"$($PHONE free-ports 21)"
CTL=$WIRE_TMP/single.ctl RCTL=$WIRE_TMP/reg.ctl ECTL=$WIRE_TMP/edge.ctl
# linphone-daemon puts its socket in /tmp under the name it is given.
LSOCK_NAME=$(basename "$WIRE_TMP")-linphone
LSOCK=/tmp/$LSOCK_NAME
LIN=linphone:$LSOCK
# On the way out: the daemon's socket goes too; PHONES_SAVE=DIR keeps a copy
# of every log, trace and config for reading.
phones_cleanup() {
  [ -n "${PHONES_SAVE:-}" ] && cp -r "$WIRE_TMP" "$PHONES_SAVE"
  wire_cleanup
  rm -f "$LSOCK"
}
trap phones_cleanup EXIT

start single "$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
  --control "$CTL" --token-key "$WIRE_TMP/single.keys" --flow-timer $FT \
  --ka-interval 2 --ka-timeout 2 --ka-misses 3 --log-level debug
# The registrar knows its edge: --peer (it forwards to it, and follows
# Paths through it), --alias (phones name the edge's address in their AoRs).
start registrar "$PROXY" --role registrar --listen udp:127.0.0.1:$R \
  --listen tcp:127.0.0.1:$R --control "$RCTL" --log-level debug \
  --peer udp:127.0.0.1:$E --alias 127.0.0.1:$E
start edge "$PROXY" --role edge --registrar udp:127.0.0.1:$R \
  --listen udp:127.0.0.1:$E --listen tcp:127.0.0.1:$E --control "$ECTL" \
  --token-key "$WIRE_TMP/edge.keys" --flow-timer $FT --log-level debug
check "the three proxies are up (single, registrar, edge)" \
  bash -c "for s in '$CTL' '$RCTL' '$ECTL'; do for _ in \$(seq 100); do [ -S \"\$s\" ] && break; sleep 0.1; done; [ -S \"\$s\" ] || exit 1; done"

# baresip NAME SIP-PORT CTRL-PORT ACCOUNT: one phone, its own config dir.
PHONE_PIDS=()
baresip_phone() {
  $PHONE baresip-config "$WIRE_TMP/$1" "$2" "$3" "$4"
  # Line-buffered: the trace of a message stays whole in the log even when
  # another thread of baresip writes there meanwhile (stdbuf execs baresip,
  # so $LAST_PID is baresip's).
  start "$1" stdbuf -oL -eL baresip -f "$WIRE_TMP/$1" -s
  PHONE_PIDS+=("$LAST_PID")
}
OB=";sipnat=outbound;regint=300;answermode=auto;audio_codecs=pcmu,pcma"
# Three phones that only register and keep their flows, so that nothing but
# their keepalives speaks for them. baresip 1.0.0: sipnat=outbound sends
# +sip.instance and reg-id=1 and keeps the flow with STUN Binding requests
# on UDP, double CRLFs on TCP (RFC 5626 §4.4); without it, nothing.
baresip_phone uma $PU $CU "<sip:uma@127.0.0.1;transport=udp>$OB;outbound=\"sip:127.0.0.1:$P;transport=udp\""
baresip_phone tom $PT $CT "<sip:tom@127.0.0.1;transport=tcp>$OB;outbound=\"sip:127.0.0.1:$P;transport=tcp\""
baresip_phone nat $PN $CN "<sip:nat@127.0.0.1;transport=udp>;regint=300;outbound=\"sip:127.0.0.1:$P;transport=udp\""
# The phones that call.
baresip_phone alice $PA $CA "<sip:alice@127.0.0.1;transport=udp>$OB;outbound=\"sip:127.0.0.1:$P;transport=udp\""
baresip_phone bob $PB $CB "<sip:bob@127.0.0.1;transport=tcp>$OB;outbound=\"sip:127.0.0.1:$P;transport=tcp\""
baresip_phone carl $PC $CC "<sip:carl@127.0.0.1;transport=udp>;regint=300;answermode=auto;audio_codecs=pcmu,pcma;outbound=\"sip:127.0.0.1:$P;transport=udp\""
baresip_phone erin $PE $CE "<sip:erin@127.0.0.1;transport=udp>$OB;outbound=\"sip:127.0.0.1:$E;transport=udp\""
baresip_phone fred $PF $CF "<sip:fred@127.0.0.1;transport=tcp>$OB;outbound=\"sip:127.0.0.1:$E;transport=tcp\""

mkdir -p "$WIRE_TMP/linphone/.local/share/linphone"
$PHONE linphone-config "$WIRE_TMP/linphone/rc" $PL $LR
start linphone env HOME="$WIRE_TMP/linphone" linphone-daemon \
  --config "$WIRE_TMP/linphone/rc" --pipe "$LSOCK_NAME" --auto-answer \
  --disable-stats-events
PHONE_PIDS+=("$LAST_PID")

BARESIPS="uma:$CU tom:$CT nat:$CN alice:$CA bob:$CB carl:$CC erin:$CE fred:$CF"
for n in $BARESIPS; do
  check "baresip ${n%:*}: control socket answers" $PHONE ready baresip:${n#*:} 10
done
check "linphone-daemon: control socket answers" $PHONE ready $LIN 10
check "linphone-daemon: register sip:lin@127.0.0.1 through the proxy accepted" \
  $PHONE register $LIN sip:lin@127.0.0.1 "sip:127.0.0.1:$P"
for n in $BARESIPS; do
  check "baresip ${n%:*}: registered (200 OK)" $PHONE registered baresip:${n#*:} 10
done
check "linphone-daemon: registered (200 OK)" $PHONE registered $LIN 10
T0=$(date +%s)

# binding_is CONTROL USER 'python test on b': the user's binding in a dump.
binding_is() {
  local out
  out=$(ctl "$1" dump) || return 1
  $PY -c "
import json,sys
d=json.load(sys.stdin)
bs=[b for b in d['bindings'] if b['aor']=='sip:$2@127.0.0.1']
sys.exit(0 if bs and all($3 for b in bs) else 1)" <<<"$out"
}
check "uma: Outbound over UDP (instance, reg-id 1, UDP flow, watched passively)" \
  binding_is "$CTL" uma "b['outbound'] and b['instance'] and b['reg_id']==1 and b['flow']['transport']=='udp' and b['keepalive']['method']=='passive'"
check "tom: Outbound over TCP (watched passively)" \
  binding_is "$CTL" tom "b['outbound'] and b['reg_id']==1 and b['flow']['transport']=='tcp' and b['keepalive']['method']=='passive'"
check "nat: plain UDP, no Outbound, watched with OPTIONS" \
  binding_is "$CTL" nat "not b['outbound'] and b['reg_id'] is None and b['keepalive']['method']=='options'"
check "linphone: +sip.instance without reg-id, so no Outbound" \
  binding_is "$CTL" lin "b['instance'] and b['reg_id'] is None and not b['outbound']"
via_edge() {
  binding_is "$RCTL" erin "b['path'] and b['outbound']" &&
    binding_is "$RCTL" fred "b['path'] and b['outbound']"
}
check "erin and fred: registered at the registrar through the edge (Path, Outbound)" via_edge

# ---- calls -------------------------------------------------------------------
# call NAME CALLER CALLEE URI: the steps reached are in NAME.call.
call() {
  $PHONE call "$2" "$3" "$4" 10 >"$WIRE_TMP/$1.call" 2>&1
}
# The SIP messages a baresip phone exchanged with a proxy, from its trace.
trace() { $PHONE trace "$WIRE_TMP/$1.log" "$2" >"$WIRE_TMP/$1.trace"; }
# call_checks LABEL NAME CALLER CALLER-PEER CALLEE CALLEE-PEER
call_checks() {
  local l=$1 n=$2 failed=$WIRE_FAILED
  trace "$3" "$4"
  trace "$5" "$6"
  check "$l: INVITE from $3 reached $5" bash -c \
    "grep -qx 'out INVITE' '$WIRE_TMP/$3.trace' && grep -qx 'in INVITE' '$WIRE_TMP/$5.trace'"
  check "$l: 180 Ringing came back to $3" bash -c \
    "grep -qx 'out 180 INVITE' '$WIRE_TMP/$5.trace' && grep -qx 'in 180 INVITE' '$WIRE_TMP/$3.trace'"
  check "$l: 200 OK came back, both phones in the call" bash -c \
    "grep -qx 'in 200 INVITE' '$WIRE_TMP/$3.trace' && grep -qx established-caller '$WIRE_TMP/$n.call' && grep -qx established-callee '$WIRE_TMP/$n.call'"
  check "$l: ACK reached $5" bash -c \
    "grep -qx 'out ACK' '$WIRE_TMP/$3.trace' && grep -qx 'in ACK' '$WIRE_TMP/$5.trace'"
  check "$l: BYE reached $5, its 200 came back, the call closed on both" bash -c \
    "grep -qx 'in BYE' '$WIRE_TMP/$5.trace' && grep -qx 'in 200 BYE' '$WIRE_TMP/$3.trace' && grep -qx closed-callee '$WIRE_TMP/$n.call' && grep -qx closed-caller '$WIRE_TMP/$n.call'"
  # A check of this call failed: what each phone's trace gave, and the
  # lines of their logs around each ACK (printed by the clean-up).
  [ "$WIRE_FAILED" = "$failed" ] || {
    echo "$3: $(tr '\n' ',' <"$WIRE_TMP/$3.trace")"
    echo "$5: $(tr '\n' ',' <"$WIRE_TMP/$5.trace")"
    grep -a -n -B3 -A1 '^.*ACK sip' "$WIRE_TMP/$3.log" "$WIRE_TMP/$5.log" | cut -c1-200
  } >"$WIRE_TMP/$n.err" 2>&1
}

# Through the edge and the registrar, in the background while the single
# server's calls run.
(call edge baresip:$CE baresip:$CF sip:fred@127.0.0.1
  call edgeport baresip:$CE baresip:$CF sip:fred@127.0.0.1:$E) &
EDGE_CALL=$!
call single baresip:$CA baresip:$CB sip:bob@127.0.0.1
call_checks "single, baresip UDP Outbound -> baresip TCP Outbound" single \
  alice 127.0.0.1:$P bob 127.0.0.1:$P
call lin2b $LIN baresip:$CC sip:carl@127.0.0.1
check "single, linphone -> baresip: both in the call" \
  bash -c "grep -qx established-caller '$WIRE_TMP/lin2b.call' && grep -qx established-callee '$WIRE_TMP/lin2b.call'"
check "single, linphone -> baresip: hung up, closed on both" \
  bash -c "grep -qx closed-callee '$WIRE_TMP/lin2b.call' && grep -qx closed-caller '$WIRE_TMP/lin2b.call'"
call b2lin baresip:$CA $LIN sip:lin@127.0.0.1
check "single, baresip -> linphone: both in the call" \
  bash -c "grep -qx established-caller '$WIRE_TMP/b2lin.call' && grep -qx established-callee '$WIRE_TMP/b2lin.call'"
check "single, baresip -> linphone: hung up, closed on both" \
  bash -c "grep -qx closed-callee '$WIRE_TMP/b2lin.call' && grep -qx closed-caller '$WIRE_TMP/b2lin.call'"
# A phone set up with the proxy's address as its domain dials
# user@host:port, the proxy's own listening address (RFC 3261 §10.3,
# §16.4-16.5: the AoR is user@domain).
call singleport baresip:$CA baresip:$CB sip:bob@127.0.0.1:$P
check "single, alice dials sip:bob@127.0.0.1:PORT (the proxy's own port): call up and closed" \
  bash -c "grep -qx established-callee '$WIRE_TMP/singleport.call' && grep -qx closed-callee '$WIRE_TMP/singleport.call'"
wait $EDGE_CALL
check "edge + registrar, erin dials sip:fred@127.0.0.1:PORT (the edge's own port): call up and closed" \
  bash -c "grep -qx established-callee '$WIRE_TMP/edgeport.call' && grep -qx closed-callee '$WIRE_TMP/edgeport.call'"
call_checks "edge + registrar, baresip UDP Outbound -> baresip TCP Outbound" \
  edge erin 127.0.0.1:$E fred 127.0.0.1:$E

# ---- 3 x Flow-Timer later ----------------------------------------------------
left=$((T0 + 3 * FT + 1 - $(date +%s)))
[ "$left" -gt 0 ] && sleep "$left"
ALIVE="b['keepalive']['state']=='alive'"
check "uma (UDP, STUN keepalives only): binding still there after 3 x Flow-Timer, keepalives seen" \
  binding_is "$CTL" uma "$ALIVE and b['keepalive']['probes_answered']>=2"
check "the single server answered STUN Binding requests" \
  json_check "$CTL" stats "d['rx_stun']>=2"
check "tom (TCP, CRLF keepalives only): binding still there after 3 x Flow-Timer, keepalives seen" \
  binding_is "$CTL" tom "$ALIVE and b['keepalive']['probes_answered']>=1"
check "the single server saw double-CRLF keepalives" \
  json_check "$CTL" stats "d['rx_crlf_pings']>=1"
check "nat (UDP, no Outbound): binding still there, answering OPTIONS" \
  binding_is "$CTL" nat "$ALIVE and b['keepalive']['probes_answered']>=2"
check "linphone: binding still there, answering OPTIONS" \
  binding_is "$CTL" lin "$ALIVE and b['keepalive']['probes_answered']>=2"
# edge_flow udp|tcp: the edge's flow of that transport from a phone, alive
# on the phone's own keepalives. (fred's TCP flow carried a call: the TCP
# case is tom's, above.)
edge_flow() {
  json_check "$ECTL" flows "[f for f in d['flows'] if f['transport']=='$1' and f['keepalive'] and f['keepalive']['method']=='passive' and f['keepalive']['state']=='alive' and f['keepalive']['probes_answered']>=2]"
}
check "erin (UDP, STUN): binding still at the registrar after 3 x Flow-Timer" \
  binding_is "$RCTL" erin True
check "erin: the edge holds her flow alive on her STUN keepalives" edge_flow udp

# Phones first, so that they unregister while the proxies still answer.
for pid in "${PHONE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
for pid in "${PHONE_PIDS[@]}"; do stop_pid "$pid"; done
rm -f "$LSOCK"
check "the single server is still running" kill -0 "${WIRE_PIDS[0]}"
wire_done
