#!/usr/bin/env bash
# GRUUs (RFC 5627) through sipflow-proxy: an AoR with two devices that ask
# for GRUUs (Supported: gruu); the 200 carries pub-gruu and temp-gruu
# (§5.1, §5.2); a call to one device's pub-gruu or temp-gruu reaches that
# device alone (§6.1); after it registers again with a new Call-ID its
# old temp-gruu gets 404 (§5.1, §6.1) and the new one routes; unknown GRUUs get
# 404 or 480; temporary GRUUs survive a restart with --state (the ring is
# stored); a real client, linphone-daemon, sends Supported: gruu, gets both
# GRUUs in its 200 and is reached by them (skipped when linphone-cli is not
# installed); two cluster nodes sharing Redis and a key file route each
# other's temporary GRUUs (skipped without redis-server). Prints TAP.
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
  declare -A PORT
  for n in a b; do PORT[$n]=$(free_port); done
  for n in a b; do
    # shellcheck disable=SC2046
    start "node$n" "$PROXY" $(cluster_peers "$n") \
      --listen udp:127.0.0.1:${PORT[$n]} --domain example.com \
      --control "$WIRE_TMP/ctl.$n" --token-key "$WIRE_TMP/cluster.keys" \
      --redis redis://127.0.0.1:$RP --node-id "$n" --register-rate 0 \
      --txn-timeout-ms 2000 --log-level debug
    # The first node writes the key file; the second reads it.
    wait_for "$WIRE_TMP/ctl.$n" 10
  done
  loaded() { grep -q 'state loaded' "$WIRE_TMP/nodea.log" && grep -q 'state loaded' "$WIRE_TMP/nodeb.log"; }
  check "cluster: redis and two nodes up, state loaded" until_true 10 loaded
  start c1 $PHONE 127.0.0.1 ${PORT[a]} --user carol --ob "$IB:1" --gruu \
    --life 60 --log "$WIRE_TMP/c1.events"
  check "cluster: carol registered at node a, and node b holds her binding" \
    until_true 10 sh -c "grep -q '^gruu sip' '$WIRE_TMP/c1.events' && $PROXY ctl --control '$WIRE_TMP/ctl.b' dump | grep -q tgruu"
  CTEMP=$(gruu_of c1 temp)
  CPUB=$(gruu_of c1 pub)
  check "cluster: INVITE to the temp-gruu minted on node a, sent to node b, reaches carol" \
    $SIPRAW expect 127.0.0.1 ${PORT[b]} 200 INVITE "$CTEMP"
  check "cluster: ... and her pub-gruu too" \
    $SIPRAW expect 127.0.0.1 ${PORT[b]} 200 INVITE "$CPUB"
  check "cluster: carol got both" sh -c "[ \$(grep -c '^REQ INVITE' '$WIRE_TMP/c1.events') = 2 ]"
else
  ok "cluster: temp-gruu across nodes # SKIP no redis-server"
fi
wire_done
