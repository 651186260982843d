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
