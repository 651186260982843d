#!/usr/bin/env bash
# Debian's kamailio with sipflow.so (bindings/kamailio/examples/single.cfg),
# driven by SIPp and raw SIP on loopback: Outbound REGISTER over UDP and TCP,
# RTT in sipflow.dump and in the log, a silent phone's contacts removed after
# its misses, failover to the next flow of an instance on 430 (binding
# removed) and 408 (binding kept), flow tokens in Record-Route routed back, a forged token
# answered 403, a closed flow's token 430, and a token from before a restart
# (same key file) routed, under another key file 403, an edge
# (examples/edge.cfg) with Path tokens in front of the registrar, an INVITE
# dialog keeping the caller's flow alive until its BYE, and Outbound over
# TLS (tls.so) with OPTIONS probes and CRLF pings. Every Kamailio is stopped
# by its PID.
# Usage: test_kamailio.sh /path/to/sipflow.so
source "$(dirname "$0")/lib.sh"
MODULE=$1
CFG="$HERE/../../bindings/kamailio/examples/single.cfg"
KAMFLOW="python3 $HERE/kamflow.py"
PORT=$(free_port)
CTL="unix:$WIRE_TMP/kamailio.ctl"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WIRE_TMP/key"

# An ASan build of the module (meson sets KAM_PRELOAD to the sanitizer
# runtimes): preloaded into every kamailio, leak checks off (Kamailio frees
# its pools at exit, not each block), UBSan reports kept in the logs. Run
# by start() in its background subshell: exec keeps the PID kamailio's.
kamailio_run() {
  if [ -n "${KAM_PRELOAD:-}" ]; then
    exec env LD_PRELOAD="$KAM_PRELOAD" \
      ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_exe_name=1 \
      UBSAN_OPTIONS=print_stacktrace=1 kamailio "$@"
  else
    exec kamailio "$@"
  fi
}
KAM_PID=
kam_start() { # log-name [kamailio args...]
  local name=$1; shift
  start "$name" kamailio_run -DD -E -f "$CFG" -Y "$WIRE_TMP" -w "$WIRE_TMP" \
    -m 64 -M 8 -l "udp:127.0.0.1:$PORT" -l "tcp:127.0.0.1:$PORT" \
    -A "SF_MODULE=\"$MODULE\"" -A "SF_CTL=\"$CTL\"" \
    -A "SF_KEY_FILE=\"$WIRE_TMP/key\"" -A "SF_INTERVAL_MS=${KAM_INTERVAL_MS:-1000}" "$@"
  KAM_PID=$LAST_PID
}
kam() { timeout 5 kamcmd -s "$CTL" "$@"; }
# dump_check PYTHON-EXPR: on the flows of sipflow.dump, parsed into a list
# of dicts f (and the totals t).
dump_check() {
  kam "${DUMP:-sipflow.dump}" | python3 -c '
import re, sys
t, f, cur = {}, [], None
for line in sys.stdin:
    m = re.match(r"\s*([A-Za-z_-]+):\s*(\S*)\s*$", line)
    if line.strip() == "{" and cur is None and t:
        cur = {}
    elif line.strip() == "}" and cur is not None:
        f.append(cur); cur = None
    elif m:
        (cur if cur is not None else t)[m.group(1)] = m.group(2)
sys.exit(0 if ('"$1"') else 1)'
}
registered() { kam ul.dump | grep -q "AoR: $1\$"; }
phone() { # name user transport-flag(u1|t1) [duration-ms]
  start "$1" timeout 40 sipp -nostdin -sf "$SCEN/kam_register.xml" \
    -set user "$2" -set inst "$2-0000-1111" -set regid 1 -m 1 \
    -d "${4:-30000}" -aa -t "$3" -i 127.0.0.1 "127.0.0.1:$PORT" \
    -timeout 35 -trace_err -error_file "$WIRE_TMP/$1.err"
}
token_ready() { [ -s "$1/token" ]; }

kam_start kamailio
check "Debian's kamailio loads sipflow.so and answers sipflow.dump" \
  within 15 dump_check 't.get("endpoints") == "0"'

