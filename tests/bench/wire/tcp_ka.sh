#!/usr/bin/env bash
# CPU per TCP CRLF keepalive and per UDP REGISTER of sipflow-proxy, in one
# run: N TCP phones (tcp_phones.py) registered and pinged with CRLF every
# INTERVAL s, CPU over a window of WINDOW s divided by the pings the phones
# answered; then 20 000 UDP REGISTERs (10 000 new, 10 000 refreshes) at
# 2 000/s (../compare/latency.py), CPU divided by the answers. Prints
# figures and the load average; passes or fails nothing.
# usage: tcp_ka.sh PATH/TO/sipflow-proxy [N [INTERVAL [WINDOW]]]
set -u
PROXY=$1 N=${2:-5000} INT=${3:-5} WIN=${4:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/sipflow-tcpka.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
port() { python3 "$HERE/../../wire/sipraw.py" free-port; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
P=$(port)
"$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P --domain example.com \
  --control "$tmp/ctl" --log-level error --max-expires 7200 --register-rate 0 \
  --max-conns-per-source 0 --keepalive crlf --ka-interval "$INT" --ka-timeout 2 \
  --ka-misses 3 2>"$tmp/proxy.log" &
PX=$!
pids+=("$PX")
for _ in $(seq 50); do [ -S "$tmp/ctl" ] && break; sleep 0.1; done
python3 "$HERE/tcp_phones.py" "$P" "$N" --seconds $((N / 2000 + 2 * INT + WIN + 10)) \
  --status "$tmp/st" >"$tmp/phones.log" 2>&1 &
pids+=("$!")
for _ in $(seq $((N / 100 + 50))); do
  [ "$(cut -d' ' -f1 "$tmp/st" 2>/dev/null)" = "$N" ] && break
  sleep 0.2
done
sleep $((INT + 1))
c0=$(ticks $PX)
read -r reg p0 <"$tmp/st"
sleep "$WIN"
c1=$(ticks $PX)
read -r reg p1 <"$tmp/st"
echo "tcp: $reg phones registered; $((p1 - p0)) CRLF pings answered in $WIN s; $((c1 - c0)) ticks;" \
  "$(echo "($c1 - $c0) / $hz / ($p1 - $p0) * 1000000" | bc -l | xargs printf '%.1f') us CPU per keepalive" \
  "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
L=$(port)
c0=$(ticks $PX)
out=$(python3 "$HERE/../compare/latency.py" "$P" --aors 10000 --lport "$L" --prefix K --passes 2)
c1=$(ticks $PX)
n=$(awk '{s += $3} END {print s}' <<<"$out")
echo "udp: $n REGISTERs answered (10 000 new, 10 000 refreshes) at 2 000/s; $((c1 - c0)) ticks;" \
  "$(echo "($c1 - $c0) / $hz / $n * 1000000" | bc -l | xargs printf '%.1f') us CPU per REGISTER" \
  "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
