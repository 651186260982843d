#!/usr/bin/env bash
# GRUUs (RFC 5627) through sipflow-proxy: an AoR with two devices that ask
# for GRUUs (Supported: gruu); the 200 carries pub-gruu and temp-gruu
# (§5.1, §5.2); a call to one device's pub-gruu or temp-gruu reaches that
# device alone (§6.1); after it registers again with a new Call-ID its old
# temp-gruu gets 404 (§5.1, §6.1) and the new one routes; unknown GRUUs
# get 404 or 480; temporary GRUUs survive a restart with --state (the ring
# is stored). In each deployment (single; edge + registrar; two cluster
# nodes sharing Redis and a key file, phones on one, calls to the other)
# GRUUs route with one flow at a time and 430/408 failover within the
# instance (deploy_checks); the registrar behind the edge and a cluster
# node restart and still route a temporary GRUU. A real client,
# linphone-daemon, sends Supported: gruu, gets both GRUUs and answers
# OPTIONS sent to them (skipped when not installed; JsSIP's calls are in
# test_gruu_browsers.sh). --gruu off: no GRUU in the 200, Require: gruu
# gets 420, gr is an ordinary parameter. The cluster part is skipped
# without redis-server. Prints TAP.
# usage: test_gruu.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
PHONE="python3 $HERE/phone.py"

P=$(free_port)
CTL=$WIRE_TMP/ctl
STATE=$WIRE_TMP/state.db
run_proxy() {
  start proxy "$PROXY" --listen udp:127.0.0.1:$P --domain example.com \
    --control "$CTL" --state "$STATE" --register-rate 0 \
    --txn-timeout-ms 2000 --log-level debug
  PROXY_PID=$LAST_PID
}
run_proxy
check "proxy up" wait_for "$CTL" 10

IA=00000000-0000-1000-8000-00000000a11a
IB=00000000-0000-1000-8000-00000000b11b
# dev NAME INSTANCE: one of alice's devices, logging to NAME.events.
dev() {
  start "$1" $PHONE 127.0.0.1 $P --user alice --ob "$2:1" --gruu --life 120 \
    --log "$WIRE_TMP/$1.events"
  eval "PID_$1=\$LAST_PID"
}
registered() { grep -q '^gruu ' "$WIRE_TMP/$1.events" 2>/dev/null; }
gruu_of() { awk -v k="$2" '/^gruu /{v = (k == "pub") ? $2 : $3} END {print v}' "$WIRE_TMP/$1.events"; }
invites() { grep -c '^REQ INVITE' "$WIRE_TMP/$1.events" 2>/dev/null || true; }
expect() { $SIPRAW expect 127.0.0.1 $P "$@"; }