phone alice alice u1
phone bob bob t1
check "UDP Outbound REGISTER saved" within 10 registered alice
check "TCP Outbound REGISTER saved" within 10 registered bob
check "UDP flow alive with a round-trip time in sipflow.dump" within 10 \
  dump_check 'any(x["aor"] == "alice" and x["proto"] == "udp" and x["state"] == "alive" and int(x["KA-Roundtrip"]) > 0 and int(x["srtt"]) > 0 and int(x["min"]) <= int(x["max"]) for x in f)'
# The UDP answers reach the timer process through the answer socket, read
# once a tick (1000 ms idle): their RTT is the kernel's arrival time, not
# the read's.
check "UDP probe answers read off the answer socket, RTT from their arrival (under 100 ms at a 1000 ms tick)" \
  within 10 dump_check 't["answer_sockets"] == "1" and int(t["answers_read"]) > 0 and int(t["timer_tick_ms"]) >= 500 and all(int(x["max"]) < 100000 for x in f if x["proto"] == "udp" and int(x["answered"]) > 0) and any(x["proto"] == "udp" and int(x["answered"]) > 0 for x in f)'
# A stranger's flood of look-alike answers (our Via and branch mark, ids
# nobody sent; 30 000 a second for 4 s) reaches the answer socket, not the
# receivers. The timer reads it more often the more arrives, so after the
# first tick nothing is dropped there, and alice's flow lives on.
flood_stat() { kam sipflow.stats | awk -v k="$1:" '$1 == k {print $2}'; }
start lookalikes python3 "$HERE/sipraw.py" lookalikes 127.0.0.1 "$PORT" 4 30000
FLOOD_PID=$LAST_PID
sleep 2.5
FLOOD_TICK=$(flood_stat timer_tick_ms)
FLOOD_D1=$(flood_stat answers_dropped)
wait "$FLOOD_PID"
sleep 1
FLOOD_D2=$(flood_stat answers_dropped)
echo "# look-alike flood: $(cat "$WIRE_TMP/lookalikes.log") sent; tick ${FLOOD_TICK} ms at 2.5 s; answers_dropped ${FLOOD_D1} at 2.5 s, ${FLOOD_D2} at the end"
check "a flood of look-alike answers shortens the timer's tick (100 ms or less)" \
  test "${FLOOD_TICK:-1000}" -le 100
check "after the flood's first second, no datagram dropped on the answer socket" \
  test "${FLOOD_D1:-x}" = "${FLOOD_D2:-y}"
check "alice's UDP flow alive through the flood" \
  dump_check 'any(x["aor"] == "alice" and x["proto"] == "udp" and x["state"] == "alive" for x in f) and t["deaths"] == "0"'
check "TCP flow alive with a round-trip time in sipflow.dump" within 10 \
  dump_check 'any(x["aor"] == "bob" and x["proto"] == "tcp" and x["state"] == "alive" and int(x["KA-Roundtrip"]) > 0 for x in f)'
check "RTT log lines at rtt_loglevel" \
  grep -aq "sipflow: keepalive rtt [0-9]* us aor \[alice\]" "$WIRE_TMP/kamailio.log"

# A phone that registers and goes away: its probes are missed, it is dead
# after dead_after (2) misses, and its contact is removed from usrloc.
check "silent phone registers" sipp_run carol -sf "$SCEN/kam_register.xml" \
  -set user carol -set inst carol-0000-1111 -set regid 1 -m 1 -d 0 \
  -t u1 -i 127.0.0.1 "127.0.0.1:$PORT"
check "silent phone's contact removed after its missed keepalives" within 15 \
  bash -c "! kamcmd -s '$CTL' ul.dump | grep -q 'AoR: carol\$'"
check "silent phone's flow dead in sipflow.dump, deaths and removals counted" \
  dump_check 'any(x["aor"] == "carol" and x["state"] == "dead" for x in f) and int(t["deaths"]) >= 1 and int(t["contacts_removed"]) >= 1'
check "live phones keep their contacts" registered alice

