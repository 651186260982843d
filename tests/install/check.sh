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

# The installed tools run from the moved prefix without LD_LIBRARY_PATH
# (RUNPATH $ORIGIN/...), and say their version.
for tool in sipflow-ping sipflow-proxy; do
  bin=$(find "$root" -type f -name "$tool" | head -1)
  [ -n "$bin" ] || continue
  out=$(env -u LD_LIBRARY_PATH "$bin" --help 2>&1) || {
    echo "install: $tool --help failed from $bin: $out" >&2; exit 1; }
  out=$(env -u LD_LIBRARY_PATH "$bin" --version 2>&1)
  [ "$out" = "$tool $(pkg-config --modversion sipflow)" ] || {
    echo "install: $tool --version said '$out'" >&2; exit 1; }
  lib=$(ldd "$bin" | awk '$1 ~ /^libsipflow\.so/ {print $3}')
  case "$(readlink -f "$lib")" in "$root"/*) ;; *)
    echo "install: $tool does not load the installed libsipflow" >&2
    ldd "$bin" >&2; exit 1 ;;
  esac
done

# sipflow-redis's flags carry none of hiredis's defines.
if pkg-config --exists sipflow-redis 2>/dev/null || PKG_CONFIG_PATH="$pcdir" pkg-config --exists sipflow-redis; then
  cflags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags sipflow-redis)
  case "$cflags" in
  *-D_FILE_OFFSET_BITS*) echo "install: sipflow-redis leaks $cflags" >&2; exit 1 ;;
  esac
fi
