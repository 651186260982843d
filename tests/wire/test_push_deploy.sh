#!/usr/bin/env bash
# Push (RFC 8599 §5.6.2) in the deployments docs/proxy.md offers beyond a
# single proxy: an edge in front of the registrar, a Redis cluster of
# registrar nodes, and --workers 2. A local HTTP receiver plays the push gateway and the
# phone (tests/wire/pushgw.py). Prints TAP.
# usage: test_push_deploy.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"

export PUSHGW_PORT PUSHGW_LOG
PUSHGW_PORT=$(free_port)
PUSHGW_LOG=$WIRE_TMP/pushes.jsonl
: >"$PUSHGW_LOG"
PUSHOPTS=(--push-webhook "http://127.0.0.1:$PUSHGW_PORT/push"
  --push-providers apns --push-wait 5)
# pushes NAME REASON: how many the gateway got for NAME's phone.
pushes() {
  python3 -c "import json,sys; print(len([1 for l in open('$PUSHGW_LOG') \
for e in [json.loads(l)] if e['prid']=='prid-$1' and e['reason']=='$2']))"
}
pushes_are() { [ "$(pushes "$1" "$2")" = "$3" ]; }

# ---- edge + registrar -------------------------------------------------------
# The phone registers through the edge; its connection closes, which the
# edge sees and the registrar does not: to the registrar the binding still
# has a live flow (the edge's Path). The call goes to that flow, the edge
# answers 430 (RFC 5626 §5.3.1), the registrar pushes, the phone registers
# over a new connection through the edge, and the held INVITE goes out
# through the edge on the new flow.
R=$(free_port)
E=$(free_port)
RCTL=$WIRE_TMP/reg.ctl
ECTL=$WIRE_TMP/edge.ctl
start registrar "$PROXY" --role registrar --listen udp:127.0.0.1:$R \
  --listen tcp:127.0.0.1:$R --domain example.com --control "$RCTL" \
  --peer udp:127.0.0.1:$E --keepalive off --txn-timeout-ms 3000 --register-rate 0 \
  --log-level debug "${PUSHOPTS[@]}"
REG_PID=$LAST_PID
start edge "$PROXY" --role edge --listen udp:127.0.0.1:$E \
  --listen tcp:127.0.0.1:$E --registrar udp:127.0.0.1:$R --control "$ECTL" \
  --token-key "$WIRE_TMP/edge.keys" --txn-timeout-ms 3000 --log-level debug
EDGE_PID=$LAST_PID
check "edge and registrar up" wait_for "$RCTL" 10
check "edge control socket up" wait_for "$ECTL" 10
PUSH="python3 $HERE/pushgw.py"
check "the phone registers with pn-* through the edge: 200, +sip.pns" \
  $PUSH $E register-bob
check "the registrar keeps bob with the edge's Path" \
  until_true 5 json_check "$RCTL" dump \
  "[b for b in d['bindings'] if b['aor']=='sip:bob@example.com' and ';ob' in b['path']]"
check "the edge sees the phone's connection close" \
  until_true 5 json_check "$ECTL" stats "d['flows_failed']>=1"
check "a call through the edge: 430 from the edge, push, REGISTER through the edge, forwarded, answered" \
  $PUSH $E call-bob
check "one call push for bob" pushes_are bob call 1
check "the registrar counted one woken phone" json_check "$RCTL" stats \
  "d.get('push_woken',0)==1"
check "the phone registered again through the edge (a new flow token)" \
  json_check "$RCTL" dump \
  "len([b for b in d['bindings'] if b['aor']=='sip:bob@example.com' and ';ob' in b['path']])==1"
stop_pid $EDGE_PID
stop_pid $REG_PID

# ---- keepalive through the edge stops for a suspended binding -----------------
# A registrar behind an edge probes a binding through its Path (the binding
# has no flow of the registrar's own). The phone's connection closes; the
# edge answers the next probe with 430, the registrar suspends the binding,
# and the suspended binding, which keeps its Path for the woken phone, must
# get no more probes (main.c: px_ka_binding() with !suspended).
R=$(free_port)
E=$(free_port)
RCTL=$WIRE_TMP/reg2.ctl
ECTL=$WIRE_TMP/edge2.ctl
start registrar2 "$PROXY" --role registrar --listen udp:127.0.0.1:$R \
  --listen tcp:127.0.0.1:$R --domain example.com --control "$RCTL" \
  --peer udp:127.0.0.1:$E --keepalive options --ka-interval 1 --ka-timeout 1 \
  --ka-misses 2 --txn-timeout-ms 3000 --register-rate 0 \
  --log-level debug "${PUSHOPTS[@]}"