# Failover (RFC 5626 section 7): two flows of one instance; the newest gets
# the call first, alone. dave's newest flow answers 430: its binding goes and
# the older flow gets the call. erin's newest flow never answers: after the
# 408 the older flow gets the call, and the silent flow's binding stays.
contacts_of() { kam ul.dump | awk -v a="AoR: $1" '$0 ~ a"$" {on=1; next} /AoR:/ {on=0} on && /Address:/' | wc -l; }
contacts_are() { [ "$(contacts_of "$1")" = "$2" ]; }
has_contact_port() { kam ul.dump | awk -v a="AoR: $1" '$0 ~ a"$" {on=1; next} /AoR:/ {on=0} on && /Address:/' | grep -q ":$2;"; }
two_phones() { # user second-ooc-scenario
  local p1 p2
  p1=$(free_port); p2=$(free_port)
  start "$1-old" timeout 40 sipp -nostdin -sf "$SCEN/kam_register.xml" \
    -oocsf "$SCEN/ob_answer.xml" -aa -set user "$1" -set inst "$1-inst" \
    -set regid 1 -m 1 -d 30000 -t u1 -i 127.0.0.1 -p "$p1" \
    "127.0.0.1:$PORT" -timeout 35
  within 10 registered "$1"
  sleep 1.2 # usrloc's last_modified counts seconds
  start "$1-new" timeout 40 sipp -nostdin -sf "$SCEN/kam_register.xml" \
    -oocsf "$SCEN/$2" -aa -set user "$1" -set inst "$1-inst" \
    -set regid 2 -m 1 -d 30000 -t u1 -i 127.0.0.1 -p "$p2" \
    "127.0.0.1:$PORT" -timeout 35 -trace_msg -message_file "$WIRE_TMP/$1-new.msg"
  OLD_PORT=$p1; NEW_PORT=$p2
}
two_phones dave kam_answer_430.xml
check "two flows of dave's instance registered" within 10 contacts_are dave 2
check "call to dave answered (430 on the newest flow, then the older one)" \
  sipp_run call-dave -sf "$SCEN/kam_call.xml" -set callee dave -m 1 \
  -t u1 -i 127.0.0.1 "127.0.0.1:$PORT"
check "the newest flow got the INVITE first" \
  grep -q "^INVITE sip:dave@127.0.0.1:$NEW_PORT" "$WIRE_TMP/dave-new.msg"
check "binding of the flow that answered 430 removed" bash -c \
  "[ \"\$(kamcmd -s '$CTL' ul.dump | grep -c ':$NEW_PORT;')\" = 0 ]"
check "binding of the flow that answered stays" has_contact_port dave "$OLD_PORT"

two_phones erin kam_ignore.xml
check "two flows of erin's instance registered" within 10 contacts_are erin 2
START=$(date +%s%N)
check "call to erin answered (408 on the newest flow, then the older one)" \
  sipp_run call-erin -sf "$SCEN/kam_call.xml" -set callee erin -m 1 \
  -t u1 -i 127.0.0.1 "127.0.0.1:$PORT"
check "one flow at a time: the answer came after the 2 s branch timeout" \
  test $(( ($(date +%s%N) - START) / 1000000 )) -ge 1900
check "the silent flow got the INVITE first" \
  grep -q "^INVITE sip:erin@127.0.0.1:$NEW_PORT" "$WIRE_TMP/erin-new.msg"
check "after 408 both bindings stay" contacts_are erin 2

# INVITE dialogs (sipflow_keepalive() on the initial INVITE and the BYE): an
# unregistered caller's flow is kept alive while its call lasts, the reason
# ending with the BYE; a call refused (404) leaves no keepalive behind.
start hank timeout 40 sipp -nostdin -sf "$SCEN/kam_register.xml" \
  -oocsf "$SCEN/ob_answer.xml" -aa -set user hank -set inst hank-inst \
  -set regid 1 -m 1 -d 30000 -t u1 -i 127.0.0.1 -p "$(free_port)" \
  "127.0.0.1:$PORT" -timeout 35
check "callee hank registered" within 10 registered hank
CALLER_PORT=$(free_port)
start call-hank timeout 40 sipp -nostdin -sf "$SCEN/kam_call_hold.xml" \
  -set callee hank -m 1 -d 5000 -aa -t u1 -i 127.0.0.1 -p "$CALLER_PORT" \
  "127.0.0.1:$PORT" -timeout 30 -timeout_error
CALL_PID=$LAST_PID
check "caller's flow kept alive during the call (one dialog reason, RTT)" \
  within 5 dump_check 'any(x["flow"].endswith(":'"$CALLER_PORT"'") and x["reasons"] == "1" and x["state"] == "alive" and int(x["KA-Roundtrip"]) > 0 for x in f)'