# deploy_checks NAME PORT [CALL_PORT]: GRUU routing with Outbound's rules
# (RFC 5627 §6.1, RFC 5626 §7): the phones register through the proxy at
# PORT (the single proxy, the edge in front of a registrar, a cluster node)
# and the calls go to CALL_PORT (default PORT; another cluster node). User fred-NAME has four instances:
#  x: two flows, reg-id 1 answers 430, reg-id 2 answers 200;
#  w: two flows, reg-id 1 never answers (408), reg-id 2 answers 200;
#  z: two flows, both answer 200;  y: one flow, answers 200.
# A call to a GRUU of x, w or z completes on one flow of that instance, the
# flow tried first being reg-id 1's, and y never rings.
deploy_checks() {
  local name=$1 port=$2 cport=${3:-$2} u=fred-$1 f pids=()
  local IX=00000000-0000-1000-8000-0000000000c1 IW=00000000-0000-1000-8000-0000000000c2
  local IZ=00000000-0000-1000-8000-0000000000c3 IY=00000000-0000-1000-8000-0000000000c4
  for f in "x1 $IX:1 430" "x2 $IX:2 200" "w1 $IW:1 none" "w2 $IW:2 200" \
    "z1 $IZ:1 200" "z2 $IZ:2 200" "y $IY:1 200"; do
    set -- $f
    start "$name-$1" $PHONE 127.0.0.1 "$port" --user "$u" --ob "$2" --answer "$3" \
      --gruu --life 90 --log "$WIRE_TMP/$name-$1.events"
    pids+=("$LAST_PID")
  done
  check "$name: seven flows of four instances registered with GRUUs" until_true 15 sh -c \
    "for d in x1 x2 w1 w2 z1 z2 y; do grep -q '^gruu sip' '$WIRE_TMP/$name-'\$d.events || exit 1; done"
  local PX TX PW PZ TZ
  PX=$(gruu_of "$name-x1" pub); TX=$(gruu_of "$name-x1" temp)
  PW=$(gruu_of "$name-w2" pub); PZ=$(gruu_of "$name-z2" pub); TZ=$(gruu_of "$name-z2" temp)
  check "$name: §6.1 + RFC 5626 §7: INVITE to x's pub-gruu: reg-id 1 answers 430, reg-id 2 completes it" \
    sh -c "$SIPRAW expect 127.0.0.1 $cport 200 INVITE '$PX' && [ \$(grep -c '^REQ INVITE' '$WIRE_TMP/$name-x1.events') = 1 ] && [ \$(grep -c '^REQ INVITE' '$WIRE_TMP/$name-x2.events') = 1 ]"
  check "$name: §5.1: the 430 removed reg-id 1's binding, so the temp-gruu of its Call-ID gets 404" \
    $SIPRAW expect 127.0.0.1 "$cport" 404 INVITE "$TX"
  check "$name: INVITE to w's pub-gruu: reg-id 1 times out (408), reg-id 2 completes it" \
    sh -c "$SIPRAW expect 127.0.0.1 $cport 200 INVITE '$PW' && [ \$(grep -c '^REQ INVITE' '$WIRE_TMP/$name-w1.events') -ge 1 ] && [ \$(grep -c '^REQ INVITE' '$WIRE_TMP/$name-w2.events') = 1 ]"
  check "$name: one flow at a time: INVITE to z's pub-gruu rings one of its two flows" \
    sh -c "$SIPRAW expect 127.0.0.1 $cport 200 INVITE '$PZ' && [ \$(( \$(grep -c '^REQ INVITE' '$WIRE_TMP/$name-z1.events') + \$(grep -c '^REQ INVITE' '$WIRE_TMP/$name-z2.events') )) = 1 ]"
  check "$name: ... and z's temp-gruu too (two calls, two INVITEs in all)" \
    sh -c "$SIPRAW expect 127.0.0.1 $cport 200 INVITE '$TZ' && [ \$(( \$(grep -c '^REQ INVITE' '$WIRE_TMP/$name-z1.events') + \$(grep -c '^REQ INVITE' '$WIRE_TMP/$name-z2.events') )) = 2 ]"
  check "$name: the other device of the AoR, y, never rang" \
    sh -c "! grep -q '^REQ INVITE' '$WIRE_TMP/$name-y.events'"
  for f in "${pids[@]}"; do stop_pid "$f"; done
}

dev a $IA
dev b $IB
check "both devices registered" until_true 10 sh -c \
  "grep -q '^gruu ' '$WIRE_TMP/a.events' && grep -q '^gruu ' '$WIRE_TMP/b.events'"
PUB_A=$(gruu_of a pub)
TEMP_A=$(gruu_of a temp)
TEMP_B=$(gruu_of b temp)
echo "# pub-gruu of a: $PUB_A"
echo "# temp-gruu of a: $TEMP_A"
check "§5.2, §3.1.1: the 200 carries a's pub-gruu, the AoR with its instance in gr" \
  test "$PUB_A" = "sip:alice@example.com;gr=urn:uuid:$IA"
check "§5.2, §3.1.2: the 200 carries a temp-gruu at our domain that hides the AoR" \
  sh -c "case '$TEMP_A' in sip:tgruu.*@example.com\;gr) ! echo '$TEMP_A' | grep -q alice;; *) false;; esac"
check "ctl dump shows both bindings' GRUUs" json_check "$CTL" dump \
  "sorted(b['pub_gruu'] for b in d['bindings'])==['sip:alice@example.com;gr=urn:uuid:$IA','sip:alice@example.com;gr=urn:uuid:$IB'] and all(b['temp_gruu'].startswith('sip:tgruu.') for b in d['bindings'])"

check "§6.1: INVITE to a's pub-gruu is answered 200" expect 200 INVITE "$PUB_A"
check "... it reached a alone" sh -c "[ \$(grep -c '^REQ INVITE' '$WIRE_TMP/a.events') = 1 ] && ! grep -q '^REQ INVITE' '$WIRE_TMP/b.events'"
check "§6.1: INVITE to a's temp-gruu is answered 200" expect 200 INVITE "$TEMP_A"
check "... it reached a alone" sh -c "[ \$(grep -c '^REQ INVITE' '$WIRE_TMP/a.events') = 2 ] && ! grep -q '^REQ INVITE' '$WIRE_TMP/b.events'"
check "§6.1: INVITE to b's temp-gruu reaches b alone" sh -c \
  "$SIPRAW expect 127.0.0.1 $P 200 INVITE '$TEMP_B' && [ \$(grep -c '^REQ INVITE' '$WIRE_TMP/a.events') = 2 ] && grep -q '^REQ INVITE' '$WIRE_TMP/b.events'"
