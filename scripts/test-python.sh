#!/usr/bin/env bash
# Runs the Python binding's pytest suite against the shared library of a
# meson build tree: scripts/test-python.sh BUILD_DIR
# Uses Debian's /usr/bin/python3 (it has python3-pytest), loads
# BUILD_DIR/lib/libsipflow.so, compiles the struct-layout check against
# include/ and BUILD_DIR/include, and writes nothing into the source tree.
# The suite also runs Debian's mypy --strict on the package
# (tests/test_typing.py: a missing mypy is a failure) and installs the
# package offline into a plain venv (tests/test_install.py).
# Prints pytest's summary line last ("N passed in Xs") and exits non-zero on
# any failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/test-python.sh BUILD_DIR}
build=$(cd "$build" && pwd) || exit 2
python=${PYTHON:-/usr/bin/python3}
lib="$build/lib/libsipflow.so"

if [ ! -e "$lib" ]; then
  echo "test-python: $lib not found (build the tree first)" >&2
  exit 2
fi
if ! "$python" -c 'import pytest' 2>/dev/null; then
  echo "test-python: $python has no pytest (apt-get install python3-pytest)" >&2
  exit 2
fi

export SIPFLOW_LIBRARY="$lib"
export SIPFLOW_INCLUDE_DIRS="$root/include:$build/include"
export SIPFLOW_PROXY="$build/tools/proxy/sipflow-proxy"
export PYTHONPATH="$root/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

# A library built with AddressSanitizer needs its runtime loaded first into
# an interpreter that was not built with it. PYTHONMALLOC=malloc gives the
# buffers the binding passes to C redzones too, so a wrong length is caught.
# The interpreter's own allocations are not ours to report: no leak check.
asan=$(ldd "$lib" 2>/dev/null | awk '/libasan/ {print $3; exit}')
if [ -n "$asan" ]; then
  export LD_PRELOAD="$asan${LD_PRELOAD:+:$LD_PRELOAD}"
  export PYTHONMALLOC=malloc
  export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
fi

cd "$root/bindings/python" || exit 2
"$python" -m pytest -p no:cacheprovider -q -rfEs tests
