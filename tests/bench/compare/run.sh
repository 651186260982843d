#!/usr/bin/env bash
# sipflow-proxy and Kamailio side by side: the same SIPp load and the same
# wire checks against each server in turn, on loopback, in one run. Prints
# figures and a table with ratios; passes or fails nothing (a benchmark, run
# by hand, not a meson test).
#
# usage: run.sh [options] BUILD_DIR | PATH/TO/sipflow-proxy
#   --runs N          benchmark rounds (default 3); the table shows the
#                     median and the spread (min-max) over the rounds
#   --bench-only      skip the wire checks
#   --checks-only     only the wire checks
#   --ka-contacts N   contacts for the keepalive figure (default 50000)
#   --ka-interval S   keepalive interval for both servers (default 10)
#   --rates "R..."    offered REGISTER rates to climb (default 2000..16000)
#   --latency-only    only the latency figures (and their CPU per REGISTER)
#   --lat-rate R      the fixed rate of the latency figures (default 2000)
#   --keepalive-only  only the OPTIONS keepalive figure
# Environment: PROXY_ARGS (more sipflow-proxy options, e.g.
# "--rx-coalesce-ms 5"), PROXY_BEFORE (another sipflow-proxy binary, e.g.
# from an older tree: run as a third server "sipflow-before" in the same
# rounds, so a change is judged before and after under the same load),
# KAM_CHILDREN (Kamailio UDP workers, default 2),
# KAM_SHM_MB (default 512), KAM_ALLOCS (Kamailio memory managers to run,
# default "tlsf qm": the first is the baseline of the ratios and targets,
# qm is what Debian's 5.6 uses when none is given), COMPARE_KEEP=1 keeps
# the logs.
#
# Kamailio comes from Debian (kamailio, kamailio-outbound-modules) and is
# installed here if missing. Build sipflow-proxy optimised (the project's
# default buildtype, debugoptimized, is -O2); a sanitizer build measures
# the sanitizer.
set -u
RUNS=3 DO_BENCH=1 DO_CHECKS=1 KA_N=50000 KA_INT=10 LAT_ONLY=0 KA_ONLY=0 LAT_RATE=2000
RATES="2000 4000 6000 8000 10000 12000 16000"
while [ $# -gt 1 ]; do
  case $1 in
  --runs) RUNS=$2; shift 2 ;;
  --bench-only) DO_CHECKS=0; shift ;;
  --checks-only) DO_BENCH=0; shift ;;
  --ka-contacts) KA_N=$2; shift 2 ;;
  --ka-interval) KA_INT=$2; shift 2 ;;
  --rates) RATES=$2; shift 2 ;;
  --latency-only) LAT_ONLY=1; DO_CHECKS=0; shift ;;
  --lat-rate) LAT_RATE=$2; shift 2 ;;
  --keepalive-only) KA_ONLY=1; DO_CHECKS=0; shift ;;
  *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# = 1 ] || { sed -n '7,32p' "$0" >&2; exit 2; }
PROXY=$1
[ -d "$PROXY" ] && PROXY=$PROXY/tools/proxy/sipflow-proxy
[ -x "$PROXY" ] || { echo "no sipflow-proxy at $PROXY" >&2; exit 2; }
PROXY=$(cd "$(dirname "$PROXY")" && pwd)/$(basename "$PROXY")
HERE=$(cd "$(dirname "$0")" && pwd)
KAM_ALLOCS=${KAM_ALLOCS:-tlsf qm}
KINDS="sipflow"
PROXY_AFTER=$PROXY
if [ -n "${PROXY_BEFORE:-}" ]; then
  [ -d "$PROXY_BEFORE" ] && PROXY_BEFORE=$PROXY_BEFORE/tools/proxy/sipflow-proxy
  [ -x "$PROXY_BEFORE" ] || { echo "no sipflow-proxy at $PROXY_BEFORE" >&2; exit 2; }
  KINDS="$KINDS sipflow-before"
