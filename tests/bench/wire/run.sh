#!/usr/bin/env bash
# Wire benchmark of sipflow-proxy on loopback: prints figures, passes or
# fails nothing. usage: run.sh PATH/TO/sipflow-proxy
set -u
PROXY=$1
HERE=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/sipflow-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
port() { python3 "$HERE/../../wire/sipraw.py" free-port; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
users() { # N file
  { echo SEQUENTIAL; for i in $(seq 1 "$1"); do echo "user$i"; done; } >"$2"
}
start_proxy() { # extra args...
  P=$(port)
  "$PROXY" --listen udp:127.0.0.1:$P --domain example.com --control "$tmp/ctl" \
    --log-level error --max-expires 7200 --register-rate 0 \
    --max-conns-per-source 0 "$@" 2>"$tmp/proxy.log" &
  PX=$!
  pids+=("$PX")
  for _ in $(seq 50); do [ -S "$tmp/ctl" ] && break; sleep 0.1; done
}
stop_proxy() { kill -TERM "$PX"; wait "$PX" 2>/dev/null; rm -f "$tmp/ctl"; }
load() { # rate total users-file -> prints "successful failed seconds"
  local t0 t1 out
  t0=$(date +%s.%N)
  timeout 120 sipp -nostdin -sf "$HERE/register_load.xml" -inf "$3" -t u1 \
    -i 127.0.0.1 -r "$1" -rp 1000 -m "$2" -l 20000 -timeout 100 \
    -trace_stat -stf "$tmp/stat.csv" 127.0.0.1:$P >"$tmp/sipp.log" 2>&1
  t1=$(date +%s.%N)
  out=$(python3 - "$tmp/stat.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
h = rows[0]; last = rows[-1]
print(last[h.index("SuccessfulCall(C)")], last[h.index("FailedCall(C)")])
PY
)
  echo "$out $(echo "$t1 - $t0" | bc -l)"
}

echo "sipflow-proxy wire benchmark ($(nproc) cores; SIPp and the proxy share them)"
users 10000 "$tmp/u10k.csv"
users 50000 "$tmp/u50k.csv"

# 1. Highest REGISTER rate with no failures, 10 000 AoRs over UDP.
best=0
for rate in 2000 4000 6000 8000 10000 12000; do
  start_proxy --keepalive off
  total=$((rate * 5))
  read -r ok failed secs < <(load "$rate" "$total" "$tmp/u10k.csv")
  achieved=$(echo "$ok / $secs" | bc)
  printf 'register load: offered %5d/s for %d REGISTERs: %d ok, %d failed, %d/s achieved\n' \
    "$rate" "$total" "$ok" "$failed" "$achieved"
  stop_proxy
  if [ "$failed" = 0 ] && [ "$ok" = "$total" ]; then
    [ "$achieved" -gt "$best" ] && best=$achieved
  else
    break
  fi
done
echo "REGISTERs per second sustained with no failures (10 000 AoRs, UDP): $best"

# 2. CPU seconds per 1 000 REGISTERs, and resident memory with bindings.
start_proxy --keepalive off
rss0=$(rss_kb $PX)
c0=$(ticks $PX)
read -r ok failed secs < <(load 4000 10000 "$tmp/u10k.csv")
c1=$(ticks $PX)
sleep 6 # finished transactions linger 5 s
rss10=$(rss_kb $PX)
printf 'CPU seconds per 1000 REGISTERs: %.4f (%d REGISTERs, %d failed)\n' \
  "$(echo "($c1 - $c0) / $hz / $ok * 1000" | bc -l)" "$ok" "$failed"
read -r ok2 failed2 secs < <(load 4000 50000 "$tmp/u50k.csv")
sleep 6
rss50=$(rss_kb $PX)
b=$("$PROXY" ctl --control "$tmp/ctl" stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["bindings"])')
echo "resident memory: ${rss0} kB idle, ${rss10} kB with 10 000 bindings, ${rss50} kB with $b bindings"
printf 'resident memory per binding (10k -> %s): %.0f bytes\n' "$b" \
  "$(echo "($rss50 - $rss10) * 1024 / ($b - 10000)" | bc -l)"
stop_proxy

# 3. CPU per 1 000 OPTIONS keepalives: N UDP peers pinged every second.
peers=2000
start_proxy --keepalive options --ka-interval 1 --ka-timeout 2
python3 "$HERE/options_peers.py" "$P" $peers --seconds 14 >"$tmp/peers.out" &
pids+=($!)
sleep 4
s0=$("$PROXY" ctl --control "$tmp/ctl" stats)
c0=$(ticks $PX)
sleep 8
c1=$(ticks $PX)
s1=$("$PROXY" ctl --control "$tmp/ctl" stats)
sent=$(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print(b["options_sent"]-a["options_sent"], b["options_answered"]-a["options_answered"], b["keepalive_endpoints"])' "$s0" "$s1")
read -r osent oans eps <<<"$sent"
printf 'OPTIONS keepalives: %d endpoints, %d sent and %d answered in 8 s\n' "$eps" "$osent" "$oans"
printf 'CPU seconds per 1000 OPTIONS keepalives: %.4f\n' \
  "$(echo "($c1 - $c0) / $hz / $osent * 1000" | bc -l)"
stop_proxy

# 4. The same REGISTER ladder with --state: every binding change is
# committed to SQLite (WAL, synchronous) before its 200 OK.
best=0
for rate in 500 1000 2000 4000 8000; do
  rm -f "$tmp/state.db" "$tmp/state.db-wal" "$tmp/state.db-shm"
  start_proxy --keepalive off --state "$tmp/state.db"
  total=$((rate * 5))
  read -r ok failed secs < <(load "$rate" "$total" "$tmp/u10k.csv")
  achieved=$(echo "$ok / $secs" | bc)
  printf 'register load with --state: offered %5d/s: %d ok, %d failed, %d/s achieved\n' \
    "$rate" "$ok" "$failed" "$achieved"
  stop_proxy
  if [ "$failed" = 0 ] && [ "$ok" = "$total" ]; then
    [ "$achieved" -gt "$best" ] && best=$achieved
  else
    break
  fi
done
echo "REGISTERs per second with --state, no failures (10 000 AoRs, UDP): $best"

# 5. The same REGISTER ladder with --redis: every binding change goes to a
# local redis-server (started here, no persistence) asynchronously, after
# which the 200 OK does not wait.
if command -v redis-server >/dev/null; then
  RP=$(port)
  redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$tmp" >"$tmp/redis.log" 2>&1 &
  RPID=$!
  pids+=("$RPID")
  best=0
  for rate in 2000 4000 6000 8000 10000 12000; do
    redis-cli -p "$RP" flushall >/dev/null 2>&1
    start_proxy --keepalive off --redis redis://127.0.0.1:$RP --node-id bench
    total=$((rate * 5))
    read -r ok failed secs < <(load "$rate" "$total" "$tmp/u10k.csv")
    achieved=$(echo "$ok / $secs" | bc)
    keys=$(redis-cli -p "$RP" dbsize 2>/dev/null)
    printf 'register load with --redis: offered %5d/s: %d ok, %d failed, %d/s achieved, %s keys in redis\n' \
      "$rate" "$ok" "$failed" "$achieved" "$keys"
    stop_proxy
    if [ "$failed" = 0 ] && [ "$ok" = "$total" ]; then
      [ "$achieved" -gt "$best" ] && best=$achieved
    else
      break
    fi
  done
  echo "REGISTERs per second with --redis, no failures (10 000 AoRs, UDP): $best"
  kill -TERM "$RPID"; wait "$RPID" 2>/dev/null
fi
