#!/usr/bin/env bash
# sipflow-proxy --redis: a three-node registrar cluster under faults, each
# checked by its figures (bindings on every node against the live set,
# calls attempted and completed, time to converge):
#   1. Redis keeps its data but drops every client (CLIENT KILL), then
#      stops answering for 4 s (CLIENT PAUSE): no binding is lost;
#   2. a node killed with -9 and restarted: its UDP phones are reached
#      through its new Path;
#   3. an unregister (Contact: *) sent to a node that does not hold the
#      phone's flow removes the binding on every node;
#   4. 50 phones re-registering on two nodes at the same instant: one node
#      holds each, the others route through it;
#   5. a dead node: calls to its phones are answered (or fail over to the
#      phone's other flow) at once, not after the 32 s transaction timeout.
# Prints TAP. usage: test_cluster_faults.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
PHONES="python3 $HERE/phones.py"
exec 3>&1 # figures go to the TAP output from inside checks

start_redis
declare -A PORT PID
for n in a b c; do PORT[$n]=$(free_port); done
# All phones come from 127.0.0.1, so the per-address REGISTER rate limit
# is off (--register-rate 0); nodes list one another (cluster_peers).
node() { # name
  rm -f "$WIRE_TMP/ctl.$1"
  start "node$1" "$PROXY" $(cluster_peers "$1") --listen udp:127.0.0.1:${PORT[$1]} \
    --listen tcp:127.0.0.1:${PORT[$1]} --domain example.com \
    --control "$WIRE_TMP/ctl.$1" --token-key "$WIRE_TMP/key.$1" \
    --redis redis://127.0.0.1:$RP --node-id "$1" \
    --keepalive options --ka-interval 1 --ka-timeout 1 --ka-misses 3 \
    --register-rate 0 --log-level debug
  PID[$1]=$LAST_PID
}
for n in a b c; do node $n; done
loaded() { for n in "$@"; do grep -q 'state loaded' "$WIRE_TMP/node$n.log" || return 1; done; }
check "redis and three nodes up and loaded" until_true 10 loaded a b c

# The live set: 15 TCP phones on a, 15 TCP on b, 10 UDP on c.
: >"$WIRE_TMP/farm1"
for i in $(seq -w 1 15); do
  echo "ta$i tcp 127.0.0.1 ${PORT[a]}" >>"$WIRE_TMP/farm1"
  echo "tb$i tcp 127.0.0.1 ${PORT[b]}" >>"$WIRE_TMP/farm1"
done
for i in $(seq -w 1 10); do echo "uc$i udp 127.0.0.1 ${PORT[c]}" >>"$WIRE_TMP/farm1"; done
start farm1 $PHONES farm "$WIRE_TMP/farm1"
check "40 phones registered (15 TCP on a, 15 TCP on b, 10 UDP on c)" \
  until_true 10 grep -q '^registered 40 0' "$WIRE_TMP/farm1.log"
ALL="$WIRE_TMP/ctl.a@${PORT[a]} $WIRE_TMP/ctl.b@${PORT[b]} $WIRE_TMP/ctl.c@${PORT[c]}"
agree() { # n: every node holds the n live bindings, one owner each
  $PHONES agree "$PROXY" "$1" $ALL >"$WIRE_TMP/agree.out" 2>&1; local rv=$?
  cat "$WIRE_TMP/agree.out" >>"$WIRE_TMP/checks.log"; return $rv
}
figure() { echo "# $1: $(cat "$WIRE_TMP/agree.out")"; }
check "every node holds the 40 live bindings, one owner each" within 10 agree 40
figure "steady"
users() { # prefix...
  for p in "$@"; do awk -v p="$p" 'index($1, p) == 1 {print $1}' "$WIRE_TMP/farm1"; done
}
calls() { # node seconds name users...
  local node=$1 secs=$2 name=$3; shift 3
  $PHONES calls 127.0.0.1 "${PORT[$node]}" "$secs" "$@" >"$WIRE_TMP/$name.out" 2>&1
  local rv=$?; echo "# $name: $(cat "$WIRE_TMP/$name.out")" >&3; return $rv
}
check "calls across nodes complete (a's phones via b, b's via c, c's via a)" \
  eval 'calls b 10 calls0 $(users ta) && calls c 10 calls0c $(users tb) && calls a 10 calls0a $(users uc)'
keys_live() { # n: Redis holds n live binding records (a removal's
  # tombstone lives 300 s, a binding's record about 600 s)
  local live=0 all=0 k
  for k in $(redis-cli -p "$RP" --scan --pattern 'sipflow:b:*'); do
    all=$((all + 1))
    [ "$(redis-cli -p "$RP" TTL "$k")" -gt 300 ] && live=$((live + 1))
  done
  echo "# redis: $live live binding records, $((all - live)) removals" >&3
  [ "$live" -eq "$1" ]
}
check "redis holds 40 binding records" keys_live 40

# 1. Redis keeps its data; every client is dropped, then Redis pauses.
reconnects() { # count: every node connected that many times
  for n in a b c; do
    [ "$(grep -c 'redis connected' "$WIRE_TMP/node$n.log")" -ge "$1" ] || return 1
  done
}
T0=$(date +%s%N)
redis-cli -p "$RP" CLIENT KILL TYPE normal >/dev/null
redis-cli -p "$RP" CLIENT KILL TYPE pubsub >/dev/null
check "after CLIENT KILL every node reconnects and reloads" until_true 10 reconnects 2
check "after CLIENT KILL every node still holds the 40 live bindings" within 10 agree 40
echo "# converged in $((($(date +%s%N) - T0) / 1000000)) ms after CLIENT KILL"
figure "after CLIENT KILL"
check "redis still holds 40 live binding records (no removal published)" keys_live 40
check "calls across nodes complete after CLIENT KILL" \
  eval 'calls c 10 calls1 $(users ta) && calls a 10 calls1b $(users tb uc)'