check "the call ends with its BYE answered" wait "$CALL_PID"
check "the BYE ended the dialog's reason: the caller's flow is gone" \
  within 5 dump_check 'not any(x["flow"].endswith(":'"$CALLER_PORT"'") for x in f)'
# SUBSCRIBE: the subscriber's flow is kept alive for what the notifier's
# 200 grants (Expires 4 where 600 was asked), then the reason ends.
start nina timeout 40 sipp -nostdin -sf "$SCEN/kam_register.xml" \
  -oocsf "$SCEN/kam_notifier.xml" -set user nina -set inst nina-inst \
  -set regid 1 -set sexp 4 -m 1 -d 30000 -t u1 -i 127.0.0.1 \
  -p "$(free_port)" "127.0.0.1:$PORT" -timeout 35
check "notifier nina registered" within 10 registered nina
SUB_PORT=$(free_port)
SUB_T0=$(date +%s%N)
start watcher timeout 30 sipp -nostdin -sf "$SCEN/kam_subscribe.xml" \
  -set callee nina -m 1 -d 15000 -aa -t u1 -i 127.0.0.1 -p "$SUB_PORT" \
  "127.0.0.1:$PORT" -timeout 25
WATCHER_PID=$LAST_PID
sub_kept() { dump_check 'any(x["flow"].endswith(":'"$SUB_PORT"'") and x["reasons"] == "1" and x["state"] == "alive" and int(x["KA-Roundtrip"]) > 0 for x in f)'; }
check "a SUBSCRIBE's 2xx keeps the subscriber's flow alive (one reason, RTT)" \
  within 4 sub_kept
sub_gone() { dump_check 'not any(x["flow"].endswith(":'"$SUB_PORT"'") for x in f)'; }
check "the subscription's 4 s over, the flow is no longer kept alive (the phone still answers)" \
  within 8 sub_gone
check "not before the 4 s the notifier granted" \
  test $(( ($(date +%s%N) - SUB_T0) / 1000000 )) -ge 3900
stop_pid "$WATCHER_PID"

REFUSED_PORT=$(free_port)
timeout 20 sipp -nostdin -sf "$SCEN/kam_call.xml" -set callee nobody -m 1 \
  -t u1 -i 127.0.0.1 -p "$REFUSED_PORT" "127.0.0.1:$PORT" -timeout 10 \
  >"$WIRE_TMP/call-nobody.log" 2>&1
check "a refused INVITE (404) leaves no keepalive for its flow" \
  dump_check 'not any(x["flow"].endswith(":'"$REFUSED_PORT"'") for x in f) and int(t["endpoints"]) >= 1'

# Flow tokens: a call from A (UDP) and from C (TCP) through the proxy.
mkdir -p "$WIRE_TMP/a" "$WIRE_TMP/c"
start flow-a $KAMFLOW flow udp "$PORT" "$WIRE_TMP/a" 60
start flow-c $KAMFLOW flow tcp "$PORT" "$WIRE_TMP/c" 60
check "UDP call gets a flow token in Record-Route" within 10 token_ready "$WIRE_TMP/a"
check "TCP call gets a flow token in Record-Route" within 10 token_ready "$WIRE_TMP/c"
TA=$(cat "$WIRE_TMP/a/token" 2>/dev/null)
TC=$(cat "$WIRE_TMP/c/token" 2>/dev/null)
FORGED=$(python3 -c 'import sys; t=sys.argv[1]; i=len(t)//2; print(t[:i]+("A" if t[i]!="A" else "B")+t[i+1:])' "${TA:-x}")
check "request with the UDP token routed to its flow (200 from the phone)" \
  test "$($KAMFLOW bye "$PORT" "$TA")" = 200
check "request with the TCP token routed over its connection" \
  test "$($KAMFLOW bye "$PORT" "$TC")" = 200
check "forged token answered 403" test "$($KAMFLOW bye "$PORT" "$FORGED")" = 403
touch "$WIRE_TMP/c/close"
sleep 1
check "token of a closed TCP flow answered 430" \
  test "$($KAMFLOW bye "$PORT" "$TC")" = 430

