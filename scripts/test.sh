#!/usr/bin/env bash
# The test command: installs what it needs, builds, and runs every check:
# unit tests, header tests, fuzz-corpus replays and the wire tests against
# SIPp on loopback (plain and under AddressSanitizer +
# UndefinedBehaviorSanitizer), the security checks of sipflow-proxy
# (tests/security/run.sh), the unit tests under Valgrind, the Python
# binding's tests against both builds, the documentation check, the
# exported-symbol check, the ABI check against the last release, the
# install check and the format check.
# Ends with its own line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

passed=0
failed=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL: $1"; }

# Adds the counts of a meson test run to the totals.
add_meson_counts() { # build-dir label
  local log="$1/meson-logs/testlog.json" counts
  if [ ! -s "$log" ]; then
    fail "$2: no test log"
    return
  fi
  counts=$(python3 scripts/count_tests.py "$log") || { fail "$2: unreadable log"; return; }
  read -r p f <<<"$counts"
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$f" -eq 0 ] || failures+=("$2: $f failed")
  echo "$2: $p passed, $f failed"
}

# Configures (once) and builds a meson tree; a failure is counted.
build_tree() { # dir label meson-args...
  local dir=$1 label=$2
  shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || {
      cat "$dir.setup.log"; fail "$label: meson setup"; return 1; }
  else # a tree configured before an option was added here gets it too
    meson configure "$dir" "$@" >"$dir.setup.log" 2>&1 || {
      cat "$dir.setup.log"; fail "$label: meson configure"; return 1; }
  fi
  if ninja -C "$dir" >"$dir.build.log" 2>&1; then
    pass "$label: build"
  else
    tail -50 "$dir.build.log"; fail "$label: build"; return 1
  fi
}

scripts/deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

mkdir -p "$root/.build"

# 1. Plain build with warnings as errors, then every meson test.
if build_tree .build/default "default" -Dwerror=true -Dbuildtype=debugoptimized -Dkamailio=enabled; then
  meson test -C .build/default --print-errorlogs >.build/default.test.log 2>&1
  add_meson_counts .build/default "default"
fi

# 2. The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
if build_tree .build/asan "asan+ubsan" -Dwerror=true -Dbuildtype=debug \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C .build/asan --print-errorlogs >.build/asan.test.log 2>&1
  add_meson_counts .build/asan "asan+ubsan"
fi

# ---- 2b. The unit tests under Valgrind (memcheck) ---------------------------
# One check per unit-test binary of the plain build, run as meson runs it.
# Criterion runs each test in a re-executed worker whose stderr it keeps, and
# ignores Valgrind's exit code there, so Valgrind writes one log per process
# (-q: only errors and leaks) and any non-empty log fails the binary.
valgrind_unit() { # build-dir
  local vg=.build/valgrind name envs cmd t0
  rm -rf "$vg" && mkdir -p "$vg"
  t0=$(date +%s)
  while IFS=$'\t' read -r name envs cmd; do
    mkdir -p "$vg/$name"
    # shellcheck disable=SC2086 # words without spaces, split on purpose
    if timeout 900 env $envs valgrind -q --trace-children=yes \
        --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --log-file="$root/$vg/$name/%p.log" $cmd >"$vg/$name.tap" 2>&1 &&
      grep -q '^ok' "$vg/$name.tap" && ! grep -q '^not ok' "$vg/$name.tap" &&
      [ -z "$(find "$vg/$name" -name '*.log' -size +0)" ]; then
      pass "valgrind: $name"
    else
      find "$vg/$name" -name '*.log' -size +0 -exec head -20 {} + | head -60
      tail -5 "$vg/$name.tap"; fail "valgrind: $name"
    fi
  done < <(meson introspect --tests "$1" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if any(s.endswith(":unit") for s in t["suite"]):
        env = ["VALGRIND_UNIT=1"] + [f"{k}={v}" for k, v in (t.get("env") or {}).items()]
        print(t["name"], " ".join(env), " ".join(t["cmd"]), sep="\t")')
  echo "valgrind: unit tests took $(($(date +%s) - t0)) s"
}
if ! command -v valgrind >/dev/null; then
  fail "valgrind: not installed"
elif [ -f .build/default/build.ninja ]; then
  valgrind_unit .build/default
fi

# Python binding: its pytest suite against the plain and the sanitizer
# build; pytest's own counts are added.
python_suite() { # tree
  local log=.build/python-$1.log rc summary p f
  scripts/test-python.sh ".build/$1" >"$log" 2>&1
  rc=$?
  summary=$(grep -E '[0-9]+ (passed|failed)' "$log" | tail -1)
  p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || true)
  f=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" | awk '{s += $1} END {print s + 0}')
  passed=$((passed + ${p:-0}))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    tail -30 "$log"; fail "python ($1): the suite did not run"
  elif [ "$f" -ne 0 ]; then
    tail -30 "$log"; failures+=("python ($1): $f failed")
  fi
  echo "python ($1): ${p:-0} passed, $f failed"
}
[ -f .build/default/lib/libsipflow.so ] && python_suite default
[ -f .build/asan/lib/libsipflow.so ] && python_suite asan