fi
for a in $KAM_ALLOCS; do KINDS="$KINDS kamailio-$a"; done

# --- what it needs, installed only when missing (like scripts/deps.sh) ----
need=()
for p in kamailio kamailio-outbound-modules sip-tester python3 bc procps; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "compare: installing ${need[*]}"
  [ "$(id -u)" = 0 ] || { echo "compare: need root to install packages" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${need[@]}" >/dev/null || exit 1
fi

SRV_TMP=$(mktemp -d /tmp/sipflow-compare.XXXXXX)
. "$HERE/servers.sh"
RES=$SRV_TMP/results
: >"$RES"
BG=()
cleanup() {
  srv_stop
  for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ "${COMPARE_KEEP:-0}" = 1 ]; then echo "logs kept in $SRV_TMP"; else rm -rf "$SRV_TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() { printf '%s\n' "$*"; }
record() { echo "$1 $2 $3" >>"$RES"; } # kind metric value

# start_profile KIND PROFILE: the same job, the same limits, on both.
# KIND is sipflow or kamailio-ALLOC (Kamailio with -x ALLOC -X ALLOC).
start_profile() {
  local kind=$1 profile=$2 mm=()
  SRV_PORT=$(srv_free_port)
  # servers.sh runs (and asks) $PROXY
  PROXY=$PROXY_AFTER
  [ "$kind" = sipflow-before ] && PROXY=$PROXY_BEFORE
  [ "${kind#kamailio-}" != "$kind" ] && mm=(-x "${kind#kamailio-}" -X "${kind#kamailio-}")
  case ${kind%%-*}/$profile in
  sipflow/register)
    # shellcheck disable=SC2086 # PROXY_ARGS is a list of options
    srv_start sipflow "$SRV_PORT" bench --keepalive off --max-expires 7200 --log-level error \
      ${PROXY_ARGS:-} ;;
  kamailio/register)
    srv_start kamailio "$SRV_PORT" bench "${mm[@]}" -A KA_MODE=0 -A MAX_EXPIRES=7200 \
      -A LOG_LEVEL=-1 ;;
  sipflow/keepalive)
    srv_start sipflow "$SRV_PORT" bench --keepalive options --ka-interval "$KA_INT" \
      --ka-timeout $(((KA_INT + 1) / 2)) --ka-misses 3 --max-expires 7200 --log-level error ;;
  kamailio/keepalive)
    srv_start kamailio "$SRV_PORT" bench "${mm[@]}" -A KA_MODE=1 -A "KA_INTERVAL=$KA_INT" \
      -A "KA_TIMEOUT=$((3 * KA_INT))" -A MAX_EXPIRES=7200 -A LOG_LEVEL=-1 ;;
  esac
}

users() { { echo SEQUENTIAL; seq -f 'user%.0f' 1 "$1"; } >"$2"; }

# sipp_load RATE TOTAL USERS-FILE -> "successful failed seconds retransmissions"
sipp_load() {
  local t0 t1
  rm -f "$SRV_TMP/stat.csv"
  t0=$(date +%s.%N)
  timeout 150 sipp -nostdin -sf "$HERE/../wire/register_load.xml" -inf "$3" -t u1 \
    -i 127.0.0.1 -r "$1" -rp 1000 -m "$2" -l 20000 -timeout 120 \
    -trace_stat -stf "$SRV_TMP/stat.csv" "127.0.0.1:$SRV_PORT" >"$SRV_TMP/sipp.log" 2>&1
  t1=$(date +%s.%N)
  python3 - "$SRV_TMP/stat.csv" "$(echo "$t1 - $t0" | bc -l)" <<'PY'
import csv, sys
try:
    rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
    h, last = rows[0], rows[-1]
    print(last[h.index("SuccessfulCall(C)")], last[h.index("FailedCall(C)")], sys.argv[2],
          last[h.index("Retransmissions(C)")])
except (OSError, IndexError, ValueError):
    print(0, 0, sys.argv[2], 0)
PY
}