# After registrations, calls, 430/408 failover and tokens over UDP:
check "nothing but probe answers (and the flood's look-alikes) reached the answer socket, none dropped there since the flood" \
  dump_check 'int(t["answers_read"]) > 0 and t["answers_other"] == "0" and t["answers_dropped"] == "'"$FLOOD_D2"'"'

# Restart with the same key file: the UDP token still routes.
stop_pid "$KAM_PID"
kam_start kamailio2
check "kamailio restarted" within 15 dump_check 't.get("endpoints") == "0"'
check "token from before the restart (same key file) routed" \
  test "$($KAMFLOW bye "$PORT" "$TA")" = 200
# Another key file: the same token is now forged.
stop_pid "$KAM_PID"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WIRE_TMP/key"
kam_start kamailio3 -A SF_MAX_ENDPOINTS=1
check "kamailio restarted with another key file" \
  within 15 dump_check 't.get("endpoints") == "0"'
check "token under another key answered 403" \
  test "$($KAMFLOW bye "$PORT" "$TA")" = 403
# max_endpoints 1: a second phone is registered, its flow not kept alive.
check "phone 1 registers (max_endpoints 1)" sipp_run frank -sf \
  "$SCEN/kam_register.xml" -set user frank -set inst frank-0000-1111 \
  -set regid 1 -m 1 -d 0 -t u1 -i 127.0.0.1 -p "$(free_port)" \
  "127.0.0.1:$PORT"
check "phone 2 registers all the same" sipp_run gina -sf \
  "$SCEN/kam_register.xml" -set user gina -set inst gina-0000-1111 \
  -set regid 1 -m 1 -d 0 -t u1 -i 127.0.0.1 -p "$(free_port)" \
  "127.0.0.1:$PORT"
check "only one flow kept alive at max_endpoints 1" \
  dump_check 't["endpoints"] == "1" and len(f) == 1'
stop_pid "$KAM_PID"
check "kamailio stopped by its PID" bash -c "! kill -0 $KAM_PID"

# Edge (examples/edge.cfg) in front of the registrar (single.cfg): the edge
# keeps alive the flow of a phone registered through it (the lifetime read
# from the registrar's 2xx it relays), its token goes in Path, and a call
# through the registrar comes back over the edge, routed by that token.
EDGE_PORT=$(free_port)
EDGE_CTL="unix:$WIRE_TMP/edge.ctl"
kam_start registrar
REG_PID=$KAM_PID
start edge kamailio_run -DD -E -f "$HERE/../../bindings/kamailio/examples/edge.cfg" \
  -Y "$WIRE_TMP" -w "$WIRE_TMP" -m 64 -M 8 -l "udp:127.0.0.1:$EDGE_PORT" \
  -A "SF_MODULE=\"$MODULE\"" -A "SF_CTL=\"$EDGE_CTL\"" \
  -A "SF_KEY_FILE=\"$WIRE_TMP/key\"" -A "SF_INTERVAL_MS=1000" \
  -A "SF_REGISTRAR=\"sip:127.0.0.1:$PORT\"" -A "SF_ANSWER_SOCKET=0"
EDGE_PID=$LAST_PID
edge_dump_check() { CTL=$EDGE_CTL dump_check "$@"; }
check "edge and registrar start" within 15 edge_dump_check 't.get("endpoints") == "0"'
IVAN_PORT=$(free_port)
start ivan timeout 40 sipp -nostdin -sf "$SCEN/kam_register.xml" \
  -oocsf "$SCEN/ob_answer.xml" -aa -set user ivan -set inst ivan-inst \
  -set regid 1 -m 1 -d 30000 -t u1 -i 127.0.0.1 -p "$IVAN_PORT" \
  "127.0.0.1:$EDGE_PORT" -timeout 35 -trace_msg -message_file "$WIRE_TMP/ivan.msg"
check "REGISTER through the edge saved at the registrar" within 10 registered ivan
check "registrar keeps the edge's Path with a flow token and ;ob" bash -c \
  "kamcmd -s '$CTL' ul.dump | grep -q 'Path: <sip:[^@>]*@127.0.0.1:$EDGE_PORT;lr;ob>'"
check "edge keeps ivan's flow alive with an RTT (lifetime from the relayed 2xx)" \
  within 10 edge_dump_check 'any(x["aor"] == "ivan" and x["state"] == "alive" and int(x["KA-Roundtrip"]) > 0 for x in f)'