REG_PID=$LAST_PID
start edge2 "$PROXY" --role edge --listen udp:127.0.0.1:$E \
  --listen tcp:127.0.0.1:$E --registrar udp:127.0.0.1:$R --control "$ECTL" \
  --token-key "$WIRE_TMP/edge2.keys" --txn-timeout-ms 3000 --log-level debug
EDGE_PID=$LAST_PID
check "edge and registrar with keepalive through the Path up" \
  wait_for "$RCTL" 10
check "edge control socket up" wait_for "$ECTL" 10
check "the phone registers with pn-* through the edge" $PUSH $E register-bob
check "bob's closed connection: the registrar suspends his binding" \
  until_true 15 json_check "$RCTL" dump \
  "[b for b in d['bindings'] if b['aor']=='sip:bob@example.com' and b['suspended']]"
check "the registrar keeps no keepalive endpoint for the suspended binding" \
  until_true 3 json_check "$RCTL" stats "d['keepalive_endpoints']==0"
check "it probed bob through the edge before" json_check "$RCTL" stats \
  "d['options_sent']>=1"
sent=$(ctl "$RCTL" stats | python3 -c \
  "import json,sys; print(json.load(sys.stdin)['options_sent'])" || echo x)
sleep 3
check "and sends it no probe in 3 s" json_check "$RCTL" stats \
  "d['options_sent']==$sent"
stop_pid $EDGE_PID
stop_pid $REG_PID

# ---- keepalive: no NAT pings for a suspended binding -------------------------
# A UDP phone registers with pn-* and falls asleep. The proxy pings it
# (OPTIONS every second), gets no answer, and the flow fails: the binding is
# suspended (kept, reached by push) and the pings stop. The phone counts
# the probes it gets.
S=$(free_port)
SCTL=$WIRE_TMP/single.ctl
start single "$PROXY" --listen udp:127.0.0.1:$S --domain example.com \
  --control "$SCTL" --register-rate 0 --keepalive options --ka-interval 1 \
  --ka-timeout 1 --ka-misses 2 --log-level debug "${PUSHOPTS[@]}"
SINGLE_PID=$LAST_PID
check "single proxy with keepalive and push up" wait_for "$SCTL" 10
export PUSHGW_PROBES=$WIRE_TMP/probes.txt
check "a UDP phone with pn-* registers, then answers nothing for 14 s" \
  env PUSHGW_LISTEN=14 $PUSH $S udpsleep-uma
check "the proxy probed it while its flow was thought alive" \
  grep -q '^OPTIONS ' "$PUSHGW_PROBES"
check "its binding is kept, suspended (no flow)" json_check "$SCTL" dump \
  "[b for b in d['bindings'] if b['aor']=='sip:uma@example.com' and not b['flow']]"
check "no probe in the last 6 s: a suspended binding is not pinged" \
  python3 -c "import sys; t=[float(l.split()[1]) for l in open('$PUSHGW_PROBES')]; \
sys.exit(0 if t and max(t) < 8 else 1)"
check "the proxy keeps no keepalive endpoint for it" json_check "$SCTL" stats \
  "d['keepalive_endpoints']==0"
stop_pid $SINGLE_PID

# ---- a Redis cluster ----------------------------------------------------------
if ! command -v redis-server >/dev/null; then
  echo "# no redis-server: the cluster half skipped"
  wire_done
  exit
fi
RP=$(free_port)
start redis redis-server --port "$RP" --bind 127.0.0.1 --save '' \
  --appendonly no --dir "$WIRE_TMP"
declare -A PORT
for n in a b; do PORT[$n]=$(free_port); done
node() { # name
  # shellcheck disable=SC2046
  start "node$1" "$PROXY" $(cluster_peers "$1") \
    --listen udp:127.0.0.1:${PORT[$1]} --listen tcp:127.0.0.1:${PORT[$1]} \
    --domain example.com --control "$WIRE_TMP/ctl.$1" \
    --token-key "$WIRE_TMP/key.$1" --redis redis://127.0.0.1:$RP \
    --node-id "$1" --register-rate 0 --min-expires 5 --push-refresh 4 \
    --txn-timeout-ms 3000 --log-level debug "${PUSHOPTS[@]}"
}
node a
node b
nodes_up() { wait_for "$WIRE_TMP/ctl.a" 10 && wait_for "$WIRE_TMP/ctl.b" 10; }
check "redis and two nodes with --push-webhook up" nodes_up
loaded() { grep -q 'state loaded' "$WIRE_TMP/nodea.log" &&
  grep -q 'state loaded' "$WIRE_TMP/nodeb.log"; }
