#!/usr/bin/env bash
# sipflow-proxy --redis --node-id: three registrar nodes share bindings
# through a redis-server this script starts (loopback, own dir, no
# persistence, stopped by PID). Prints TAP.
# usage: test_cluster.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { echo "1..0 # SKIP no redis-server"; exit 0; }

RP=$(free_port)
run_redis() {
  start_redis
  REDIS_PID=$LAST_PID
}
run_redis
declare -A PORT PID
for n in a b c; do PORT[$n]=$(free_port); done
# The nodes forward in-dialog requests to one another: each lists the
# others with --peer (nothing else is relayed, docs/proxy.md).
node() { # name
  rm -f "$WIRE_TMP/ctl.$1"
  # shellcheck disable=SC2046
  start "node$1" "$PROXY" $(cluster_peers "$1") --listen udp:127.0.0.1:${PORT[$1]} \
    --listen tcp:127.0.0.1:${PORT[$1]} --domain example.com \
    --control "$WIRE_TMP/ctl.$1" --token-key "$WIRE_TMP/key.$1" \
    --redis redis://127.0.0.1:$RP --node-id "$1" \
    --keepalive options --ka-interval 1 --ka-timeout 1 --ka-misses 3 \
    --txn-timeout-ms 3000 --log-level debug
  PID[$1]=$LAST_PID
}
for n in a b c; do node $n; done
nodes_up() { for n in a b c; do wait_for "$WIRE_TMP/ctl.$n" 10 || return 1; done; }
check "redis and three nodes up" nodes_up
loaded() { for n in a b c; do grep -q 'state loaded' "$WIRE_TMP/node$n.log" || return 1; done; }
check "every node connected to redis and loaded the state" until_true 10 loaded

# Outbound TCP phones (RFC 5626): alice on node a, bob on node b.
phone() { # name user node port cseq
  start "$1" sipp -nostdin -sf "$SCEN/ob_register.xml" -oocsf "$SCEN/ob_answer.xml" -aa \
    -t t1 -i 127.0.0.1 -p "$4" -m 1 -timeout 120 -set user "$2" -set regid 1 \
    -set cseq "$5" -d 120000 -set inst "00000000-0000-1000-8000-0000000000$2" \
    127.0.0.1:${PORT[$3]}
}
AL=$(free_port); phone alice1 al a $AL 1; ALICE1=$LAST_PID
BO=$(free_port); phone bob bo b $BO 1; BOB=$LAST_PID
dump_has() { # node python-condition
  json_check "$WIRE_TMP/ctl.$1" dump "$2"
}
BOTH="sorted(b['aor'] for b in d['bindings'])==['sip:al@example.com','sip:bo@example.com']"
for n in a b c; do
  check "node $n holds both bindings" until_true 10 dump_has $n "$BOTH"
done
check "node c reaches alice through node a's Path (a is her edge)" \
  dump_has c "[b for b in d['bindings'] if b['aor']=='sip:al@example.com' and '127.0.0.1:${PORT[a]};' in b['path'] and not b['flow']]"
ka3() { ka a "$1" && ka b "$2" && ka c "$3"; }
ka() { json_check "$WIRE_TMP/ctl.$1" stats "d['keepalive_endpoints']==$2"; }
check "each phone is kept alive by one node only (a 1, b 1, c 0)" \
  until_true 5 ka3 1 1 0

call() { # name callee node
  local p; p=$(free_port)
  sipp_run "$1" -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p $p -m 1 \
    -set callee "$2" 127.0.0.1:${PORT[$3]}
}
gone_everywhere() { # user
  for n in "${@:2}"; do
    dump_has $n "'sip:$1@example.com' not in [x['aor'] for x in d['bindings']]" || return 1
  done
}
check "an INVITE at node c reaches alice (registered on a)" call inv1 al c
check "an INVITE at node c reaches bob (registered on b)" call inv2 bo c
stop_pid $BOB # his TCP flow closes: b's registrar removes his binding
check "bob's flow ended on b: his binding is removed on every node" \
  until_true 10 gone_everywhere bo a b c