check "edge without an answer socket (udp_answer_socket 0): its UDP receivers took the answers" \
  edge_dump_check 't["answer_sockets"] == "0" and t["answers_read"] == "0" and int(t["answered"]) > 0'
check "call through the registrar reaches ivan over the edge by token" \
  sipp_run call-ivan -sf "$SCEN/kam_call.xml" -set callee ivan -m 1 \
  -t u1 -i 127.0.0.1 "127.0.0.1:$PORT"
# (the registrar sends to the Path's first hop, not to the contact, which
# loopback would also reach)
check "the INVITE came to ivan from the edge: its Via on top, the token's Route gone" \
  python3 -c 'import sys, re
m = open(sys.argv[1], errors="replace").read()
inv = re.search(r"^INVITE sip:ivan@.*?\r?\n\r?\n", m, re.M | re.S)
sys.exit(0 if inv and re.search(r"^Via: SIP/2.0/UDP 127.0.0.1:" + sys.argv[2] + r";", inv.group(0), re.M) and not re.search(r"^Route:", inv.group(0), re.M) else 1)' "$WIRE_TMP/ivan.msg" "$EDGE_PORT"
# The edge's failover path (RFC 5626 section 5.3): ivan's second flow,
# registered through the edge, goes silent; the edge finds it dead and
# answers 430 for its token; the registrar drops that binding and tries
# ivan's other flow.
IVAN2_PORT=$(free_port)
timeout 20 sipp -nostdin -sf "$SCEN/kam_register.xml" -set user ivan \
  -set inst ivan-inst -set regid 2 -m 1 -d 0 -t u1 -i 127.0.0.1 \
  -p "$IVAN2_PORT" "127.0.0.1:$EDGE_PORT" -timeout 10 >"$WIRE_TMP/ivan2.log" 2>&1
check "ivan's second flow registered through the edge: two bindings" \
  within 10 contacts_are ivan 2
check "its phone gone, the edge finds that flow dead" within 15 \
  edge_dump_check 'any(x["flow"].endswith(":'"$IVAN2_PORT"'") and x["state"] == "dead" for x in f)'
EDGE_T0=$(date +%s%N)
check "call to ivan through the registrar answered (the edge's 430 for the dead flow, then the live one)" \
  sipp_run call-ivan2 -sf "$SCEN/kam_call.xml" -set callee ivan -m 1 \
  -t u1 -i 127.0.0.1 "127.0.0.1:$PORT"
check "answered without waiting for a branch timeout (430 is at once)" \
  test $(( ($(date +%s%N) - EDGE_T0) / 1000000 )) -lt 1800
check "the registrar removed the binding the edge answered 430 for, kept the live one" \
  eval 'contacts_are ivan 1 && has_contact_port ivan "$IVAN_PORT"'
stop_pid "$EDGE_PID"
stop_pid "$REG_PID"
check "edge and registrar stopped by their PIDs" \
  bash -c "! kill -0 $EDGE_PID && ! kill -0 $REG_PID"

# A burst, bounded: 1000 UDP phones (ka_peers.py, one flow each) register at
# once and answer every probe; probed every 2 s for 12 s, none may be missed
# so often that its flow dies and its contact goes (the 50 000-contact run
# is tests/bench/compare/kamailio_module.sh, docs/performance.md section 6).
BURST_N=1000
PEERS_PORT=$(free_port)
KAM_INTERVAL_MS=2000 kam_start kamailio-burst -A SF_TIMEOUT_MS=3000
check "kamailio for the burst starts; idle, its timer ticks at the longest" within 15 dump_check 't.get("endpoints") == "0" and t.get("timer_tick_ms") == "1000"'
start burst-peers timeout 60 python3 "$HERE/../bench/compare/ka_peers.py" \
  "$PORT" "$BURST_N" --port "$PEERS_PORT" --rate 2000 --seconds 45 \
  --status "$WIRE_TMP/burst.status"
