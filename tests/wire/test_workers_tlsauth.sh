#!/usr/bin/env bash
# sipflow-proxy --workers 2 with the transports and options that wire-workers
# leaves out (docs/proxy.md, "Using more than one core"):
# - TLS, WS and WSS phones (one connection each, so the kernel gives each
#   connection to one worker): every phone reachable through the public
#   UDP port and through each worker's private port, each worker keeping
#   alive only its own flows, a closed connection removing the binding on
#   both workers;
# - digest authentication (--auth): REGISTERs from many source ports are
#   challenged and accepted by both workers, and a challenge one worker
#   made, answered at the other, gets 401 stale=true there (the UA retries
#   without asking its user), then 200.
# Prints TAP. usage: test_workers_tlsauth.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
PHONES="python3 $HERE/phones.py"
WSC="python3 $HERE/wsclient.py"
DIGEST="python3 $HERE/digest.py"
exec 3>&1 # figures go to the TAP output from inside checks

command -v openssl >/dev/null || { echo "1..0 # SKIP openssl not installed"; exit 0; }
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -keyout "$WIRE_TMP/tkey.pem" -out "$WIRE_TMP/cert.pem" >/dev/null 2>&1
start_redis

# ---- TLS, WS and WSS phones over two workers ------------------------------
PUB=$(free_port); T=$(free_port); W=$(free_port); S=$(free_port)
start sup "$PROXY" --workers 2 --listen udp:127.0.0.1:$PUB \
  --listen tls:127.0.0.1:$T --listen ws:127.0.0.1:$W --listen wss:127.0.0.1:$S \
  --tls-cert "$WIRE_TMP/cert.pem" --tls-key "$WIRE_TMP/tkey.pem" \
  --domain example.com --control "$WIRE_TMP/ctl" --token-key "$WIRE_TMP/key" \
  --redis redis://127.0.0.1:$RP --node-id t --ka-interval 1 \
  --register-rate 0 --tcp-hello-timeout 0 --log-level debug
SUP=$LAST_PID
up() { wait_for "$WIRE_TMP/ctl.1" 10 && wait_for "$WIRE_TMP/ctl.2" 10; }
check "the supervisor started two workers with TLS, WS and WSS listeners" up
loaded() { [ "$(grep -o 'cluster: state loaded' "$WIRE_TMP/sup.log" | wc -l)" -ge 2 ]; }
check "both workers connected to redis and loaded the state" until_true 10 loaded
wport() { # LOG N: worker N's private port, from its supervisor's log
  grep -m1 "worker $2: node" "$WIRE_TMP/$1.log" | sed 's/.*:\([0-9]*\)$/\1/'
}
P1=$(wport sup 1); P2=$(wport sup 2)
ALL="$WIRE_TMP/ctl.1@$P1 $WIRE_TMP/ctl.2@$P2"

USERS=""
for i in 1 2 3 4 5 6; do
  start "tls$i" timeout 200 $WSC tls 127.0.0.1 $T "tl$i" --hold 150
  start "ws$i" timeout 200 $WSC ws 127.0.0.1 $W "ws$i" --hold 150
  start "wss$i" timeout 200 $WSC wss 127.0.0.1 $S "ss$i" --hold 150
  USERS="$USERS tl$i ws$i ss$i"