check "only a keeps a flow alive now (alice's)" until_true 5 ka3 1 0 0

# Alice registers again on a; then node a dies with her flow. She registers
# a new flow on b (RFC 5626 §4.2), which replaces her binding everywhere.
stop_pid $ALICE1
AL2=$(free_port); phone alice2 al a $AL2 2
check "alice registered again on a" until_true 10 dump_has c \
  "[x for x in d['bindings'] if x['aor']=='sip:al@example.com' and '127.0.0.1:${PORT[a]};' in x['path']]"
kill -KILL ${PID[a]}; wait ${PID[a]} 2>/dev/null
stop_pid $LAST_PID
AL3=$(free_port); phone alice3 al b $AL3 3
moved() {
  dump_has b "[x for x in d['bindings'] if x['aor']=='sip:al@example.com' and x['flow']]" &&
    dump_has c "[x for x in d['bindings'] if x['aor']=='sip:al@example.com' and '127.0.0.1:${PORT[b]};' in x['path']]"
}
check "alice's failover binding reaches nodes b and c (Path via b)" \
  until_true 10 moved
kbc() { ka b 1 && ka c 0; }
check "nothing pings twice: b keeps alice alive, c nobody" until_true 5 kbc
DA=$(free_port); phone dan da b $DA 1
check "dan registers on b while a is down" until_true 10 dump_has c \
  "'sip:da@example.com' in [x['aor'] for x in d['bindings']]"
check "an INVITE at node c reaches alice through node b" call inv3 al c

# Node a comes back and catches up from redis.
node a
check "node a restarted" wait_for "$WIRE_TMP/ctl.a" 10
check "node a loaded dan's binding, through b" \
  until_true 10 dump_has a "[x for x in d['bindings'] if x['aor']=='sip:da@example.com' and '127.0.0.1:${PORT[b]};' in x['path']]"
check "node a keeps no phone alive (b does)" ka a 0
check "an INVITE at the restarted node a reaches dan" call inv4 da a

# Redis goes away and comes back empty (no persistence).
EV=$(free_port); phone eve ev b $EV 1; EVE=$LAST_PID
check "eve registers on b" until_true 10 dump_has c \
  "'sip:ev@example.com' in [x['aor'] for x in d['bindings']]"
stop_pid $REDIS_PID
check "nodes notice redis is gone" until_true 10 grep -q 'redis lost' "$WIRE_TMP/nodec.log"
CA=$(free_port); phone carol ca c $CA 1
check "SIP goes on: carol registers on c while redis is away" \
  until_true 10 dump_has c "[x for x in d['bindings'] if x['aor']=='sip:ca@example.com' and x['flow']]"
check "an INVITE at c reaches eve from memory while redis is away" call inv5 ev c
stop_pid $EVE # her flow ends while redis is away: the removal is queued
check "eve's binding is removed on b at once" until_true 10 gone_everywhere ev b
run_redis
carol_everywhere() {
  dump_has a "'sip:ca@example.com' in [x['aor'] for x in d['bindings']]" &&
    dump_has b "'sip:ca@example.com' in [x['aor'] for x in d['bindings']]"
}
check "when redis returns, carol's binding reaches a and b" \
  until_true 15 carol_everywhere
check "eve's removal, made while redis was away, reached a" \
  until_true 10 gone_everywhere ev a b c
redis_has() {
  local n; n=$(ctl "$WIRE_TMP/ctl.c" dump | python3 -c "import json,sys; print(len(json.load(sys.stdin)['bindings']))")
  # Tombstones of removals (eve's) are keys too: at least every binding.
  [ "$(redis-cli -p $RP --scan --pattern 'sipflow:b:*' | wc -l)" -ge "$n" ] && [ "$n" -ge 3 ]
}
check "redis holds every binding again (the owners wrote theirs back)" \
  until_true 10 redis_has
check "an INVITE at node a reaches carol (registered on c)" call inv6 ca a
for n in a b c; do check "node $n still runs" kill -0 ${PID[$n]}; done
wire_done
