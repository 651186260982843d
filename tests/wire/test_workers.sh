#!/usr/bin/env bash
# sipflow-proxy --workers 2: two worker processes on one public UDP port
# and one TCP port (SO_REUSEPORT), each a node of a Redis cluster with a
# private loopback port, under one supervisor (docs/proxy.md, "Using more
# than one core"). Phones register from many source ports, so the kernel
# gives some to each worker; every phone must then be reachable through
# the public port and through each worker's private port, a dead flow on
# one worker must remove its binding on both, a killed worker must be
# restarted and its phones reachable again once they register, and
# SIGTERM to the supervisor must leave no process behind.
# Prints TAP. usage: test_workers.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
PHONES="python3 $HERE/phones.py"
exec 3>&1 # figures go to the TAP output from inside checks

start_redis
PUB=$(free_port)
# All phones come from 127.0.0.1: no per-address REGISTER rate limit.
start sup "$PROXY" --workers 2 --listen udp:127.0.0.1:$PUB \
  --listen tcp:127.0.0.1:$PUB --domain example.com \
  --control "$WIRE_TMP/ctl" --token-key "$WIRE_TMP/key" \
  --redis redis://127.0.0.1:$RP --node-id w \
  --keepalive options --ka-interval 1 --ka-timeout 1 --ka-misses 3 \
  --register-rate 0 --log-level debug
SUP=$LAST_PID
up() { wait_for "$WIRE_TMP/ctl.1" 10 && wait_for "$WIRE_TMP/ctl.2" 10; }
check "the supervisor started two workers, each with its control socket" up
loaded() { [ "$(grep -o 'cluster: state loaded' "$WIRE_TMP/sup.log" | wc -l)" -ge "$1" ]; }
check "both workers connected to redis and loaded the state" until_true 10 loaded 2
# "worker N started (pid P)" and "worker N: node w.N, private port H:P".
wpid() { grep "worker $1 started" "$WIRE_TMP/sup.log" | tail -1 | sed 's/.*(pid \([0-9]*\)).*/\1/'; }
wport() { grep -m1 "worker $1: node" "$WIRE_TMP/sup.log" | sed 's/.*:\([0-9]*\)$/\1/'; }
W1=$(wpid 1); W2=$(wpid 2); P1=$(wport 1); P2=$(wport 2)
check "two worker processes, children of the supervisor, with private ports" \
  eval '[ -n "$W1" ] && [ -n "$W2" ] && [ "$W1" != "$W2" ] &&
    [ "$(ps -o ppid= -p "$W1" | tr -d " ")" = "$SUP" ] &&
    [ "$(ps -o ppid= -p "$W2" | tr -d " ")" = "$SUP" ] &&
    [ -n "$P1" ] && [ -n "$P2" ] && [ "$P1" != "$P2" ]'
ALL="$WIRE_TMP/ctl.1@$P1 $WIRE_TMP/ctl.2@$P2"

# 40 UDP phones, each from its own source port, and 10 TCP phones, all on
# the one public port.
: >"$WIRE_TMP/farm"
for i in $(seq -w 1 40); do echo "u$i udp 127.0.0.1 $PUB" >>"$WIRE_TMP/farm"; done
for i in $(seq -w 1 10); do echo "t$i tcp 127.0.0.1 $PUB" >>"$WIRE_TMP/farm"; done
start farm $PHONES farm "$WIRE_TMP/farm"
FARM=$LAST_PID
check "50 phones registered through the public port (40 UDP, 10 TCP)" \
  until_true 15 grep -q '^registered 50 0' "$WIRE_TMP/farm.log"
agree() { # n: both workers hold the n live bindings, one owner each
  $PHONES agree "$PROXY" "$1" $ALL >"$WIRE_TMP/agree.out" 2>&1; local rv=$?
  cat "$WIRE_TMP/agree.out" >>"$WIRE_TMP/checks.log"; return $rv
}
check "both workers hold the 50 bindings, each flow on one worker" within 15 agree 50
echo "# steady: $(cat "$WIRE_TMP/agree.out")"
held() { # worker [transport]: bindings whose flow this worker holds
  ctl "$WIRE_TMP/ctl.$1" dump | python3 -c "import json,sys
t=sys.argv[1] if len(sys.argv)>1 else ''
print(sum(1 for b in json.load(sys.stdin)['bindings']
          if b['flow'] and t in ('', b['flow']['transport'])))" ${2:-}
}
H1=$(held 1); H2=$(held 2)
echo "# flows held: worker 1 $H1, worker 2 $H2"
check "the kernel spread the phones: each worker holds some flows ($H1 + $H2)" \
  eval '[ "$H1" -gt 0 ] && [ "$H2" -gt 0 ] && [ $((H1 + H2)) -eq 50 ]'
ka_both() { # each worker keeps alive exactly the flows it holds
  json_check "$WIRE_TMP/ctl.1" stats "d['keepalive_endpoints']==$H1" &&
    json_check "$WIRE_TMP/ctl.2" stats "d['keepalive_endpoints']==$H2"
}
check "each phone is kept alive by the worker holding its flow, once" until_true 10 ka_both

