#!/usr/bin/env bash
# sipflow-proxy --redis-sentinel: three nodes find the Redis master through
# three Sentinels (a master and two replicas, all on loopback, own config
# files, in the foreground, stopped by PID). The master is killed while
# phones register and calls flow: the nodes follow the failover, and
# nothing is lost (every node and the new master hold the live set),
# nothing comes back (an unregistered phone stays gone), calls keep
# completing. Then --workers 2 joins through the Sentinels and the master
# dies again: both workers follow, their phones stay reachable. Prints TAP.
# usage: test_cluster_sentinel.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { echo "1..0 # SKIP no redis-server"; exit 0; }
command -v redis-sentinel >/dev/null || { echo "1..0 # SKIP no redis-sentinel"; exit 0; }
PHONES="python3 $HERE/phones.py"
exec 3>&1

M=$(free_port); R1=$(free_port); R2=$(free_port)
declare -A RPID
redis() { # port [replicaof-port]
  start "redis$1" redis-server --port "$1" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$WIRE_TMP" ${2:+--replicaof 127.0.0.1 $2}
  RPID[$1]=$LAST_PID
}
redis $M; redis $R1 $M; redis $R2 $M
SENT=()
for i in 1 2 3; do
  sp=$(free_port); SENT+=("127.0.0.1:$sp")
  cat >"$WIRE_TMP/sentinel$i.conf" <<EOF
port $sp
bind 127.0.0.1
daemonize no
dir $WIRE_TMP
sentinel monitor mymaster 127.0.0.1 $M 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 10000
sentinel parallel-syncs mymaster 2
EOF
  start "sentinel$i" redis-sentinel "$WIRE_TMP/sentinel$i.conf"
