#!/usr/bin/env bash
# Soak of sipflow-proxy on loopback. usage: run.sh PATH/TO/sipflow-proxy [SECONDS]
#
# For SECONDS (default 600): a fleet of UDP and TCP phones (fleet.py)
# registers and refreshes, answers OPTIONS keepalives and calls; some UDP
# phones vanish, some TCP phones close their connection and come back;
# SIPp refreshes another set of AoRs and places calls to the fleet. At the
# end it prints: whether the proxy is still running, resident memory over
# time and its growth after warm-up, file descriptors before and after the
# load, and whether `ctl dump` holds exactly the bindings the phones should
# have (none lost, none left behind). Exits nonzero on a crash, a lost or
# stale binding, or descriptors left open. Every process it starts is
# stopped by PID; everything is bounded in time.
#
# Sizes: UDP=2000 TCP=200 SIPP_USERS=1000 REG_RATE=20 CALL_RATE=2 (env).
# HOSTILE=1 (default) adds tests/soak/hostile.py's attacks; HOSTILE=0 not.
set -u
PROXY=${1:?usage: run.sh PATH/TO/sipflow-proxy [SECONDS]}
DURATION=${2:-600}
UDP=${UDP:-2000}
TCP=${TCP:-200}
SIPP_USERS=${SIPP_USERS:-1000}
REG_RATE=${REG_RATE:-20}
CALL_RATE=${CALL_RATE:-2}
QUIET=90   # churn stops this long before the end (vanished phones go)
LINGER=30  # the fleet stays up this long after writing what it expects
HERE=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/sipflow-soak.XXXXXX)
pids=()
status=0