users() { awk -v p="$1" 'index($1, p) == 1 {print $1}' "$WIRE_TMP/farm"; }
calls() { # port seconds name users...
  local port=$1 secs=$2 name=$3; shift 3
  $PHONES calls 127.0.0.1 "$port" "$secs" "$@" >"$WIRE_TMP/$name.out" 2>&1
  local rv=$?; echo "# $name: $(cat "$WIRE_TMP/$name.out")" >&3; return $rv
}
# Each call comes from its own source port, so the kernel gives the
# calls to both workers; a worker forwards to the other's private port.
check "50 calls through the public port reach every phone" \
  calls "$PUB" 15 public $(users u) $(users t)
check "50 calls through worker 1's private port reach every phone" \
  calls "$P1" 15 private1 $(users u) $(users t)
check "50 calls through worker 2's private port reach every phone" \
  calls "$P2" 15 private2 $(users u) $(users t)
# Full calls (SIPp: INVITE, ACK and BYE along the Record-Route, each call
# from its own source port) to phones held by each worker, UDP and TCP.
held_users() { # worker transport n: users whose flow this worker holds
  ctl "$WIRE_TMP/ctl.$1" dump | python3 -c "import json,sys
u=[b['aor'][4:].split('@')[0] for b in json.load(sys.stdin)['bindings']
   if b['flow'] and b['flow']['transport']==sys.argv[1]]
print(' '.join(sorted(u)[:int(sys.argv[2])]))" "$2" "$3"
}
dialogs() {
  local w t u n=0 done=0
  for w in 1 2; do
    for t in udp tcp; do
      for u in $(held_users $w $t 3); do
        n=$((n + 1))
        sipp_run "dlg$n" -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 \
          -p "$(free_port)" -m 1 -set callee "$u" 127.0.0.1:$PUB && done=$((done + 1))
      done
    done
  done
  echo "# dialogs: $done of $n complete (INVITE, ACK, BYE)" >&3
  [ "$n" -ge 6 ] && [ "$done" -eq "$n" ]
}
check "full calls with ACK and BYE to phones of each worker, UDP and TCP" dialogs
fwd() { # the workers forwarded to each other: a TCP flow between them
  local n; n=$(ctl "$WIRE_TMP/ctl.$1" flows | grep -c "127.0.0.1:$2")
  [ "$n" -ge 1 ]
}
check "worker 1 forwarded to worker 2's private port, and back" \
  eval 'fwd 1 $P2 && fwd 2 $P1'

# A dead flow on one worker: a TCP phone (SIPp) hangs up its connection;
# the worker holding it removes the binding, and so does the other.
OB=$(free_port)
start obphone sipp -nostdin -sf "$SCEN/ob_register.xml" -oocsf "$SCEN/ob_answer.xml" -aa \
  -t t1 -i 127.0.0.1 -p "$OB" -m 1 -timeout 120 -set user ob -set regid 1 \
  -set cseq 1 -d 120000 -set inst "00000000-0000-1000-8000-0000000000ob" \
  127.0.0.1:$PUB
OBPID=$LAST_PID
has_ob() { # worker yes|no
  local e="'sip:ob@example.com' in [x['aor'] for x in d['bindings']]"
  [ "$2" = no ] && e="not ($e)"
  json_check "$WIRE_TMP/ctl.$1" dump "$e"
}
check "a TCP phone registered: both workers hold its binding" \
  until_true 10 eval 'has_ob 1 yes && has_ob 2 yes'
stop_pid $OBPID
check "its connection closed: the binding is gone on both workers" \
  until_true 10 eval 'has_ob 1 no && has_ob 2 no'
check "the 50 other bindings stay, one owner each" within 10 agree 50

# Worker 1 killed: the supervisor starts it again, it loads from redis;
# its UDP phones get their flow back, its TCP phones register again.
T1=$(held 1 tcp)
U1=$(held_users 1 udp 40); U2=$(held_users 2 udp 40)
steered() { # each worker's public UDP socket took its slot (steer.c)
  [ "$(grep -c 'each source stays with one worker (slot 0)' "$WIRE_TMP/sup.log")" -ge "$1" ] &&
    grep -q 'each source stays with one worker (slot 1)' "$WIRE_TMP/sup.log"
}
check "each worker's UDP socket is in its slot of the group's socket array" steered 1
kill -KILL "$W1"
restarted() { [ "$(grep -c 'worker 1 started' "$WIRE_TMP/sup.log")" -ge 2 ]; }
check "worker 1 killed: the supervisor restarts it" until_true 10 restarted
W1B=$(wpid 1)
check "the new worker 1 is a new process, worker 2 the same" \
  eval '[ -n "$W1B" ] && [ "$W1B" != "$W1" ] && kill -0 "$W1B" && kill -0 "$W2"'
check "the new worker 1 loaded the state from redis" until_true 15 loaded 3
echo "# worker 1 held $T1 TCP flows when it was killed"
kill -USR1 "$FARM" # every phone registers again (TCP ones on a new connection)
check "every phone registered again" \
  until_true 15 eval '[ "$(grep -c "^registered 50 0" "$WIRE_TMP/farm.log")" -ge 2 ]'