# 1. The highest offered REGISTER rate every REGISTER of which got its 200
#    (10 000 AoRs over UDP, 5 s of load per step, a fresh server per step).
#    "Achieved" is REGISTERs answered over the whole SIPp run, so a request
#    dropped at a full socket buffer costs its 500 ms+ retransmission delay.
bench_register_rate() {
  local kind=$1 best=0 rate total ok failed secs achieved retrans drops
  for rate in $RATES; do
    start_profile "$kind" register || return 1
    total=$((rate * 5))
    drops=$(srv_udp_drops)
    read -r ok failed secs retrans < <(sipp_load "$rate" "$total" "$SRV_TMP/u10k.csv")
    drops=$(($(srv_udp_drops) - drops))
    achieved=$(echo "$ok / $secs" | bc)
    srv_stop
    note "  $kind: offered $rate/s, $total REGISTERs: $ok ok, $failed failed, $achieved/s achieved ($retrans retransmitted, $drops dropped at the server's socket)"
    if [ "$failed" != 0 ] || [ "$ok" != "$total" ]; then break; fi
    [ "$achieved" -gt "$best" ] && best=$achieved
  done
  record "$kind" reg_rate "$best"
}

# 2. CPU per 1 000 REGISTERs and memory per binding, at 4 000/s offered:
#    10 000 new bindings, then 50 000 REGISTERs (10 000 refreshes, 40 000
#    new); CPU over both loads (60 000 REGISTERs, so the 10 ms clock tick
#    is below 1 %), PSS over every process after each.
bench_register_cost() {
  local kind=$1 c0 c1 c2 c3 ok failed ok2 failed2 secs pss0 pss10 pss50 b10 b50
  start_profile "$kind" register || return 1
  pss0=$(srv_pss_kb)
  c0=$(srv_ticks)
  read -r ok failed secs _ < <(sipp_load 4000 10000 "$SRV_TMP/u10k.csv")
  c1=$(srv_ticks)
  sleep 6 # sipflow-proxy keeps finished UDP transactions 5 s
  pss10=$(srv_pss_kb) b10=$(srv_bindings)
  c2=$(srv_ticks)
  read -r ok2 failed2 secs _ < <(sipp_load 4000 50000 "$SRV_TMP/u50k.csv")
  c3=$(srv_ticks)
  sleep 6
  pss50=$(srv_pss_kb) b50=$(srv_bindings)
  srv_stop
  note "  $kind: $((ok + ok2)) REGISTERs ($((failed + failed2)) failed) in $((c1 - c0 + c3 - c2)) ticks; PSS ${pss0} kB idle, ${pss10} kB with $b10 bindings, ${pss50} kB with $b50"
  [ $((ok + ok2)) -gt 0 ] &&
    record "$kind" reg_cpu "$(echo "($c1 - $c0 + $c3 - $c2) / $HZ / ($ok + $ok2) * 1000" | bc -l)"
  [ "$b50" -gt "$b10" ] &&
    record "$kind" mem_10k "$(echo "($pss50 - $pss10) / ($b50 - $b10) * 10000" | bc -l)"
  record "$kind" pss_idle "$pss0"
}