stop_pid() { # TERM, then KILL after 5 s; only our own processes
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
cleanup() {
  for p in "${pids[@]}"; do stop_pid "$p"; done
  [ "${SOAK_KEEP:-0}" = 1 ] && echo "logs kept in $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
ctl() { timeout 10 "$PROXY" ctl --control "$tmp/ctl" "$1"; }
stat_of() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(str(d[k]) for k in sys.argv[1:]))' "$@"; }

P=$(python3 "$HERE/../wire/sipraw.py" free-port)
"$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
  --domain example.com --control "$tmp/ctl" --log-level warn \
  --keepalive options --ka-interval 15 --ka-timeout 5 --ka-misses 2 \
  --min-expires 30 --max-expires 3600 --token-key "$tmp/keys" \
  --register-rate 500 --register-burst 5000 --max-conns-per-source 1000 \
  >"$tmp/proxy.log" 2>&1 &
PX=$!
pids+=("$PX")
for _ in $(seq 50); do [ -S "$tmp/ctl" ] && break; sleep 0.1; done
[ -S "$tmp/ctl" ] || { echo "the proxy did not start"; cat "$tmp/proxy.log"; exit 1; }
fd0=$(fds $PX)
rss0=$(rss_kb $PX)
echo "soak: sipflow-proxy pid $PX on 127.0.0.1:$P for ${DURATION} s;" \
  "$UDP UDP + $TCP TCP fleet phones, $SIPP_USERS SIPp AoRs at $REG_RATE REGISTER/s," \
  "$CALL_RATE calls/s ($(nproc) cores, shared)"
echo "start: rss ${rss0} kB, ${fd0} descriptors"

# The fleet.
timeout $((DURATION + LINGER + 60)) python3 "$HERE/fleet.py" "$P" --udp "$UDP" \
  --tcp "$TCP" --seconds "$DURATION" --quiet "$QUIET" --linger "$LINGER" \
  --expect "$tmp/expect.json" --ready "$tmp/ready" >"$tmp/fleet.out" 2>"$tmp/fleet.err" &
FLEET=$!
pids+=("$FLEET")
for _ in $(seq 300); do [ -s "$tmp/ready" ] && break; sleep 0.1; done

# SIPp: REGISTER refreshes of its own AoRs (answering the OPTIONS
# keepalives with -aa), and calls to the half of the fleet that never
# vanishes.
{ echo SEQUENTIAL; for i in $(seq 1 "$SIPP_USERS"); do echo "sp$i"; done; } >"$tmp/users.csv"
{ echo RANDOM; for i in $(seq 0 $((UDP / 2 - 1))); do echo "ua$i"; done; } >"$tmp/callees.csv"
R=$(python3 "$HERE/../wire/sipraw.py" free-port)
timeout $((DURATION + 120)) sipp -nostdin -aa -sf "$HERE/../bench/wire/register_load.xml" \
  -inf "$tmp/users.csv" -t u1 -i 127.0.0.1 -p "$R" -r "$REG_RATE" \
  -m $((REG_RATE * (DURATION + LINGER + 60))) -l 2000 -timeout $((DURATION + 110)) \
  -trace_stat -stf "$tmp/reg_stat.csv" 127.0.0.1:$P >"$tmp/sipp_reg.log" 2>&1 &
SREG=$!
pids+=("$SREG")
C=$(python3 "$HERE/../wire/sipraw.py" free-port)
timeout $((DURATION + 60)) sipp -nostdin -aa -sf "$HERE/call.xml" -inf "$tmp/callees.csv" \
  -t u1 -i 127.0.0.1 -p "$C" -r "$CALL_RATE" -m $((CALL_RATE * (DURATION - QUIET))) \
  -l 200 -timeout $((DURATION + 50)) -trace_stat -stf "$tmp/call_stat.csv" \
  127.0.0.1:$P >"$tmp/sipp_call.log" 2>&1 &
SCALL=$!
pids+=("$SCALL")

# HOSTILE=1 (the default): the attacks of docs/hardening.md from other
# loopback addresses (tests/soak/hostile.py) while the phones run; they
# stop when the churn does. The fleet is all on 127.0.0.1, hence the
# raised --register-rate and --max-conns-per-source above.
HOSTILE=${HOSTILE:-1}
if [ "$HOSTILE" = 1 ]; then
  timeout $((DURATION + 60)) python3 "$HERE/hostile.py" "$P" $((DURATION - QUIET)) \
    >"$tmp/hostile.out" 2>"$tmp/hostile.err" &
  HOST_PID=$!
  pids+=("$HOST_PID")
fi

# Samples every 10 s; a line every minute.
warmup=$((DURATION / 5))
start=$(date +%s)
: >"$tmp/samples"
while [ ! -s "$tmp/expect.json" ] && [ $(($(date +%s) - start)) -lt $((DURATION + 60)) ]; do
  sleep 10
  kill -0 $PX 2>/dev/null || break
  t=$(($(date +%s) - start))
  s=$(ctl stats 2>/dev/null | stat_of bindings flows keepalive_endpoints options_sent)
  echo "$t $(rss_kb $PX) $(fds $PX) $s" >>"$tmp/samples"
  if [ $((t / 10 % 6)) = 0 ]; then
    read -r _ r f b fl ka os <<<"$(tail -1 "$tmp/samples")"
    printf '  t=%4ds rss %6s kB  fds %4s  bindings %5s  flows %4s  keepalive endpoints %4s  OPTIONS sent %s\n' \
      "$t" "$r" "$f" "$b" "$fl" "$ka" "$os"
  fi
done

# What the registrar holds against what the phones did.
if kill -0 $PX 2>/dev/null && [ -s "$tmp/expect.json" ]; then
  ctl dump >"$tmp/dump.json"
  python3 - "$tmp/expect.json" "$tmp/dump.json" "$SIPP_USERS" >"$tmp/consistency" <<'PY'
import json, sys
expect = json.load(open(sys.argv[1]))
dump = json.load(open(sys.argv[2]))["bindings"]
n_sipp = int(sys.argv[3])
held = {}
for b in dump:
    held.setdefault(b["aor"], []).append(b["contact"])
lost = wrong = 0
for aor, contact in expect.items():
    got = held.get(aor, [])
    if not got:
        lost += 1
    elif got != [contact]:
        wrong += 1
sipp = {f"sip:sp{i}@example.com" for i in range(1, n_sipp + 1)}
sipp_lost = sum(1 for a in sipp if len(held.get(a, [])) != 1)
extra = [a for a in held if a not in expect and a not in sipp]
print(f"{len(dump)} {len(expect)} {lost} {wrong} {len(extra)} {sipp_lost}")
for a in extra[:5]:
    print("left behind:", a, held[a], file=sys.stderr)
PY
  read -r n_dump n_expect lost wrong extra sipp_lost <"$tmp/consistency"
else
  n_dump=0 n_expect=0 lost=-1 wrong=-1 extra=-1 sipp_lost=-1
fi
stats_end=$(ctl stats 2>/dev/null)
wait "$FLEET" 2>/dev/null
stop_pid "$SREG"
stop_pid "$SCALL"
sleep 12 # connections closed, transactions answered, OPTIONS timed out
fd1=$(fds $PX)
rss1=$(rss_kb $PX)

echo
echo "resident memory samples (s: kB):"
awk '{printf "  %ss: %s", $1, $2; if (NR % 6 == 0) printf "\n"} END {print ""}' "$tmp/samples"
python3 - "$tmp/samples" "$warmup" <<'PY'
import sys
rows = [list(map(int, l.split()[:3])) for l in open(sys.argv[1]) if l.strip()]
w = int(sys.argv[2])
after = [r for r in rows if r[0] >= w]
if after:
    lo = min(r[1] for r in after); hi = max(r[1] for r in after)
    print(f"rss after warm-up ({w} s): first {after[0][1]} kB, last {after[-1][1]} kB,"
          f" growth {after[-1][1] - after[0][1]} kB, range {lo}-{hi} kB over {len(after)} samples")
    print(f"descriptors during load: {min(r[2] for r in rows)}-{max(r[2] for r in rows)}")
PY
echo "descriptors: ${fd0} at start, ${fd1} after the load (rss ${rss1} kB)"
echo "fleet: $(cat "$tmp/fleet.out" 2>/dev/null)"
if [ "$HOSTILE" = 1 ]; then
  wait "$HOST_PID" || { echo "hostile: a check went unanswered or an answer was amplified"; status=1; }
  echo "hostile: $(cat "$tmp/hostile.out" 2>/dev/null)"
fi
for s in reg call; do
  if [ -s "$tmp/${s}_stat.csv" ]; then
    python3 - "$tmp/${s}_stat.csv" "$s" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
h, last = rows[0], rows[-1]
print(f"sipp {sys.argv[2]}: {last[h.index('SuccessfulCall(C)')]} successful,"
      f" {last[h.index('FailedCall(C)')]} failed")
PY
  fi
done
echo "proxy stats at the end: $(echo "$stats_end" | tr -d ' \n')"
echo "ctl dump: $n_dump bindings; fleet expected $n_expect: $lost lost, $wrong with a wrong contact;" \
  "$extra AoRs left behind; SIPp AoRs without exactly one binding: $sipp_lost"
echo "proxy log: $(wc -l <"$tmp/proxy.log") lines"

if kill -0 $PX 2>/dev/null; then
  echo "crash: none (the proxy ran throughout)"
else
  wait $PX; echo "crash: the proxy exited with status $?"; status=1
fi
[ "$lost" = 0 ] && [ "$wrong" = 0 ] && [ "$extra" = 0 ] && [ "$sipp_lost" = 0 ] || status=1
[ "$fd1" -le "$fd0" ] || { echo "descriptors left open: $((fd1 - fd0))"; status=1; }
stop_pid $PX
echo "soak: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
