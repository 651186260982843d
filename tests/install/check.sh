#!/usr/bin/env bash
# Installs a built tree into a temporary prefix, then compiles and runs a
# program outside the build tree with `pkg-config --cflags --libs sipflow`.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT

meson install -C "$build" --destdir "$prefix" >/dev/null
inst=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
root="$prefix$inst"
pcdir=$(dirname "$(find "$root" -name sipflow.pc | head -1)")
export PKG_CONFIG_PATH="$pcdir"
export PKG_CONFIG_SYSROOT_DIR="$prefix"

cc -std=c11 -Wall -Wextra -Werror -o "$prefix/consumer" "$here/consumer.c" \
  $(pkg-config --cflags --libs sipflow)
LD_LIBRARY_PATH="$(dirname "$(find "$root" -name 'libsipflow.so' | head -1)")" \
  "$prefix/consumer"

# The adapters, each through its own .pc file.
# Their Requires name system packages (libuv, sofia-sip-ua), whose paths a
# sysroot would wrongly prefix: only our install prefix is rewritten.
unset PKG_CONFIG_SYSROOT_DIR
if pkg-config --exists sipflow-uv sipflow-sofia; then
  flags=$(pkg-config --cflags --libs sipflow-uv sipflow-sofia |
    sed "s#-I$inst#-I$root#g; s#-L$inst#-L$root#g")
  cc -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L \
    -o "$prefix/consumer_adapters" "$here/consumer_adapters.c" $flags
  LD_LIBRARY_PATH="$(dirname "$(find "$root" -name 'libsipflow.so' | head -1)")" \
    "$prefix/consumer_adapters"
fi