# 2b. Latency at a fixed moderate rate (LAT_RATE, default 2 000/s), from
#     kernel receive timestamps (latency.py): 10 000 new AoRs, then two
#     passes of refreshes of the same AoRs (same Call-ID and Contact, CSeq
#     + 1), one REGISTER every 1/LAT_RATE s whatever the answers do. CPU
#     per new REGISTER and per refresh over each phase.
bench_latency() {
  local kind=$1 lport c0 c1 c2 line phase sent ans p50 p99 p999 max n_new=0 n_ref=0
  start_profile "$kind" register || return 1
  lport=$(srv_free_port)
  c0=$(srv_ticks)
  python3 "$HERE/latency.py" "$SRV_PORT" --rate "$LAT_RATE" --aors 10000 \
    --first-cseq 1 --passes 1 --lport "$lport" --prefix L >"$SRV_TMP/lat.out" 2>&1
  c1=$(srv_ticks)
  python3 "$HERE/latency.py" "$SRV_PORT" --rate "$LAT_RATE" --aors 10000 \
    --first-cseq 2 --passes 2 --lport "$lport" --prefix L >>"$SRV_TMP/lat.out" 2>&1
  c2=$(srv_ticks)
  srv_stop
  while read -r phase sent ans p50 p99 p999 max; do
    case $phase in new | refresh) ;; *) continue ;; esac
    note "  $kind: $phase at $LAT_RATE/s: $ans of $sent answered; ms p50 $p50, p99 $p99, p99.9 $p999, max $max"
    [ "$phase" = new ] && n_new=$((n_new + ans)) || n_ref=$((n_ref + ans))
    record "$kind" "lat_${phase}_p50" "$p50"
    record "$kind" "lat_${phase}_p99" "$p99"
    record "$kind" "lat_${phase}_p999" "$p999"
  done <"$SRV_TMP/lat.out"
  note "  $kind: CPU $((c1 - c0)) ticks for $n_new new, $((c2 - c1)) ticks for $n_ref refreshes (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  [ "$n_new" -gt 0 ] && record "$kind" cpu_new_us "$(echo "($c1 - $c0) / $HZ / $n_new * 1000000" | bc -l)"
  [ "$n_ref" -gt 0 ] && record "$kind" cpu_ref_us "$(echo "($c2 - $c1) / $HZ / $n_ref * 1000000" | bc -l)"
}

# status of ka_peers.py: "registered options answers"
peers_status() { cat "$SRV_TMP/peers.status" 2>/dev/null || echo "0 0 0"; }
# Until the peers have had nothing to read or answer for 0.3 s (at most
# 2 s): Kamailio pings in bursts, so windows start and end between bursts.
wait_quiet() {
  local last now n=0 same=0
  last=$(peers_status)
  while [ $n -lt 20 ] && [ $same -lt 3 ]; do
    sleep 0.1
    now=$(peers_status)
    if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
    last=$now n=$((n + 1))
  done
}

# 3. CPU per 1 000 OPTIONS keepalives: KA_N phones, each its own UDP peer
#    (one loopback address each, one socket in ka_peers.py), answered at
#    most 10 000/s; the window is three keepalive intervals.
bench_keepalive() {
  local kind=$1 n=0 reg=0 c0 c1 o0 o1 a0 a1 d0 d1 b pid secs
  start_profile "$kind" keepalive || return 1
  secs=$((KA_N / 5000 + 30 + 5 * KA_INT))
  rm -f "$SRV_TMP/peers.status"
  python3 "$HERE/ka_peers.py" "$SRV_PORT" "$KA_N" --port "$(srv_free_port)" \
    --rate 5000 --answer-rate 10000 --seconds "$secs" \
    --status "$SRV_TMP/peers.status" >"$SRV_TMP/peers.out" 2>&1 &
  pid=$!
  BG+=("$pid")
  # Registration: until every phone has its 200, or the peers gave up.
  while [ $n -lt $((KA_N / 2000 + 40)) ]; do
    sleep 0.5
    read -r reg _ <<<"$(peers_status)"
    [ "$reg" = "$KA_N" ] && break
    n=$((n + 1))
  done
  b=$(srv_bindings)
  sleep $((KA_INT + 2))
  wait_quiet
  c0=$(srv_ticks) d0=$(srv_udp_drops)
  read -r _ o0 a0 _ <<<"$(peers_status)"
  sleep $((3 * KA_INT))
  wait_quiet
  c1=$(srv_ticks) d1=$(srv_udp_drops)
  read -r _ o1 a1 _ <<<"$(peers_status)"
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  srv_stop
  note "  $kind: $reg phones registered, $b bindings; in $((3 * KA_INT)) s: $((o1 - o0)) OPTIONS received, $((a1 - a0)) answered, $((d1 - d0)) datagrams dropped at the server's socket, $((c1 - c0)) ticks"
  # Every contact is pinged at least once an interval by both servers; far
  # fewer means bindings went (the peers, one Python process, fell behind
  # on a loaded machine and sipflow-proxy's 5 s probe timeout ran out):
  # then the round measures an idle server, and is not counted.
  if [ $((o1 - o0)) -lt $((KA_N * 3 * 9 / 10)) ]; then
    note "  $kind: fewer keepalives than $KA_N contacts need in $((3 * KA_INT)) s: round not counted"
  elif [ $((o1 - o0)) -gt 0 ]; then
    record "$kind" ka_cpu "$(echo "($c1 - $c0) / $HZ / ($o1 - $o0) * 1000" | bc -l)"
  fi
}

