#!/usr/bin/env bash
# sipflow-proxy --redis with a node whose clock is 10 s behind (Debian's
# faketime, LD_PRELOAD; the monotonic clock left alone): record versions
# come from Redis, so phones that move to the late node go to it and stay
# with it on every node, one node pings each, expiries agree, and the node
# logs its offset from Redis. Prints TAP.
# usage: test_cluster_skew.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
# The library itself, so that the PID started is the proxy's (the faketime
# program forks).
FAKELIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
[ -n "$FAKELIB" ] || { echo "1..0 # SKIP no libfaketime"; exit 0; }
# A sanitizer build wants its runtime first in the preload list.
PRELOAD="$(ldd "$PROXY" | awk '/libasan|libubsan/ {printf "%s ", $3}')$FAKELIB"
PHONES="python3 $HERE/phones.py"
exec 3>&1

start_redis
declare -A PORT
for n in a c; do PORT[$n]=$(free_port); done
# All phones come from 127.0.0.1, so the per-address REGISTER rate limit
# is off (--register-rate 0); nodes list one another (cluster_peers).
node() { # name [wrapper...]
  local n=$1; shift
  start "node$n" "$@" "$PROXY" $(cluster_peers "$n") --register-rate 0 \
    --listen udp:127.0.0.1:${PORT[$n]} \
    --listen tcp:127.0.0.1:${PORT[$n]} --domain example.com \
    --control "$WIRE_TMP/ctl.$n" --token-key "$WIRE_TMP/key.$n" \
    --redis redis://127.0.0.1:$RP --node-id "$n" \
    --keepalive options --ka-interval 1 --ka-timeout 1 --ka-misses 3 \
    --log-level debug
}
node a
node c env LD_PRELOAD="$PRELOAD" FAKETIME=-10s FAKETIME_DONT_FAKE_MONOTONIC=1
loaded() { for n in a c; do grep -q 'state loaded' "$WIRE_TMP/node$n.log" || return 1; done; }
check "redis, node a and node c (clock 10 s behind) up and loaded" until_true 10 loaded
check "node c's clock is 10 s behind (faketime works)" \
  eval '[ $(($(date +%s) - $(LD_PRELOAD="$FAKELIB" FAKETIME=-10s date +%s))) -ge 9 ]'
check "node c logs its offset from redis as skewed" \
  until_true 5 grep -Eq 'clock offset from redis (9[0-9]{3}|10[0-9]{3}) ms \(skewed' "$WIRE_TMP/nodec.log"

# Five phones register on a, then move to c with new Call-IDs and flows.
: >"$WIRE_TMP/on_a"; : >"$WIRE_TMP/on_c"
for i in 1 2 3 4 5; do
  echo "sk$i udp 127.0.0.1 ${PORT[a]}" >>"$WIRE_TMP/on_a"
  echo "sk$i udp 127.0.0.1 ${PORT[c]}" >>"$WIRE_TMP/on_c"
done
start farma $PHONES farm "$WIRE_TMP/on_a"
check "5 phones registered on a" until_true 10 grep -q '^registered 5 0' "$WIRE_TMP/farma.log"
ALL="$WIRE_TMP/ctl.a@${PORT[a]} $WIRE_TMP/ctl.c@${PORT[c]}"
agree() { $PHONES agree "$PROXY" 5 $ALL >"$WIRE_TMP/agree.out" 2>&1; }
owner() { # node: holds the flow of every phone
  json_check "$WIRE_TMP/ctl.$1" dump "len([b for b in d['bindings'] if b['flow']])==5"
}
check "a holds the 5, c routes through a" within 5 eval 'agree && owner a'
T0=$(date +%T.%N)
start farmc $PHONES farm "$WIRE_TMP/on_c"
check "the 5 phones registered again on c" until_true 10 grep -q '^registered 5 0' "$WIRE_TMP/farmc.log"
check "the late node c holds the 5 on both nodes, a routes through c" \
  within 10 eval 'agree && owner c'
# From the start of the phones on c to a's last "binding updated" line.
T1=$(grep 'binding updated: sip:sk' "$WIRE_TMP/nodea.log" | tail -1 | cut -d' ' -f1)
echo "# a applied c's records $(python3 -c "import sys; f=lambda t: sum(float(x)*m for x,m in zip(t.split(':'),(3600,60,1))); print(int((f(sys.argv[2])-f(sys.argv[1][:15]))*1000))" "$T0" "${T1:-00:00:00}") ms after the phones started on c: $(cat "$WIRE_TMP/agree.out")"
ka() { json_check "$WIRE_TMP/ctl.$1" stats "d['keepalive_endpoints']==$2"; }
check "only c keeps them alive (a 0, c 5)" until_true 5 eval 'ka a 0 && ka c 5'
expiries() {
  python3 - "$PROXY" "$WIRE_TMP/ctl.a" "$WIRE_TMP/ctl.c" <<'EOF'
import json, subprocess, sys
e = []
for c in sys.argv[2:]:
    d = json.loads(subprocess.run([sys.argv[1], "ctl", "--control", c, "dump"],
                                  capture_output=True, text=True).stdout)
    e.append(sorted(b["expires"] for b in d["bindings"]))
gap = max(abs(x - y) for x, y in zip(*e))
print(f"# expiries on a {e[0]} on c {e[1]}: largest gap {gap} s")
sys.exit(0 if gap <= 2 else 1)
EOF
}
check "expiries agree within 2 s on both nodes (not 10 s early on a)" eval 'expiries >&3'
calls_at_a() { # the figures line goes to the TAP output as a comment
  $PHONES calls 127.0.0.1 "${PORT[a]}" 5 sk1 sk2 sk3 sk4 sk5 >"$WIRE_TMP/calls.out" 2>&1
  local rv=$?
  echo "# $(cat "$WIRE_TMP/calls.out")" >&3
  return $rv
}
check "a call at a reaches a phone through c" calls_at_a
wire_done