check "both workers hold the 50 bindings again, one owner each" within 15 agree 50
echo "# after restart: $(cat "$WIRE_TMP/agree.out")"
# Without the socket array the restarted worker's socket joins the
# kernel's group at the end, the order changes, and the UDP phones' next
# datagrams reach the other worker (docs/proxy.md).
check "the restarted worker 1 took slot 0 again" steered 2
same_udp() {
  [ "$(held_users 1 udp 40)" = "$U1" ] && [ "$(held_users 2 udp 40)" = "$U2" ]
}
check "after the restart every UDP phone is held by the worker that held it before" \
  within 10 same_udp
H1=$(held 1); H2=$(held 2)
check "the restarted worker 1 holds flows again ($H1 + $H2)" \
  eval '[ "$H1" -gt 0 ] && [ "$H2" -gt 0 ] && [ $((H1 + H2)) -eq 50 ]'
check "50 calls through the public port reach every phone after the restart" \
  calls "$PUB" 15 public2 $(users u) $(users t)

# SIGTERM to the supervisor: it stops the workers and exits; nothing stays.
stop_farm() { stop_pid "$FARM"; }
stop_farm
kill -TERM "$SUP"
gone() { ! kill -0 "$SUP" 2>/dev/null && ! kill -0 "$W1B" 2>/dev/null && ! kill -0 "$W2" 2>/dev/null; }
check "SIGTERM to the supervisor: supervisor and both workers exit" until_true 15 gone
wait "$SUP" 2>/dev/null; RC=$?
check "the supervisor exits with status 0" eval '[ "$RC" -eq 0 ]'
check "no process has the public port any more" \
  eval '! ss -Hlnup "sport = :$PUB" | grep -q . && ! ss -Hlntp "sport = :$PUB" | grep -q .'

# A supervisor killed with -9: its workers go too (PR_SET_PDEATHSIG).
PUB2=$(free_port)
start sup2 "$PROXY" --workers 2 --listen udp:127.0.0.1:$PUB2 --domain example.com \
  --control "$WIRE_TMP/ctlb" --token-key "$WIRE_TMP/key" \
  --redis redis://127.0.0.1:$RP --node-id v --log-level warn
SUP2=$LAST_PID
up2() { wait_for "$WIRE_TMP/ctlb.1" 10 && wait_for "$WIRE_TMP/ctlb.2" 10; }
check "a second supervisor started two workers" up2
WS2=$(cat "/proc/$SUP2/task/$SUP2/children" 2>/dev/null)
kill -KILL "$SUP2"; wait "$SUP2" 2>/dev/null
orphans_gone() { for p in $WS2; do ! kill -0 "$p" 2>/dev/null || return 1; done; }
check "its workers ($(echo $WS2)) exit when it is killed with -9" \
  eval '[ "$(echo $WS2 | wc -w)" -eq 2 ] && until_true 10 orphans_gone'

# Workers that cannot start (the public UDP port is held by a process
# that did not ask to share it): the supervisor restarts them with a
# growing delay, gives up after 5 quick deaths each and exits 1; no fork
# storm. (A --worker-port that is taken fails before any fork.)
PUB3=$(free_port)
python3 -c "import socket,sys,time
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', int(sys.argv[1])))
time.sleep(60)" "$PUB3" &
HOLDER=$!; WIRE_PIDS+=("$HOLDER")
held_by_holder() { ss -Hlnup "sport = :$PUB3" | grep -q "pid=$HOLDER,"; }
check "a process holds UDP port $PUB3 without SO_REUSEPORT" until_true 10 held_by_holder
start sup3 "$PROXY" --workers 2 --listen udp:127.0.0.1:$PUB3 \
  --domain example.com --token-key "$WIRE_TMP/key" \
  --redis redis://127.0.0.1:$RP --node-id x --log-level warn
SUP3=$LAST_PID
check "the supervisor gives up on workers that cannot start and exits" \
  until_true 25 eval '! kill -0 $SUP3 2>/dev/null'
wait "$SUP3" 2>/dev/null; RC3=$?
N3=$(grep -c "worker 1 started" "$WIRE_TMP/sup3.log")
echo "# worker 1 started $N3 times, supervisor exit status $RC3"
check "worker 1 was started 5 times, not more, and the exit status is 1" \
  eval '[ "$N3" -eq 5 ] && [ "$RC3" -eq 1 ] && grep -q "worker 1 died 5 times" "$WIRE_TMP/sup3.log" && held_by_holder'
stop_pid "$HOLDER"
"$PROXY" --workers 2 --listen udp:127.0.0.1:$PUB3 --token-key "$WIRE_TMP/key" \
  >"$WIRE_TMP/noredis.log" 2>&1
RC4=$?
check "--workers without --redis is refused (exit 2)" \
  eval '[ "$RC4" -eq 2 ] && grep -q "needs --redis" "$WIRE_TMP/noredis.log"'
wire_done