# --- wire checks ------------------------------------------------------------
checks() {
  local kind
  for kind in sipflow kamailio; do
    CHECKS_LOGDIR=$SRV_TMP/checks-$kind timeout 600 "$HERE/checks.sh" "$kind" "$PROXY" \
      >"$SRV_TMP/checks-$kind.tap" 2>&1
  done
  python3 - "$SRV_TMP/checks-sipflow.tap" "$SRV_TMP/checks-kamailio.tap" <<'PY'
import re, sys
def load(path):
    out = {}
    for line in open(path):
        m = re.match(r"(not ok|ok) \d+ - (.*?)(?: # SKIP (.*))?$", line.rstrip("\n"))
        if m:
            out[m.group(2)] = "n/a" if m.group(3) else ("pass" if m.group(1) == "ok" else "FAIL")
    return out
s, k = load(sys.argv[1]), load(sys.argv[2])
names = list(s) + [n for n in k if n not in s]
w = max(len(n) for n in names)
print(f"{'wire check (tests/wire/test_single.sh)':<{w}}  sipflow  kamailio")
for n in names:
    print(f"{n:<{w}}  {s.get(n, '-'):<7}  {k.get(n, '-')}")
for label, d in (("sipflow-proxy", s), ("Kamailio", k)):
    print(f"{label}: {sum(v == 'pass' for v in d.values())} pass, "
          f"{sum(v == 'FAIL' for v in d.values())} fail, "
          f"{sum(v == 'n/a' for v in d.values())} not applicable")
PY
}