# Security checks of sipflow-proxy (tests/security/run.sh) against the
# plain build: each attack's check counts as one.
security_checks() {
  local log=.build/security.log rc n=0 line
  timeout 300 tests/security/run.sh .build/default/tools/proxy/sipflow-proxy \
    >"$log" 2>&1
  rc=$?
  while IFS= read -r line; do
    n=$((n + 1))
    case $line in
      "CHECK ok: "*) pass "security: ${line#CHECK ok: }" ;;
      *) fail "security: ${line#CHECK FAIL: }" ;;
    esac
  done < <(grep -E '^CHECK (ok|FAIL): ' "$log")
  if [ "$n" -eq 0 ] || { [ "$rc" -ne 0 ] && ! grep -q '^CHECK FAIL' "$log"; }; then
    tail -30 "$log"; fail "security: the checks did not run to the end"
  fi
}
if [ -x .build/default/tools/proxy/sipflow-proxy ]; then
  security_checks
else
  fail "security: no sipflow-proxy in the plain build"
fi

# Only sipflow_ symbols are exported.
so=.build/default/lib/libsipflow.so
if syms=$(nm -D --defined-only "$so" 2>&1) && grep -q ' sipflow_' <<<"$syms"; then
  bad=$(awk '{print $3}' <<<"$syms" | grep -v '^sipflow_' || true)
  if [ -z "$bad" ]; then pass "exports: only sipflow_ symbols in libsipflow.so"
  else echo "$bad"; fail "exports: non-sipflow symbols exported"; fi
else
  fail "exports: cannot read the dynamic symbols of $so"
fi

# The ABI against the last release's (abi/<version>/): one check per library.
while IFS= read -r line; do
  case "$line" in
  "ok: "*) pass "${line#ok: }" ;;
  "FAIL: "*) fail "${line#FAIL: }" ;;
  *) echo "$line" ;;
  esac
done < <(scripts/check-abi.sh .build/default 2>&1)

# Install into a temporary prefix and build a consumer with pkg-config.
if tests/install/check.sh .build/default; then pass "install: pkg-config consumer"
else fail "install: pkg-config consumer"; fi

# Every public symbol is documented, and the guides quote the real code.
if scripts/check-docs.sh >.build/docs.log 2>&1; then
  pass "docs: every public symbol documented; guide snippets match the code"
else
  tail -30 .build/docs.log; fail "docs: undocumented public symbols or stale snippets"
fi

# Format.
srcs=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^tests/fuzz/corpus/' || true)
if [ -n "$srcs" ] && clang-format --dry-run --Werror $srcs >.build/format.log 2>&1; then
  pass "format: clang-format clean"
else
  head -40 .build/format.log; fail "format: clang-format reports differences"
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "Failures:"
  printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