redis-cli -p "$RP" CLIENT PAUSE 4000 >/dev/null
check "a 4 s CLIENT PAUSE makes the nodes drop and reconnect" until_true 15 reconnects 3
check "after CLIENT PAUSE every node still holds the 40 live bindings" within 10 agree 40
figure "after CLIENT PAUSE"
check "redis still holds 40 live binding records" keys_live 40
check "calls across nodes complete after CLIENT PAUSE" \
  eval 'calls b 10 calls2 $(users ta uc) && calls a 10 calls2b $(users tb)'

# 2. Node c (the UDP phones' edge) killed with -9, restarted, same flags.
kill -KILL ${PID[c]}; wait ${PID[c]} 2>/dev/null
: >"$WIRE_TMP/nodec.log"
node c
check "node c restarted and loaded" until_true 10 loaded c
T0=$(date +%s%N)
check "after the restart every node holds the 40 live bindings (c's UDP flows back)" \
  within 10 agree 40
echo "# converged in $((($(date +%s%N) - T0) / 1000000)) ms after node c came back"
figure "after kill -9 of c"
check "calls to c's UDP phones through a and b complete after its restart" \
  eval 'calls a 10 calls3 $(users uc) && calls b 10 calls3b $(users uc)'

# 3. An unregister reaching a node that does not hold the flow.
check "an unregister of ta01 sent to node b is answered 200" \
  eval '[ "$($PHONES unreg 127.0.0.1 ${PORT[b]} ta01)" = 200 ]'
gone() { # user: on no node
  for n in a b c; do
    json_check "$WIRE_TMP/ctl.$n" dump "'sip:$1@example.com' not in [x['aor'] for x in d['bindings']]" || return 1
  done
}
check "ta01's binding is gone from every node, a (its flow) included" within 5 gone ta01
check "every node holds the 39 others" within 5 agree 39

# 4. 50 phones re-register on a and on b at the same instant (new
# Call-IDs), three rounds.
: >"$WIRE_TMP/farm2"
for i in $(seq -w 1 50); do
  echo "pr$i udp 127.0.0.1 ${PORT[a]}" >>"$WIRE_TMP/farm2"
  echo "pr$i udp 127.0.0.1 ${PORT[b]}" >>"$WIRE_TMP/farm2"
done
start farm2 $PHONES farm "$WIRE_TMP/farm2"
FARM2=$LAST_PID
for round in 1 2 3; do
  [ $round -gt 1 ] && kill -USR1 $FARM2
  check "round $round: the 100 registrations of 50 phones on a and b are answered" \
    until_true 10 eval "[ \$(grep -c '^registered 100 0' $WIRE_TMP/farm2.log) -ge $round ]"
  check "round $round: every node holds 89 bindings, each phone held by one node, the others routing through it" \
    within 10 agree 89
  figure "concurrent round $round"
done
check "calls at c to the 50 phones complete" \
  eval 'calls c 10 calls4 $(awk "{print \$1}" $WIRE_TMP/farm2 | sort -u)'

# 5. Node b dies. Its phones are answered at once; a phone with a second
# flow (on a) is reached over that one.
: >"$WIRE_TMP/farm3"
for i in 1 2 3 4 5; do
  echo "du$i udp 127.0.0.1 ${PORT[b]} 1" >>"$WIRE_TMP/farm3"
  echo "du$i udp 127.0.0.1 ${PORT[a]} 2" >>"$WIRE_TMP/farm3"
done
start farm3 $PHONES farm "$WIRE_TMP/farm3"
check "5 phones registered with one flow on b and one on a" \
  until_true 10 grep -q '^registered 10 0' "$WIRE_TMP/farm3.log"
check "every node holds 99 bindings" within 10 agree 99
kill -KILL ${PID[b]}; wait ${PID[b]} 2>/dev/null
T0=$(date +%s%N)
downs() { for n in a c; do grep -q 'node b .* down' "$WIRE_TMP/node$n.log" || return 1; done; }
check "a and c see node b's heartbeat run out" until_true 10 downs
echo "# node b seen down in $((($(date +%s%N) - T0) / 1000000)) ms"
fast() { # node users...: all answered within 5 s
  local node=$1; shift
  $PHONES calls 127.0.0.1 "${PORT[$node]}" 8 "$@" >"$WIRE_TMP/dead.out" 2>&1
  echo "# calls to b's phones via $node: $(cat "$WIRE_TMP/dead.out")" >&3
  python3 - "$WIRE_TMP/dead.out" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"attempted (\d+) completed (\d+) codes (\{.*\}) max_ms (\d+)", t)
sys.exit(0 if m and "0:" not in m.group(3) and int(m.group(4)) < 5000 else 1)
EOF
}
check "calls at a to b's 15 TCP phones are answered within 5 s (not after 32 s)" \
  fast a $(users tb)
check "calls at c to the phones with a second flow on a complete at once" \
  eval 'calls c 5 calls5 du1 du2 du3 du4 du5'
for n in a c; do check "node $n still runs" kill -0 ${PID[$n]}; done
wire_done