done
WSS1=${WIRE_PIDS[${#WIRE_PIDS[@]} - 1]} # the last WSS phone (ss6)
agree() { # n: both workers hold the n live bindings, one owner each
  $PHONES agree "$PROXY" "$1" $ALL >"$WIRE_TMP/agree.out" 2>&1; local rv=$?
  cat "$WIRE_TMP/agree.out" >>"$WIRE_TMP/checks.log"; return $rv
}
check "18 phones (6 TLS, 6 WS, 6 WSS) registered: both workers hold the 18 bindings, each flow on one worker" \
  within 30 agree 18
echo "# steady: $(cat "$WIRE_TMP/agree.out")"
held() { # worker transport: bindings of that transport whose flow it holds
  ctl "$WIRE_TMP/ctl.$1" dump | python3 -c "import json,sys
print(sum(1 for b in json.load(sys.stdin)['bindings']
          if b['flow'] and b['flow']['transport']==sys.argv[1]))" "$2"
}
declare -A H
for w in 1 2; do for t in tls ws wss; do H[$w$t]=$(held $w $t); done; done
echo "# flows held: worker 1 tls ${H[1tls]} ws ${H[1ws]} wss ${H[1wss]}," \
  "worker 2 tls ${H[2tls]} ws ${H[2ws]} wss ${H[2wss]}"
N1=$((H[1tls] + H[1ws] + H[1wss])); N2=$((H[2tls] + H[2ws] + H[2wss]))
check "the kernel gave connections to both workers ($N1 + $N2), 6 of each transport in all" \
  eval '[ "$N1" -gt 0 ] && [ "$N2" -gt 0 ] &&
    [ $((H[1tls] + H[2tls])) -eq 6 ] && [ $((H[1ws] + H[2ws])) -eq 6 ] &&
    [ $((H[1wss] + H[2wss])) -eq 6 ]'
# Keepalive endpoints per flow (docs/keepalive.md): an Outbound TLS phone
# keeps its flow itself, watched passively, with an OPTIONS RTT sampler
# beside the watch (two); a WS or WSS phone gets WebSocket Pings (one). A
# worker has none for the flows the other holds.
E1=$((2 * H[1tls] + H[1ws] + H[1wss])); E2=$((2 * H[2tls] + H[2ws] + H[2wss]))
ka_both() {
  json_check "$WIRE_TMP/ctl.1" stats "d['keepalive_endpoints']==$E1" &&
    json_check "$WIRE_TMP/ctl.2" stats "d['keepalive_endpoints']==$E2"
}
check "each phone is kept alive by the worker holding its connection, once ($E1 + $E2 endpoints)" \
  until_true 10 ka_both
pinged() { # every WS and WSS phone answered at least one WebSocket Ping
  local i
  for i in 1 2 3 4 5 6; do
    grep -q '^ws-ping' "$WIRE_TMP/ws$i.log" || { echo "no Ping yet: ws$i"; return 1; }
    grep -q '^ws-ping' "$WIRE_TMP/wss$i.log" || { echo "no Ping yet: wss$i"; return 1; }
  done
}
check "every WS and WSS phone got WebSocket Pings from its worker" until_true 15 pinged

calls() { # port seconds name users...
  local port=$1 secs=$2 name=$3; shift 3
  $PHONES calls 127.0.0.1 "$port" "$secs" "$@" >"$WIRE_TMP/$name.out" 2>&1
  local rv=$?; echo "# $name: $(cat "$WIRE_TMP/$name.out")" >&3; return $rv
}
# Each call comes from its own UDP source port, so the kernel gives the
# calls to both workers; the one without the phone's connection forwards
# to the holder's private port.
check "18 calls through the public UDP port reach every TLS, WS and WSS phone" \
  calls "$PUB" 15 public $USERS
check "18 calls through worker 1's private port reach every phone" \
  calls "$P1" 15 private1 $USERS
check "18 calls through worker 2's private port reach every phone" \
  calls "$P2" 15 private2 $USERS

# A WSS phone's connection closes: its worker removes the binding, and so
# does the other.
has() { # worker user yes|no
  local e="'sip:$2@example.com' in [x['aor'] for x in d['bindings']]"
  [ "$3" = no ] && e="not ($e)"
  json_check "$WIRE_TMP/ctl.$1" dump "$e"
}
stop_pid "$WSS1"
check "a WSS phone's connection closed: its binding is gone on both workers" \
  until_true 10 eval 'has 1 ss6 no && has 2 ss6 no'
check "the 17 other bindings stay, one owner each" within 10 agree 17
kill -TERM "$SUP"
gone() { ! kill -0 "$SUP" 2>/dev/null; }
check "SIGTERM: the supervisor and its workers exit" until_true 15 gone

# ---- digest authentication over two workers --------------------------------
ha1() { printf '%s' "$1:$2:$3" | "$4" | cut -d' ' -f1; }
AUTH=$WIRE_TMP/users
for u in alice:secret bob:bobpw; do
  n=${u%%:*} pw=${u#*:}
  echo "$n:example.com:$(ha1 "$n" example.com "$pw" md5sum):$(ha1 "$n" example.com "$pw" sha256sum)"
done >"$AUTH"
PUB2=$(free_port)
start supa "$PROXY" --workers 2 --listen udp:127.0.0.1:$PUB2 \
  --listen tcp:127.0.0.1:$PUB2 --domain example.com \
  --control "$WIRE_TMP/actl" --token-key "$WIRE_TMP/key" \
  --redis redis://127.0.0.1:$RP --node-id a --auth register \
  --auth-file "$AUTH" --register-rate 0 --log-level debug
SUPA=$LAST_PID
upa() { wait_for "$WIRE_TMP/actl.1" 10 && wait_for "$WIRE_TMP/actl.2" 10; }
check "a supervisor with --auth started two workers" upa
A1=$(wport supa 1); A2=$(wport supa 2)
regs() { # 16 REGISTERs through the public port, each from its own port
  local i ok=0 u pw
  for i in $(seq 1 16); do
    if [ $((i % 2)) = 0 ]; then u=bob pw=bobpw; else u=alice pw=secret; fi
    $DIGEST register 127.0.0.1 "$PUB2" --user $u --password $pw \
      --instance "00000000-0000-1000-8000-0000000000$(printf %02d "$i")" \
      --regid 1 && ok=$((ok + 1))
  done
  echo "# digest REGISTERs through the public port: $ok of 16 got 200" >&3
  [ "$ok" -eq 16 ]
}
check "16 REGISTERs through the public port, challenged and answered: 200 each" regs
both_auth() { # each worker challenged and accepted some of them
  json_check "$WIRE_TMP/actl.1" stats "d['auth_ok']>0 and d['auth_challenges']>0" &&
    json_check "$WIRE_TMP/actl.2" stats "d['auth_ok']>0 and d['auth_challenges']>0"
}
check "both workers challenged and accepted REGISTERs" both_auth
for w in 1 2; do
  echo "# worker $w auth: $(ctl "$WIRE_TMP/actl.$w" stats | python3 -c "import json,sys
d=json.load(sys.stdin); print({k: v for k, v in d.items() if k.startswith('auth_')})")"
done
check "a challenge of worker 1 answered at worker 2: 401 stale=true, then 200" \
  $DIGEST crossnode 127.0.0.1 "$A1" --other-port "$A2" --user alice \
  --password secret --instance 00000000-0000-1000-8000-0000000000c1
check "a challenge of worker 2 answered at worker 1: 401 stale=true, then 200" \
  $DIGEST crossnode 127.0.0.1 "$A2" --other-port "$A1" --user bob \
  --password bobpw --alg SHA-256 --instance 00000000-0000-1000-8000-0000000000c2
check "a wrong password still gets 403 from either worker" \
  eval '$DIGEST register 127.0.0.1 "$A1" --user alice --password wrong --expect 403 &&
    $DIGEST register 127.0.0.1 "$A2" --user alice --password wrong --expect 403'
kill -TERM "$SUPA"
gonea() { ! kill -0 "$SUPA" 2>/dev/null; }
check "SIGTERM: the --auth supervisor and its workers exit" until_true 15 gonea
wire_done
