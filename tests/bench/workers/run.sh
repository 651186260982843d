#!/usr/bin/env bash
# CPU per REGISTER of sipflow-proxy as one Redis cluster node (--workers 1)
# and as --workers 2, same load, alternating over ROUNDS rounds: each run
# starts its own redis-server and proxy on free loopback ports, sends
# COUNT new-AoR REGISTERs at RATE/s from 64 source ports (regload.py),
# and reads utime+stime from /proc of every proxy process (supervisor
# and workers) and of redis-server. Every process it starts is stopped by
# PID. Prints one line per run and the load average.
# usage: run.sh PATH/TO/sipflow-proxy [ROUNDS] [RATE] [COUNT]
set -u
PROXY=$1 ROUNDS=${2:-3} RATE=${3:-2000} COUNT=${4:-20000}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/sipflow-workers-bench.XXXXXX)
PIDS=()
free_port() { python3 "$HERE/../../wire/sipraw.py" free-port; }
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
TCK=$(getconf CLK_TCK)
ticks() { # pid...: utime+stime summed
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $t
}
run() { # workers round
  local n=$1 rp port sup redis wk i
  rp=$(free_port); port=$(free_port)
  redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$TMP" >"$TMP/redis.log" 2>&1 &
  redis=$!; PIDS+=("$redis")
  rm -f "$TMP"/key "$TMP"/ctl*
  sleep 0.5
  "$PROXY" --workers "$n" --listen udp:127.0.0.1:"$port" --domain example.com \
    --token-key "$TMP/key" --control "$TMP/ctl" --redis redis://127.0.0.1:"$rp" \
    --node-id b --register-rate 0 --max-expires 3600 --log-level warn \
    >"$TMP/proxy.log" 2>&1 &
  sup=$!; PIDS+=("$sup")
  sleep 2
  if [ "$n" -gt 1 ]; then
    wk=$(cat "/proc/$sup/task/$sup/children")
  else
    wk=""
  fi
  local p0 w0 r0 p1 w1 r1 out
  p0=$(ticks "$sup"); w0=$(ticks $wk); r0=$(ticks "$redis")
  out=$(python3 "$HERE/regload.py" "$port" "$RATE" "$COUNT" 64 "r$2n$n")
  sleep 1 # the other workers apply the last records
  p1=$(ticks "$sup"); w1=$(ticks $wk); r1=$(ticks "$redis")
  local ans; ans=$(echo "$out" | awk '{print $4}')
  local per=$((p1 - p0 + w1 - w0)) red=$((r1 - r0))
  local split=""
  for i in $wk; do split="$split $(ticks "$i")"; done
  awk -v n="$n" -v r="$2" -v c="$COUNT" -v a="$ans" -v t="$per" -v rd="$red" \
    -v hz="$TCK" -v s="$split" 'BEGIN {
      printf "round %d workers %d sent %d answered %d proxy_cpu_s %.2f us_per_register %.1f redis_cpu_s %.2f redis_us_per_register %.1f worker_ticks_total%s\n",
        r, n, c, a, t / hz, t / hz / c * 1e6, rd / hz, rd / hz / c * 1e6, s }'
  kill -TERM "$sup"; wait "$sup" 2>/dev/null
  kill -TERM "$redis"; wait "$redis" 2>/dev/null
  PIDS=()
}
echo "# $(date -u '+%F %T') UTC, commit $(git -C "$HERE" rev-parse --short HEAD), rate $RATE/s, $COUNT new AoRs"
for r in $(seq "$ROUNDS"); do
  echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ $((r % 2)) -eq 1 ]; then run 1 "$r"; run 2 "$r"; else run 2 "$r"; run 1 "$r"; fi
done
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