# --- the table --------------------------------------------------------------
table() {
  python3 - "$RES" "$RUNS" "$KA_N" "$LAT_RATE" $KINDS <<'PY'
import statistics, sys
ka_n, lat_rate, kinds = sys.argv[3], sys.argv[4], sys.argv[5:]
vals = {}
for line in open(sys.argv[1]):
    kind, metric, v = line.split()
    vals.setdefault((kind, metric), []).append(float(v))
for kind in kinds:  # throughput per CPU second
    if (kind, "reg_cpu") in vals:
        vals[(kind, "reg_per_cpu")] = [1000 / v for v in vals[(kind, "reg_cpu")] if v > 0]
rows = [
    ("REGISTERs/s sustained, no failures", "reg_rate", "%.0f", None),
    ("CPU s per 1000 REGISTERs", "reg_cpu", "%.4f", None),
    ("REGISTERs per CPU second", "reg_per_cpu", "%.0f", (">=", 1.5)),
    ("memory (PSS) kB per 10 000 bindings", "mem_10k", "%.0f", ("<=", 0.5)),
    (f"CPU s per 1000 keepalives, {ka_n} contacts", "ka_cpu", "%.4f", ("<=", 0.5)),
    ("idle memory (PSS) kB", "pss_idle", "%.0f", None),
    ("latency ms p50, new AoRs at LAT/s", "lat_new_p50", "%.3f", None),
    ("latency ms p99, new AoRs", "lat_new_p99", "%.3f", None),
    ("latency ms p99.9, new AoRs", "lat_new_p999", "%.3f", None),
    ("latency ms p50, refreshes at LAT/s", "lat_refresh_p50", "%.3f", None),
    ("latency ms p99, refreshes", "lat_refresh_p99", "%.3f", None),
    ("latency ms p99.9, refreshes", "lat_refresh_p999", "%.3f", None),
    ("CPU us per new REGISTER at LAT/s", "cpu_new_us", "%.1f", ("<=", 0.5)),
    ("CPU us per refresh at LAT/s", "cpu_ref_us", "%.1f", ("<=", 0.5)),
]
rows = [(n.replace("LAT", lat_rate), k, f, t) for n, k, f, t in rows]
def cell(key, fmt):
    v = vals.get(key)
    if not v:
        return "-", None
    m = statistics.median(v)
    return f"{fmt % m} [{fmt % min(v)}-{fmt % max(v)}]", m
print(f"runs: {sys.argv[2]}; each cell: median [min-max] over the runs; "
      f"ratio = sipflow-proxy (or sipflow-before) / that Kamailio (medians)")
ours = [k for k in kinds if not k.startswith("kamailio-")]
others = [k for k in kinds if k.startswith("kamailio-")]
pairs = [(o, k) for o in ours for k in others]
def label(o, k):
    return ("ratio " if o == "sipflow" else "before/") + k[9:]
hdr = f"{'':40}"
for k in kinds:
    hdr += f"  {'sipflow-proxy' if k == 'sipflow' else k:>24}"
for o, k in pairs:
    hdr += f"  {label(o, k):>11}"
print(hdr + "  target")
for name, key, fmt, target in rows:
    if not any((k, key) in vals for k in kinds):
        continue  # not measured in this run (--latency-only)
    line = f"{name:40}"
    med = {}
    for k in kinds:
        c, med[k] = cell((k, key), fmt)
        line += f"  {c:>24}"
    verdicts = []
    for o, k in pairs:
        r = med[o] / med[k] if med[o] is not None and med[k] else None
        line += f"  {('%.2f' % r) if r is not None else '-':>11}"
        if target and r is not None and o == "sipflow":
            op, x = target
            met = r >= x if op == ">=" else r <= x
            verdicts.append(f"{'met' if met else 'MISSED'} vs {k[9:]}")
    if target:
        line += f"  {target[0]} {target[1]}: " + ", ".join(verdicts)
    print(line)
PY
}

note "sipflow-proxy vs Kamailio on loopback, $(nproc) cores shared by the servers, SIPp and the peers"
note "sipflow-proxy: $PROXY"
[ -n "${PROXY_BEFORE:-}" ] && note "sipflow-before: $PROXY_BEFORE"
note "Kamailio: $(kamailio -v 2>/dev/null | head -1 | sed 's/^version: //;s/ *$//'), $KAM_CHILDREN UDP workers, memory managers: $KAM_ALLOCS, config $KAM_CFG"
note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$DO_CHECKS" = 1 ]; then
  note ""
  checks
fi
if [ "$DO_BENCH" = 1 ]; then
  users 10000 "$SRV_TMP/u10k.csv"
  users 50000 "$SRV_TMP/u50k.csv"
  for run in $(seq 1 "$RUNS"); do
    # Alternate who goes first, so a change in the machine's other load
    # does not always hit the same server.
    order=$KINDS
    [ $((run % 2)) = 0 ] && order=$(echo "$KINDS" | tr ' ' '\n' | tac | tr '\n' ' ')
    note ""
    note "run $run of $RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ "$KA_ONLY" = 1 ]; then
      for kind in $order; do bench_keepalive "$kind"; done
      continue
    fi
    for kind in $order; do bench_latency "$kind"; done
    [ "$LAT_ONLY" = 1 ] && continue
    for kind in $order; do bench_register_rate "$kind"; done
    for kind in $order; do bench_register_cost "$kind"; done
    for kind in $order; do bench_keepalive "$kind"; done
  done
  note ""
  note "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  table
fi
