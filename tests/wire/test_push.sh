#!/usr/bin/env bash
# Push (RFC 8599): a local HTTP receiver plays the push gateway and the
# phone, which re-registers over a new connection when pushed. Prints TAP.
# usage: test_push.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"

P=$(free_port)
CTL=$WIRE_TMP/ctl
STATE=$WIRE_TMP/state.db
export PUSHGW_PORT
PUSHGW_PORT=$(free_port)
export PUSHGW_LOG=$WIRE_TMP/pushes.jsonl
: >"$PUSHGW_LOG"
PUSH="python3 $HERE/pushgw.py $P"
run_proxy() {
  start proxy "$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
    --domain example.com --control "$CTL" --state "$STATE" \
    --register-rate 0 --min-expires 5 --log-level debug \
    --push-webhook "http://127.0.0.1:$PUSHGW_PORT/push" \
    --push-providers apns,fcm:2 --push-refresh 4 --push-wait 3
  PROXY_PID=$LAST_PID
}
run_proxy
check "proxy with --push-webhook up" wait_for "$CTL" 10

check "REGISTER with pn-* gets 200 with Feature-Caps +sip.pns" \
  $PUSH register-bob
check "a pn-provider not served gets 555" \
  $SIPRAW expect 127.0.0.1 $P 555 REGISTER sip:eve@example.com \
  "Contact: <sip:eve@127.0.0.1:5999;pn-provider=webpush;pn-prid=x>"
# RFC 8599 §5.6.1.1: +sip.pnsreg (here fcm's 2 s lead) goes back only to a
# Contact with the +sip.pnsreg media feature tag.
check "a Contact with the +sip.pnsreg tag gets +sip.pnsreg in Feature-Caps" \
  $SIPRAW expect 127.0.0.1 $P 200 REGISTER sip:gus@example.com \
  "Contact: <sip:gus@127.0.0.1:5998;pn-provider=fcm;pn-prid=g1>;+sip.pnsreg" \
  --has 'Feature-Caps: *;+sip.pns="fcm";+sip.pnsreg="2"'
check "a Contact without the tag gets +sip.pns alone" \
  $SIPRAW expect 127.0.0.1 $P 200 REGISTER sip:hal@example.com \
  "Contact: <sip:hal@127.0.0.1:5997;pn-provider=fcm;pn-prid=h1>" \
  --has 'Feature-Caps: *;+sip.pns="fcm"'$'\r\n' --lacks 'pnsreg'
# RFC 8599 §5.6.1.1: a Feature-Caps with +sip.pns in the REGISTER says a
# proxy in front pushes: normal procedures here, no 555 and no caps.
check "Feature-Caps +sip.pns in the REGISTER: no 555 for a provider not served" \
  $SIPRAW expect 127.0.0.1 $P 200 REGISTER sip:ivy@example.com \
  "Contact: <sip:ivy@127.0.0.1:5996;pn-provider=webpush;pn-prid=i1>" \
  'Feature-Caps: *;+sip.pns="webpush"' --lacks 'Feature-Caps'
check "fc (compact form) +sip.pns: a served provider gets no Feature-Caps" \
  $SIPRAW expect 127.0.0.1 $P 200 REGISTER sip:jan@example.com \
  "Contact: <sip:jan@127.0.0.1:5995;pn-provider=apns;pn-prid=j1>" \
  'fc: *;+sip.pns="apns"' --lacks 'Feature-Caps'
check "a binding registered behind a pushing proxy is no push binding here" \
  json_check "$CTL" dump \
  "[b for b in d['bindings'] if b['aor']=='sip:jan@example.com' and not b.get('push')]"
check "the closed connection leaves bob's binding, suspended" \
  until_true 5 json_check "$CTL" dump \
  "[b for b in d['bindings'] if b['aor']=='sip:bob@example.com']"
check "a call to the suspended phone: pushed, woken, forwarded, answered" \
  $PUSH call-bob
check "the push carried provider, prid, param, reason call, aor, call_id" \
  python3 -c "import json,sys; l=[json.loads(x) for x in open('$PUSHGW_LOG')]; \
e=[x for x in l if x['prid']=='prid-bob'][0]; \
sys.exit(0 if e['provider']=='apns' and e['reason']=='call' and \
e['param']=='ABCD1234.com.example.voip' and e['aor']=='sip:bob@example.com' \
and e['call_id']=='reg-bob@pushgw' else 1)"

# RFC 8599 §5.3: a phone without +sip.instance wakes up on a new
# connection, so its Contact URI (the port) changes; the registrar matches
# it by its pn-* parameters and the held call goes out to it.
check "register frank without an instance, then close his connection" \
  env PUSHGW_PLAIN=1 $PUSH register-frank
check "frank's binding is kept, suspended" \
  until_true 5 json_check "$CTL" dump \
  "[b for b in d['bindings'] if b['aor']=='sip:frank@example.com']"
check "a call to frank: woken on a new Contact URI, forwarded, answered" \
  env PUSHGW_PLAIN=1 $PUSH call-frank