PEERS_PID=$LAST_PID
burst_registered() { [ "$(cut -d' ' -f1 "$WIRE_TMP/burst.status" 2>/dev/null)" = "$BURST_N" ]; }
check "1000 phones registered in one burst" within 30 burst_registered
# sipflow.stats: the totals of sipflow.dump without 1000 flows
stats_check() { DUMP=sipflow.stats dump_check "$@"; }
ul_contacts() { kam stats.get_statistics all | awk '/usrloc:location_contacts/ {print $3}'; }
check "every flow kept alive" within 10 stats_check 't["endpoints"] == "'$BURST_N'"'
sleep 12
check "12 s later: probes answered, no flow dead, no contact removed" \
  stats_check 'int(t["answered"]) >= 5 * '$BURST_N' and t["deaths"] == "0" and t["contacts_removed"] == "0"'
check "all 1000 contacts still in usrloc" test "$(ul_contacts)" = "$BURST_N"
check "the burst's answers read off the answer socket, several per recvmmsg, none dropped" \
  stats_check 'int(t["answers_read"]) >= 5 * '$BURST_N' and t["answers_other"] == "0" and t["answers_dropped"] == "0"'
# the timer process sends UDP probes in batches (probe_batch, sendmmsg):
# every probe went that way, two or more per call on average
check "UDP probes sent in batches, several per sendmmsg" \
  stats_check 'int(t["probes_batched"]) >= 5 * '$BURST_N' and 2 * int(t["sendmmsg_calls"]) <= int(t["probes_batched"])'
# the adaptive tick: idle, the timer slept its longest tick (1000 ms); with
# 1000 phones on a 2 s interval (about 550 probes a second) it wakes as
# often as it takes tick_batch probes to fall due: shorter than the
# longest, longer than the shortest (50 ms)
check "the timer's tick shortened with the probe rate, to tick_batch's worth" \
  stats_check 'int(t["tick_batch"]) >= 16 and 50 < int(t["timer_tick_ms"]) < 1000 and abs(int(t["timer_tick_ms"]) - 1000 * int(t["tick_batch"]) / 550) < 0.5 * 1000 * int(t["tick_batch"]) / 550'
stop_pid "$PEERS_PID"
stop_pid "$KAM_PID"

# TLS (tls.so): an Outbound REGISTER over TLS, the module's OPTIONS probes
# over the phone's TLS connection with an RTT, and the phone's own CRLF
# pings answered by Kamailio's core with CRLF pongs (RFC 5626 4.4.1).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj /CN=127.0.0.1 -days 1 -keyout "$WIRE_TMP/tls-key.pem" \
  -out "$WIRE_TMP/tls-cert.pem" >/dev/null 2>&1
TLS_PORT=$(free_port)
kam_start kamailio-tls -l "tls:127.0.0.1:$TLS_PORT" \
  -A "SF_TLS_CERT=\"$WIRE_TMP/tls-cert.pem\"" \
  -A "SF_TLS_KEY=\"$WIRE_TMP/tls-key.pem\""
check "kamailio with tls.so and sipflow.so starts" \
  within 15 dump_check 't.get("endpoints") == "0"'
start tina timeout 30 $KAMFLOW tlsphone "$TLS_PORT" tina 20 "$WIRE_TMP/tina.out"
tls_phone() { python3 -c 'import sys; w = open(sys.argv[1]).read().split(); d = dict(zip(w[::2], map(int, w[1::2]))); sys.exit(0 if eval(sys.argv[2]) else 1)' "$WIRE_TMP/tina.out" "$1"; }
check "TLS Outbound REGISTER saved" within 10 registered tina
check "TLS flow alive with a round-trip time in sipflow.dump" within 10 \
  dump_check 'any(x["aor"] == "tina" and x["proto"] == "tls" and x["state"] == "alive" and int(x["KA-Roundtrip"]) > 0 for x in f)'
check "the module's OPTIONS probes answered over the TLS connection" \
  within 10 tls_phone 'd["options"] >= 2'
check "the phone's CRLF pings over TLS answered with CRLF pongs" \
  within 10 tls_phone 'd["pongs"] >= 3 and d["rtt_us"] > 0'
stop_pid "$KAM_PID"
check "TLS kamailio stopped by its PID" bash -c "! kill -0 $KAM_PID"
if [ -n "${KAM_PRELOAD:-}" ]; then
  check "no AddressSanitizer or UBSan report from any kamailio" bash -c \
    "! grep -l -e 'ERROR: AddressSanitizer' -e 'runtime error:' '$WIRE_TMP'/*.log"
fi
wire_done