done
S1=${SENT[0]#127.0.0.1:}
ready() {
  [ "$(redis-cli -p "$S1" SENTINEL replicas mymaster | grep -c '^ip$')" -eq 2 ] &&
    [ "$(redis-cli -p "$S1" SENTINEL sentinels mymaster | grep -c '^ip$')" -eq 2 ]
}
check "a master, two replicas and three Sentinels that know each other" until_true 20 ready

declare -A PORT PID
for n in a b c; do PORT[$n]=$(free_port); done
# All phones come from 127.0.0.1, so the per-address REGISTER rate limit
# is off (--register-rate 0); nodes list one another (cluster_peers).
node() { # name
  start "node$1" "$PROXY" $(cluster_peers "$1") --register-rate 0 \
    --listen udp:127.0.0.1:${PORT[$1]} \
    --listen tcp:127.0.0.1:${PORT[$1]} --domain example.com \
    --control "$WIRE_TMP/ctl.$1" --token-key "$WIRE_TMP/key.$1" \
    --redis-sentinel "$(IFS=,; echo "${SENT[*]}")" --redis-master mymaster \
    --node-id "$1" --keepalive options --ka-interval 1 --ka-timeout 1 \
    --ka-misses 3 --log-level debug
  PID[$1]=$LAST_PID
}
for n in a b c; do node $n; done
on_master() { # port: every node connected to it
  for n in a b c; do grep -q "redis connected to 127.0.0.1:$1 " "$WIRE_TMP/node$n.log" || return 1; done
}
check "the nodes found the master through the Sentinels" until_true 10 on_master $M

: >"$WIRE_TMP/farm1"
for i in $(seq -w 1 10); do
  echo "sa$i tcp 127.0.0.1 ${PORT[a]}" >>"$WIRE_TMP/farm1"
  echo "sb$i tcp 127.0.0.1 ${PORT[b]}" >>"$WIRE_TMP/farm1"
  echo "sc$i udp 127.0.0.1 ${PORT[c]}" >>"$WIRE_TMP/farm1"
done
start farm1 $PHONES farm "$WIRE_TMP/farm1"
check "30 phones registered on a, b and c" \
  until_true 10 grep -q '^registered 30 0' "$WIRE_TMP/farm1.log"
ALL="$WIRE_TMP/ctl.a@${PORT[a]} $WIRE_TMP/ctl.b@${PORT[b]} $WIRE_TMP/ctl.c@${PORT[c]}"
agree() {
  $PHONES agree "$PROXY" "$1" $ALL >"$WIRE_TMP/agree.out" 2>&1; local rv=$?
  cat "$WIRE_TMP/agree.out" >>"$WIRE_TMP/checks.log"; return $rv
}
check "every node holds the 30" within 10 agree 30
check "an unregister of sa01 at node c is answered 200" \
  eval '[ "$($PHONES unreg 127.0.0.1 ${PORT[c]} sa01)" = 200 ]'
check "every node holds the 29 others" within 5 agree 29
synced() { # the replicas have every write of the master
  local off; off=$(redis-cli -p "$M" INFO replication | grep -o 'master_repl_offset:[0-9]*' | cut -d: -f2)
  for r in $R1 $R2; do
    redis-cli -p "$r" INFO replication | grep -q "slave_repl_offset:$off" || return 1
  done
}
check "the replicas caught up" until_true 5 synced

# The master dies; phones register and calls flow meanwhile.
users() { awk -v p="$1" 'index($1, p) == 1 {print $1}' "$2"; }
kill -KILL ${RPID[$M]}; wait ${RPID[$M]} 2>/dev/null
T0=$(date +%s%N)
: >"$WIRE_TMP/farm2"
for i in $(seq -w 1 10); do echo "sd$i udp 127.0.0.1 ${PORT[a]}" >>"$WIRE_TMP/farm2"; done
start farm2 $PHONES farm "$WIRE_TMP/farm2"
$PHONES calls 127.0.0.1 "${PORT[c]}" 8 $(users sb "$WIRE_TMP/farm1") >"$WIRE_TMP/during.out" 2>&1
echo "# calls at c to b's phones right after the master died: $(cat "$WIRE_TMP/during.out")"
check "calls during the failover complete (served from memory)" \
  grep -q 'attempted 10 completed 10 ' "$WIRE_TMP/during.out"
check "10 more phones registered on a while the master was down" \
  until_true 10 grep -q '^registered 10 0' "$WIRE_TMP/farm2.log"
new_master() {
  local m; m=$(redis-cli -p "$S1" SENTINEL get-master-addr-by-name mymaster | sed -n 2p)
  [ "$m" = "$R1" ] || [ "$m" = "$R2" ] || return 1
  on_master "$m" && echo "$m" >"$WIRE_TMP/new_master"
}
check "the Sentinels promoted a replica and every node follows it" until_true 30 new_master
echo "# every node on the new master $((($(date +%s%N) - T0) / 1000000)) ms after the kill"
check "every node holds the 39 live bindings (none lost, sa01 not back)" within 10 agree 39
echo "# after the failover: $(cat "$WIRE_TMP/agree.out")"
NM=$(cat "$WIRE_TMP/new_master" 2>/dev/null || echo 0)
live_keys() {
  local n=0 k
  for k in $(redis-cli -p "$NM" --scan --pattern 'sipflow:b:*'); do
    [ "$(redis-cli -p "$NM" TTL "$k")" -gt 300 ] && n=$((n + 1))
  done
  echo "# new master holds $n live binding records" >&3
  [ "$n" -eq 39 ]
}
check "the new master holds the 39 live records (a tombstone for sa01)" until_true 5 live_keys
calls_after() { # the figures line goes to the TAP output as a comment
  $PHONES calls 127.0.0.1 "${PORT[b]}" 10 $(awk '{print $1}' "$WIRE_TMP/farm1" "$WIRE_TMP/farm2" | grep -v '^sa01$') >"$WIRE_TMP/after.out" 2>&1
  local rv=$?
  echo "# $(cat "$WIRE_TMP/after.out")" >&3
  return $rv
}
check "calls to all 39 phones complete after the failover" calls_after
for n in a b c; do check "node $n still runs" kill -0 ${PID[$n]}; done

# --workers 2 on the Sentinels (docs/proxy.md, "Using more than one
# core"): two workers join the cluster, their phones register through the
# public port, and the master dies a second time (the last replica takes
# over). Both workers follow; their phones stay reachable and registered.
PUBW=$(free_port)
start supw "$PROXY" --workers 2 --listen udp:127.0.0.1:$PUBW \
  --listen tcp:127.0.0.1:$PUBW --domain example.com --control "$WIRE_TMP/wctl" \
  --token-key "$WIRE_TMP/wkey" \
  --redis-sentinel "$(IFS=,; echo "${SENT[*]}")" --redis-master mymaster \
  --node-id w --keepalive options --ka-interval 1 --ka-timeout 1 \
  --ka-misses 3 --register-rate 0 --log-level debug
SUPW=$LAST_PID
w_on() { # port: both workers connected to it
  [ "$(grep -c "redis connected to 127.0.0.1:$1 " "$WIRE_TMP/supw.log")" -ge 2 ]
}
check "two workers found the master through the Sentinels" until_true 15 w_on "$NM"
: >"$WIRE_TMP/farmw"
for i in $(seq -w 1 6); do echo "wu$i udp 127.0.0.1 $PUBW" >>"$WIRE_TMP/farmw"; done
for i in $(seq -w 1 4); do echo "wt$i tcp 127.0.0.1 $PUBW" >>"$WIRE_TMP/farmw"; done
start farmw $PHONES farm "$WIRE_TMP/farmw"
check "10 phones registered through the workers' public port" \
  until_true 10 grep -q '^registered 10 0' "$WIRE_TMP/farmw.log"
w_held() { # both workers hold the 10 phones' bindings, each flow on one
  local d1 d2
  d1=$(ctl "$WIRE_TMP/wctl.1" dump) && d2=$(ctl "$WIRE_TMP/wctl.2" dump) || return 1
  python3 -c "import json,sys
a, b = (json.loads(x)['bindings'] for x in sys.argv[1:3])
mine = lambda d: {x['aor']: bool(x['flow']) for x in d if x['aor'].startswith('sip:w')}
m1, m2 = mine(a), mine(b)
ok = len(m1) == len(m2) == 10 and set(m1) == set(m2) and all(m1[k] != m2[k] for k in m1)
print('worker 1 holds', sum(m1.values()), 'worker 2 holds', sum(m2.values()), 'of', len(m1), len(m2))
sys.exit(0 if ok else 1)" "$d1" "$d2"
}
check "both workers hold the 10 bindings, each flow on one worker" within 10 w_held
echo "# $(w_held)"
WUSERS=$(awk '{print $1}' "$WIRE_TMP/farmw")
kill -KILL ${RPID[$NM]}; wait ${RPID[$NM]} 2>/dev/null
$PHONES calls 127.0.0.1 "$PUBW" 8 $WUSERS >"$WIRE_TMP/wduring.out" 2>&1
echo "# calls through the workers right after the master died: $(cat "$WIRE_TMP/wduring.out")"
check "calls to the workers' phones during the second failover complete" \
  grep -q 'attempted 10 completed 10 ' "$WIRE_TMP/wduring.out"
third_master() {
  local m; m=$(redis-cli -p "$S1" SENTINEL get-master-addr-by-name mymaster | sed -n 2p)
  [ -n "$m" ] && [ "$m" != "$NM" ] && [ "$m" != "$M" ] && w_on "$m" &&
    echo "$m" >"$WIRE_TMP/third_master"
}
check "the Sentinels promoted the last replica and both workers follow it" \
  until_true 30 third_master
TM=$(cat "$WIRE_TMP/third_master" 2>/dev/null || echo 0)
live_at() { # port n: that Redis holds n live binding records
  local n=0 k
  for k in $(redis-cli -p "$1" --scan --pattern 'sipflow:b:*'); do
    [ "$(redis-cli -p "$1" TTL "$k")" -gt 300 ] && n=$((n + 1))
  done
  echo "# Redis on $1 holds $n live binding records" >&3
  [ "$n" -eq "$2" ]
}
check "the last master holds the 49 live records (39 of a, b, c; 10 of the workers)" \
  until_true 5 live_at "$TM" 49
check "both workers still hold the 10 bindings, each flow on one worker" within 10 w_held
$PHONES calls 127.0.0.1 "$PUBW" 10 $WUSERS >"$WIRE_TMP/wafter.out" 2>&1
echo "# calls through the workers after the second failover: $(cat "$WIRE_TMP/wafter.out")"
check "calls to the workers' phones complete after the second failover" \
  grep -q 'attempted 10 completed 10 ' "$WIRE_TMP/wafter.out"
kill -TERM "$SUPW"
wgone() { ! kill -0 "$SUPW" 2>/dev/null; }
check "SIGTERM: the supervisor and its workers exit" until_true 15 wgone
wire_done
