#!/usr/bin/env bash
# The main demo: installs what it needs, builds, then runs sipflow-proxy on
# loopback with real SIP user agents (SIPp) and tells what happens.
# Every process it starts is stopped by PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/deps.sh
if [ ! -f .build/demo/build.ninja ]; then
  meson setup .build/demo -Dbuildtype=release -Dtests=false -Dbench=false >/dev/null
fi
ninja -C .build/demo >/dev/null
PROXY=$root/.build/demo/tools/proxy/sipflow-proxy
SCEN=$root/tests/wire/scenarios
tmp=$(mktemp -d /tmp/sipflow-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
port() { python3 "$root/tests/wire/sipraw.py" free-port; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
dump() {
  "$PROXY" ctl --control "$tmp/ctl" dump | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("  %-22s %-7s %-6s %-9s %-8s %s" % ("AoR", "reg-id", "flow", "keepalive", "state", "RTT (last/smoothed)"))
for b in sorted(d["bindings"], key=lambda b: (b["aor"], b["reg_id"] or 0)):
    k = b["keepalive"] or {}
    rtt = "-" if k.get("rtt_us") is None else "%.0f/%.0f us" % (k["rtt_us"], k["srtt_us"])
    print("  %-22s %-7s %-6s %-9s %-8s %s" % (b["aor"], b["reg_id"] or "-",
          b["flow"]["transport"] if b["flow"] else "-", k.get("method", "-"),
          k.get("state", "-"), rtt))'
}

P=$(port)
say "Starting sipflow-proxy as edge proxy and registrar on 127.0.0.1:$P (UDP and TCP)"
"$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P --domain example.com \
  --control "$tmp/ctl" --flow-timer 25 --ka-interval 1 --ka-timeout 1 --ka-misses 2 \
  --log-level info 2>"$tmp/proxy.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$tmp/ctl" ] && break; sleep 0.1; done

say "Registering alice twice with RFC 5626 Outbound over TCP (one instance, reg-id 1 and 2)"
ua() { # user regid port [extra sipp args]
  sipp -nostdin -sf "$SCEN/ob_register.xml" -oocsf "$SCEN/ob_answer.xml" -t t1 \
    -i 127.0.0.1 -p "$3" -m 1 -timeout 60 -set user "$1" -set regid "$2" \
    -set cseq 1 -d 60000 -set inst 00000000-0000-1000-8000-00000000a11c \
    127.0.0.1:$P >"$tmp/$1$2.log" 2>&1 &
  pids+=($!)
}
A1=$(port); ua alice 1 "$A1"; alice1=$!
A2=$(port); ua alice 2 "$A2"
say "Registering carol, a plain UDP phone without Outbound (answers OPTIONS)"
C=$(port)
sipp -nostdin -sf "$SCEN/udp_phone.xml" -aa -t u1 -i 127.0.0.1 -p "$C" -m 1 \
  -timeout 60 -set user carol -d 60000 127.0.0.1:$P >"$tmp/carol.log" 2>&1 &
pids+=($!)
sleep 3.5
say "Bindings, flows and keepalives as the proxy sees them (sipflow-proxy ctl dump)"
dump
echo "  alice's flows are watched passively: her phone sends the keepalives the"
echo "  Flow-Timer asks for. carol is pinged with OPTIONS; her round-trip times show."

say "Closing alice's reg-id 1 connection (the phone's TCP flow dies)"
kill -TERM "$alice1"; wait "$alice1" 2>/dev/null || true
sleep 0.5
dump

say "Calling alice from a SIPp caller over UDP"
K=$(port)
if sipp -nostdin -sf "$SCEN/call.xml" -t u1 -i 127.0.0.1 -p "$K" -m 1 -timeout 20 \
     -timeout_error -set callee alice 127.0.0.1:$P >"$tmp/call.log" 2>&1; then
  echo "  The call completed (INVITE, 180, 200, ACK, BYE, 200) over alice's"
  echo "  remaining flow, reg-id 2: the flow that died was dropped from the"
  echo "  target set at once, whatever AoR used it (RFC 5626 §7)."
else
  echo "  The call did not complete: see $tmp/call.log"; exit 1
fi

say "What the proxy counted (sipflow-proxy ctl stats)"
"$PROXY" ctl --control "$tmp/ctl" stats | python3 -c '
import json, sys
d = json.load(sys.stdin)
for k in ("registers", "register_ok", "forwarded_requests", "options_sent",
          "options_answered", "rx_crlf_pings", "flows_failed", "bindings", "flows"):
    print("  %-20s %s" % (k, d[k]))'
say "Done: stopping every process the demo started"