check "§6.1: a pub-gruu whose instance never registered: 480" \
  expect 480 INVITE "sip:alice@example.com;gr=urn:uuid:00000000-0000-1000-8000-0000000000ff"
check "§6.1: a temp-gruu we never minted: 404" \
  expect 404 INVITE "sip:tgruu.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@example.com;gr"

# Device a restarts: the same instance and reg-id, a new Call-ID.
stop_pid "$PID_a"
dev a2 $IA
check "a registers again with a new Call-ID" until_true 10 registered a2
TEMP_A2=$(gruu_of a2 temp)
check "§5.1: it gets a new temp-gruu" test -n "$TEMP_A2" -a "$TEMP_A2" != "$TEMP_A"
check "§5.1, §6.1: the temp-gruu of the old Call-ID no longer routes: 404" \
  expect 404 INVITE "$TEMP_A"
check "... and reached nobody" sh -c "! grep -q '^REQ INVITE' '$WIRE_TMP/a2.events' && [ \$(grep -c '^REQ INVITE' '$WIRE_TMP/b.events') = 1 ]"
check "the new temp-gruu reaches the device" expect 200 INVITE "$TEMP_A2"
check "the pub-gruu is the same and reaches it too" sh -c \
  "[ '$(gruu_of a2 pub)' = '$PUB_A' ] && $SIPRAW expect 127.0.0.1 $P 200 INVITE '$PUB_A' && [ \$(grep -c '^REQ INVITE' '$WIRE_TMP/a2.events') = 2 ]"

# A restart with the same --state: bindings and the ring come back.
kill -KILL $PROXY_PID
wait $PROXY_PID 2>/dev/null
rm -f "$CTL"
run_proxy
check "restarted with the same --state" wait_for "$CTL" 10
check "after the restart the temp-gruu still reaches the device" \
  expect 200 INVITE "$TEMP_A2"
check "... and the old one still gets 404" expect 404 INVITE "$TEMP_A"

# Deployment 1, single: the proxy is edge and registrar at once.
deploy_checks single $P