check "both nodes loaded the state" until_true 10 loaded
check "carol registers at node a, then closes her connection" \
  $PUSH ${PORT[a]} register-carol
check "node b holds carol's binding too" until_true 5 json_check \
  "$WIRE_TMP/ctl.b" dump \
  "[b for b in d['bindings'] if b['aor']=='sip:carol@example.com']"
check "a call at node b, carol woken, registers at node a: answered" \
  env PUSHGW_REG_PORT=${PORT[a]} $PUSH ${PORT[b]} call-carol
check "one call push for carol, not one per node" pushes_are carol call 1
check "dave registers at node a, then closes his connection" \
  $PUSH ${PORT[a]} register-dave
check "a call at node b, dave woken, registers at node b: answered" \
  $PUSH ${PORT[b]} call-dave
check "one call push for dave" pushes_are dave call 1
# Refresh pushes (RFC 8599 §5.5): erin registers for 8 s with a 4 s lead;
# the schedule's four tries come from one node, not from each.
check "a refresh push before erin's binding expires" \
  $PUSH ${PORT[a]} refresh-erin
check "erin's refresh pushes come from one node only (at most 4)" \
  python3 -c "import sys; sys.exit(0 if 1 <= $(pushes erin refresh) <= 4 else 1)"

# ---- --workers 2 (docs/proxy.md, "Using more than one core") ---------------
# Workers are nodes of the same kind. To make each path sure, a phone
# registers at one worker's private port and is called at the other's;
# woken, it registers again through the public port (the kernel picks the
# worker that takes the connection).
PUB=$(free_port)
start supw "$PROXY" --workers 2 --listen udp:127.0.0.1:$PUB \
  --listen tcp:127.0.0.1:$PUB --domain example.com --control "$WIRE_TMP/wctl" \
  --token-key "$WIRE_TMP/wkey" --redis redis://127.0.0.1:$RP --node-id w \
  --register-rate 0 --min-expires 5 --push-refresh 4 --txn-timeout-ms 3000 \
  --log-level debug "${PUSHOPTS[@]}"
SUPW=$LAST_PID
wup() { wait_for "$WIRE_TMP/wctl.1" 10 && wait_for "$WIRE_TMP/wctl.2" 10 &&
  [ "$(grep -c 'state loaded' "$WIRE_TMP/supw.log")" -ge 2 ]; }
check "two workers with --push-webhook up, both on redis" until_true 10 wup
wport() { grep -m1 "worker $1: node" "$WIRE_TMP/supw.log" | sed 's/.*:\([0-9]*\)$/\1/'; }
WP1=$(wport 1); WP2=$(wport 2)
both_hold() { # user: both workers hold the binding
  local w
  for w in 1 2; do
    json_check "$WIRE_TMP/wctl.$w" dump \
      "[b for b in d['bindings'] if b['aor']=='sip:$1@example.com']" || return 1
  done
}
check "fran registers at worker 2, then closes her connection" \
  $PUSH $WP2 register-fran
check "both workers hold fran's binding" until_true 5 both_hold fran
check "a call at worker 1, fran woken, registers through the public port: answered" \
  env PUSHGW_REG_PORT=$PUB $PUSH $WP1 call-fran
check "one call push for fran, not one per worker" pushes_are fran call 1
check "gus registers at worker 1, then closes his connection" \
  $PUSH $WP1 register-gus
check "both workers hold gus's binding" until_true 5 both_hold gus
check "a call at worker 2, gus woken, registers through the public port: answered" \
  env PUSHGW_REG_PORT=$PUB $PUSH $WP2 call-gus
check "one call push for gus" pushes_are gus call 1
check "a refresh push before hana's binding expires (registered through the public port)" \
  $PUSH $PUB refresh-hana
check "hana's refresh pushes come from one worker only (at most 4)" \
  python3 -c "import sys; sys.exit(0 if 1 <= $(pushes hana refresh) <= 4 else 1)"
kill -TERM "$SUPW"
wgone() { ! kill -0 "$SUPW" 2>/dev/null; }
check "SIGTERM: the supervisor and its workers exit" until_true 15 wgone
wire_done