check "frank still has one binding, on the new URI" json_check "$CTL" dump \
  "len([b for b in d['bindings'] if b['aor']=='sip:frank@example.com'])==1"

check "register carol, who never wakes" $PUSH register-carol
check "two calls to a phone that never wakes get 480 within the 3 s wait" \
  env PUSHGW_WAIT=8 PUSHGW_MAX=4.5 PUSHGW_CALLS=2 $PUSH sleepy-carol
check "the two calls shared one push (coalesced within --push-wait)" \
  python3 -c "import json,sys; sys.exit(0 if len([1 for l in open('$PUSHGW_LOG') \
if json.loads(l)['prid']=='prid-carol'])==1 else 1)"
check "the second push was counted as coalesced" json_check "$CTL" stats \
  "d.get('push_coalesced',0)==1"

# RFC 8599 §5.5: lead 4 s on an 8 s binding the phone never refreshes:
# pushes at 4, 4.5, 5.5 and 7.5 s (backoff), four in all, none after 8 s.
check "refresh pushes before the binding expires: four, with backoff" \
  env PUSHGW_REFRESH_N=4 PUSHGW_REFRESH_FIRST=3 $PUSH refresh-dave
# fcm has its own lead of 2 s: its first push comes at 6 s, not at 4 s.
check "a provider's own lead: fcm's first refresh push 2 s before expiry" \
  env PUSHGW_PROVIDER=fcm PUSHGW_REFRESH_FIRST=5 $PUSH refresh-fay
check "gateway answers counted" json_check "$CTL" stats \
  "d.get('push_ok',0)>=3 and d.get('push_timeouts',0)>=1"

# The held-request cap (--push-max-held, default 4096) with a cap of 1: of
# two calls at once to a phone that never wakes, one is held (480 after
# the 3 s wait) and the other gets 480 at once, counted.
# capped_proxy NAME PORT CONTROL OPTION...: a second proxy pushing through
# the same gateway (APNs only, 3 s wait) with one push limit set low.
capped_proxy() {
  local name=$1 port=$2 ctl=$3
  shift 3
  start "$name" "$PROXY" --listen udp:127.0.0.1:$port \
    --listen tcp:127.0.0.1:$port --domain example.com --control "$ctl" \
    --register-rate 0 --min-expires 5 \
    --push-webhook "http://127.0.0.1:$PUSHGW_PORT/push" --push-providers apns \
    --push-wait 3 "$@"
}
P2=$(free_port)
CTL2=$WIRE_TMP/ctl2
capped_proxy proxy2 $P2 "$CTL2" --push-max-held 1
PROXY2_PID=$LAST_PID
check "a proxy with --push-max-held 1 up" wait_for "$CTL2" 10
check "register kim, who never wakes" python3 $HERE/pushgw.py $P2 register-kim
check "two calls to kim with one place to hold: both 480" \
  env PUSHGW_WAIT=8 PUSHGW_MAX=6 PUSHGW_CALLS=2 \
  python3 $HERE/pushgw.py $P2 sleepy-kim
check "one of them was over the cap (push_held_over)" json_check "$CTL2" stats \
  "d.get('push_held_over',0)==1 and d.get('push_timeouts',0)==1"
stop_pid $PROXY2_PID

# The coalescing table (--push-max-recent, default 4096) with room for one
# binding: calls to kim, lee, then kim again within the wait; lee's push
# evicts kim's entry, so the second call to kim pushes again (with room
# for both it would share kim's first push).
P3=$(free_port)
CTL3=$WIRE_TMP/ctl3
capped_proxy proxy3 $P3 "$CTL3" --push-max-recent 1
PROXY3_PID=$LAST_PID
check "a proxy with --push-max-recent 1 up" wait_for "$CTL3" 10
check "register kim and lee, who never wake" sh -c \
  "python3 $HERE/pushgw.py $P3 register-kim && python3 $HERE/pushgw.py $P3 register-lee"
before=$(grep -c '"prid-kim"' "$PUSHGW_LOG")
check "calls to kim, lee, kim within the wait: all 480" \
  env PUSHGW_WAIT=8 python3 $HERE/pushgw.py $P3 sleepyseq-kim+lee+kim
check "kim was pushed twice: the full table forgot the first push" \
  test "$(grep -c '"prid-kim"' "$PUSHGW_LOG")" -eq $((before + 2))
check "nothing was coalesced" json_check "$CTL3" stats \
  "d.get('push_coalesced',0)==0 and d.get('push_sent',0)==3"
stop_pid $PROXY3_PID

# A restart with --state: the binding comes back and can still be woken.
check "register erin, then close her connection" $PUSH register-erin
kill -KILL $PROXY_PID
wait $PROXY_PID 2>/dev/null
rm -f "$CTL"
run_proxy
check "restarted with the same --state" wait_for "$CTL" 10
check "after the restart a call still wakes erin" $PUSH call-erin
check "the proxy still runs" kill -0 $PROXY_PID
wire_done