# A real client: linphone-daemon lists gruu in Supported (RFC 5627 §4.1);
# its 200 shows both GRUUs and requests to them reach it.
if command -v linphone-daemon >/dev/null; then
  PY=python3
  [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
  RP="$PY $HERE/realphone.py"
  read -r PL LR <<<"$($RP free-ports 2)"
  LSOCK_NAME=$(basename "$WIRE_TMP")-linphone
  LIN=linphone:/tmp/$LSOCK_NAME
  trap 'wire_cleanup; rm -f "/tmp/$LSOCK_NAME"' EXIT
  mkdir -p "$WIRE_TMP/linphone/.local/share/linphone"
  $RP linphone-config "$WIRE_TMP/linphone/rc" $PL $LR
  start linphone env HOME="$WIRE_TMP/linphone" linphone-daemon \
    --config "$WIRE_TMP/linphone/rc" --pipe "$LSOCK_NAME" \
    --log "$WIRE_TMP/linphone.trace" --auto-answer --disable-stats-events
  check "linphone-daemon: registered through the proxy" sh -c \
    "$RP ready $LIN 10 && $RP register $LIN sip:lin@127.0.0.1 sip:127.0.0.1:$P && $RP registered $LIN 10"
  check "linphone sent Supported: gruu" \
    grep -q '^Supported:.*gruu' "$WIRE_TMP/linphone.trace"
  check "linphone's 200 shows its pub-gruu and temp-gruu" \
    grep -q '^Contact:.*pub-gruu="sip:lin@example.com;gr=urn:.*temp-gruu="sip:tgruu\.' "$WIRE_TMP/linphone.trace"
  LPUB=$(ctl "$CTL" dump | $PY -c "import json,sys; print([b['pub_gruu'] for b in json.load(sys.stdin)['bindings'] if b['aor']=='sip:lin@example.com'][0])")
  LTEMP=$(ctl "$CTL" dump | $PY -c "import json,sys; print([b['temp_gruu'] for b in json.load(sys.stdin)['bindings'] if b['aor']=='sip:lin@example.com'][0])")
  # The proxy answers OPTIONS with a user part only by forwarding it.
  check "OPTIONS to linphone's pub-gruu is answered by linphone" \
    expect 200 OPTIONS "$LPUB"
  check "OPTIONS to a temp-gruu of linphone is answered by linphone" \
    expect 200 OPTIONS "$LTEMP"
else
  ok "linphone-daemon: real client with Supported: gruu # SKIP linphone-cli not installed"
fi
check "the proxy still runs" kill -0 $PROXY_PID

# A cluster of two registrar nodes sharing bindings through Redis and one
# --token-key file: a temp-gruu minted on node a routes on node b.
if command -v redis-server >/dev/null; then
  RP=$(free_port)
  start redis redis-server --port "$RP" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$WIRE_TMP"
  declare -A PORT NODE_PID
  for n in a b; do PORT[$n]=$(free_port); done
  for n in a b; do
    # shellcheck disable=SC2046
    start "node$n" "$PROXY" $(cluster_peers "$n") \
      --listen udp:127.0.0.1:${PORT[$n]} --domain example.com \
      --control "$WIRE_TMP/ctl.$n" --token-key "$WIRE_TMP/cluster.keys" \
      --redis redis://127.0.0.1:$RP --node-id "$n" --register-rate 0 \
      --txn-timeout-ms 2000 --log-level debug
    NODE_PID[$n]=$LAST_PID
    # The first node writes the key file; the second reads it.
    wait_for "$WIRE_TMP/ctl.$n" 10
  done
  loaded() { grep -q 'state loaded' "$WIRE_TMP/nodea.log" && grep -q 'state loaded' "$WIRE_TMP/nodeb.log"; }
  check "cluster: redis and two nodes up, state loaded" until_true 10 loaded
  start c1 $PHONE 127.0.0.1 ${PORT[a]} --user carol --ob "$IB:1" --gruu --crlf 5 \
    --life 150 --log "$WIRE_TMP/c1.events"
  check "cluster: carol registered at node a, and node b holds her binding" \
    until_true 10 sh -c "grep -q '^gruu sip' '$WIRE_TMP/c1.events' && $PROXY ctl --control '$WIRE_TMP/ctl.b' dump | grep -q tgruu"
  CTEMP=$(gruu_of c1 temp)
  CPUB=$(gruu_of c1 pub)
  check "cluster: INVITE to the temp-gruu minted on node a, sent to node b, reaches carol" \
    $SIPRAW expect 127.0.0.1 ${PORT[b]} 200 INVITE "$CTEMP"
  check "cluster: ... and her pub-gruu too" \
    $SIPRAW expect 127.0.0.1 ${PORT[b]} 200 INVITE "$CPUB"
  check "cluster: carol got both" sh -c "[ \$(grep -c '^REQ INVITE' '$WIRE_TMP/c1.events') = 2 ]"
  # Deployment 3, the cluster: phones on node a, calls to node b.
  deploy_checks cluster ${PORT[a]} ${PORT[b]}
  # Node b restarts: the bindings come back from Redis, the ring from the
  # shared key file, and carol's temp-gruu still routes there.
  kill -KILL "${NODE_PID[b]}"
  wait "${NODE_PID[b]}" 2>/dev/null
  rm -f "$WIRE_TMP/ctl.b"
  # shellcheck disable=SC2046
  start nodeb2 "$PROXY" $(cluster_peers b) \
    --listen udp:127.0.0.1:${PORT[b]} --domain example.com \
    --control "$WIRE_TMP/ctl.b" --token-key "$WIRE_TMP/cluster.keys" \
    --redis redis://127.0.0.1:$RP --node-id b --register-rate 0 \
    --txn-timeout-ms 2000 --log-level debug
  check "cluster: node b restarted and loaded the state from Redis" \
    until_true 15 grep -q 'state loaded' "$WIRE_TMP/nodeb2.log"
  check "cluster: after node b's restart, carol's temp-gruu sent to b reaches her" \
    sh -c "$SIPRAW expect 127.0.0.1 ${PORT[b]} 200 INVITE '$CTEMP' && [ \$(grep -c '^REQ INVITE' '$WIRE_TMP/c1.events') = 3 ]"
else
  ok "cluster: temp-gruu across nodes # SKIP no redis-server"
fi

# Deployment 2, edge + registrar: the phones reach the registrar through an
# edge that adds Path with its flow tokens; the registrar mints and routes
# the GRUUs, the edge relays 430 and its own 408 back (its transaction
# timeout is the shorter: the edge's 100 stops the registrar's timer).
ER=$(free_port)
EE=$(free_port)
start ereg "$PROXY" --role registrar --listen udp:127.0.0.1:$ER \
  --domain example.com --control "$WIRE_TMP/ereg.ctl" --peer udp:127.0.0.1:$EE \
  --state "$WIRE_TMP/ereg.db" --keepalive off --register-rate 0 \
  --txn-timeout-ms 2000 --log-level debug
EREG_PID=$LAST_PID
start eedge "$PROXY" --role edge --listen udp:127.0.0.1:$EE \
  --registrar udp:127.0.0.1:$ER --control "$WIRE_TMP/eedge.ctl" \
  --token-key "$WIRE_TMP/eedge.keys" --register-rate 0 \
  --txn-timeout-ms 1500 --log-level debug
check "edge + registrar: registrar up" wait_for "$WIRE_TMP/ereg.ctl" 10
check "edge + registrar: edge up" wait_for "$WIRE_TMP/eedge.ctl" 10
deploy_checks edge $EE
start e1 $PHONE 127.0.0.1 $EE --user gina --ob "$IA:1" --gruu --life 60 \
  --log "$WIRE_TMP/e1.events"
check "edge + registrar: gina registered through the edge" until_true 10 registered e1
GTEMP=$(gruu_of e1 temp)
kill -KILL $EREG_PID
wait $EREG_PID 2>/dev/null
rm -f "$WIRE_TMP/ereg.ctl"
start ereg2 "$PROXY" --role registrar --listen udp:127.0.0.1:$ER \
  --domain example.com --control "$WIRE_TMP/ereg.ctl" --peer udp:127.0.0.1:$EE \
  --state "$WIRE_TMP/ereg.db" --keepalive off --register-rate 0 \
  --txn-timeout-ms 2000 --log-level debug
check "edge + registrar: registrar restarted with the same --state" \
  wait_for "$WIRE_TMP/ereg.ctl" 10
check "edge + registrar: after the restart gina's temp-gruu, sent to the edge, reaches her" \
  sh -c "$SIPRAW expect 127.0.0.1 $EE 200 INVITE '$GTEMP' && grep -q '^REQ INVITE' '$WIRE_TMP/e1.events'"

# --gruu off: the proxy behaves as one that does not implement RFC 5627.
# The 200 carries no GRUU even for a UA that asks; a Request-URI with gr
# is its AoR (every device rings), a former temp-gruu names no AoR (480).
OP=$(free_port)
start proxyoff "$PROXY" --listen udp:127.0.0.1:$OP --domain example.com \
  --control "$WIRE_TMP/ctl.off" --gruu off --register-rate 0 \
  --txn-timeout-ms 2000 --log-level debug
check "--gruu off: proxy up" wait_for "$WIRE_TMP/ctl.off" 10
for n in d1 d2; do
  inst=$IA; [ $n = d2 ] && inst=$IB
  start $n $PHONE 127.0.0.1 $OP --user dave --ob "$inst:1" --gruu --life 60 \
    --log "$WIRE_TMP/$n.events"
done
check "--gruu off: both of dave's devices registered" until_true 10 sh -c \
  "grep -q '^gruu ' '$WIRE_TMP/d1.events' && grep -q '^gruu ' '$WIRE_TMP/d2.events'"
check "--gruu off: the 200 carries neither pub-gruu nor temp-gruu" sh -c \
  "grep -qx 'gruu - -' '$WIRE_TMP/d1.events' && grep -qx 'gruu - -' '$WIRE_TMP/d2.events'"
check "--gruu off: ctl dump shows no GRUU" json_check "$WIRE_TMP/ctl.off" dump \
  "len(d['bindings'])==2 and not any('pub_gruu' in b or 'temp_gruu' in b for b in d['bindings'])"
check "--gruu off: a REGISTER with Require: gruu gets 420" \
  $SIPRAW expect 127.0.0.1 $OP 420 REGISTER "sip:erin@example.com" \
  "Require: gruu" "Contact: <sip:erin@127.0.0.1:9>;+sip.instance=\"<urn:uuid:$IA>\""
check "... which GRUUs on accept" \
  $SIPRAW expect 127.0.0.1 $P 200 REGISTER "sip:erin@example.com" \
  "Require: gruu" "Contact: <sip:erin@127.0.0.1:9>;+sip.instance=\"<urn:uuid:$IA>\""
check "--gruu off: an INVITE to a pub-gruu form is the AoR's: answered 200" \
  $SIPRAW expect 127.0.0.1 $OP 200 INVITE "sip:dave@example.com;gr=urn:uuid:$IA"
check "... and it rang both devices, not the one gr names" sh -c \
  "grep -q '^REQ INVITE' '$WIRE_TMP/d1.events' && grep -q '^REQ INVITE' '$WIRE_TMP/d2.events'"
check "--gruu off: a temp-gruu form names no AoR: 480" \
  $SIPRAW expect 127.0.0.1 $OP 480 INVITE "$TEMP_A2"
wire_done
